"""Agreement with scikit-learn's private compiled losses under the same convention.

Compared at moderate scores, where scikit-learn itself is accurate.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

sk = pytest.importorskip("sklearn._loss.loss")

from lossmath.losses import get_loss  # noqa: E402

rng = np.random.default_rng(0)
N = 200

CASES = [
    ("squared_error", {}, lambda: sk.HalfSquaredError(), rng.normal(0, 3, N)),
    ("absolute_error", {}, lambda: sk.AbsoluteError(), rng.normal(0, 3, N)),
    ("quantile", {"quantile": 0.8}, lambda: sk.PinballLoss(quantile=0.8), rng.normal(0, 3, N)),
    ("huber", {"delta": 1.3}, lambda: sk.HuberLoss(delta=1.3), rng.normal(0, 3, N)),
    ("logistic", {}, lambda: sk.HalfBinomialLoss(), rng.integers(0, 2, N).astype(float)),
    ("logistic", {}, lambda: sk.HalfBinomialLoss(), rng.uniform(0, 1, N)),
    ("poisson", {}, lambda: sk.HalfPoissonLoss(), rng.poisson(2.0, N).astype(float)),
    ("gamma", {}, lambda: sk.HalfGammaLoss(), rng.lognormal(0, 1, N)),
    ("tweedie", {"power": 1.5}, lambda: sk.HalfTweedieLoss(power=1.5), rng.poisson(2.0, N) * 1.0),
    ("tweedie", {"power": 1.2}, lambda: sk.HalfTweedieLoss(power=1.2), rng.poisson(2.0, N) * 1.0),
]


@pytest.mark.parametrize(("name", "params", "make", "y"), CASES, ids=[c[0] for c in CASES])
def test_scalar_losses_agree_with_sklearn(name, params, make, y):
    z = rng.normal(0, 2, N)
    w = rng.uniform(0.5, 2, N)
    ours, theirs = get_loss(name, **params), make()
    assert_allclose(ours.value(y, z, w), theirs.loss(y, z, sample_weight=w), rtol=1e-12, atol=1e-14)
    g, h = theirs.gradient_hessian(y, z, sample_weight=w)
    assert_allclose(ours.gradient(y, z, w), g, rtol=1e-12, atol=1e-14)
    if name not in ("absolute_error", "quantile", "huber"):
        # scikit-learn returns a positive surrogate where our exact Hessian is 0.
        assert_allclose(ours.hessian(y, z, w), h, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_multinomial_agrees_with_sklearn(k):
    y = rng.integers(0, k, N).astype(float)
    z = rng.normal(0, 3, (N, k))
    w = rng.uniform(0.5, 2, N)
    theirs = sk.HalfMultinomialLoss(n_classes=k)
    ours = get_loss("multinomial")
    # scikit-learn's logsumexp(z) − z_y cancels for confident samples (values ~1e-16
    # lose their relative accuracy there, ours do not): compare with an absolute floor.
    assert_allclose(ours.value(y, z, w), theirs.loss(y, z, sample_weight=w), rtol=1e-12, atol=1e-14)
    g, h = theirs.gradient_hessian(y, z, sample_weight=w)
    assert_allclose(ours.gradient(y, z, w), g, rtol=1e-12, atol=1e-15)
    assert_allclose(ours.hessian_diagonal(y, z, w), h, rtol=1e-12, atol=1e-15)
