"""GLM solvers: every solver reaches the same optimum, checked against scikit-learn.

The objective is DESIGN.md §6's ``(1/S) Σ sᵢ ℓ(yᵢ, zᵢ) + α(ρ‖w‖₁ + ½(1−ρ)‖w‖²)``.
scikit-learn's conventions, derived once here:

* ``Ridge`` minimises ``Σ sᵢ rᵢ² + α_R ‖w‖²``; ours times ``2S`` is
  ``Σ sᵢ rᵢ² + α S ‖w‖²``, so ``α_R = α S``.
* ``LogisticRegression`` minimises ``C Σ sᵢ ℓᵢ + ½‖w‖²``; ours divided by ``α`` is
  ``(1/(αS)) Σ sᵢ ℓᵢ + ½‖w‖²``, so ``C = 1/(α S)``.
* ``ElasticNet`` / ``Lasso`` / ``QuantileRegressor`` use our convention as it is.
* ``PoissonRegressor`` / ``GammaRegressor`` minimise half the mean deviance
  + ``½α‖w‖²``; half the deviance is our loss plus a constant in ``y``: same ``α``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn import linear_model as sk

import lossmath.linear_model._solvers as solvers_module
from lossmath import available, get_loss
from lossmath.linear_model import GLMObjective
from lossmath.linear_model._solvers import SOLVERS, choose_solver, solve
from lossmath.penalties import L1, L2, ElasticNet

N, P = 120, 5
_rng = np.random.default_rng(42)
X = _rng.normal(0, 1, (N, P))
_Z = X @ np.array([0.6, -0.4, 0.3, 0.0, 0.2]) + 0.3
TARGETS = {
    "squared_error": _Z + _rng.normal(0, 0.5, N),
    "logistic": (_rng.uniform(size=N) < 1 / (1 + np.exp(-_Z))).astype(float),
    "poisson": _rng.poisson(np.exp(0.5 * _Z)).astype(float),
    "gamma": _rng.gamma(2.0, np.exp(0.3 * _Z) / 2.0),
    "multinomial": np.argmax(np.c_[_Z, -_Z, 0 * _Z] + _rng.gumbel(size=(N, 3)), axis=1),
    "huber": _Z + _rng.standard_t(2, N),
    "quantile": _Z + _rng.normal(0, 1, N),
    "absolute_error": _Z + _rng.laplace(0, 1, N),
    "hinge": (_Z + _rng.normal(0, 1, N) > 0).astype(float),
}
PENALTIES = {
    "l2": L2(alpha=0.05),
    "l1": L1(alpha=0.03),
    "enet": ElasticNet(alpha=0.05, l1_ratio=0.5),
}

# Every other registered loss gets targets of its declared task and domain.
for _name in available():
    if _name not in TARGETS:
        _task, _dom = get_loss(_name).task, get_loss(_name).y_interval
        if _task == "binary":
            TARGETS[_name] = TARGETS["logistic"]
        elif _task == "counts":
            TARGETS[_name] = TARGETS["poisson" if _dom.low_inclusive else "gamma"]
        else:
            TARGETS[_name] = _Z + _rng.normal(0, 1, N)
SMOOTH_LOSSES = ["squared_error", "logistic", "poisson", "gamma", "multinomial", "huber"]
KINKED_LOSSES = ["quantile", "absolute_error", "hinge"]
#: The registered convex losses beyond the lists above (their sweep is in the slow
#: run); "the same optimum" presumes a convex objective, so non-convex losses
#: (focal with γ > 0) are not swept here.
OTHER_LOSSES = sorted(
    n for n in set(available()) - set(SMOOTH_LOSSES) - set(KINKED_LOSSES) if get_loss(n).is_convex
)
KINKED_LOSSES += [n for n in OTHER_LOSSES if get_loss(n).curvature.piecewise_linear]
MAX_ITER = {"gd": 20000, "fista": 20000}


def _loss(name):
    if name == "multinomial":
        return get_loss(name, n_classes=3)
    if name == "quantile":
        return get_loss(name, quantile=0.3)
    return get_loss(name)


def _objective(loss, pen, X=X, sample_weight=None, y=None, fit_intercept=True):
    y = TARGETS[loss] if y is None else y
    return GLMObjective(_loss(loss), PENALTIES[pen], X, y, sample_weight, fit_intercept)


def _supports(solver, loss, pen):
    if solver == "lstsq":
        return loss == "squared_error" and pen == "l2"
    if solver in ("newton", "lbfgs", "gd"):
        return pen == "l2"
    return True


@functools.cache
def _results(loss, pen):
    obj = _objective(loss, pen)
    if loss in KINKED_LOSSES:  # an explicit solver is refused for them
        return {"auto": solve(obj)}
    return {
        s: solve(obj, s, max_iter=MAX_ITER.get(s, 1000)) for s in SOLVERS if _supports(s, loss, pen)
    }


def _canonical(loss, coef):
    """``coef`` with the multinomial's intercepts centred (``F`` is invariant to a
    constant added to every class's intercept)."""
    coef = coef.copy()
    if loss == "multinomial":
        coef[-3:] -= coef[-3:].mean()
    return coef


