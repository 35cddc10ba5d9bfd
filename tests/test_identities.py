"""Identities between losses, element by element in ulps of each element.

Exact identities (one loss is another at a parameter value) hold to the stated
number of ulps at every point; limits (Tweedie → Poisson, Gamma; pseudo-Huber
→ ½r²) hold within their truncation error, stated with its rate, plus a few ulps.

==========================================  ==========================  =============
identity                                    quantities                  tolerance
==========================================  ==========================  =============
focal(γ = 0) ≡ logistic                     value, gradient, Hessian    0 ulps
multinomial(K = 2) at (0, z) ≡ logistic(z)  value, g₁ = −g₀ = g         0 ulps
                                            H₁₁ = H₀₀ = H               0 ulps
                                            −H₀₁ = H                    4 ulps
2 × quantile(½) ≡ absolute error            value, gradient, Hessian    0 ulps
huber(δ = 1e12 … 1e150) ≡ squared error     value, gradient, Hessian    0 ulps
pseudo-Huber(δ) → ½r² as δ → ∞              value, gradient, Hessian    r²/(4δ²) rel. + 4 ulps
squared hinge ≡ hinge²                      value; g = 2·hinge·g_hinge  0 ulps
tweedie(1 + ε) → poisson                    gradient, Hessian, value    O(ε), see below
tweedie(2 − ε) → gamma                      gradient, Hessian, value    O(ε), see below
==========================================  ==========================  =============
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_within_ulps
from lossmath import get_loss

N = 3000
EPS = np.finfo(np.float64).eps


def _scores(rng, n=N):
    z = rng.normal(0, 4, n) * rng.choice([1e-6, 1.0, 10.0], n)
    z[:8] = [-700.0, -40.0, -1e-300, 0.0, 1e-300, 40.0, 700.0, 1e-8]
    return z


def _labels(rng, n=N):
    return rng.integers(0, 2, n).astype(np.float64)


def _regression(rng, n=N):
    y = rng.normal(0, 3, n)
    z = y + rng.normal(0, 3, n) * rng.choice([0.0, 1e-8, 1.0, 100.0], n)
    return y, z


QUANTITIES = ("value", "gradient", "hessian")


@pytest.mark.parametrize("q", QUANTITIES)
def test_focal_with_gamma_zero_is_logistic(q):
    rng = np.random.default_rng(0)
    y, z = _labels(rng), _scores(rng)
    f, lg = get_loss("focal", gamma=0.0), get_loss("logistic")
    assert_within_ulps(getattr(f, q)(y, z), getattr(lg, q)(y, z), 0, q)


def test_multinomial_with_two_classes_is_logistic_on_the_logit_difference():
    """ℓ(y, (0, z)) = logistic(y, z); g = (−g_σ, g_σ); H = H_σ [[1, −1], [−1, 1]].
    The first score is 0 so that the logit difference is exactly ``z``."""
    rng = np.random.default_rng(1)
    y, z = _labels(rng), _scores(rng)
    zz = np.stack([np.zeros_like(z), z], axis=1)
    m, lg = get_loss("multinomial"), get_loss("logistic")
    yi = y.astype(np.int64)
    g, h = m.gradient(yi, zz), m.hessian(yi, zz)
    assert_within_ulps(m.value(yi, zz), lg.value(y, z), 0, "value")
    assert_within_ulps(g[:, 1], lg.gradient(y, z), 0, "g₁")
    assert_within_ulps(g[:, 0], -lg.gradient(y, z), 0, "g₀")
    assert_within_ulps(h[:, 1, 1], lg.hessian(y, z), 0, "H₁₁")
    assert_within_ulps(h[:, 0, 0], lg.hessian(y, z), 0, "H₀₀")
    # p₀p₁ by another product of the same factors: a few roundings apart.
    assert_within_ulps(-h[:, 0, 1], lg.hessian(y, z), 4, "−H₀₁")
    assert_within_ulps(m.hessian_diagonal(yi, zz)[:, 1], lg.hessian(y, z), 0, "diag")


@pytest.mark.parametrize("q", QUANTITIES)
def test_twice_the_median_loss_is_absolute_error(q):
    rng = np.random.default_rng(2)
    y, z = _regression(rng)
    med, ae = get_loss("quantile", quantile=0.5), get_loss("absolute_error")
    assert_within_ulps(2 * getattr(med, q)(y, z), getattr(ae, q)(y, z), 0, q)


@pytest.mark.parametrize("delta", [1e12, 1e20, 1e150])
@pytest.mark.parametrize("q", QUANTITIES)
def test_huber_with_a_huge_delta_is_squared_error(q, delta):
    rng = np.random.default_rng(3)
    y, z = _regression(rng)
    h, se = get_loss("huber", delta=delta), get_loss("squared_error")
    assert_within_ulps(getattr(h, q)(y, z), getattr(se, q)(y, z), 0, q)


@pytest.mark.parametrize("delta", [1e4, 1e8, 1e12, 1e150])
@pytest.mark.parametrize("q", QUANTITIES)
def test_pseudo_huber_tends_to_half_the_squared_residual(q, delta):
    """δ²(√(1 + (r/δ)²) − 1) = ½r²(1 − r²/(4δ²) + …): relative truncation at most
    r²/(4δ²) in the value (3r²/(2δ²) in g, H), plus 4 ulps; once that is below an
    ulp (δ ≥ 1e12 at |r| ≤ 300) the two agree to 4 ulps."""
    rng = np.random.default_rng(4)
    y, z = _regression(rng)
    ph, se = get_loss("pseudo_huber", delta=delta), get_loss("squared_error")
    got, want = getattr(ph, q)(y, z), getattr(se, q)(y, z)
    rel = (z - y) ** 2 / delta**2 * (0.25 if q == "value" else 1.5)
    bound = np.abs(want) * rel + 4 * np.spacing(np.abs(want))
    assert np.all(np.abs(got - want) <= bound), q
    if delta >= 1e12:
        assert_within_ulps(got, want, 4, q)


def test_squared_hinge_is_the_square_of_the_hinge():
    rng = np.random.default_rng(5)
    y, z = _labels(rng), _scores(rng)
    sh, hi = get_loss("squared_hinge"), get_loss("hinge")
    v = hi.value(y, z)
    assert_within_ulps(sh.value(y, z), v * v, 0, "value")
    assert_within_ulps(sh.gradient(y, z), 2 * v * hi.gradient(y, z), 0, "gradient")


def _counts(rng, n=N):
    y = rng.poisson(3.0, n).astype(np.float64)
    y[: n // 3] = rng.lognormal(0, 1.5, n // 3)
    z = rng.normal(0, 2, n)
    return y, z


@pytest.mark.parametrize("eps", [1e-2, 1e-4, 1e-6, 1e-8])
def test_tweedie_tends_to_poisson_as_power_tends_to_one(eps):
    """p = 1 + ε at fixed y, z: e^{−εz} = 1 − εz + O(ε²z²) gives
    |g_T − g_P| ≤ 2ε|z|(eᶻ + y) and |H_T − H_P| ≤ 2ε((1 + |z|)eᶻ + y); the value
    up to a constant in y (ℓ(y, z) − ℓ(y, 0)) within ε(1 + z²)(1 + eᶻ + y) plus the
    rounding of its terms of size y/ε (8 ulps of each): not to the ulp, to O(ε)."""
    rng = np.random.default_rng(6)
    y, z = _counts(rng)
    t, p = get_loss("tweedie", power=1 + eps), get_loss("poisson")
    ez, az = np.exp(z), np.abs(z)
    tol_g = 2 * eps * az * (ez + y) + 4 * np.spacing(ez + y)
    tol_h = 2 * eps * ((1 + az) * ez + y) + 4 * np.spacing(ez + y)
    assert np.all(np.abs(t.gradient(y, z) - p.gradient(y, z)) <= tol_g)
    assert np.all(np.abs(t.hessian(y, z) - p.hessian(y, z)) <= tol_h)
    zero = np.zeros_like(z)
    dt = t.value(y, z) - t.value(y, zero)
    dp = p.value(y, z) - p.value(y, zero)
    terms = y / eps * (np.exp(-eps * z) + 1) + (ez + 1) / (1 - eps)
    tol_v = eps * (1 + z**2) * (1 + ez + y) + 8 * EPS * terms
    assert np.all(np.abs(dt - dp) <= tol_v)


@pytest.mark.parametrize("eps", [1e-2, 1e-4, 1e-6, 1e-8])
def test_tweedie_tends_to_gamma_as_power_tends_to_two(eps):
    """p = 2 − ε at fixed y > 0, z: |g_T − g_G| ≤ 2ε|z|(1 + y e^{−z}),
    |H_T − H_G| ≤ 2ε(e^{εz} + (1 + |z|) y e^{−z}); the value up to a constant in
    y within ε(1 + z²)(2 + e^{εz} + y e^{−z}) plus 8 ulps of its terms of size 1/ε."""
    rng = np.random.default_rng(7)
    y, z = _counts(rng)
    y = np.where(y > 0, y, 0.5)
    t, g = get_loss("tweedie", power=2 - eps), get_loss("gamma")
    yez, az = y * np.exp(-z), np.abs(z)
    tol_g = 2 * eps * az * (1 + yez) + 4 * np.spacing(1 + yez)
    tol_h = 2 * eps * (np.exp(eps * z) + (1 + az) * yez) + 4 * np.spacing(1 + yez)
    assert np.all(np.abs(t.gradient(y, z) - g.gradient(y, z)) <= tol_g)
    assert np.all(np.abs(t.hessian(y, z) - g.hessian(y, z)) <= tol_h)
    zero = np.zeros_like(z)
    dt = t.value(y, z) - t.value(y, zero)
    dg = g.value(y, z) - g.value(y, zero)
    terms = (np.exp(eps * z) + 1) / eps + y * (np.exp(-(1 - eps) * z) + 1) / (1 - eps)
    tol_v = eps * (1 + z**2) * (2 + np.exp(eps * z) + yez) + 8 * EPS * terms
    assert np.all(np.abs(dt - dg) <= tol_v)
