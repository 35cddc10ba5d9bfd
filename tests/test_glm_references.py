"""GLM fits against published results: R, Stata and NIST's certified values.

The reference numbers, and where each comes from, are in ``_glm_reference_data``
(files shipped with statsmodels). Conventions (``docs/glm-inference.md``): lossmath's
AIC is ``−2 llf + 2 rank`` (the Gaussian scale is not counted: R's AIC is 2 more);
the Gaussian log-likelihood uses the MLE scale ``SSR / n``; standard errors use
Pearson's dispersion ``χ² / (n − rank)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

pytest.importorskip("statsmodels")

import _glm_reference_data as ref
from lossmath import GLMClassifier, GLMRegressor


def _coef(est):
    return np.r_[np.ravel(est.coef_), est.intercept_]


def _ref_coef(r):
    return np.r_[r["coef"], r["intercept"]]


def _contrasts(est):
    """Stata's ``mlogit`` parameters: class k's coefficients minus class 0's."""
    W = np.column_stack([est.coef_, est.intercept_])
    return (W[1:] - W[0]).T


def _unscale(est, j, factor):
    """Coefficients and standard errors as if column ``j`` had not been scaled."""
    coef = _coef(est)
    coef[j] *= factor
    se = est.std_errors_.copy()
    se[j] *= factor
    return coef, se


# ------------------------------------------------------------- default fits
def test_cpunish_poisson_matches_r():
    X, y = ref.cpunish()
    est = GLMRegressor(loss="poisson").fit(X, y)
    r = ref.CPUNISH_R
    assert est.converged_
    assert_allclose(_coef(est), _ref_coef(r), rtol=1e-6)
    # Standard errors at the optimum: R's glm.fit, emulated, with the information
    # taken at its returned coefficients.
    emulated = ref.r_glm_fit_poisson(X, y)
    assert_allclose(_coef(est), emulated["coef"], rtol=1e-8)
    assert_allclose(est.std_errors_, emulated["std_errors_at_coef"], rtol=1e-8)
    # R's printed ones use the IRLS weights one iterate before its last (see
    # test_r_standard_errors_are_those_of_its_lagged_weights): 8.5e-6 apart here.
    assert_allclose(est.std_errors_, r["std_errors"], rtol=1e-5)
    assert_allclose(est.deviance_, r["deviance"], rtol=1e-10)
    assert_allclose(est.log_likelihood_, r["log_likelihood"], rtol=1e-10)
    assert_allclose(est.aic_, r["aic"], rtol=1e-10)


def _within_printed_digits(actual, printed):
    """Each entry within half a unit of the last digit ``printed`` shows (7 digits)."""
    off = np.abs(np.asarray(actual) - np.asarray(printed))
    half = ref.printed_half_unit(printed)
    assert np.all(off <= half), (off / half).tolist()


def test_r_standard_errors_are_those_of_its_lagged_weights():
    """Where the 8.5e-6 between lossmath's cpunish standard errors and R's comes from.

    R's ``glm.fit`` stops on the deviance's change (``epsilon = 1e-8``) and
    ``summary.glm`` inverts the information of its last weighted least-squares solve,
    whose weights are those of the iterate before the returned coefficients. Emulated
    step for step, those standard errors are R's printed ones to the last printed
    digit, while the information at the returned coefficients — what lossmath and
    statsmodels at a tight ``tol`` report — is 8.5e-6 (relative) away from them.
    """
    X, y = ref.cpunish()
    r = ref.CPUNISH_R
    emulated = ref.r_glm_fit_poisson(X, y)
    assert emulated["n_iter"] == 5
    half = ref.printed_half_unit(r["std_errors"])
    _within_printed_digits(emulated["std_errors_lagged"], r["std_errors"])
    _within_printed_digits(emulated["coef"], _ref_coef(r))
    lag = np.abs(emulated["std_errors_at_coef"] / r["std_errors"] - 1)
    assert 8e-6 < lag.max() < 9e-6
    assert np.all(np.abs(emulated["std_errors_at_coef"] - r["std_errors"]) > half)


@pytest.mark.parametrize("order", ["C", "F"])
def test_cpunish_does_not_depend_on_memory_layout(order):
    X, y = ref.cpunish()
    base = GLMRegressor(loss="poisson").fit(X, y)
    est = GLMRegressor(loss="poisson").fit(np.asarray(X, order=order), y)
    assert est.converged_
    assert_allclose(_coef(est), _coef(base), rtol=1e-10)


