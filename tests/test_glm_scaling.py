"""Scale invariance: random well-posed GLMs with columns in units 10^±6 apart.

The optimum of an unpenalised fit on ``X D`` is ``D⁻¹`` times the optimum on ``X``;
every solver must find it, converge, and agree with the fit on standardised columns.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from lossmath import GLMClassifier, GLMRegressor

FACTORS = np.array([1e6, 1e-6, 1.0, 1e3, 1e-3])


def _problem(loss, seed, n=300):
    rng = np.random.default_rng(seed)
    p = FACTORS.size
    X = rng.normal(size=(n, p))
    z = X @ rng.normal(0, 0.4, p) + 0.2
    if loss in ("squared_error", "huber"):
        y = z + rng.normal(0, 0.5, n)
    elif loss == "logistic":
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(float)
    elif loss == "poisson":
        y = rng.poisson(np.exp(z)).astype(float)
    elif loss == "gamma":
        y = rng.gamma(5.0, np.exp(z) / 5.0)
    else:  # multinomial, 3 classes
        y = np.argmax(np.c_[z, -z, 0.5 * z] + rng.gumbel(size=(n, 3)), axis=1).astype(float)
    return X, y


def _fit(loss, solver, X, y):
    if loss in ("logistic", "multinomial"):
        return GLMClassifier(solver=solver).fit(X, y)
    return GLMRegressor(loss=loss, solver=solver).fit(X, y)


CASES = [
    (loss, solver)
    for loss in ("squared_error", "logistic", "poisson", "gamma", "huber", "multinomial")
    for solver in ("auto", "newton", "lbfgs", "cd")
] + [("squared_error", "lstsq")]


def _check(loss, solver, seed):
    X, y = _problem(loss, seed)
    ref = _fit(loss, "newton", X, y)  # standardised columns (N(0, 1))
    est = _fit(loss, solver, X * FACTORS, y)
    assert est.converged_, (loss, solver, est.kkt_)
    coef, ref_coef = est.coef_ * FACTORS, ref.coef_
    b, ref_b = est.intercept_, ref.intercept_
    if loss == "multinomial":  # identified up to a common shift: compare contrasts
        coef, ref_coef = coef - coef[0], ref_coef - ref_coef[0]
        b, ref_b = b - b[0], ref_b - ref_b[0]
    # L-BFGS stops on the relative residual: its coefficients are accurate to
    # about tol times the condition number (the objective to tol²).
    rtol = 1e-5 if solver == "lbfgs" else 1e-6
    assert_allclose(coef, ref_coef, rtol=rtol, atol=1e-8)
    assert_allclose(b, ref_b, rtol=rtol, atol=1e-8)
    assert_allclose(est.objective_, ref.objective_, rtol=1e-10)


@pytest.mark.parametrize(("loss", "solver"), CASES)
def test_scaled_columns_reach_the_standardised_optimum(loss, solver):
    _check(loss, solver, seed=0)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1, 11))
@pytest.mark.parametrize(("loss", "solver"), CASES)
def test_scaled_columns_many_seeds(loss, solver, seed):
    _check(loss, solver, seed)


@pytest.mark.parametrize("order", ["C", "F"])
def test_memory_layout_does_not_change_the_fit(order):
    X, y = _problem("poisson", 0)
    Xs = np.asarray(X * FACTORS, order=order)
    ref = GLMRegressor(loss="poisson").fit(np.ascontiguousarray(X * FACTORS), y)
    est = GLMRegressor(loss="poisson").fit(Xs, y)
    assert_allclose(est.coef_, ref.coef_, rtol=1e-12)


@pytest.mark.parametrize("cls", [GLMRegressor, GLMClassifier])
def test_negative_sample_weight_is_refused(cls):
    X, y = _problem("logistic", 0, n=20)
    s = np.ones(20)
    s[3] = -1.0
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"{name}\.fit: sample_weight must be >= 0.*\[3\] = -1"):
        cls(loss="poisson" if cls is GLMRegressor else "logistic").fit(X, y, sample_weight=s)


def test_n_threads_reaches_the_fit():
    X, y = _problem("poisson", 0)
    one = GLMRegressor(loss="poisson", n_threads=1).fit(X, y)
    default = GLMRegressor(loss="poisson").fit(X, y)
    assert_allclose(one.coef_, default.coef_, rtol=1e-12)
    with pytest.raises(ValueError, match="n_threads"):
        GLMRegressor(n_threads=0).fit(X, y)


def test_unreachable_tol_reports_no_inference():
    X, y = _problem("poisson", 0)
    with pytest.warns(Warning, match="did not converge"):
        est = GLMRegressor(loss="poisson", tol=1e-300).fit(X, y)
    assert not est.converged_
    assert not hasattr(est, "std_errors_")
    with pytest.raises(AttributeError, match="did not converge"):
        est.coef_table()


# --- L1 and elastic-net penalties: the penalty stays on the user's coefficients ---


def _mean_loss(loss, y, Z):
    """The mean loss of raw scores ``Z`` (n, K), written out independently."""
    z = Z[:, 0]
    if loss == "squared_error":
        return 0.5 * np.mean((y - z) ** 2)
    if loss == "logistic":
        return np.mean(np.logaddexp(0.0, z) - y * z)
    if loss == "poisson":
        return np.mean(np.exp(z) - y * z)
    top = Z.max(axis=1)  # multinomial
    lse = top + np.log(np.exp(Z - top[:, None]).sum(axis=1))
    return np.mean(lse - Z[np.arange(len(y)), y.astype(int)])


def _weighted_reference(loss, X, y, lam1, lam2, k):
    """Minimise ``f(w, b) + Σ lam1_j |w_j| + ½ Σ lam2_j w_j²`` on standardised ``X``
    (per-coordinate weights), as the bound-constrained smooth problem in
    ``w = w⁺ − w⁻`` with scipy's L-BFGS-B to a tight gradient tolerance."""
    from scipy.optimize import minimize

    n, p = X.shape
    m = k * p

    def fun(u):
        w = (u[:m] - u[m : 2 * m]).reshape(k, p)
        Z = X @ w.T + u[2 * m :]
        return (
            _mean_loss(loss, y, Z)
            + float(np.tile(lam1, k) @ (u[:m] + u[m : 2 * m]))
            + 0.5 * float(np.tile(lam2, k) @ (u[:m] - u[m : 2 * m]) ** 2)
        )

    def jac(u):
        w = (u[:m] - u[m : 2 * m]).reshape(k, p)
        Z = X @ w.T + u[2 * m :]
        if loss == "squared_error":
            R = (Z[:, 0] - y)[:, None]
        elif loss == "logistic":
            R = (1 / (1 + np.exp(-Z[:, 0])) - y)[:, None]
        elif loss == "poisson":
            R = (np.exp(Z[:, 0]) - y)[:, None]
        else:
            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            R = P / P.sum(axis=1, keepdims=True)
            R[np.arange(n), y.astype(int)] -= 1
        gw = (R.T @ X / n).ravel() + np.tile(lam2, k) * (u[:m] - u[m : 2 * m])
        l1 = np.tile(lam1, k)
        return np.r_[gw + l1, -gw + l1, R.mean(axis=0)]

    bounds = [(0, None)] * (2 * m) + [(None, None)] * k
    u, best = np.zeros(2 * m + k), np.inf
    # Restarted while F still falls: the penalty weights span 1e-14 to 1e10, and
    # L-BFGS-B stops where its line search meets F's rounding with its curvature
    # pairs still poor (multinomial, ρ = 0.5: 8e-7 above the optimum after one run).
    for _ in range(50):
        opt = minimize(
            fun,
            u,
            jac=jac,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 20000, "gtol": 1e-14, "ftol": 1e-16, "maxcor": 30},
        )
        if not opt.fun < best:
            break
        u, best = opt.x, opt.fun
    return (u[:m] - u[m : 2 * m]).reshape(k, p), u[2 * m :], best


