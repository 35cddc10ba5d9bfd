"""Regression tests of the losses at the edges of the float range and of their input:
baselines, overflow of intermediates, validation of the multinomial's inputs."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from lossmath import get_loss

# ----------------------------------------------------------------- multinomial baseline


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([1.0, -5.0, 1.0, 1.0], r"multinomial: sample_weight must be >= 0"),
        ([1.0, np.nan, 1.0, 1.0], r"multinomial: sample_weight must be finite"),
        ([1.0, np.inf, 1.0, 1.0], r"multinomial: sample_weight must be finite"),
        ([0.0, 0.0, 0.0, 0.0], r"multinomial: sample_weight must have a positive sum"),
        ([1.0, 1.0], r"multinomial: sample_weight must have shape \(4,\)"),
    ],
)
def test_multinomial_baseline_checks_its_weights(weights, message):
    with pytest.raises(ValueError, match=message):
        get_loss("multinomial").baseline(np.array([0, 1, 2, 0]), np.array(weights))


def test_multinomial_baseline_refuses_labels_outside_the_classes():
    loss = get_loss("multinomial")
    with pytest.raises(ValueError, match=r"multinomial: class label 1000000000 in y"):
        loss.baseline(np.array([0, 1, 1e9, 0]))  # would allocate 4e9 one-hot entries
    with pytest.raises(ValueError, match=r"multinomial: y \(class labels\) must lie in"):
        get_loss("multinomial", n_classes=3).baseline(np.array([0, 1, 3]))
    with pytest.raises(TypeError, match="multinomial: sample_weight must be a real numeric"):
        loss.baseline(np.array([0, 1]), "ab")
    # Classes that never occur, declared: fine.
    c = get_loss("multinomial", n_classes=5).baseline(np.array([0, 1]))
    assert c.shape == (5,)


def test_multinomial_baseline_with_huge_weights_is_that_of_unit_weights():
    loss = get_loss("multinomial")
    y = np.array([0, 1, 2, 0, 2])
    np.testing.assert_allclose(loss.baseline(y, np.full(5, 1e308)), loss.baseline(y), rtol=1e-15)


def test_multinomial_accepts_float16_rows_summing_to_one_in_float16():
    rng = np.random.default_rng(0)
    rows = rng.dirichlet(np.ones(7), 50).astype(np.float16)
    assert np.abs(rows.astype(np.float64).sum(axis=1) - 1).max() > 1e-6  # float16 rounding
    loss = get_loss("multinomial")
    c = loss.baseline(rows)
    assert np.all(np.isfinite(c))
    assert np.all(np.isfinite(loss.value(rows, np.zeros((50, 7)))))


@pytest.mark.parametrize("bad", ["abc", ["a", "b"], [1.0, None]])
def test_multinomial_class_weight_of_non_numbers_is_a_clear_error(bad):
    with pytest.raises(TypeError, match="multinomial: class_weight must be a 1-D array"):
        get_loss("multinomial", class_weight=bad)


# ---------------------------------------------------------------------- baselines


@pytest.mark.parametrize("name", ["huber", "log_cosh", "pseudo_huber"])
def test_robust_baselines_on_wide_range_targets(name):
    loss = get_loss(name)
    y = np.array([-1e308, 1e308, 3.0, 1e300, -2.0])
    c = loss.baseline(y)
    assert np.isfinite(c)
    # The weighted mean gradient changes sign at c (a minimiser of the convex loss).
    step = 1e-6 * max(1.0, abs(c))
    assert loss.gradient(y, np.full(5, c - step)).sum() <= 0
    assert loss.gradient(y, np.full(5, c + step)).sum() >= 0


@pytest.mark.parametrize("name", ["huber", "log_cosh", "pseudo_huber", "focal"])
def test_robust_baselines_are_the_root_of_the_mean_gradient(name):
    rng = np.random.default_rng(4)
    loss = get_loss(name)
    y = loss.example_targets(rng, 50)
    w = rng.uniform(0.1, 2.0, 50)
    c = loss.baseline(y, w)
    # Adjacent floats around c bracket the sign change.
    lo, hi = np.nextafter(c, -np.inf), np.nextafter(c, np.inf)
    g = lambda t: float(np.sum(loss.gradient(y, np.full(50, t), w)))  # noqa: E731
    assert g(lo) <= abs(g(c)) + 1e-13
    assert g(hi) >= -abs(g(c)) - 1e-13


@pytest.mark.parametrize("name", ["poisson", "gamma", "tweedie", "squared_error"])
def test_mean_baselines_do_not_overflow(name):
    loss = get_loss(name)
    y = np.array([1e308, 1e308, 5.0])
    c = loss.baseline(y)
    expected = 2 / 3 * 1e308 + 5 / 3
    if name == "squared_error":
        np.testing.assert_allclose(c, expected, rtol=1e-15)
    else:
        np.testing.assert_allclose(c, np.log(expected), rtol=1e-15)


@pytest.mark.parametrize(
    "name", ["logistic", "hinge", "squared_hinge", "exponential", "focal", "absolute_error"]
)
def test_baselines_with_huge_weights_equal_those_with_unit_weights(name):
    loss = get_loss(name)
    y = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    assert loss.baseline(y, np.full(5, 1e308)) == pytest.approx(loss.baseline(y), rel=1e-15)


# ------------------------------------------------------------- extreme finite scores


def test_poisson_sqrt_hessian_where_the_hessian_overflows():
    loss = get_loss("poisson")
    s = loss.sqrt_hessian(np.array([1.0]), np.array([800.0]))
    np.testing.assert_allclose(s, [5.221469689764144e173], rtol=4e-16)
    s = loss.sqrt_hessian(np.array([1.0, 1.0]), np.array([800.0, 2.0]), np.array([4.0, 0.0]))
    np.testing.assert_allclose(s, [2 * 5.221469689764144e173, 0.0], rtol=4e-16)
    with pytest.raises(ValueError, match="poisson: sample_weight must be >= 0"):
        loss.sqrt_hessian(np.array([1.0]), np.array([1.0]), np.array([-1.0]))


@pytest.mark.parametrize("bad", ["abc", None, {1: 2}])
def test_poisson_sqrt_hessian_refuses_what_is_no_array_by_name(bad):
    loss = get_loss("poisson")
    with pytest.raises(TypeError, match=r"poisson: y must be an array.*sqrt_hessian"):
        loss.sqrt_hessian(bad, np.array([1.0]))
    with pytest.raises(TypeError, match=r"poisson: sample_weight must be an array"):
        loss.sqrt_hessian(np.array([1.0]), np.array([1.0]), "abc")
    s = loss.sqrt_hessian(np.array([1.0, 2.0]), np.array([2.0, 4.0]), n_threads=1)
    np.testing.assert_allclose(s, np.exp([1.0, 2.0]), rtol=4e-16)


@pytest.mark.parametrize("dtype", [np.float16, ">f4"])
def test_results_overflowing_a_narrow_dtype_are_inf_without_a_warning(dtype):
    """The NumPy route computes float16 (and non-native float32) in float64 and rounds
    once; where the exact result overflows the dtype it is inf, and no
    ``RuntimeWarning`` (an error under ``-W error``) escapes the cast."""
    loss = get_loss("exponential")
    y, z = np.array([0.0, 0.0], dtype), np.array([17.0, 100.0], dtype)
    got = loss.value(y, z) if dtype == np.float16 else loss.hessian_diagonal(y, z)
    assert np.isinf(got[-1])
    assert got[-1] > 0
    if dtype == np.float16:
        assert np.isinf(got).all()


@pytest.mark.parametrize("n", [0, 2])
@pytest.mark.parametrize("method", ["hessian", "sqrt_hessian"])
def test_multinomial_full_matrices_of_big_endian_input_are_native(method, n):
    loss = get_loss("multinomial")
    y, z = np.zeros(n, ">f2"), np.zeros((n, 2), ">f2")
    got = getattr(loss, method)(y, z)
    assert got.dtype == np.float16
    assert got.shape == (n, 2, 2)
    native = getattr(loss, method)(y.astype(np.float16), z.astype(np.float16))
    np.testing.assert_array_equal(got, native)


@pytest.mark.parametrize("dtype", ["<f4", ">f4"])
def test_a_mean_overflowing_float32_is_inf_without_a_warning(dtype):
    y, z = np.array([-1e38, -1e38], dtype), np.array([2e38, 2e38], dtype)
    assert get_loss("squared_error")(y, z) == np.inf
    assert get_loss("absolute_error")(y, z) == np.float32(3e38)


def test_focal_hessian_at_extreme_scores_is_finite():
    for gamma in (0.5, 2.0, 5.0):
        loss = get_loss("focal", gamma=gamma)
        h = loss.hessian(np.array([1.0, 0.0, 1.0]), np.array([-1e308, 1e308, 1e308]))
        assert np.all(np.isfinite(h))


def test_pseudo_huber_at_residuals_beyond_the_float_range():
    loss = get_loss("pseudo_huber")
    y, z = np.array([-1e308, 1e308]), np.array([1e308, -1e308])
    np.testing.assert_array_equal(loss.gradient(y, z), [1.0, -1.0])
    np.testing.assert_array_equal(loss.value(y, z), [np.inf, np.inf])  # δ|r| overflows
    np.testing.assert_array_equal(loss.hessian(y, z), [0.0, 0.0])
    small = get_loss("pseudo_huber", delta=1e-8)
    # |r/δ| overflows, |r| does not: ℓ = δ|r| − δ², g = δ sign r.
    np.testing.assert_allclose(small.value(np.zeros(1), np.array([1e301])), [1e293], rtol=1e-15)
    np.testing.assert_allclose(small.gradient(np.zeros(1), np.array([-1e301])), [-1e-8])
    v = small.value(np.array([-1e308]), np.array([1e308]))
    np.testing.assert_allclose(v, [2e300], rtol=1e-15)


@pytest.mark.parametrize("delta", [1e-8, 1e-6, 1e-4, 1e-200])
def test_pseudo_huber_fisher_weight_is_non_negative_for_small_delta(delta):
    f = get_loss("pseudo_huber", delta=delta).fisher_diagonal(np.zeros(1), np.ones(1))
    assert f[0] >= 0
    # E[H] ≈ δ² for small δ (the density is ∝ e^{−δ|r|}, H = (δ/|r|)³ beyond δ).
    np.testing.assert_allclose(f, [delta * delta], rtol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tweedie_at_extreme_scores_is_positive_infinity_not_negative(dtype):
    loss = get_loss("tweedie", power=1.99)
    top = np.finfo(dtype).max
    y = np.array([1.0, 1.0, 0.0], dtype)
    z = np.array([-top, top, top], dtype)
    v, _, h = loss.value_gradient_hessian(y, z)
    assert np.all(v == np.inf)
    assert np.all(h == np.inf)
    rng = np.random.default_rng(5)
    z = (rng.choice([-1, 1], 200) * 10.0 ** rng.uniform(2, np.log10(top), 200)).astype(dtype)
    y = np.ones(200, dtype)
    assert np.all(loss.hessian(y, z) >= 0)
    assert np.all(loss.value(y, z) >= 0)


def test_multinomial_hessian_and_fisher_where_the_logit_spread_overflows():
    loss = get_loss("multinomial")
    z = np.array([[-1e308, 1e308, 0.0], [1e308, -1e308, -1e308]])
    y = np.array([1, 0])
    for result in (
        loss.hessian(y, z),
        loss.fisher_diagonal(y, z),
        loss.hessian_diagonal(y, z),
        loss.value(y, z),
        loss.gradient(y, z),
        loss.sqrt_hessian(y, z),
    ):
        assert np.all(np.isfinite(result))
    np.testing.assert_array_equal(loss.value(y, z), [0.0, 0.0])
    np.testing.assert_array_equal(loss.gradient(np.array([0, 1]), z)[0], [-1.0, 1.0, 0.0])


# ------------------------------------------------------ compiled loop and NumPy kernel

_EXTREME = np.array([-1e308, -3e300, -800.0, -1.0, 0.0, 2.0, 750.0, 3e300, 1e308])


@pytest.mark.parametrize(
    "loss",
    [
        get_loss("pseudo_huber"),
        get_loss("pseudo_huber", delta=1e-8),
        get_loss("focal", gamma=5.0),
        get_loss("tweedie", power=1.99),
        get_loss("multinomial"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_changed_kernels_agree_compiled_and_as_numpy(monkeypatch, loss, dtype):
    """Where a kernel was changed for extreme scores, the compiled loop (numba) and
    the NumPy expressions (``LOSSMATH_JIT=0``) give the same infinities and zeros,
    and values within the few ulps of their different ``exp`` / ``log1p``."""
    from lossmath.engine import compiled as _jit

    rng = np.random.default_rng(6)
    n = 300
    top = float(np.finfo(dtype).max)
    extreme = np.clip(_EXTREME, -top, top)  # float32: its own extremes
    z = rng.choice(extreme, n).astype(dtype)
    if loss.n_outputs != 1:
        z = np.column_stack([z, rng.choice(extreme, n), rng.normal(0, 3, n)]).astype(dtype)
        y = rng.integers(0, 3, n)
    elif loss.task == "binary":
        y = rng.integers(0, 2, n).astype(dtype)
    elif loss.task == "counts":
        y = rng.choice([0.0, 1.0, top], n).astype(dtype)
    else:
        y = rng.choice(extreme, n).astype(dtype)
    methods = ("value", "gradient", "hessian_diagonal", "fisher_diagonal")
    compiled = [getattr(loss, m)(y, z) for m in methods]
    monkeypatch.setattr(_jit, "available", lambda: False)
    # The NumPy route rounds float64 results to float32 with a cast that warns where
    # they overflow to inf (as they must).
    with np.errstate(over="ignore"):
        plain = [getattr(loss, m)(y, z) for m in methods]
    for m, a, b in zip(methods, compiled, plain, strict=True):
        assert a.dtype == b.dtype
        assert not np.any(np.isnan(a)), m
        assert not np.any(np.isnan(b)), m
        np.testing.assert_array_equal(np.isinf(a), np.isinf(b), err_msg=m)
        np.testing.assert_array_equal(a == 0, b == 0, err_msg=m)
        np.testing.assert_allclose(a, b, rtol=8 * np.finfo(dtype).eps, atol=0, err_msg=m)


# ------------------------------------------- results that overflow on the way (issue 14)

_TOP = float(np.finfo(np.float64).max)


def _route(monkeypatch, route):
    """Send the next calls down ``route``: one compiled block (the default for small
    inputs), compiled blocks on threads, the NumPy kernel whole or in blocks."""
    from lossmath.engine import compiled as _jit
    from lossmath.engine import threads

    if route == "compiled blocks":
        monkeypatch.setattr(threads, "JIT_BLOCK_ELEMENTS", 7)
    elif route in ("numpy", "numpy blocks"):
        monkeypatch.setattr(_jit, "available", lambda: False)
        if route == "numpy blocks":
            monkeypatch.setattr(threads, "MIN_ELEMENTS", 1)
            monkeypatch.setattr(threads, "BLOCK_ELEMENTS", 7)


def _exact_results(loss, method, y, z, w, v):
    """The exact weighted entries of ``method`` (mpmath), element by element."""
    import mpmath

    from lossmath.checking import REFERENCE_DPS, evaluate

    out = []
    with mpmath.workdps(REFERENCE_DPS):
        for i in range(z.shape[0]):
            ex = evaluate(loss, y[i], z[i])
            s = mpmath.mpf(1) if w is None else mpmath.mpf(float(w[i]))
            multi = z.ndim == 2
            if method == "value":
                out.append(ex.value * s)
            elif method == "gradient":
                out.append([g * s for g in ex.gradient] if multi else ex.gradient * s)
            elif method == "hessian_diagonal":
                k = z.shape[-1]
                out.append([ex.hessian[j][j] * s for j in range(k)] if multi else ex.hessian * s)
            elif method == "sqrt_hessian":
                out.append(mpmath.sqrt(ex.hessian * s))
            elif method == "hessian_vector_product":
                if multi:
                    row = [
                        mpmath.fsum(h * mpmath.mpf(float(x)) for h, x in zip(hr, v[i], strict=True))
                        for hr in ex.hessian
                    ]
                    out.append([r * s for r in row])
                else:
                    out.append(ex.hessian * mpmath.mpf(float(v[i])) * s)
    return out


def _assert_within_ulps(got, exact, dtype, ulps=4.0):
    """Each entry within ``ulps`` of the exact one, or the exact one's signed infinity."""
    import mpmath

    from lossmath.checking import ulp_error

    got = np.asarray(got, dtype=np.float64).ravel()
    flat = []
    for e in exact:
        flat.extend(e if isinstance(e, list) else [e])
    top = mpmath.mpf(float(np.finfo(dtype).max))
    for g, e in zip(got, flat, strict=True):
        assert not np.isnan(g)
        if abs(e) > top:
            assert g == (np.inf if e > 0 else -np.inf), (g, mpmath.nstr(e, 8))
        else:
            err = float(ulp_error([g], [e], dtype)[0])
            assert err <= ulps, (g, mpmath.nstr(e, 17), err)


