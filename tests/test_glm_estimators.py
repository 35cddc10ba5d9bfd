"""GLMRegressor / GLMClassifier: scikit-learn contract, peers' optima, inference, CLI."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import check_estimator

from lossmath.cli import main
from lossmath.linear_model import GLMClassifier, GLMRegressor

rng = np.random.default_rng(0)
N, P = 400, 4
X = rng.normal(0, 1, (N, P))
ETA = X @ np.array([0.4, -0.3, 0.2, 0.0]) + 0.2


@pytest.mark.parametrize(
    "estimator",
    [
        GLMRegressor(),
        GLMClassifier(),
        # The same checks on other losses and penalties: the long sweep.
        *(
            pytest.param(e, marks=pytest.mark.slow, id=repr(e))
            for e in (
                GLMClassifier(alpha=1e-2),
                GLMRegressor(loss="poisson", alpha=1e-2),
                GLMRegressor(loss="gamma"),
                GLMRegressor(loss="huber", alpha=0.1),
                GLMRegressor(alpha=0.01, l1_ratio=0.5),
                GLMClassifier(loss="exponential", alpha=0.01),
            )
        ),
    ],
    ids=repr,
)
def test_check_estimator(estimator):
    check_estimator(estimator)


def test_logistic_ridge_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    y = (rng.uniform(size=N) < 1 / (1 + np.exp(-ETA))).astype(int)
    alpha = 0.05
    ours = GLMClassifier(alpha=alpha).fit(X, y)
    # DESIGN §6: mean log-loss + ½α‖w‖²  ⇔  C Σ log-loss + ½‖w‖² with C = 1/(n α).
    theirs = LogisticRegression(C=1 / (N * alpha), tol=1e-12, max_iter=10_000).fit(X, y)
    assert_allclose(ours.coef_, theirs.coef_.ravel(), rtol=1e-6)
    assert_allclose(ours.intercept_, theirs.intercept_[0], rtol=1e-6)
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6)


def test_poisson_with_offset_matches_statsmodels():
    sm = pytest.importorskip("statsmodels.api")
    exposure = rng.uniform(0.5, 2.0, N)
    y = rng.poisson(exposure * np.exp(ETA)).astype(float)
    ours = GLMRegressor(loss="poisson").fit(X, y, offset=np.log(exposure))
    res = sm.GLM(
        y, sm.add_constant(X, prepend=False), family=sm.families.Poisson(), offset=np.log(exposure)
    ).fit(tol=1e-12)
    assert_allclose(np.r_[ours.coef_, ours.intercept_], res.params, rtol=1e-7)
    assert_allclose(ours.std_errors_, res.bse, rtol=1e-6)
    assert np.isclose(ours.deviance_, res.deviance, rtol=1e-8)
    assert np.isclose(ours.aic_, res.aic, rtol=1e-8)
    table = ours.coef_table()
    assert list(table.index) == ["x0", "x1", "x2", "x3", "intercept"]
    assert_allclose(table["p_value"], res.pvalues, rtol=1e-5)


def test_pandas_input_names_the_coefficients():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = GLMRegressor().fit(frame, ETA + rng.normal(0, 0.1, N))
    assert list(model.coef_table().index) == ["a", "b", "c", "d", "intercept"]


def test_dense_and_sparse_agree():
    y = (ETA > 0).astype(int)
    dense = GLMClassifier(alpha=0.01, l1_ratio=0.5).fit(X, y)
    sparse = GLMClassifier(alpha=0.01, l1_ratio=0.5).fit(sp.csr_matrix(X), y)
    assert_allclose(dense.coef_, sparse.coef_, rtol=1e-6, atol=1e-9)
    with pytest.raises(AttributeError, match="L1 / elastic-net"):
        dense.coef_table()


def test_warm_start_and_convergence_warning():
    y = (ETA > 0).astype(int)
    model = GLMClassifier(alpha=0.01, warm_start=True).fit(X, y)
    assert model.converged_
    assert model.kkt_ <= model.tol
    model.fit(X, y)
    assert model.n_iter_ == 0
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        fitted = GLMClassifier(alpha=0.01, max_iter=1).fit(X, y)
    assert not fitted.converged_


def test_losses_without_probabilities():
    y = (ETA > 0).astype(int)
    model = GLMClassifier(loss="hinge", alpha=0.01).fit(X, y)
    assert not hasattr(model, "predict_proba")
    assert model.decision_function(X).shape == (N,)
    assert model.score(X, y) > 0.9


def test_quantile_regression_is_exact():
    y = ETA + rng.standard_t(3, N)
    model = GLMRegressor(loss="quantile").fit(X, y)
    assert model.converged_
    residual = y - model.predict(X)
    # At the optimum about half the residuals are positive (the median).
    assert abs(np.mean(residual > 0) - 0.5) < 0.02


def test_cli_fit_default_job(capsys):
    assert main(["fit"]) == 0
    out = capsys.readouterr().out
    for text in ("mean radius", "intercept", "p_value", "deviance", "iterations", "time"):
        assert text in out


def test_cli_fit_csv(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "counts.csv"
    y = rng.poisson(np.exp(ETA))
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "count": y}).to_csv(path, index=False)
    assert main(["fit", str(path), "--target", "count", "--loss", "poisson"]) == 0
    out = capsys.readouterr().out
    assert "GLMRegressor(loss='poisson'" in out
    assert "AIC" in out
    assert main(["fit", str(path), "--target", "nope"]) == 2


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge", "exponential", "focal"])
def test_binary_losses_fit_one_vs_rest_with_more_classes(loss):
    """K > 2 classes with a binary loss: K binary fits, class k against the rest."""
    from sklearn.datasets import load_iris

    X3, y3 = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y3]
    clf = GLMClassifier(loss=loss, alpha=0.05, tol=1e-7).fit(X3, labels)
    assert clf.coef_.shape == (3, X3.shape[1])
    assert clf.intercept_.shape == (3,)
    for k, name in enumerate(clf.classes_):
        alone = GLMClassifier(loss=loss, alpha=0.05, tol=1e-7).fit(X3, labels == name)
        assert_allclose(clf.coef_[k], alone.coef_, rtol=1e-5, atol=1e-7)
        assert_allclose(clf.intercept_[k], alone.intercept_, rtol=1e-5, atol=1e-7)
    z = clf.decision_function(X3)
    assert z.shape == (X3.shape[0], 3)
    assert (clf.predict(X3) == clf.classes_[np.argmax(z, axis=1)]).all()
    assert clf.score(X3, labels) > 0.85  # a linear OvR on iris, strongly penalised
    if loss in ("hinge", "squared_hinge"):
        assert not hasattr(clf, "predict_proba")  # margins, no probability model
    else:
        p = clf.predict_proba(X3)
        assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
        assert (np.argmax(p, axis=1) == np.argmax(z, axis=1)).all()
    assert not hasattr(clf, "std_errors_")
    with pytest.raises(AttributeError, match="one-vs-rest"):
        clf.coef_table()


def test_one_vs_rest_warm_start_and_offset():
    from sklearn.datasets import load_iris

    X3, y3 = load_iris(return_X_y=True)
    clf = GLMClassifier(loss="exponential", alpha=0.05, warm_start=True).fit(X3, y3)
    again = clf.fit(X3, y3)
    assert again.n_iter_ == 0  # every class starts at its optimum
    shifted = GLMClassifier(loss="exponential", alpha=0.05).fit(
        X3, y3, offset=np.full((X3.shape[0], 3), 0.5)
    )
    assert_allclose(shifted.intercept_, clf.intercept_ - 0.5, atol=1e-6)
    with pytest.raises(ValueError, match=r"offset must have shape \(150,\) or \(150, 3\)"):
        GLMClassifier(loss="hinge").fit(X3, y3, offset=np.zeros(3))


@pytest.mark.parametrize(
    ("estimator", "alpha"),
    [(GLMRegressor, 0.0), (GLMRegressor, 0.05), (GLMClassifier, 1e-3), (GLMClassifier, 0.05)],
)
def test_c1_losses_converge_to_the_default_tolerance(estimator, alpha):
    """Huber and the squared hinge are C¹ (ℓ'' jumps): ``auto`` fits them by
    semismooth Newton, which reaches tol=1e-8 where L-BFGS stalled above it."""
    import warnings

    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    Xb, yb = load_breast_cancer(return_X_y=True)
    Xb = StandardScaler().fit_transform(Xb)
    loss = "huber" if estimator is GLMRegressor else "squared_hinge"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = estimator(loss=loss, alpha=alpha).fit(Xb, yb)
    assert model.solver_ == "newton"
    assert model.converged_
    assert model.kkt_ <= 1e-8