PEN_CASES = [
    (loss, solver, l1_ratio)
    for loss in ("squared_error", "logistic", "poisson", "multinomial")
    for solver in ("cd", "fista")
    for l1_ratio in (1.0, 0.5)
]


@pytest.mark.parametrize(("loss", "solver", "l1_ratio"), PEN_CASES)
def test_l1_scaled_columns_reach_the_weighted_optimum(loss, solver, l1_ratio):
    """Columns multiplied by 10^±6 with an L1 / elastic-net penalty on the user's
    coefficients: the optimum is that of the standardised columns with the penalty
    weighted per column (``α ρ / c_j`` on ``|u_j|``, ``α (1 − ρ) / c_j²`` on ``u_j²``
    with ``u_j = c_j w_j``), found here by an independent solver."""
    X, y = _problem(loss, 0)
    alpha = 0.02
    k = 3 if loss == "multinomial" else 1
    lam1 = alpha * l1_ratio / FACTORS
    lam2 = alpha * (1 - l1_ratio) / FACTORS**2
    ref_w, ref_b, ref_f = _weighted_reference(loss, X, y, lam1, lam2, k)
    kw = {"alpha": alpha, "l1_ratio": l1_ratio, "solver": solver, "max_iter": 20000}
    if loss in ("logistic", "multinomial"):
        est = GLMClassifier(**kw).fit(X * FACTORS, y)
    else:
        est = GLMRegressor(loss=loss, **kw).fit(X * FACTORS, y)
    assert est.converged_, (loss, solver, est.kkt_)
    coef = np.reshape(est.coef_, (k, -1)) * FACTORS
    b = np.atleast_1d(est.intercept_)
    if loss == "multinomial":
        # Column 0's penalty (α ρ / 1e6) barely pins the common shift of its K
        # coefficients (nor the intercepts'): compare contrasts to class 0.
        coef, ref_w = coef - coef[0], ref_w - ref_w[0]
        b, ref_b = b - b[0], ref_b - ref_b[0]
    if loss == "multinomial":
        # Column 0's near-zero penalty leaves the shift of its K coefficients
        # nearly flat: a KKT residual of tol there moves F by ~1e-9 and the
        # coefficients by ~1e-4 (the fit and the reference alike).
        assert_allclose(est.objective_, ref_f, rtol=1e-8)
        rtol = 1e-3
    else:
        assert_allclose(est.objective_, ref_f, rtol=1e-9)
        rtol = 1e-5
    assert_allclose(coef, ref_w, rtol=rtol, atol=1e-6)
    assert_allclose(b, ref_b, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_cd_multinomial_finds_the_penalty_shift(l1_ratio):
    """A multinomial's data term is flat along the common shift of a feature's K
    coefficients; the penalty alone sets it. With column 0 in units 1e6 that shift
    is nearly free at the KKT tolerance (proximal Newton crept along it for 13,000
    steps); cd sets it exactly and converges within default ``max_iter``, in a few
    steps, each feature's classes centred for the penalty."""
    from lossmath.linear_model._solvers._proximal import center_classes

    X, y = _problem("multinomial", 0)
    alpha = 0.02
    est = GLMClassifier(alpha=alpha, l1_ratio=l1_ratio, solver="cd").fit(X * FACTORS, y)
    assert est.converged_
    assert est.n_iter_ <= 20
    W = est.coef_
    shift = (W - center_classes(W, alpha * l1_ratio, alpha * (1 - l1_ratio)))[0]
    assert np.all(np.abs(shift) <= 1e-9 * np.max(np.abs(W), axis=0))