#: (loss, method, y, z, sample_weight, v): a per-sample result beyond the float range
#: that its weight < 1 brings back into it.
_WEIGHTED = [
    (get_loss("poisson"), "value", [1.3], [-1.79e308], [5e-324], None),
    (get_loss("huber", delta=1e8), "value", [-1e308], [1e308], [1e-30], None),
    (get_loss("gamma"), "hessian_vector_product", [1.0], [-800.0], [5e-324], [1.0]),
    (get_loss("gamma"), "gradient", [1.0], [-800.0], [1e-300], None),
    (get_loss("poisson"), "hessian_diagonal", [0.0], [1000.0], [1e-300], None),
    (get_loss("poisson"), "sqrt_hessian", [1.0], [2048.0], [5e-324], None),
    (get_loss("squared_error"), "value", [-1e200], [1e200], [1e-300], None),
    (get_loss("exponential"), "value", [1.0], [-720.0], [0.5], None),
    (get_loss("multinomial"), "value", [1], [[1e308, -1e308]], [0.25], None),
]


@pytest.mark.parametrize("route", ["compiled", "compiled blocks", "numpy", "numpy blocks"])
@pytest.mark.parametrize(
    ("loss", "method", "y", "z", "w", "v"),
    _WEIGHTED,
    ids=[f"{case[0]!r}.{case[1]}" for case in _WEIGHTED],
)
def test_a_weight_below_one_brings_an_overflowed_result_back(
    monkeypatch, route, loss, method, y, z, w, v
):
    """sᵢ rᵢ is finite (within a few ulps of the exact product) where rᵢ alone
    overflows, by every route; the samples beside it keep their bits."""
    n = 20  # several compiled blocks of 7 elements, with ordinary samples between
    y = np.array(y * n)
    z = np.array(z * n, dtype=np.float64)
    w = np.array(w * n)
    w[::2] = 0.5  # ordinary weights on the same samples: a mixed block
    args = (y, z, np.array(v * n)) if v is not None else (y, z)
    before = getattr(loss, method)(*args, sample_weight=np.ones(n))
    _route(monkeypatch, route)
    kwargs = {"n_threads": 2} if route.endswith("blocks") else {}
    got = getattr(loss, method)(*args, sample_weight=w, **kwargs)
    vv = None if v is None else args[2]
    _assert_within_ulps(got, _exact_results(loss, method, y, z, w, vv), np.float64)
    assert before.shape == got.shape


