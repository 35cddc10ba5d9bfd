"""``lossmath.special`` against exact ``mpmath`` results, and its documented behaviour.

References are written from the definitions (``log(1 + e^x)``, ``log Σ e^{x_k}``) and
evaluated at ``REFERENCE_DPS`` digits on the exact float inputs, never from the code
under test.
"""

from __future__ import annotations

import itertools
import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lossmath import special
from lossmath.checking import REFERENCE_DPS, exact, ulp_error

TOL = 16  # ulps; the observed worst cases are within about 4
DTYPES = [np.float64, np.float32]


def assert_ulps(computed, reference, dtype, scale=None, tol=TOL):
    """Every entry of ``computed`` within ``tol`` ulps of the exact ``reference``."""
    computed = np.asarray(computed)
    assert computed.dtype == dtype
    err = ulp_error(computed.ravel(), reference, dtype, scale)
    worst = int(np.argmax(err))
    assert err[worst] <= tol, f"{err[worst]:.1f} ulps at flat index {worst}: {computed.ravel()}"


def exact_map(f, xs):
    with mpmath.workdps(REFERENCE_DPS):
        return [f(exact(x)) for x in np.ravel(xs)]


def points(dtype, seed=0, n=150):
    """Random points over the useful range, and the extremes, with both signs."""
    rng = np.random.default_rng(seed)
    if dtype == np.float64:
        extremes = [1e-300, 1e-10, 0.5, math.log(2), 1.0, 30.0, 100.0, 700.0, 709.8, 744.4]
        extremes += [745.1, 745.2, 746.0]
        top = 750.0
    else:
        extremes = [1e-30, 1e-5, 0.5, math.log(2), 1.0, 20.0, 80.0, 88.8, 100.0, 103.9, 104.0]
        top = 110.0
    x = np.concatenate([[0.0], extremes, 10.0 ** rng.uniform(-4, math.log10(top), n)])
    return np.concatenate([x, -x[1:]]).astype(dtype)


