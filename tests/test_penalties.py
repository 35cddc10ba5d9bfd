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