def test_cpunish_with_an_offset_shifts_only_the_intercept():
    X, y = ref.cpunish()
    base = GLMRegressor(loss="poisson").fit(X, y)
    est = GLMRegressor(loss="poisson").fit(X, y, offset=np.full(y.size, 100.0))
    assert est.converged_
    assert_allclose(est.coef_, base.coef_, rtol=1e-8)
    assert_allclose(est.intercept_, base.intercept_ - 100.0, rtol=1e-10)
    assert_allclose(est.deviance_, ref.CPUNISH_R["deviance"], rtol=1e-10)


def test_longley_matches_nist():
    X, y = ref.longley()
    est = GLMRegressor().fit(X, y)
    r = ref.LONGLEY_NIST
    assert est.converged_
    assert_allclose(_coef(est), _ref_coef(r), rtol=1e-7)
    assert_allclose(est.std_errors_, r["std_errors"], rtol=1e-7)
    assert_allclose(est.scale_, r["scale"], rtol=1e-7)
    assert_allclose(est.deviance_, r["deviance"], rtol=1e-7)


def test_longley_matches_r():
    X, y = ref.longley()
    est = GLMRegressor().fit(X, y)
    r = ref.LONGLEY_R
    assert_allclose(_coef(est), _ref_coef(r), rtol=1e-6)
    assert_allclose(est.std_errors_, r["std_errors"], rtol=1e-6)
    assert_allclose(est.deviance_, r["deviance"], rtol=1e-9)
    assert_allclose(est.log_likelihood_, r["log_likelihood"], rtol=1e-9)
    assert_allclose(est.aic_, r["aic"], rtol=1e-9)


def test_anes96_multinomial_matches_stata():
    X, y = ref.anes96()
    est = GLMClassifier().fit(X, y)
    r = ref.ANES_STATA
    assert est.converged_
    # Stata prints 7-8 significant digits: half a unit of the last one, absolute.
    assert_allclose(_contrasts(est), r["contrasts"], rtol=1e-6, atol=5e-9)
    llf = -y.size * est.objective_  # objective_: the mean negative log-likelihood
    assert_allclose(llf, r["log_likelihood"], rtol=1e-9)
    k = r["contrasts"].size  # identified parameters
    assert_allclose(-2 * llf + 2 * k, r["aic"], rtol=1e-9)
    assert_allclose(-2 * llf + k * np.log(y.size), r["bic"], rtol=1e-9)
    assert_allclose(est.log_likelihood_, r["log_likelihood"], rtol=1e-9)
    assert_allclose([est.aic_, est.bic_], [r["aic"], r["bic"]], rtol=1e-9)


@pytest.mark.parametrize(("j", "factor"), [(None, 1.0), (0, 1e6), (4, 1e-6)])
def test_anes96_multinomial_standard_errors_match_stata(j, factor):
    """Standard errors of the contrasts to class 0 (rows: classes 1..6; columns:
    the 5 features, then the intercept), Stata's ``mlogit``."""
    X, y = ref.anes96()
    if j is not None:
        X[:, j] *= factor
    est = GLMClassifier().fit(X, y)
    assert est.converged_
    se = est.std_errors_.T.copy()  # (6 rows: features + intercept, 6 classes) as Stata's
    if j is not None:
        se[j] *= factor
    # Stata prints 8-10 significant digits: 1e-6 relative.
    assert_allclose(se, ref.ANES_STATA["std_errors"], rtol=1e-6)
    table = est.coef_table()
    assert table.shape[0] == 36
    assert table.index[0] == "1.0-0.0:x0"
    assert table.index[-1] == "6.0-0.0:intercept"
    assert_allclose(table["std_error"].to_numpy(), np.ravel(est.std_errors_))
    contrasts = np.reshape(table["estimate"].to_numpy(), (6, 6)).T.copy()
    if j is not None:
        contrasts[j] *= factor
    assert_allclose(contrasts, ref.ANES_STATA["contrasts"], rtol=1e-6, atol=5e-9)


def test_multinomial_inference_refused_when_penalised():
    X, y = ref.anes96()
    est = GLMClassifier(alpha=1e-3).fit(X, y)
    assert not hasattr(est, "std_errors_")
    with pytest.raises(AttributeError, match="unpenalised"):
        est.coef_table()