ELEMENTWISE = {
    "sigmoid": (special.sigmoid, lambda x: 1 / (1 + mpmath.exp(-x))),
    "softplus": (special.softplus, lambda x: mpmath.log(1 + mpmath.exp(x))),
    "log_sigmoid": (special.log_sigmoid, lambda x: mpmath.log(1 / (1 + mpmath.exp(-x)))),
    "logcosh": (special.logcosh, lambda x: mpmath.log(mpmath.cosh(x))),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_against_mpmath(name, dtype):
    f, ref = ELEMENTWISE[name]
    x = points(dtype, seed=1)
    assert_ulps(f(x), exact_map(ref, x), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_log1mexp_against_mpmath(dtype):
    x = -np.abs(points(dtype, seed=2))
    x = np.concatenate([x, -np.linspace(0.6, 0.8, 41, dtype=dtype)])  # the switch at −log 2
    x = x[x < 0]
    assert_ulps(special.log1mexp(x), exact_map(lambda v: mpmath.log(1 - mpmath.exp(v)), x), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_xlogy_against_mpmath(dtype):
    rng = np.random.default_rng(3)
    x = points(dtype, seed=4)
    big = 1e300 if dtype == np.float64 else 1e30
    y = np.concatenate(
        [10.0 ** rng.uniform(-30, 30, x.size - 4), [1 + 1e-6, 1 - 1e-6, 1 / big, big]]
    )
    y = y.astype(dtype)
    with mpmath.workdps(REFERENCE_DPS):
        reference = [exact(a) * mpmath.log(exact(b)) for a, b in zip(x, y, strict=True)]
    assert_ulps(special.xlogy(x, y), reference, dtype)


def _reference_rows(x, temperature=None):
    """Exact logsumexp (or smooth max), softmax, log_softmax and the largest term of
    ``m + L``, where ``m`` and ``L`` may cancel for ``m < 0``."""
    lse, scale, p, log_p = [], [], [], []
    with mpmath.workdps(REFERENCE_DPS):
        t = 1 if temperature is None else exact(temperature)
        for row in x:
            xr = [exact(v) for v in row]
            m = max(xr)
            # log Σ e^{x_k/T}·T with the exact shift by m, which keeps mpmath's numbers
            # in range for inputs near the float maximum.
            total = mpmath.fsum(mpmath.exp((v - m) / t) for v in xr)
            tail = t * mpmath.log(total)
            lse.append(m + tail)
            scale.append(max(abs(m), abs(tail)) / 8)
            p += [mpmath.exp(v - m) / total for v in xr]
            log_p += [v - m - mpmath.log(total) for v in xr]
    return lse, scale, p, log_p


def rows(dtype, k, seed):
    """Logit rows: random at several spreads, gaps of hundreds, near-ties and huge values."""
    rng = np.random.default_rng(seed)
    spreads = (1.0, 30.0, 300.0) if dtype == np.float64 else (1.0, 10.0, 40.0)
    gaps = (300.0, 700.0) if dtype == np.float64 else (50.0, 100.0)
    huge = np.finfo(dtype).max
    out = [rng.normal(0, s, (8, k)) + rng.normal(0, s, (8, 1)) for s in spreads]
    out += [0.1 - np.linspace(0, g, k) - rng.uniform(0, 1, k) for g in gaps]
    out += [rng.uniform(-1, 1, (4, 1)) + rng.uniform(-1e-12, 1e-12, (4, k))]
    out += [[huge / 2 * rng.uniform(-1, 1, k)], [np.full(k, huge)], [-huge + np.arange(k)]]
    out += [[np.linspace(-1, 1, k) * huge]]
    return np.concatenate([np.atleast_2d(r) for r in out]).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("k", [2, 3, 10])
def test_logsumexp_softmax_log_softmax_against_mpmath(k, dtype):
    x = rows(dtype, k, seed=k)
    lse, scale, p, log_p = _reference_rows(x)
    assert_ulps(special.logsumexp(x), lse, dtype, scale)
    assert_ulps(special.softmax(x), p, dtype)
    assert_ulps(special.log_softmax(x), log_p, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("temperature", [1e-3, 0.37, 1.0, 3.3, 100.0])
def test_smooth_max_against_mpmath(temperature, dtype):
    t = dtype(temperature)
    # A maximum of exactly 0 and (x_k − m)/T of hundreds: the result is T e^{−hundreds},
    # and the rounding of the division by T must be compensated as well.
    rng = np.random.default_rng(9)
    top = 700.0 if dtype == np.float64 else 85.0
    tiny_tail = np.stack([np.zeros(8), -t * rng.uniform(top / 10, top, 8), np.full(8, -np.inf)], 1)
    x = np.concatenate([rows(dtype, 3, seed=7), rows(dtype, 10, seed=8)[:, :3], tiny_tail])
    x = x.astype(dtype)
    value, scale, _, _ = _reference_rows(x, temperature=t)
    assert_ulps(special.smooth_max(x, temperature=t), value, dtype, scale)


@pytest.mark.parametrize(
    ("dtype", "gap"), [(np.float64, 700.3), (np.float32, 80.3)], ids=["float64", "float32"]
)
def test_tiny_results_keep_relative_accuracy(dtype, gap):
    """Results near e^-gap must not round to 0 nor lose digits to a rounded shift."""
    with mpmath.workdps(REFERENCE_DPS):
        g = exact(dtype(gap))
        tiny = mpmath.exp(-g)
        x = np.array([0.1, 0.1 - gap], dtype)
        d = exact(x[1]) - exact(x[0])
        cases = [
            (special.logsumexp([dtype(0), -dtype(gap)]), mpmath.log(1 + tiny)),
            (special.softmax(x)[1], mpmath.exp(d) / (1 + mpmath.exp(d))),
            (special.log_softmax(x)[0], -mpmath.log(1 + mpmath.exp(d))),
            (special.softplus(-dtype(gap)), mpmath.log(1 + tiny)),
            (special.log_sigmoid(dtype(gap)), -mpmath.log(1 + tiny)),
            (special.sigmoid(-dtype(gap)), tiny / (1 + tiny)),
            (special.log1mexp(-dtype(gap)), mpmath.log(1 - tiny)),
            (special.logcosh(dtype(1e-15)), mpmath.log(mpmath.cosh(exact(dtype(1e-15))))),
        ]
    for computed, reference in cases:
        assert computed != 0
        assert_ulps([computed], [reference], dtype, tol=4)


def test_special_values():
    inf, nan = math.inf, math.nan
    assert special.logsumexp([-inf, -inf]) == -inf
    assert special.logsumexp([1.0, inf]) == inf
    assert np.isnan(special.logsumexp([nan, 1.0]))
    assert special.logsumexp([-inf, 2.0]) == 2.0
    assert special.smooth_max([-inf, -inf], temperature=0.5) == -inf
    assert special.smooth_max([-inf, 3.0], temperature=1e-300) == 3.0
    assert np.array_equal(special.softmax([0.0, -inf]), [1.0, 0.0])
    assert np.array_equal(special.log_softmax([0.0, -inf]), [0.0, -inf])
    assert np.array_equal(special.softmax([-inf, -inf]), [0.5, 0.5])  # documented: uniform
    assert np.array_equal(special.softmax([inf, 0.0, inf]), [0.5, 0.0, 0.5])
    assert np.array_equal(special.log_softmax([inf, 0.0, inf]), [-math.log(2), -inf, -math.log(2)])
    assert np.all(np.isnan(special.softmax([nan, 0.0])))
    assert np.array_equal(special.sigmoid([-inf, inf]), [0.0, 1.0])
    assert np.array_equal(special.softplus([-inf, inf]), [0.0, inf])
    assert np.array_equal(special.log_sigmoid([-inf, inf]), [-inf, 0.0])
    assert np.array_equal(special.logcosh([-inf, inf]), [inf, inf])
    assert np.array_equal(special.log1mexp([0.0, -inf]), [-inf, 0.0])
    assert np.array_equal(special.xlogy([0.0, 0.0, 1.0], [0.0, inf, 0.0]), [0.0, 0.0, -inf])
    assert np.isnan(special.xlogy(0.0, nan))
    assert np.isnan(special.sigmoid(nan))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=2, max_side=6),
        elements=st.floats(allow_nan=False, allow_infinity=False),
    )
)
def test_logsumexp_never_overflows_and_bounds_the_max(x):
    out = special.logsumexp(x, axis=None)
    assert np.isfinite(out)
    assert out >= np.max(x)
    assert out - np.max(x) <= math.log(x.size) + 2 * np.spacing(np.abs(np.max(x)))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.integers(1, 8),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=32),
    ),
    st.floats(1e-30, 1e3),
)
def test_smooth_max_bounds_and_limit(x, temperature):
    """max ≤ smooth_max ≤ max + T log K, so it tends to the max as T → 0."""
    t = np.float32(temperature)
    out = special.smooth_max(x, temperature=t)
    assert out.dtype == np.float32
    assert np.isfinite(out)
    assert out >= np.max(x)
    slack = np.float64(t) * math.log(x.size) * (1 + 1e-6)
    assert np.float64(out) - np.float64(np.max(x)) <= slack + np.spacing(np.abs(np.max(x)))


