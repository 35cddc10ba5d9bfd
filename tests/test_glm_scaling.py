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