@pytest.mark.parametrize("route", ["compiled", "numpy"])
def test_weighted_overflow_in_float32_results(monkeypatch, route):
    """float32 input, evaluated in float64: the rescued entry rounds to float32 once."""
    loss = get_loss("poisson")
    y = np.array([1.0, 1.0], np.float32)
    z = np.array([-3e38, 88.0], np.float32)
    w = np.array([1e-30, 0.5], np.float32)
    _route(monkeypatch, route)
    got = loss.value(y, z, w)
    assert got.dtype == np.float32
    _assert_within_ulps(got, _exact_results(loss, "value", y, z, w, None), np.float32, 1.0)


def test_weighted_overflow_in_torch_float32():
    torch = pytest.importorskip("torch")
    loss = get_loss("poisson")
    y = torch.tensor([1.3, 2.0], dtype=torch.float32)
    z = torch.tensor([-3e38, 100.0], dtype=torch.float32)
    w = torch.tensor([1e-30, 1e-10], dtype=torch.float32)
    got = loss.value(y, z, w)
    assert isinstance(got, torch.Tensor)
    assert got.dtype == torch.float32
    exact = _exact_results(loss, "value", y.numpy(), z.numpy(), w.numpy(), None)
    _assert_within_ulps(got.numpy(), exact, np.float32, 1.0)


