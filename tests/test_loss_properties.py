"""What each loss declares about itself is true of its formulas.

``is_convex``, ``is_smooth`` (with ``kinks``), ``canonical_link``,
``hessian_bound``, ``distribution`` and ``predict`` are checked against the
loss's numbers, not against their types: each test below fails when the
declaration and the formulas disagree.
"""

from __future__ import annotations

import functools

import mpmath
import numpy as np
import pytest
import scipy.special
import scipy.stats

from conftest import CASES, MULTI_CASES, SCALAR_CASES, assert_within_ulps, case_id, small_batch
from lossmath.checking import REFERENCE_DPS, ULP_TOLERANCE, evaluate, ulp_error


def _dense_scalar_points(loss, n_y: int = 60, seed: int = 0):
    """Valid ``(y, z)`` covering each target's neighbourhood densely: a grid of
    scores from −12 to 12, the kinks and the optimum, each ± small steps."""
    rng = np.random.default_rng(seed)
    y = loss.example_targets(rng, n_y)
    if loss.y_interval.binary:
        y[:2] = [0.0, 1.0]
    grid = np.linspace(-12, 12, 1201)
    steps = np.array([0.0, 1e-9, -1e-9, 1e-4, -1e-4, 1e-2, -1e-2])
    ys, zs = [], []
    for yi in y:
        special = list(loss.kinks(float(yi)))
        dom = loss.y_interval
        if dom.low == 0 and dom.high != 1:
            special.append(np.log(yi) if yi > 0 else -5.0)
        elif dom.binary or dom.high == 1:
            special += [2 * yi - 1, 0.0]
        else:
            special.append(yi)
        z = np.concatenate([grid, (np.array(special)[:, None] + steps).ravel()])
        ys.append(np.full(z.size, yi))
        zs.append(z)
    return np.concatenate(ys), np.concatenate(zs)