def test_smooth_max_tends_to_the_max():
    x = np.array([1.0, 2.0, 3.0, 3.0])
    gaps = [special.smooth_max(x, temperature=10.0**-k) - 3.0 for k in range(0, 40, 3)]
    assert all(0 <= b <= a for a, b in itertools.pairwise(gaps))
    assert gaps[-1] == 0.0


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 4), st.integers(1, 10)),
        elements=st.floats(-1e308, 1e308),
    )
)
def test_softmax_rows_sum_to_one(x):
    p = special.softmax(x)
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(np.abs(p.sum(axis=-1) - 1) <= 2 * x.shape[-1] * np.finfo(np.float64).eps)


@pytest.mark.parametrize(
    ("dtype", "denominator", "bound"),
    [(np.float64, 256, 2**28), (np.float32, 16, 2**12)],
    ids=["float64", "float32"],
)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_shift_invariance(dtype, denominator, bound, data):
    """Logits on a grid and an integer shift, so that ``x + c`` is exact."""
    ints = data.draw(hnp.arrays(np.int64, st.integers(1, 10), elements=st.integers(-bound, bound)))
    c = data.draw(st.integers(-(2**10), 2**10))
    x = (ints / denominator).astype(dtype)
    shifted = x + dtype(c)
    assert np.array_equal(shifted - dtype(c), x)  # the shift is exact
    for f in (special.softmax, special.log_softmax):
        a, b = f(x), f(shifted)
        assert np.all(np.abs(a - b) <= 2 * np.spacing(np.abs(a)))
    lse = special.logsumexp(x) + dtype(c)
    assert np.abs(special.logsumexp(shifted) - lse) <= 2 * np.spacing(np.abs(lse))