def test_a_mean_of_terms_overflowing_before_their_share_is_finite():
    """``__call__``: ``Σ ℓᵢ / n`` is finite where one ``ℓᵢ`` overflows by less than ``n``."""
    loss = get_loss("poisson")
    y, z = np.array([1.3, 1.0]), np.array([710.0, 0.0])
    import mpmath

    from lossmath.checking import evaluate

    with mpmath.workdps(50):
        exact = (evaluate(loss, 1.3, 710.0).value + evaluate(loss, 1.0, 0.0).value) / 2
    _assert_within_ulps([float(loss(y, z))], [exact], np.float64)
    w = np.array([1e-300, 1e-300])  # the weights' sum and the terms both small
    _assert_within_ulps([float(loss(y, z, w))], [exact], np.float64)


@pytest.mark.parametrize("route", ["compiled", "numpy"])
def test_poisson_value_where_both_terms_overflow(monkeypatch, route):
    """``eᶻ − yz`` with both terms beyond the float range: the signed infinity of
    the exact difference, not inf − inf = NaN."""
    loss = get_loss("poisson")
    y = np.array([1.2e295, 9e307, 1e-300, 0.0, 2.0])
    z = np.array([4.8e16, 710.0, 1000.0, 709.9, 1.5])
    _route(monkeypatch, route)
    got = loss.value(y, z)
    np.testing.assert_array_equal(got[:4], [np.inf, -np.inf, np.inf, np.inf])
    _assert_within_ulps(got, _exact_results(loss, "value", y, z, None, None), np.float64)