# ------------------------------------------------- any column, any units
FACTORS = [1e6, 1e-6]


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("j", range(6))
def test_cpunish_any_column_scaled(j, factor):
    X, y = ref.cpunish()
    X[:, j] *= factor
    est = GLMRegressor(loss="poisson").fit(X, y)
    assert est.converged_
    coef, se = _unscale(est, j, factor)
    assert_allclose(coef, _ref_coef(ref.CPUNISH_R), rtol=1e-6)
    assert_allclose(se, ref.CPUNISH_R["std_errors"], rtol=1e-5)
    assert_allclose(est.deviance_, ref.CPUNISH_R["deviance"], rtol=1e-9)


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("j", range(6))
def test_longley_any_column_scaled(j, factor):
    X, y = ref.longley()
    X[:, j] *= factor
    est = GLMRegressor().fit(X, y)
    assert est.converged_
    coef, se = _unscale(est, j, factor)
    assert_allclose(coef, _ref_coef(ref.LONGLEY_NIST), rtol=1e-7)
    assert_allclose(se, ref.LONGLEY_NIST["std_errors"], rtol=1e-7)


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("j", [0, 2, 4])
def test_anes96_any_column_scaled(j, factor):
    X, y = ref.anes96()
    X[:, j] *= factor
    est = GLMClassifier().fit(X, y)
    assert est.converged_
    c = _contrasts(est)
    c[j] *= factor
    assert_allclose(c, ref.ANES_STATA["contrasts"], rtol=1e-6, atol=5e-9)


@pytest.mark.parametrize(
    ("solver", "factor"),
    [(s, f) for s in ("newton", "lbfgs", "cd") for f in (1.0, 1e6, 1e-6)],
)
def test_every_smooth_solver_reaches_cpunish(solver, factor):
    X, y = ref.cpunish()
    X[:, 0] *= factor
    est = GLMRegressor(loss="poisson", solver=solver).fit(X, y)
    assert est.converged_
    coef = _coef(est)
    coef[0] *= factor
    assert_allclose(coef, _ref_coef(ref.CPUNISH_R), rtol=2e-6)


@pytest.mark.parametrize("solver", ["lstsq", "newton", "cd"])
@pytest.mark.parametrize("factor", [1.0, 1e6, 1e-6])
def test_second_order_solvers_reach_longley(solver, factor):
    X, y = ref.longley()
    X[:, 1] *= factor
    est = GLMRegressor(solver=solver).fit(X, y)
    assert est.converged_
    coef = _coef(est)
    coef[1] *= factor
    # NIST's 1e-7: lstsq refines its solve, newton refines its last step with the
    # same Hessian (one step alone is accurate to the condition number, 5e8 on
    # scaled columns, times the rounding error: 1.8e-7).
    assert_allclose(coef, _ref_coef(ref.LONGLEY_NIST), rtol=1e-7)


def test_lbfgs_reaches_the_longley_objective():
    """A first-order method stops on the relative KKT test: the objective is the
    optimum's to many digits even where the coefficients (condition number 5e8 on
    scaled columns) are accurate to about 1e-5 only."""
    X, y = ref.longley()
    est = GLMRegressor(solver="lbfgs").fit(X, y)
    assert est.converged_
    ssr = ref.LONGLEY_NIST["deviance"]
    assert_allclose(est.objective_, 0.5 * ssr / y.size, rtol=1e-9)
    assert_allclose(_coef(est), _ref_coef(ref.LONGLEY_NIST), rtol=1e-4)


@pytest.mark.parametrize("factor", [1e6, 1e-6])
def test_ridge_on_a_scaled_column_every_solver_agrees(factor):
    """The penalty stays on the user's coefficients: scaling a column changes the
    problem, but every solver must find that problem's one optimum."""
    X, y = ref.cpunish()
    X[:, 1] *= factor
    fits = {
        s: GLMRegressor(loss="poisson", alpha=1e-3, solver=s).fit(X, y) for s in ("newton", "cd")
    }
    for s, est in fits.items():
        assert est.converged_, s
    f = {s: est.objective_ for s, est in fits.items()}
    assert_allclose(f["cd"], f["newton"], rtol=1e-12)
    assert_allclose(_coef(fits["cd"]), _coef(fits["newton"]), rtol=1e-6)


@pytest.mark.parametrize("l1_ratio", [0.5, 1.0])
@pytest.mark.parametrize("factor", [1e6, 1e-6])
def test_l1_on_a_scaled_column_converges(l1_ratio, factor):
    X, y = ref.cpunish()
    X[:, 1] *= factor
    est = GLMRegressor(loss="poisson", alpha=1e-2, l1_ratio=l1_ratio).fit(X, y)
    assert est.converged_
    assert est.kkt_ <= est.tol
