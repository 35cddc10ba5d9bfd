"""Links: one suite over the registry, so a new link is tested the moment it is registered.

Exact references are closed forms from the definitions at ``REFERENCE_DPS`` digits;
derivatives are also checked against 4th-order central finite differences, and the
inverse-function rule ties ``link`` to ``inverse_derivative``.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from lossmath.checking import REFERENCE_DPS, exact, ulp_error
from lossmath.links import HalfLogit, Identity, Link, Log, Logit, Softmax, available, get_link

TOL = 16  # ulps; the observed worst cases are within about 4
DTYPES = [np.float64, np.float32]
EPS = np.finfo(np.float64).eps


def _sigmoid_and_derivatives(u):
    s = 1 / (1 + mpmath.exp(-u))
    return s, s * (1 - s), s * (1 - s) * (1 - 2 * s)


# name -> z -> (g⁻¹(z), (g⁻¹)'(z), (g⁻¹)''(z)), exact for an mpmath z.
EXACT_SCALAR = {
    "identity": lambda z: (z, mpmath.mpf(1), mpmath.mpf(0)),
    "logit": _sigmoid_and_derivatives,
    "half_logit": lambda z: tuple(
        c * d for c, d in zip((1, 2, 4), _sigmoid_and_derivatives(2 * z), strict=True)
    ),
    "log": lambda z: (mpmath.exp(z),) * 3,
}
ROW_LINKS = {"softmax"}


@pytest.fixture(params=available())
def link(request):
    return get_link(request.param)


def scalar_links():
    return [name for name in available() if not get_link(name).acts_on_rows]


def test_every_link_has_an_exact_reference():
    assert set(available()) == set(EXACT_SCALAR) | ROW_LINKS


def assert_ulps(computed, reference, dtype, scale=None, tol=TOL):
    computed = np.asarray(computed)
    assert computed.dtype == dtype
    err = ulp_error(computed.ravel(), reference, dtype, scale)
    worst = int(np.argmax(err))
    assert err[worst] <= tol, f"{err[worst]:.1f} ulps at flat index {worst}"


def raw_scores(dtype, seed=0, n=100):
    """Random raw scores and the extremes, both signs."""
    rng = np.random.default_rng(seed)
    if dtype == np.float64:
        extremes = [1e-300, 1e-10, 0.5, 1.0, 30.0, 100.0, 700.0, 745.2]
        top = 750.0
    else:
        extremes = [1e-30, 1e-5, 0.5, 1.0, 20.0, 80.0, 100.0]
        top = 110.0
    z = np.concatenate([[0.0], extremes, 10.0 ** rng.uniform(-4, math.log10(top), n)])
    return np.concatenate([z, -z[1:]]).astype(dtype)


def logit_rows(dtype, k, seed=0):
    """Rows of raw scores: several spreads, gaps of hundreds, near-ties."""
    rng = np.random.default_rng(seed)
    spreads = (1.0, 10.0, 300.0) if dtype == np.float64 else (1.0, 5.0, 40.0)
    gap = 700.0 if dtype == np.float64 else 90.0
    out = [rng.normal(0, s, (4, k)) for s in spreads]
    out += [0.1 - np.linspace(0, gap, k)[None, :] - rng.uniform(0, 1, (1, k))]
    out += [rng.uniform(-1, 1, (2, 1)) + rng.uniform(-1e-6, 1e-6, (2, k))]
    return np.concatenate(out).astype(dtype)


def y_pred_points(link, seed=0, n=60):
    """Points inside the domain of ``link`` (rows that sum to 1 for row links)."""
    rng = np.random.default_rng(seed)
    if link.acts_on_rows:
        return rng.dirichlet(np.ones(4) * 0.5, size=n).clip(1e-300)
    dom = link.interval_y_pred
    if math.isfinite(dom.low) and math.isfinite(dom.high):
        width = dom.high - dom.low
        fractions = np.concatenate([rng.uniform(0, 1, n), [1e-300, 1e-10, 0.5, 1 - 1e-10]])
        return dom.low + width * fractions
    magnitudes = 10.0 ** rng.uniform(-300, 300, n)
    if math.isfinite(dom.low):
        return dom.low + magnitudes
    return magnitudes * rng.choice([-1.0, 1.0], n)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(EXACT_SCALAR))
def test_scalar_link_against_mpmath(name, dtype):
    link = get_link(name)
    z = raw_scores(dtype, seed=1)
    with mpmath.workdps(REFERENCE_DPS):
        exact_values = [EXACT_SCALAR[name](exact(v)) for v in z]
    for method, order in (
        (link.inverse, 0),
        (link.inverse_derivative, 1),
        (link.inverse_second_derivative, 2),
    ):
        assert_ulps(method(z), [e[order] for e in exact_values], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["logit", "half_logit"])
def test_logit_link_against_mpmath(name, dtype):
    """The forward link, including p near 1/2 where log p − log1p(−p) cancels."""
    rng = np.random.default_rng(2)
    tiny = 1e-300 if dtype == np.float64 else 1e-30
    p = np.concatenate([rng.uniform(0, 1, 100), 0.5 + rng.uniform(-1e-6, 1e-6, 20)])
    p = np.concatenate([p, [tiny, 1e-10, 0.25, 0.5, 1 - 1e-7]]).astype(dtype)
    factor = 1 if name == "logit" else mpmath.mpf(1) / 2
    with mpmath.workdps(REFERENCE_DPS):
        reference = [factor * mpmath.log(exact(v) / (1 - exact(v))) for v in p]
    assert_ulps(get_link(name).link(p), reference, dtype)


def _softmax_reference(z):
    """Exact p, J = ∂p/∂z and T = ∂J/∂z by the product rule, with the largest term
    of each T entry (its entries cancel for data-dependent reasons near p = 1/2)."""
    k = z.shape[1]
    p, jac, hess, scale = [], [], [], []
    with mpmath.workdps(REFERENCE_DPS):
        for row in z:
            e = [mpmath.exp(exact(v) - exact(row.max())) for v in row]
            total = mpmath.fsum(e)
            q = [v / total for v in e]
            j = [[q[a] * ((a == b) - q[b]) for b in range(k)] for a in range(k)]
            p += q
            jac += [j[a][b] for a in range(k) for b in range(k)]
            for a in range(k):
                for b in range(k):
                    for c in range(k):
                        # ∂/∂z_c of J_ab = δ_ab p_a − p_a p_b
                        terms = ((a == b) * j[a][c], -j[a][c] * q[b], -q[a] * j[b][c])
                        hess.append(mpmath.fsum(terms))
                        scale.append(max(abs(t) for t in terms) / 8)
    return p, jac, hess, scale


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("k", [2, 3, 10])
def test_softmax_against_mpmath(k, dtype):
    z = logit_rows(dtype, k, seed=k)
    if k == 10:
        z = z[::2]  # T has K³ entries per row
    p, jac, hess, scale = _softmax_reference(z)
    link = Softmax()
    assert_ulps(link.inverse(z), p, dtype)
    assert_ulps(link.inverse_derivative(z), jac, dtype)
    assert_ulps(link.inverse_second_derivative(z), hess, dtype, scale)


def test_link_inverts_inverse(link):
    """link(inverse(z)) = z (softmax: up to the row mean), to the conditioning of
    the round trip: the rounding of y_pred costs |y_pred / y_pred'| · ε in z."""
    if link.acts_on_rows:
        z = logit_rows(np.float64, 4, seed=3)
        z = z[np.ptp(z, axis=1) < 700]  # every probability > 0
        centred = z - z.mean(axis=1, keepdims=True)
        log_p = np.log(link.inverse(z))
        bound = 16 * EPS * (np.abs(centred).max(axis=1) + np.abs(log_p).max(axis=1))
        assert np.all(np.abs(link.link(link.inverse(z)) - centred) <= bound[:, None])
        return
    z = raw_scores(np.float64, seed=4)
    y = link.inverse(z)
    dom = link.interval_y_pred
    inside = dom.contains(np, y) & (y != dom.low) & (y != dom.high)  # finite z
    z, y = z[inside], y[inside]
    with np.errstate(divide="ignore"):
        conditioning = np.abs(y / link.inverse_derivative(z))
    assert np.all(np.abs(link.link(y) - z) <= 8 * EPS * (np.abs(z) + conditioning))