def _close_objective(value, best):
    assert abs(value - best) <= 1e-8 * max(1.0, abs(best)), (value, best)


@pytest.mark.parametrize("pen", sorted(PENALTIES))
@pytest.mark.parametrize(
    "loss",
    [n for n in SMOOTH_LOSSES + KINKED_LOSSES if n not in OTHER_LOSSES]
    + [pytest.param(n, marks=pytest.mark.slow) for n in OTHER_LOSSES],
)
def test_every_solver_reaches_the_same_optimum(loss, pen):
    results = _results(loss, pen)
    best = min(r.objective for r in results.values())
    for name, r in results.items():
        assert r.converged, (name, r.message)
        assert r.kkt <= 1e-8, (name, r.kkt)
        _close_objective(r.objective, best)
        assert r.objective == pytest.approx(_objective(loss, pen).value(r.coef), rel=1e-14)
    coefs = np.array([_canonical(loss, r.coef) for r in results.values()])
    assert_allclose(coefs, np.broadcast_to(coefs[0], coefs.shape), atol=1e-5)


@pytest.mark.parametrize("loss", KINKED_LOSSES)
@pytest.mark.parametrize("pen", sorted(PENALTIES))
def test_kinked_losses_use_an_exact_method_and_no_nearby_point_is_better(loss, pen):
    results = _results(loss, pen)
    expected = "smoothing" if pen in ("l2", "enet") else "interior_point"
    obj = _objective(loss, pen)
    rng = np.random.default_rng(0)
    for r in results.values():
        assert r.solver == expected
        for scale in (1e-6, 1e-3):
            trial = r.coef + scale * rng.normal(size=(100, r.coef.size))
            assert min(obj.value(c) for c in trial) >= r.objective - 1e-13


def test_auto_choices(monkeypatch):
    assert choose_solver(_objective("squared_error", "l2")) == "lstsq"
    assert choose_solver(_objective("logistic", "l2")) == "newton"
    assert choose_solver(_objective("huber", "l2")) == "newton"  # semismooth
    assert choose_solver(_objective("multinomial", "l2")) == "lbfgs"
    # ... which hands over to Newton when it has not converged and a Hessian is cheap.
    monkeypatch.setattr(solvers_module, "AUTO_LBFGS_ITER", 2)
    r = solve(_objective("multinomial", "l2"))
    assert r.converged
    assert r.solver == "lbfgs+newton"
    monkeypatch.setattr(solvers_module, "NEWTON_MULTI_WORK", 0)
    assert solve(_objective("multinomial", "l2"), max_iter=5).solver == "lbfgs"
    assert choose_solver(_objective("poisson", "enet")) == "cd"
    assert choose_solver(_objective("quantile", "l1")) == "interior_point"
    assert choose_solver(_objective("hinge", "l2")) == "smoothing"
    assert solve(_objective("gamma", "l2")).solver == "newton"


# ------------------------------------------------------------- scikit-learn
def _fit(loss, pen, solver="auto", **kw):
    obj = _objective(loss, pen, **kw)
    r = solve(obj, solver)
    assert r.converged, r.message
    return obj, r


