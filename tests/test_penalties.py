"""Penalties: objective convention, prox, subgradients and the MAP (prior) view."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.integrate import quad
from scipy.optimize import minimize_scalar

from lossmath.penalties import L1, L2, ElasticNet, available, get_penalty

CASES = [
    L2(alpha=0.7),
    L1(alpha=0.3),
    ElasticNet(alpha=0.5, l1_ratio=0.5),
    ElasticNet(alpha=2.0, l1_ratio=0.1),
    ElasticNet(alpha=1.0, l1_ratio=0.9),
]
W = np.array([-2.0, -0.3, 0.0, 0.05, 1.7])


@pytest.fixture(params=CASES, ids=repr)
def penalty(request):
    return request.param


def test_every_registered_penalty_is_tested():
    assert {p.name for p in CASES} == set(available())


def test_value_is_the_design_objective(penalty):
    a, r = penalty.alpha, penalty.l1_ratio
    expected = a * (r * np.abs(W).sum() + 0.5 * (1 - r) * (W**2).sum())
    assert math.isclose(penalty.value(W), expected, rel_tol=1e-15)


def test_prox_is_the_argmin(penalty):
    step = 0.8
    got = penalty.prox(W, step)
    for wj, pj in zip(W, got, strict=True):

        def f(u, wj=wj):
            return 0.5 * (u - wj) ** 2 / step + penalty.value([u])

        res = minimize_scalar(f, bounds=(-5, 5), method="bounded", options={"xatol": 1e-12})
        # The proximal objective is at least as low as scipy's, and no nearby point is lower.
        assert f(pj) <= res.fun + 1e-15
        assert f(pj) <= min(f(pj - 1e-6), f(pj + 1e-6))


def test_smooth_gradient_and_hessian(penalty):
    if not penalty.is_smooth:
        with pytest.raises(TypeError, match="not differentiable"):
            penalty.gradient(W)
        return
    h = 1e-6
    fd = np.array(
        [(penalty.value(W + h * e) - penalty.value(W - h * e)) / (2 * h) for e in np.eye(W.size)]
    )
    assert_allclose(penalty.gradient(W), fd, rtol=1e-8, atol=1e-10)
    assert_allclose(penalty.hessian_diagonal(W), penalty.alpha * (1 - penalty.l1_ratio))


def test_min_norm_subgradient_vanishes_exactly_at_the_prox_fixed_point(penalty):
    # u = prox(u − t g) ⇔ 0 ∈ g + ∂P(u): build such a (u, g) pair and check.
    rng = np.random.default_rng(0)
    g = rng.normal(0, 1, 50)
    u = penalty.prox(-g, 1.0)  # argmin ½‖u + g‖² + P(u): optimality 0 ∈ u + g + ∂P(u)
    r = penalty.min_norm_subgradient(u, u + g)
    assert np.max(np.abs(r)) <= 1e-14
    r_off = penalty.min_norm_subgradient(u + 0.1, u + g)
    assert np.max(np.abs(r_off)) > 1e-3


def test_log_prior_is_a_normalised_density(penalty):
    total = quad(lambda u: math.exp(penalty.log_prior(np.array([u]))), -np.inf, np.inf)[0]
    assert math.isclose(total, 1.0, rel_tol=1e-9)


def test_log_prior_is_minus_the_penalty_up_to_a_constant(penalty):
    """MAP view: maximising the log prior = minimising the penalty."""
    d = penalty.log_prior(W) + penalty.value(W)
    assert math.isclose(penalty.log_prior(2 * W) + penalty.value(2 * W), d, rel_tol=1e-14)


def test_priors_are_the_named_distributions():
    from scipy import stats

    w = np.array([0.3, -1.2])
    assert math.isclose(
        L2(alpha=4.0).log_prior(w), stats.norm(0, 0.5).logpdf(w).sum(), rel_tol=1e-14
    )
    assert math.isclose(
        L1(alpha=2.0).log_prior(w), stats.laplace(0, 0.5).logpdf(w).sum(), rel_tol=1e-14
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("l2", {"alpha": -1.0}), r"l2: alpha must be >= 0; got alpha = -1\.0"),
        (("elastic_net", {"l1_ratio": 1.5}), r"elastic_net: l1_ratio must lie in \[0, 1\]"),
        (("nope", {}), "unknown penalty 'nope'"),
    ],
)
def test_bad_parameters(args, message):
    with pytest.raises(ValueError, match=message):
        get_penalty(args[0], **args[1])


def test_bad_input():
    with pytest.raises(ValueError, match="w must be finite"):
        L2().value([np.nan])
    with pytest.raises(ValueError, match="improper prior"):
        L2(alpha=0.0).log_prior([1.0])
    with pytest.raises(ValueError, match="step must be >= 0"):
        L1().prox([1.0], -1.0)


# --------------------------------------------------------------------------
# Extreme finite coefficients and parameters, and what is not a coefficient
# --------------------------------------------------------------------------


def _exact_value(penalty, w) -> float:
    """``P(w)`` in exact rational arithmetic, rounded once (``inf`` past the range)."""
    from fractions import Fraction

    terms = [Fraction(float(x)) for x in np.ravel(w)]
    value = Fraction(penalty._l1) * sum(abs(t) for t in terms) + Fraction(penalty._l2) / 2 * sum(
        t * t for t in terms
    )
    try:
        return float(value)
    except OverflowError:
        return math.inf


@pytest.mark.parametrize("alpha", [5e-324, 1e-300, 1e-200, 1.0, 1e200, 1.7e308])
@pytest.mark.parametrize("penalty_cls", [L1, L2, lambda alpha: ElasticNet(alpha, 0.3)])
def test_value_of_huge_and_tiny_coefficients_is_the_rounded_exact_value(penalty_cls, alpha):
    # Regression: w = 1e110 … 1e301 gave inf (w² overflowed) or NaN (L1: 0·inf).
    penalty = penalty_cls(alpha=alpha)
    for w in ([1e110, -3e150], [1e160], [1e301, 2.5e-300, 0.0], [5e-324, -1e-310], [1e-170]):
        expected = _exact_value(penalty, w)
        got = penalty.value(w)
        assert got == pytest.approx(expected, rel=4e-16, abs=0), (penalty, w)
        if math.isfinite(expected):
            assert math.isfinite(penalty.log_prior(w)), (penalty, w)
        else:
            assert penalty.log_prior(w) == -math.inf


@pytest.mark.parametrize("alpha", [5e-324, 1e-310, 1e-300, 1.0, 1e300, 1.7e308])
@pytest.mark.parametrize("l1_ratio", [0.0, 1e-300, 0.5, 1 - 1e-16, 1.0])
def test_log_normaliser_for_every_positive_alpha(alpha, l1_ratio):
    # Regression: 2/a overflowed for a subnormal a (L1), erfcx(a/c) underflowed for a
    # huge alpha, and alpha·l1_ratio rounded to 0 (ElasticNet(5e-324, 0.5) raised).
    import mpmath

    with mpmath.workdps(50):
        a = mpmath.mpf(alpha) * mpmath.mpf(l1_ratio)
        b = mpmath.mpf(alpha) * (1 - mpmath.mpf(l1_ratio))
        if b == 0:
            expected = mpmath.log(2 / a)
        else:
            c = mpmath.sqrt(2 * b)
            t = a / c
            if t > 1e8:  # erfcx's asymptotic series, to far below an ulp
                log_erfcx = -mpmath.log(t * mpmath.sqrt(mpmath.pi)) + mpmath.log(
                    1 - 1 / (2 * t**2) + 3 / (4 * t**4)
                )
            else:
                log_erfcx = mpmath.log(mpmath.exp(t * t) * mpmath.erfc(t))
            expected = mpmath.log(2 * mpmath.sqrt(mpmath.pi) / c) + log_erfcx
    got = ElasticNet(alpha=alpha, l1_ratio=l1_ratio).log_prior([0.0])
    assert -got == pytest.approx(float(expected), rel=1e-14)


@pytest.mark.parametrize(
    "w",
    [
        [1 + 5j],
        np.array([1.0, 2.0], dtype=complex),
        "abc",
        np.array(["1.0"]),
        np.array([1, 2], dtype="timedelta64[s]"),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
        None,
        {"a": 1.0},
        [1.0, None],
        [[1.0], [1.0, 2.0]],
    ],
    ids=repr,
)
@pytest.mark.parametrize("method", ["value", "log_prior", "gradient", "prox", "hessian_diagonal"])
def test_coefficients_that_are_not_real_numbers_are_refused(w, method):
    # Regression: complex coefficients lost their imaginary part (l2.value([1+5j]) was
    # 0.5), timedelta arrays were accepted, strings failed inside NumPy's conversion.
    penalty = L2(alpha=1.0)
    call = {"prox": lambda x: penalty.prox(x, step=1.0)}.get(method, getattr(penalty, method))
    with pytest.raises(TypeError, match=rf"l2\.{method}: w must be a real numeric array"):
        call(w)


def test_min_norm_subgradient_checks_grad():
    penalty = ElasticNet(alpha=1.0, l1_ratio=0.5)
    with pytest.raises(TypeError, match="min_norm_subgradient: grad must be a real numeric"):
        penalty.min_norm_subgradient([1.0], None)
    with pytest.raises(ValueError, match="min_norm_subgradient: grad must be finite"):
        penalty.min_norm_subgradient([1.0], [np.nan])
    with pytest.raises(
        ValueError, match=r"grad must have the shape of w, \(1,\); got shape \(2,\)"
    ):
        penalty.min_norm_subgradient([1.0], [1.0, 2.0])


def test_prox_and_subgradient_without_spurious_overflow():
    # 1 + step·alpha overflows, the prox (w/(step·alpha) = 0.1) does not.
    assert L2(alpha=1e10).prox([1e308], step=1e299)[0] == pytest.approx(0.1, rel=1e-15)
    # grad + alpha·w: the sum is finite though alpha·w alone overflows.
    g = L2(alpha=2.0).min_norm_subgradient([1e308], [-1.5e308])
    assert g[0] == pytest.approx(5e307, rel=1e-15)
    assert L2(alpha=2.0).min_norm_subgradient([1e308], [1e308])[0] == math.inf


def test_inputs_are_not_modified():
    w = np.array([1e300, -2.0, 0.0])
    grad = np.array([1.0, -1.0, 0.5])
    before = (w.copy(), grad.copy())
    for penalty in CASES:
        penalty.value(w), penalty.log_prior(w), penalty.prox(w, step=0.5)
        penalty.min_norm_subgradient(w, grad), penalty.hessian_diagonal(w)
    np.testing.assert_array_equal(w, before[0])
    np.testing.assert_array_equal(grad, before[1])