def test_inverse_inverts_link(link):
    y = y_pred_points(link, seed=5)
    z = link.link(y)
    back = link.inverse(z)
    if link.acts_on_rows:
        bound = 32 * EPS * y * (1 + np.abs(z).max(axis=1, keepdims=True))
    else:
        bound = 8 * EPS * (np.abs(y) + np.abs(link.inverse_derivative(z) * z))
    assert np.all(np.abs(back - y) <= bound)


def _central_difference(f, z, h):
    """4th-order central difference, error O(h⁴)."""
    return (-f(z + 2 * h) + 8 * f(z + h) - 8 * f(z - h) + f(z - 2 * h)) / (12 * h)


def test_derivatives_match_finite_differences(link):
    rng = np.random.default_rng(6)
    if link.acts_on_rows:
        z = rng.normal(0, 3, (20, 4))
        h = 1e-3
        for c in range(z.shape[1]):
            step = np.zeros_like(z)
            step[:, c] = 1.0

            def along(f, step=step):
                return lambda t: f(z + t * step)

            d1 = _central_difference(along(link.inverse), 0.0, h)
            d2 = _central_difference(along(link.inverse_derivative), 0.0, h)
            assert np.allclose(d1, link.inverse_derivative(z)[:, :, c], rtol=1e-8, atol=1e-10)
            assert np.allclose(d2, link.inverse_second_derivative(z)[..., c], rtol=1e-8, atol=1e-10)
        return
    z = np.concatenate([[0.0], rng.uniform(-5, 5, 40)])
    h = 1e-3
    for f, derivative in (
        (link.inverse, link.inverse_derivative),
        (link.inverse_derivative, link.inverse_second_derivative),
    ):
        fd = _central_difference(f, z, h)
        scale = np.abs(f(z)) + np.abs(derivative(z))
        assert np.all(np.abs(fd - derivative(z)) <= 1e-8 * scale + 1e-12)