def test_ridge_matches_sklearn():
    s = np.random.default_rng(1).uniform(0.5, 2, N)
    _obj, r = _fit("squared_error", "l2", sample_weight=s)
    ref = sk.Ridge(alpha=0.05 * s.sum(), tol=1e-12).fit(X, TARGETS["squared_error"], s)
    assert_allclose(r.coef, np.r_[ref.coef_, ref.intercept_], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("loss", ["logistic", "multinomial"])
def test_logistic_matches_sklearn(loss):
    obj, r = _fit(loss, "l2")
    ref = sk.LogisticRegression(C=1 / (0.05 * N), tol=1e-12, max_iter=10000)
    ref.fit(X, TARGETS[loss])
    w, b = obj.unpack(r.coef)
    if loss == "multinomial":
        # A constant added to every class's intercept leaves F unchanged: compare
        # centred intercepts.
        b = b - b.mean()
        assert_allclose(ref.intercept_ - ref.intercept_.mean(), b, atol=1e-6)
    else:
        assert_allclose(ref.intercept_[0], b, atol=1e-6)
    assert_allclose(ref.coef_.reshape(np.shape(w)), w, atol=1e-6)
    ref_value = obj.value(np.r_[ref.coef_.ravel(), np.atleast_1d(ref.intercept_)])
    assert r.objective <= ref_value + 1e-14


@pytest.mark.parametrize("pen", ["l1", "enet"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_elastic_net_matches_sklearn(pen, sparse):
    y = TARGETS["squared_error"]
    Xs = sp.csc_matrix(X) if sparse else X
    obj, r = _fit("squared_error", pen, X=Xs)
    p = PENALTIES[pen]
    ref = sk.ElasticNet(alpha=p.alpha, l1_ratio=p.l1_ratio, tol=1e-14, max_iter=100000)
    ref.fit(X, y)
    assert_allclose(r.coef, np.r_[ref.coef_, ref.intercept_], atol=1e-7)
    assert r.objective <= obj.value(np.r_[ref.coef_, ref.intercept_]) + 1e-15


@pytest.mark.parametrize(
    ("loss", "cls"), [("poisson", sk.PoissonRegressor), ("gamma", sk.GammaRegressor)]
)
def test_poisson_and_gamma_match_sklearn(loss, cls):
    _obj, r = _fit(loss, "l2")
    ref = cls(alpha=0.05, tol=1e-12, max_iter=10000, solver="newton-cholesky")
    ref.fit(X, TARGETS[loss])
    assert_allclose(r.coef, np.r_[ref.coef_, ref.intercept_], rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("alpha", [0.0, 0.03])
def test_quantile_matches_sklearn(alpha):
    y = TARGETS["quantile"]
    obj = GLMObjective(_loss("quantile"), L1(alpha=alpha), X, y)
    r = solve(obj)
    assert r.converged, r.message
    ref = sk.QuantileRegressor(quantile=0.3, alpha=alpha, solver="highs").fit(X, y)
    ref_value = obj.value(np.r_[ref.coef_, ref.intercept_])
    assert abs(r.objective - ref_value) <= 1e-10 * abs(ref_value)


# ------------------------------------------------------ data and starts
@pytest.mark.parametrize(
    ("solver", "loss", "pen"),
    [
        ("cd", "logistic", "enet"),
        ("fista", "poisson", "l1"),
        ("cd", "multinomial", "l1"),
        ("newton", "gamma", "l2"),
        ("lbfgs", "huber", "l2"),
        ("lstsq", "squared_error", "l2"),
        ("auto", "quantile", "l1"),
        ("auto", "absolute_error", "l2"),
    ],
)
def test_dense_and_sparse_agree(solver, loss, pen):
    dense = solve(_objective(loss, pen), solver)
    sparse = solve(_objective(loss, pen, X=sp.csc_matrix(X)), solver)
    assert dense.converged
    assert sparse.converged
    assert_allclose(sparse.coef, dense.coef, atol=1e-7)


@pytest.mark.parametrize("loss", ["logistic", "poisson", "gamma", "huber", "squared_error"])
@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no_intercept"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_sparse_cd_on_columns_matches_dense_cd(loss, fit_intercept, weighted):
    """cd's model on a sparse X is solved on X's columns (``_sparse_cd``), on a dense
    X on its Hessian: the same optimum, with and without the intercept (which the
    column route eliminates by centring) and with weights. Binary columns with a
    large mean make the intercept matter."""
    rng = np.random.default_rng(7)
    x = np.c_[X, (rng.uniform(size=(N, 3)) < 0.7).astype(float)]
    w = rng.uniform(0.2, 3.0, N) if weighted else None
    pen = "enet" if loss != "squared_error" else "l1"
    dense = solve(_objective(loss, pen, X=x, sample_weight=w, fit_intercept=fit_intercept), "cd")
    sparse_obj = _objective(
        loss, pen, X=sp.csr_matrix(x), sample_weight=w, fit_intercept=fit_intercept
    )
    sparse = solve(sparse_obj, "cd", tol=1e-10)
    assert dense.converged
    assert sparse.converged, sparse.message
    _close_objective(sparse.objective, dense.objective)
    assert_allclose(sparse.coef, dense.coef, atol=1e-6)


@pytest.mark.parametrize(
    ("solver", "loss", "pen"),
    [
        ("lstsq", "squared_error", "l2"),
        ("newton", "logistic", "l2"),
        ("lbfgs", "multinomial", "l2"),
        ("cd", "poisson", "enet"),
        ("fista", "squared_error", "l1"),
        ("auto", "quantile", "l1"),
        ("auto", "hinge", "l2"),
    ],
)
def test_sample_weights_equal_row_duplication(solver, loss, pen):
    counts = np.random.default_rng(3).integers(0, 4, N)
    weighted = solve(_objective(loss, pen, sample_weight=counts.astype(float)), solver)
    rows = np.repeat(np.arange(N), counts)
    dup = solve(_objective(loss, pen, X=X[rows], y=TARGETS[loss][rows]), solver)
    assert weighted.converged
    assert dup.converged
    assert_allclose(weighted.objective, dup.objective, rtol=1e-10)
    if loss == "multinomial":
        obj = _objective(loss, pen)
        assert_allclose(obj.unpack(weighted.coef)[0], obj.unpack(dup.coef)[0], atol=1e-6)
    else:
        assert_allclose(weighted.coef, dup.coef, atol=1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("loss", ["squared_error", "logistic", "quantile"])
def test_warm_start_at_the_optimum_returns_at_once(solver, loss):
    pen = "l2" if solver in ("lstsq", "newton", "lbfgs", "gd") else "enet"
    if solver == "lstsq" and loss != "squared_error":
        pytest.skip("lstsq is for squared error")
    if loss == "quantile":  # kinked: solver="auto" only
        if solver != "cd":
            pytest.skip("a kinked loss takes solver='auto' only")
        solver = "auto"
    first = _results(loss, pen)[solver]
    again = solve(_objective(loss, pen), solver, coef0=first.coef)
    assert again.converged
    assert again.n_iter == 0
    assert_allclose(again.coef, first.coef, rtol=0, atol=0)


@pytest.mark.parametrize("solver", ["newton", "lbfgs", "gd", "fista", "cd"])
def test_too_few_iterations_is_reported(solver):
    pen = "l2" if solver in ("newton", "lbfgs", "gd") else "l1"
    r = solve(_objective("poisson", pen), solver, max_iter=1, tol=1e-14)
    assert not r.converged
    assert r.kkt > 1e-14
    assert "max_iter=1" in r.message
    assert "Increase max_iter" in r.message


def test_kinked_loss_with_too_few_iterations_is_reported():
    r = solve(_objective("hinge", "l2"), max_iter=1)
    assert not r.converged
    assert "increase max_iter" in r.message


def test_no_intercept_and_offset():
    y = TARGETS["poisson"]
    off = np.log(np.random.default_rng(5).uniform(0.5, 2, N))
    results = [
        solve(GLMObjective(_loss("poisson"), L2(0.05), X, y, None, False, off), s)
        for s in ("newton", "lbfgs", "cd", "fista")
    ]
    best = min(r.objective for r in results)
    for r in results:
        assert r.converged
        assert r.coef.shape == (P,)
        _close_objective(r.objective, best)


def test_unpenalised_fits():
    obj = GLMObjective(_loss("logistic"), L2(0.0), X, TARGETS["logistic"])
    ref = sk.LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(X, TARGETS["logistic"])
    for solver in ("newton", "lbfgs", "cd"):
        r = solve(obj, solver)
        assert r.converged, r.message
        assert_allclose(r.coef, np.r_[ref.coef_.ravel(), ref.intercept_], atol=1e-5)


def test_invalid_combinations_raise():
    with pytest.raises(ValueError, match="lstsq"):
        solve(_objective("logistic", "l2"), "lstsq")
    with pytest.raises(ValueError, match="smooth penalty"):
        solve(_objective("logistic", "l1"), "newton")
    with pytest.raises(ValueError, match="unknown solver"):
        solve(_objective("logistic", "l2"), "sgd")
    with pytest.raises(ValueError, match="coef0"):
        solve(_objective("logistic", "l2"), coef0=np.zeros(3))


@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no_intercept"])
def test_sparse_model_step_is_the_dense_model_step(fit_intercept):
    """The column route's step solves the same working-set model as the Hessian route."""
    from lossmath.linear_model._objective import weighted_gram
    from lossmath.linear_model._solvers._proximal import _model_step
    from lossmath.linear_model._solvers._sparse_cd import sparse_model_step

    rng = np.random.default_rng(11)
    x = sp.random(200, 12, density=0.3, random_state=3, format="csc")
    x.data[:] = (x.data > 0.5) + rng.normal(0, 0.2, x.data.size)
    h = rng.uniform(0.0, 0.25, 200)
    size = 12 + int(fit_intercept)
    grad, coef = rng.normal(0, 0.1, size), rng.normal(0, 0.5, size)
    coef[::3] = 0.0
    l1, l2, scale = 0.05, 0.01, 180.0
    hess = weighted_gram(x, h, fit_intercept) / scale
    hess[np.arange(12), np.arange(12)] += l2
    dense = _model_step(hess, grad, coef, 12, l1, 1e-13)
    sparse = sparse_model_step(x, h, grad, coef, l1, l2, scale, fit_intercept, 1e-13)
    assert_allclose(sparse, dense, atol=1e-9)
    assert np.any(coef[:12] + sparse[:12] == 0.0)  # the L1 part is active


@pytest.mark.parametrize(
    ("l1", "l2"), [(1.0, 0.0), (0.3, 1.0), (0.0, 1.0), (1.0, 1e-3), (1e-3, 5.0)]
)
@pytest.mark.parametrize("k", [2, 3, 7])
def test_center_classes_minimises_each_features_penalty(l1, l2, k):
    """The shift of a feature's K coefficients that the penalty prefers, against a
    fine grid and a bounded scalar minimisation of the same 1-D function."""
    from scipy.optimize import minimize_scalar

    from lossmath.linear_model._solvers._proximal import center_classes

    w = np.random.default_rng(k).normal(size=(k, 20))
    w[:, 0] = w[0, 0]  # all classes equal: the shift removes the feature
    c = (w - center_classes(w, l1, l2))[0]
    for j in range(w.shape[1]):
        a = w[:, j]

        def cost(c, a=a):
            return l1 * np.abs(a - c).sum() + 0.5 * l2 * ((a - c) ** 2).sum()

        assert_allclose(w[:, j] - center_classes(w, l1, l2)[:, j], c[j])  # one shift
        grid = np.linspace(a.min() - 0.1, a.max() + 0.1, 20001)
        best = min(min(cost(g) for g in grid), *(cost(x) for x in a))
        opt = minimize_scalar(cost, bounds=(a.min(), a.max()), method="bounded").fun
        assert cost(c[j]) <= min(best, opt) + 1e-12 * max(1.0, best)
    assert_allclose(center_classes(w, l1, l2)[:, 0], 0.0, atol=1e-15)