def test_axis_and_keepdims():
    x = np.random.default_rng(5).normal(size=(3, 4, 5))
    for axis in (0, 1, -1):
        moved = np.moveaxis(x, axis, -1)
        out = special.logsumexp(x, axis=axis, keepdims=True)
        assert out.shape == tuple(1 if i == axis % 3 else n for i, n in enumerate(x.shape))
        assert np.array_equal(np.squeeze(out, axis), special.logsumexp(moved))
        assert np.array_equal(
            np.moveaxis(special.softmax(x, axis=axis), axis, -1), special.softmax(moved)
        )
        assert np.array_equal(
            np.moveaxis(special.log_softmax(x, axis=axis), axis, -1), special.log_softmax(moved)
        )
        assert np.array_equal(special.smooth_max(x, 2.0, axis=axis), special.smooth_max(moved, 2.0))
    assert special.logsumexp(x, axis=None) == special.logsumexp(x.ravel())
    assert special.logsumexp(x, axis=None, keepdims=True).shape == (1, 1, 1)
    assert special.logsumexp(2.0, axis=None) == 2.0


ALL = {
    "logsumexp": special.logsumexp,
    "softmax": special.softmax,
    "log_softmax": special.log_softmax,
    "smooth_max": special.smooth_max,
    "sigmoid": special.sigmoid,
    "softplus": special.softplus,
    "log_sigmoid": special.log_sigmoid,
    "logcosh": special.logcosh,
    "log1mexp": special.log1mexp,
    "xlogy": lambda x: special.xlogy(x, 2.0),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_dtypes(name):
    f = ALL[name]
    x = np.array([[-0.5, -1.0], [-2.0, -3.0]])  # in the domain of every function
    assert f(x.astype(np.float32)).dtype == np.float32
    assert f(x).dtype == np.float64
    assert f(np.array([[-1, -2], [-3, -4]])).dtype == np.float64
    assert f([[-1, -2], [-3, -4]]).dtype == np.float64
    assert f(np.array([[False, False]])).dtype == np.float64


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_torch_in_torch_out(name, dtype_name):
    torch = pytest.importorskip("torch")  # an optional backend
    dtype = getattr(torch, dtype_name)
    f = ALL[name]
    x = torch.tensor([[-0.5, -1.0, -3.0], [-2.0, -30.0, -700.0]], dtype=dtype)
    out = f(x)
    assert isinstance(out, torch.Tensor)
    assert out.dtype == dtype
    expected = f(x.numpy())
    eps = torch.finfo(dtype).eps
    assert np.allclose(out.numpy(), expected, rtol=8 * eps, atol=0, equal_nan=True)


def test_xlogy_mixed_arguments():
    y32 = np.array([0.5, 2.0], np.float32)
    assert special.xlogy(2, y32).dtype == np.float32
    assert special.xlogy(y32, 3.0).dtype == np.float32
    assert special.xlogy(np.float64(2.0), y32).dtype == np.float64
    assert special.xlogy(np.zeros((3, 1)), y32).shape == (3, 2)
    assert special.xlogy(0, 0) == 0.0


def test_xlogy_python_scalar_takes_the_torch_dtype():
    torch = pytest.importorskip("torch")  # an optional backend
    out = special.xlogy(2.0, torch.tensor([1.0, 4.0], dtype=torch.float32))
    assert isinstance(out, torch.Tensor)
    assert out.dtype == torch.float32


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.nan, math.inf])
def test_smooth_max_rejects_bad_temperature(temperature):
    with pytest.raises(ValueError, match=r"smooth_max: temperature must be > 0; got temperature ="):
        special.smooth_max([1.0, 2.0], temperature=temperature)


def test_bad_arguments():
    with pytest.raises(TypeError, match="smooth_max: temperature must be a real number"):
        special.smooth_max([1.0], temperature="hot")
    with pytest.raises(ValueError, match=r"log1mexp: x must be <= 0; got max\(x\) = 0.5"):
        special.log1mexp([-1.0, 0.25, 0.5])
    for f in (special.logsumexp, special.softmax, special.log_softmax, special.smooth_max):
        with pytest.raises(ValueError, match=r"axis must lie in \[-2, 2\) .* got axis = 2"):
            f(np.ones((2, 3)), axis=2)
        with pytest.raises(TypeError, match="axis must be an int or None"):
            f(np.ones((2, 3)), axis=1.0)
        with pytest.raises(ValueError, match="at least one entry along axis 1"):
            f(np.ones((2, 0)), axis=1)
        with pytest.raises(ValueError, match="axis must lie in"):
            f(3.0)
    with pytest.raises(TypeError, match="sigmoid: x must be a real numeric array"):
        special.sigmoid(["a", "b"])
    with pytest.raises(TypeError, match="softplus: x must be a real numeric array"):
        special.softplus(np.array([1 + 2j]))
    with pytest.raises(TypeError, match="xlogy: y must be a real numeric array"):
        special.xlogy(1.0, ["y"])