@pytest.mark.parametrize("name", scalar_links())
def test_inverse_function_rule(name):
    """(g⁻¹)'(z) = 1 / g'(g⁻¹(z)), with g' by finite differences of ``link``."""
    link = get_link(name)
    z = np.linspace(-4, 4, 33)
    y = link.inverse(z)
    dom = link.interval_y_pred
    room = np.minimum(np.abs(y - dom.low), np.abs(dom.high - y))
    h = 1e-3 * np.minimum(room, np.maximum(np.abs(y), 1.0))
    link_derivative = _central_difference(link.link, y, h)
    assert np.allclose(link.inverse_derivative(z), 1 / link_derivative, rtol=1e-8, atol=0)


def test_softmax_jacobian_is_psd_with_rows_summing_to_zero():
    z = logit_rows(np.float64, 5, seed=7)
    jac = Softmax().inverse_derivative(z)
    assert np.array_equal(jac, np.swapaxes(jac, 1, 2))
    row_sums = jac.sum(axis=2)
    assert np.all(np.abs(row_sums) <= 8 * EPS * np.abs(jac).sum(axis=2))
    eigenvalues = np.linalg.eigvalsh(jac)
    assert np.all(eigenvalues >= -8 * EPS * np.abs(jac).max(axis=(1, 2))[:, None])
    hess = Softmax().inverse_second_derivative(z)
    assert np.allclose(hess, np.swapaxes(hess, 2, 3), rtol=4 * EPS, atol=0)


def test_dominant_class_keeps_its_curvature():
    """p(1 − p) at p ≈ 1 is ≈ e^-40, not 0 (and not garbage from 1 − p)."""
    z = np.array([[40.0, 0.0]])
    jac = Softmax().inverse_derivative(z)
    assert jac[0, 0, 0] == pytest.approx(math.exp(-40), rel=1e-14)
    assert Logit().inverse_derivative(40.0) == pytest.approx(math.exp(-40), rel=1e-14)


def _methods(link, dtype):
    """Every public method with a valid input of ``dtype``."""
    if link.acts_on_rows:
        z = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -30.0]], dtype)
        y = np.array([[0.2, 0.3, 0.5], [1.0, 1.0, 1.0]], dtype)
    else:
        z = np.array([0.5, -1.0, 2.0, 30.0, -30.0], dtype)
        y = np.array([0.1, 0.25, 0.5, 0.75, 1.0], dtype)
    return [
        (link.link, y),
        (link.inverse, z),
        (link.inverse_derivative, z),
        (link.inverse_second_derivative, z),
    ]


def test_dtypes(link):
    for dtype in (np.float32, np.float64):
        for method, arg in _methods(link, dtype):
            assert method(arg).dtype == dtype
    for method, arg in _methods(link, np.float64):
        ints = (arg * 0).astype(np.int64) + 1
        assert method(ints).dtype == np.float64
        assert method(ints.tolist()).dtype == np.float64


@pytest.mark.parametrize("dtype_name", ["float32", "float64"])
def test_torch_in_torch_out(link, dtype_name):
    torch = pytest.importorskip("torch")  # an optional backend
    dtype, np_dtype = getattr(torch, dtype_name), np.dtype(dtype_name)
    eps = np.finfo(np_dtype).eps
    for method, arg in _methods(link, np_dtype):
        out = method(torch.from_numpy(arg))
        assert isinstance(out, torch.Tensor)
        assert out.dtype == dtype
        assert np.allclose(out.numpy(), method(arg), rtol=8 * eps, atol=8 * eps * 1e-30)