@pytest.mark.parametrize("route", ["compiled", "compiled blocks", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hessian_vector_product_with_v_zero_where_the_hessian_overflows(monkeypatch, route, dtype):
    loss = get_loss("poisson")
    n = 20
    y = np.full(n, 700.0, dtype)
    z = np.full(n, 65504.0, dtype)
    v = np.zeros(n, dtype)
    v[1::2] = 1.0
    _route(monkeypatch, route)
    got = loss.hessian_vector_product(y, z, v, n_threads=2)
    np.testing.assert_array_equal(got[::2], 0.0)
    np.testing.assert_array_equal(got[1::2], np.inf)


@pytest.mark.parametrize("route", ["compiled", "numpy"])
@pytest.mark.parametrize("method", ["value", "gradient", "hessian_diagonal"])
def test_tweedie_where_its_factor_overflows_but_the_product_does_not(monkeypatch, route, method):
    """``y e^{(1−p)z}`` with ``e^{(1−p)z}`` beyond the range and ``y`` tiny."""
    loss = get_loss("tweedie", power=1.2)
    y = np.array([5e-324, 1e-300, 2.0, 0.0])
    z = np.array([-4097.0, -4000.0, -10.0, -4097.0])
    _route(monkeypatch, route)
    got = getattr(loss, method)(y, z)
    assert np.isfinite(got[:3]).all()
    _assert_within_ulps(got, _exact_results(loss, method, y, z, None, None), np.float64)


@pytest.mark.parametrize("route", ["compiled", "numpy"])
def test_tweedie_hessian_terms_scaled_below_one_before_they_overflow(monkeypatch, route):
    """(p − 1) y e^{(1−p)z} and (2 − p) e^{(2−p)z}: finite where H is, with y e^{(1−p)z}
    (or e^{(2−p)z}) alone beyond the range."""
    cases = [
        (get_loss("tweedie", power=1.0 + 1e-9), [_TOP], [-1e10]),
        (get_loss("tweedie", power=1.99), [1.0], [70990.0]),
        (get_loss("tweedie", power=1.0 + 1e-9), [5e-324], [-_TOP]),  # H = inf, not NaN
    ]
    _route(monkeypatch, route)
    for loss, y, z in cases:
        y, z = np.array(y), np.array(z)
        got = loss.hessian_diagonal(y, z)
        _assert_within_ulps(
            got, _exact_results(loss, "hessian_diagonal", y, z, None, None), np.float64
        )


@pytest.mark.parametrize("route", ["compiled", "compiled blocks", "numpy"])
def test_multinomial_hessian_vector_product_at_the_float_range_edge(monkeypatch, route):
    """Rows whose terms (Σⱼ eⱼ vⱼ, S₋ₖ vₖ − …) overflow though H v does not."""
    loss = get_loss("multinomial")
    z = np.array([[_TOP, -_TOP, 0.0], [0.0, 0.0, 0.0], [0.0, -700.0, 0.0], [1.0, 2.0, 3.0]])
    v = np.array([[_TOP, -_TOP, 0.0], [_TOP, _TOP, _TOP], [_TOP, -_TOP, 1.0], [1.0, -1.0, 2.0]])
    y = np.array([0, 1, 2, 1])
    _route(monkeypatch, route)
    got = loss.hessian_vector_product(y, z, v, n_threads=2)
    assert np.isfinite(got).all()
    exact = _exact_results(loss, "hessian_vector_product", y, z, None, v)
    import mpmath

    for g, e in zip(got.tolist(), exact, strict=True):
        for gk, ek in zip(g, e, strict=True):
            # Terms of |v| ≈ 1.8e308 cancel: the unit is the largest term, ā p |v|.
            assert abs(mpmath.mpf(gk) - ek) <= 8 * 2.0**-52 * 2 * _TOP or ek == 0


def test_multinomial_value_with_smoothing_where_the_logit_gap_overflows():
    loss = get_loss("multinomial", label_smoothing=0.1)
    y, z = np.array([0]), np.array([[_TOP, -_TOP]])
    got = loss.value(y, z)
    _assert_within_ulps(got, _exact_results(loss, "value", y, z, None, None), np.float64)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize("temperature", [2.0**100, 3e38, 3.5e38, 1e300])
def test_smooth_max_of_float32_with_a_huge_temperature(backend, temperature):
    """float32 with a temperature above 2¹⁰⁰ (JAX without x64 cannot widen it to
    float64): no NaN, and the float64 result rounded to float32."""
    from lossmath import special

    convert = np.asarray
    if backend == "jax":
        convert = pytest.importorskip("jax.numpy").asarray
    for row in ([1.0, 2.0], [0.0, 0.0], [-3e38, 3e38], [-3.4e38, -3.4e38, 0.0], [5.0]):
        x = np.array(row, np.float32)
        with np.errstate(over="ignore"):  # a result beyond float32: inf
            expected = np.float32(special.smooth_max(x.astype(np.float64), temperature=temperature))
            got = np.float32(special.smooth_max(convert(x), temperature=temperature))
        assert not np.isnan(got), row
        if np.isinf(expected):
            assert got == expected, row
        else:
            np.testing.assert_allclose(got, expected, rtol=4 * 2.0**-23, err_msg=str(row))


@pytest.mark.parametrize("weighted", [False, True])
def test_sqrt_hessian_where_the_hessian_overflows_but_its_root_does_not(weighted):
    """``√H`` from ``H`` that overflows the dtype (float16 from ``e^{11}`` on; float64
    from ``e^{709.8}``): finite within a few ulps where the root is representable."""
    loss = get_loss("exponential")
    for dtype, y, z in [
        (np.float16, [1.0, 0.0, 1.0], [-17.0, -65504.0, 1.0]),
        (np.float64, [1.0, 0.0, 1.0], [-1000.0, 1e308, 2.0]),
    ]:
        y, z = np.array(y, dtype), np.array(z, dtype)
        w = (
            np.array([0.5, 1e-300 if dtype == np.float64 else 1e-4, 2.0], dtype)
            if weighted
            else None
        )
        got = loss.sqrt_hessian(y, z, w)
        assert got.dtype == dtype
        _assert_within_ulps(got, _exact_results(loss, "sqrt_hessian", y, z, w, None), dtype, 1.0)


def test_multinomial_sqrt_hessian_with_a_weight_times_class_weight_beyond_the_range():
    """``sᵢ ā`` overflows (1.07e308 × 1000) while ``√sᵢ √ā`` does not: finite, and
    the entries of ``S`` that are 0 stay 0 (was a NaN warning from inf · 0)."""
    loss = get_loss("multinomial", class_weight=(1e-3, 1e-3, 1e3, 1e-3))
    z = np.array([[0.0, -2048.0, -88.0, -1.79e308], [-1.79e308, -1.79e308, -1.79e308, 9e307]])
    w = np.array([2.2e-308, 1.07e308])
    s = loss.sqrt_hessian(np.array([1.0, 2.0]), z, w)
    assert np.isfinite(s).all()
    assert (s[1] == 0).all()  # a one-hot row: H = 0
    h = loss.hessian(np.array([1.0, 2.0]), z, w)
    assert_allclose(s[0] @ s[0].T, h[0], rtol=1e-12, atol=0)


def test_half_precision_tensors_are_computed_in_float32():
    """A float16 tensor: ``y − z`` = 65521 overflows float16 (max 65504) though the
    quantile loss, half of it, does not; computed in float32 and rounded once it is
    32768, the float16 nearest to the exact 32760.5 (was inf)."""
    torch = pytest.importorskip("torch")
    loss = get_loss("quantile")
    y = torch.tensor([17.0], dtype=torch.float16)
    z = torch.tensor([-65504.0], dtype=torch.float16)
    got = loss.value(y, z)
    assert got.dtype == torch.float16
    assert got.item() == 32768.0