def _dense_multi_points(loss, n: int = 20000, seed: int = 0):
    """Rows of scores for K = 2, 3, 4 (or the loss's K): random, and two classes tied
    at the top with the others far below (where the softmax Hessian peaks)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in [loss.n_outputs] if loss.n_outputs else [2, 3, 4]:
        z = rng.normal(0, 3, (n, k))
        pair = rng.normal(0, 0.05, (n // 2, k))
        pair[:, 2:] -= 60
        z[: n // 2] = pair
        y = rng.integers(0, k, n)
        out.append((y, z))
    return out


@functools.cache
def _hessians(loss, seed: int = 0) -> np.ndarray:
    """The exact Hessian (every eigenvalue for multiclass) at the dense points
    (computed once per loss: two tests read it)."""
    if loss.n_outputs == 1:
        y, z = _dense_scalar_points(loss, seed=seed)
        return loss.hessian(y, z)
    return np.concatenate(
        [np.linalg.eigvalsh(loss.hessian(y, z)).ravel() for y, z in _dense_multi_points(loss)]
    )


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_is_convex_is_true_of_the_hessian(loss):
    """Convex: the exact Hessian is ≥ 0 at every dense point; not convex: a
    negative one is found among them."""
    h = _hessians(loss)
    assert np.all(np.isfinite(h) | (h == np.inf))
    if loss.is_convex:
        assert np.min(h) >= -8 * np.finfo(float).eps * np.max(np.abs(h), initial=1.0), np.min(h)
    else:
        assert np.min(h) < -1e-6, f"{loss!r}: declared non-convex, no negative Hessian found"


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_hessian_bound_is_attained_or_approached(loss):
    """``hessian_bound`` is the supremum, not just an upper bound: the largest
    Hessian over the dense points is within 3 % of it (equal for the
    piecewise-linear losses); an infinite bound is passed by a huge number (1e50) at |z| = 700."""
    bound = loss.hessian_bound
    if np.isinf(bound):
        rng = np.random.default_rng(1)
        y = loss.example_targets(rng, 50)
        y = np.where(y > 0, y, 1.0) if loss.y_interval.low == 0 else y
        if loss.y_interval.binary:
            y[:] = 1.0
        z = np.concatenate([np.full(50, -700.0), np.full(50, 700.0)])
        h = loss.hessian(np.concatenate([y, y]), z)
        assert np.max(h) > 1e50, f"{loss!r}: hessian_bound = inf, largest Hessian {np.max(h)}"
        return
    h = _hessians(loss)
    top = float(np.max(h))
    assert top <= bound * (1 + 1e-12), (top, bound)
    if bound == 0:
        assert top == 0
    else:
        assert top >= 0.97 * bound, f"{loss!r}: sup H over dense points {top} vs bound {bound}"


@pytest.mark.parametrize("loss", SCALAR_CASES, ids=case_id)
def test_is_smooth_iff_kinks_and_the_kinks_are_real(loss):
    """A loss declares kinks exactly when it is not smooth, and at each declared
    kink the gradient or the Hessian jumps; a smooth loss's Hessian is continuous
    at random points."""
    rng = np.random.default_rng(2)
    y = loss.example_targets(rng, 20)
    kinks = loss.kinks(y)
    assert bool(kinks) == (not loss.is_smooth)
    eps = 1e-7
    if kinks:
        for k in kinks:
            jump_g = np.abs(loss.gradient(y, k + eps) - loss.gradient(y, k - eps))
            jump_h = np.abs(loss.hessian(y, k + eps) - loss.hessian(y, k - eps))
            assert np.all((jump_g > 1e-3) | (jump_h > 1e-3)), (k, jump_g, jump_h)
    else:
        z = loss.example_scores(rng, 20)
        jump_h = np.abs(loss.hessian(y, z + eps) - loss.hessian(y, z - eps))
        scale = np.maximum(np.abs(loss.hessian(y, z)), 1e-3)
        assert np.all(jump_h <= 1e-4 * scale), jump_h


def _target_rows(loss, y, z):
    return y if z.ndim == 1 else np.eye(z.shape[1])[y]


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_canonical_link_iff_gradient_is_prediction_minus_target(loss):
    """Canonical: ``g == predict(z) − y`` within a few ulps of ``max(|ŷ|, |y|)``
    at every point; otherwise they differ by far more at some point."""
    y, z, _ = small_batch(loss, n=40)
    target = _target_rows(loss, y, z)
    p = loss.predict(z)
    g = loss.gradient(y, z)
    unit = np.spacing(np.maximum(np.abs(p), np.abs(target)))
    off = np.abs(g - (p - target)) / unit
    if loss.canonical_link:
        assert np.max(off) <= 4, np.max(off)
    else:
        assert np.max(off) > 1e6, f"{loss!r}: not canonical, yet g = ŷ − y everywhere"


#: The mean of each link's inverse, written from its definition in mpmath.
_MEANS = {
    "identity": lambda z: z,
    "logit": lambda z: 1 / (1 + mpmath.exp(-z)),
    "half_logit": lambda z: 1 / (1 + mpmath.exp(-2 * z)),
    "log": mpmath.exp,
}


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_predict_is_the_mean_to_a_few_ulps(loss):
    """``predict`` against the mean written here in mpmath from the link's
    definition (softmax for multiclass), at moderate and extreme scores."""
    rng = np.random.default_rng(4)
    z = loss.example_scores(rng, 30, scale=4.0)
    if z.ndim == 1:
        z[:6] = [-700.0, -40.0, -1e-300, 0.0, 40.0, 700.0]
    p = loss.predict(z)
    with mpmath.workdps(REFERENCE_DPS):
        if z.ndim == 1:
            mean = _MEANS[loss.link.name]
            exact = [mean(mpmath.mpf(float(v))) for v in z]
        else:
            exact = []
            for row in z:
                e = [mpmath.exp(mpmath.mpf(float(v))) for v in row]
                s = mpmath.fsum(e)
                exact += [x / s for x in e]
    err = ulp_error(np.ravel(p), exact, np.float64)
    assert np.max(err) <= 4, np.max(err)


@pytest.mark.parametrize("loss", SCALAR_CASES, ids=case_id)
def test_hessian_is_the_exact_second_derivative(loss):
    """``hessian`` and ``hessian_diagonal`` of a scalar loss against the 400-digit
    reference (and each other), at the small batch of every other contract test."""
    y, z, _ = small_batch(loss, n=25)
    exact = [evaluate(loss, yi, zi) for yi, zi in zip(y, z, strict=True)]
    ref = [e.hessian for e in exact]
    scale = [e.hessian_scale for e in exact]
    assert np.max(ulp_error(loss.hessian(y, z), ref, np.float64, scale)) <= ULP_TOLERANCE
    d = loss.hessian_diagonal(y, z)
    assert np.max(ulp_error(d, ref, np.float64, scale)) <= ULP_TOLERANCE


@pytest.mark.parametrize("loss", MULTI_CASES, ids=case_id)
def test_hessian_diagonal_is_the_full_hessians_diagonal(loss):
    """The multiclass ``hessian_diagonal`` (its own formula) equals the diagonal of
    the full ``K × K`` Hessian to a few ulps, and both equal the reference."""
    y, z, w = small_batch(loss, n=25)
    h = loss.hessian(y, z, w)
    assert_within_ulps(loss.hessian_diagonal(y, z, w), np.diagonal(h, axis1=1, axis2=2), 4)
    exact = [evaluate(loss, yi, zi) for yi, zi in zip(y, z, strict=True)]
    ref = [row[i] for e in exact for i, row in enumerate(e.hessian)]
    d = np.ravel(loss.hessian_diagonal(y, z))
    assert np.max(ulp_error(d, ref, np.float64)) <= ULP_TOLERANCE


def _sigmoid(z):
    return scipy.special.expit(z)


def _softmax(z):
    return scipy.special.softmax(z, axis=1)


#: distribution → (log-likelihood of y given the raw score z, valid targets).
_LOGLIK = {
    "gaussian": lambda loss, y, z: scipy.stats.norm(loc=z).logpdf(y),
    "laplace": lambda loss, y, z: scipy.stats.laplace(loc=z).logpdf(y),
    "hyperbolic_secant": lambda loss, y, z: scipy.stats.hypsecant(loc=z).logpdf(y),
    "asymmetric_laplace": lambda loss, y, z: scipy.stats.laplace_asymmetric(
        kappa=np.sqrt(loss.quantile / (1 - loss.quantile)),
        loc=z,
        scale=np.sqrt(loss.quantile / (1 - loss.quantile)) / loss.quantile,
    ).logpdf(y),
    "bernoulli": lambda loss, y, z: scipy.stats.bernoulli(_sigmoid(z)).logpmf(y),
    "poisson": lambda loss, y, z: scipy.stats.poisson(np.exp(z)).logpmf(y),
    "gamma": lambda loss, y, z: scipy.stats.gamma(a=1, scale=np.exp(z)).logpdf(y),
    "categorical": lambda loss, y, z: np.log(_softmax(z)[np.arange(len(y)), y]),
}


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_distribution_is_the_negative_log_likelihood(loss):
    """``value(y, z₁) − value(y, z₂)`` equals the difference of the declared
    distribution's negative log-likelihoods (scipy.stats) at the means the two
    scores give: the loss is that likelihood up to a constant in ``y``."""
    if loss.distribution is None or loss.distribution not in _LOGLIK:
        pytest.skip(f"no scipy.stats distribution for {loss.distribution!r}")
    rng = np.random.default_rng(6)
    y, z1, _ = small_batch(loss, n=30, seed=6)
    if loss.distribution == "poisson":
        y = np.round(y)
    z2 = loss.example_scores(rng, 30)
    loglik = _LOGLIK[loss.distribution]
    got = loss.value(y, z1) - loss.value(y, z2)
    want = loglik(loss, y, z2) - loglik(loss, y, z1)
    scale = np.abs(loss.value(y, z1)) + np.abs(loss.value(y, z2)) + 1
    assert np.all(np.abs(got - want) <= 1e-12 * scale), (got, want)