@pytest.mark.parametrize(
    ("link", "y_pred", "message"),
    [
        (Logit(), [0.5, 1.5], r"Logit.link: y_pred must lie in \[0, 1\]; got max\(y_pred\) = 1.5"),
        (
            HalfLogit(),
            [-0.1],
            r"HalfLogit.link: y_pred must lie in \[0, 1\]; got min\(y_pred\) = -0.1",
        ),
        (Logit(), [math.nan], r"Logit.link: y_pred must lie in \[0, 1\]"),
        (Log(), [1.0, -2.0], r"Log.link: y_pred must be >= 0; got min\(y_pred\) = -2.0"),
        (Identity(), [math.inf], r"Identity.link: y_pred must be finite"),
        (Softmax(), [[0.5, 0.0, 0.5]], r"Softmax.link: y_pred must lie in \(0, 1\]; got min"),
        (Softmax(), [0.5, 0.5], r"Softmax.link: y_pred must have shape \(n_samples, n_classes\)"),
    ],
    ids=[
        *("logit-above", "half_logit-below", "logit-nan", "log-negative", "identity-inf"),
        *("softmax-zero", "softmax-1d"),
    ],
)
def test_link_rejects_values_outside_the_domain(link, y_pred, message):
    with pytest.raises(ValueError, match=message):
        link.link(y_pred)


@pytest.mark.parametrize("method", ["inverse", "inverse_derivative", "inverse_second_derivative"])
@pytest.mark.parametrize("shape", [(3,), (2, 3, 4), (2, 0)])
def test_softmax_rejects_wrong_dimensionality(method, shape):
    with pytest.raises(
        ValueError,
        match=rf"Softmax.{method}: z must have shape \(n_samples, n_classes\) .* got shape",
    ):
        getattr(Softmax(), method)(np.zeros(shape))


def test_bad_input_types():
    with pytest.raises(TypeError, match=r"Logit\.inverse: z must be a real numeric array"):
        Logit().inverse(["a"])
    with pytest.raises(TypeError, match=r"Log\.link: y_pred must be a real numeric array"):
        Log().link(np.array([1j]))


def test_registry():
    assert available() == sorted(["identity", "logit", "half_logit", "log", "softmax"])
    for name in available():
        link = get_link(name)
        assert isinstance(link, Link)
        assert link.name == name
        assert get_link(link) is link
    with pytest.raises(ValueError, match=r"unknown link 'probit'; available: half_logit, "):
        get_link("probit")
    with pytest.raises(TypeError, match="name must be a str or a Link; got int"):
        get_link(3)


def test_value_semantics(link):
    assert link == type(link)()
    assert hash(link) == hash(type(link)())
    assert link != Identity() or isinstance(link, Identity)
    assert link != "logit"
    assert repr(link) == f"{type(link).__name__}()"
    assert len({link, type(link)()}) == 1
    with pytest.raises(AttributeError):
        link.name = "other"
    with pytest.raises(AttributeError):
        link.threshold = 0.5


def test_link_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Link()


def test_big_endian_and_strided_input_give_native_results(link):
    for method, arg in _methods(link, np.float64):
        for dtype in (">f8", ">f4"):
            expected = method(arg.astype(np.dtype(dtype).newbyteorder("=")))
            swapped = np.repeat(arg.astype(dtype), 2, axis=0)[::2]  # strided, byte-swapped
            before = swapped.copy()
            out = method(swapped)
            assert out.dtype.isnative
            assert out.dtype == np.dtype(dtype).newbyteorder("=")
            np.testing.assert_array_equal(out, expected)
            np.testing.assert_array_equal(swapped, before)


def test_results_never_alias_the_input(link):
    # Regression: Identity.inverse and Identity.link returned the caller's array, so
    # writing into the prediction wrote into the raw score.
    for method, arg in _methods(link, np.float64):
        out = method(arg)
        assert not np.shares_memory(out, arg)


@pytest.mark.parametrize(
    "bad", ["abc", None, {"a": 1}, [[1.0], [1.0, 2.0]], np.array([1 + 1j]), b"ab"], ids=repr
)
def test_input_that_is_not_real_numbers_is_refused_by_name(link, bad):
    name = type(link).__name__
    for method, arg_name in (("link", "y_pred"), ("inverse", "z"), ("inverse_derivative", "z")):
        with pytest.raises(TypeError, match=rf"{name}\.{method}: {arg_name} must be a real"):
            getattr(link, method)(bad)
