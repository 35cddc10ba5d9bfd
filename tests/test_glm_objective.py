"""The generic GLM objective: gradient and Hessian against finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from lossmath import get_loss
from lossmath.linear_model import GLMObjective
from lossmath.penalties import L2, ElasticNet

rng = np.random.default_rng(0)
N, P = 40, 5
X = rng.normal(0, 1, (N, P))
TARGETS = {
    "squared_error": rng.normal(0, 1, N),
    "huber": rng.normal(0, 2, N),
    "logistic": rng.integers(0, 2, N).astype(float),
    "poisson": rng.poisson(2.0, N).astype(float),
    "gamma": rng.lognormal(0, 1, N),
    "multinomial": rng.integers(0, 3, N),
}
LOSSES = {name: get_loss(name) for name in TARGETS}
LOSSES["multinomial"] = get_loss("multinomial", n_classes=3)


RIDGE = L2(alpha=0.3)


def _objective(name, sparse, intercept, weighted, offset, penalty=RIDGE):
    k = 3 if name == "multinomial" else 1
    off = None
    if offset:
        off = rng.normal(0, 0.1, (N, k) if k > 1 else N)
    return GLMObjective(
        LOSSES[name],
        penalty,
        sp.csr_matrix(X) if sparse else X,
        TARGETS[name],
        sample_weight=rng.uniform(0.5, 2, N) if weighted else None,
        fit_intercept=intercept,
        offset=off,
    )


def _fd(f, x, h=1e-6):
    return np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(x.size)])


@pytest.mark.parametrize("name", sorted(TARGETS))
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize("intercept", [True, False], ids=["intercept", "no_intercept"])
def test_gradient_and_hessian_match_finite_differences(name, sparse, intercept):
    obj = _objective(name, sparse, intercept, weighted=True, offset=True)
    coef = rng.normal(0, 0.2, obj.n_coef)
    assert_allclose(obj.gradient(coef), _fd(obj.value, coef), rtol=1e-6, atol=1e-8)
    hess = obj.hessian(coef)
    assert_allclose(hess, hess.T, rtol=0, atol=1e-14)
    assert_allclose(hess, _fd(obj.gradient, coef).T, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_dense_and_sparse_agree(name):
    coef = rng.normal(0, 0.2, _objective(name, False, True, True, False).n_coef)
    dense = _objective(name, False, True, False, False)
    sparse = _objective(name, True, True, False, False)
    assert_allclose(dense.value_gradient(coef)[1], sparse.value_gradient(coef)[1], rtol=1e-13)
    assert_allclose(dense.hessian(coef), sparse.hessian(coef), rtol=1e-13, atol=1e-15)


def test_value_is_the_design_objective():
    pen = ElasticNet(alpha=0.2, l1_ratio=0.4)
    obj = _objective("logistic", False, True, True, False, penalty=pen)
    coef = rng.normal(0, 0.5, obj.n_coef)
    w, b = coef[:P], coef[P]
    z = X @ w + b
    s = obj.sample_weight
    loss = get_loss("logistic")
    expected = np.sum(s * loss.value(TARGETS["logistic"], z)) / s.sum() + pen.value(w)
    assert np.isclose(obj.value(coef), expected, rtol=1e-14)


def test_fisher_hessian_is_psd_for_gamma():
    obj = _objective("gamma", False, True, False, False)
    coef = rng.normal(0, 0.5, obj.n_coef)
    assert np.linalg.eigvalsh(obj.hessian(coef, fisher=True)).min() > 0


@pytest.mark.parametrize("intercept", [True, False], ids=["intercept", "no_intercept"])
@pytest.mark.parametrize("block_bytes", [1, 8 * 64 * (P + 1), 2**30], ids=["tiny", "some", "one"])
def test_blocked_weighted_gram_is_the_weighted_gram(monkeypatch, intercept, block_bytes):
    """Row blocks of every size (many short ones, a few, one) sum to ``[X 1]ᵀ diag(h) [X 1]``."""
    from lossmath.linear_model import _objective

    monkeypatch.setattr(_objective, "GRAM_BLOCK_BYTES", block_bytes)
    x = rng.normal(0, 1, (1000, P))
    h = rng.uniform(0, 2, 1000)
    h[::7] = 0.0
    design = np.c_[x, np.ones(1000)] if intercept else x
    expected = design.T @ (h[:, None] * design)
    got = _objective.weighted_gram(x, h, intercept)
    # Entries that cancel are compared at the scale of the matrix.
    scale = 1e-13 * np.abs(expected).max()
    assert_allclose(got, expected, rtol=1e-13, atol=scale)
    sparse = _objective.weighted_gram(sp.csr_matrix(x), h, intercept)
    assert_allclose(got, sparse, rtol=1e-13, atol=scale)


def test_raw_score_is_kept_for_the_same_coef_only():
    obj = _objective("poisson", False, True, False, True)
    coef = rng.normal(0, 0.2, obj.n_coef)
    z = obj.raw_score(coef)
    assert not z.flags.writeable  # a caller cannot spoil the kept score
    assert obj.raw_score(coef.copy()) is z
    moved = coef.copy()
    moved[0] += 1e-3
    assert_allclose(obj.raw_score(moved), X @ moved[:P] + moved[P] + obj.offset, rtol=1e-14)
    coef[0] += 1.0  # the caller's array changed in place: not the kept one
    assert_allclose(obj.raw_score(coef), X @ coef[:P] + coef[P] + obj.offset, rtol=1e-14)
    obj.offset = obj.offset + 1.0  # a new offset: a new score
    assert_allclose(obj.raw_score(coef), X @ coef[:P] + coef[P] + obj.offset, rtol=1e-14)