def test_public_names():
    assert sorted(special.__all__) == sorted(
        [
            *("logsumexp", "softmax", "log_softmax", "smooth_max", "sigmoid", "log_sigmoid"),
            *("softplus", "logcosh", "log1mexp", "xlogy"),
        ]
    )


# --------------------------------------------------------------------------
# Extreme temperatures, byte order, foreign input (regressions)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16], ids=str)
@pytest.mark.parametrize("temperature", [5e-324, 1e-300, 1e-30, 1.0, 1e30, 1e300, 1.7e308])
def test_smooth_max_at_extreme_temperatures(temperature, dtype):
    # Regression: a temperature beyond float32's range (or float16's) was NaN for a
    # single entry (inf·log1p(0)), and T·log1p(rest) overflowed alone though
    # m + T·log1p(rest) is finite.
    info = np.finfo(dtype)
    rows = np.array(
        [
            [1.0, 1.0, 1.0],
            [-1.0, -1.0, -1.0],
            [float(info.max), 0.0, -float(info.max)],
            [-float(info.max) / 2] * 3,
            [0.0, -1e-3, -2e-3],
        ],
        dtype=dtype,
    )
    for row in rows:
        for x in (row, row[:1]):
            out = special.smooth_max(x, temperature=temperature)
            assert out.dtype == dtype
            with mpmath.workdps(60):
                t = mpmath.mpf(temperature)
                m = max(exact(v) for v in x)
                ref = m + t * mpmath.log(sum(mpmath.exp((exact(v) - m) / t) for v in x))
            if abs(ref) > info.max:
                assert np.isinf(out)
                assert np.sign(out) == mpmath.sign(ref)
            else:
                assert_ulps(np.array([out]), [ref], dtype)


def test_smooth_max_of_one_entry_is_the_entry():
    for t in (1e-300, 1.0, 1e300):
        assert special.smooth_max(np.array([-3.5], np.float32), temperature=t) == np.float32(-3.5)


@pytest.mark.parametrize("name", sorted(ALL))
def test_big_endian_input_gives_native_results(name):
    f = ALL[name]
    x = np.array([[-0.5, -1.0, -3.0], [-2.0, -30.0, -700.0]])
    for dtype in (">f8", ">f4"):
        swapped = x.astype(dtype)
        out = f(swapped)
        assert out.dtype.isnative
        assert out.dtype == np.dtype(dtype).newbyteorder("=")
        np.testing.assert_allclose(out, f(x.astype(out.dtype)), rtol=0, atol=0)


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize(
    "x",
    ["abc", None, {"a": 1}, [[1.0], [1.0, 2.0]], np.array([1 + 1j]), b"ab", np.array(["a"])],
    ids=repr,
)
def test_input_that_is_not_real_numbers_is_refused_by_name(name, x):
    # Regression: str and dict ended in array_api_compat's "str is not a supported
    # array type", ragged lists in NumPy's "inhomogeneous shape".
    owner = "xlogy" if name == "xlogy" else name
    with pytest.raises(TypeError, match=rf"{owner}: x must be a real numeric array"):
        ALL[name](x)


def test_pandas_series_is_accepted():
    pd = pytest.importorskip("pandas")
    s = pd.Series([0.0, -1.0, 2.0])
    np.testing.assert_array_equal(special.softplus(s), special.softplus(s.to_numpy()))
    np.testing.assert_array_equal(
        special.xlogy(s, s + 1.0), special.xlogy(s.to_numpy(), s.to_numpy() + 1.0)
    )


def test_xlogy_mixed_namespaces_name_both_arguments():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="xlogy: x, y must be arrays of one namespace"):
        special.xlogy(np.ones(2), torch.ones(2))
