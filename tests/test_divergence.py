"""Diverging coefficients for any loss: the ray diagnostic behind the LP separation test."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn import datasets
from sklearn.preprocessing import StandardScaler

import lossmath.linear_model._separation as separation
from lossmath import GLMClassifier, GLMRegressor
from lossmath.linear_model._divergence import find_divergence
from lossmath.linear_model._objective import GLMObjective
from lossmath.linear_model._separation import DivergenceWarning, SeparationWarning
from lossmath.losses import get_loss
from lossmath.penalties import get_penalty

rng = np.random.default_rng(3)
N = 200
X = rng.normal(size=(N, 3))
SEPARATED = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)


def caught_fit(model, Xm, y):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(Xm, y)
    return [w for w in caught if issubclass(w.category, SeparationWarning)]


@pytest.fixture
def no_lp(monkeypatch):
    """The LP test skipped (as above its size limit): only the ray diagnostic is left."""
    monkeypatch.setattr(separation, "MAX_LP_NONZEROS", 0)


def _quasi():
    Xq = np.vstack([X, np.zeros((5, 3))])
    y = np.concatenate([(X[:, 0] > 0).astype(int), np.array([0, 1, 0, 1, 0])])
    Xq[:N, 0] = np.where(y[:N] == 1, np.abs(Xq[:N, 0]) + 0.1, -np.abs(Xq[:N, 0]) - 0.1)
    return Xq, y


def _zero_group():
    g = (np.arange(N) < 30).astype(float)
    y = np.where(g == 1, 0, rng.poisson(np.exp(0.3 * X[:, 0]))).astype(float)
    return np.column_stack([X, g]), y


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (GLMClassifier(loss="logistic", max_iter=300), (X, SEPARATED)),
        (GLMClassifier(loss="exponential", max_iter=300), (X, SEPARATED)),
        (GLMClassifier(loss="focal", max_iter=300), (X, SEPARATED)),
        (GLMClassifier(max_iter=300), _quasi()),
        (GLMClassifier(max_iter=300), (X, np.digitize(X[:, 0], [-0.5, 0.5]))),
        (GLMRegressor(loss="poisson", max_iter=300), _zero_group()),
        (GLMRegressor(loss="tweedie", max_iter=300), _zero_group()),
    ],
    ids=["logistic", "exponential", "focal", "quasi", "multinomial", "poisson", "tweedie"],
)
def test_diverging_fits_warn_without_the_lp(no_lp, model, data):
    found = caught_fit(model, *data)
    assert [w.category for w in found] == [DivergenceWarning]
    text = str(found[0].message)
    assert "diverge" in text
    assert "alpha" in text
    assert model.separated_
    assert not hasattr(model, "std_errors_")
    with pytest.raises(AttributeError, match="diverge"):
        model.coef_table()


def test_penalised_fit_is_not_checked(no_lp):
    model = GLMClassifier(alpha=1e-3)
    assert not caught_fit(model, X, SEPARATED)
    assert not model.separated_


def _standard(loader):
    Xd, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(Xd), y


def _cases():
    Xd, yd = _standard(datasets.load_diabetes)
    for loss in ("squared_error", "huber", "log_cosh", "pseudo_huber", "poisson", "gamma",
                 "tweedie", "absolute_error", "quantile"):  # fmt: skip
        yield f"diabetes-{loss}", GLMRegressor(loss=loss), Xd, yd
    Xc, yc = _standard(datasets.load_breast_cancer)
    for loss in ("hinge", "squared_hinge"):
        yield f"breast_cancer-{loss}", GLMClassifier(loss=loss), Xc, yc
    Xi, yi = _standard(datasets.load_iris)
    two = yi > 0  # versicolor against virginica: they overlap
    for loss in ("logistic", "exponential", "focal", "hinge"):
        yield f"iris-{loss}", GLMClassifier(loss=loss), Xi[two], yi[two]
    Xw, yw = _standard(datasets.load_wine)
    yield "wine-squared_error", GLMRegressor(), Xw, yw.astype(float)
    Xg, yg = datasets.load_digits(return_X_y=True)
    yield "digits-squared_error", GLMRegressor(), Xg, yg.astype(float)


CASES = list(_cases())


@pytest.mark.parametrize(("name", "model", "Xd", "yd"), CASES, ids=[c[0] for c in CASES])
def test_no_warning_on_well_posed_scikit_learn_fits(no_lp, name, model, Xd, yd):
    found = caught_fit(model, Xd, yd)
    assert not found, [str(w.message) for w in found]
    assert not model.separated_


def _reference_fits():
    ref = pytest.importorskip("_glm_reference_data")
    pytest.importorskip("statsmodels")
    return [
        (GLMRegressor(loss="poisson"), *ref.cpunish()),
        (GLMRegressor(), *ref.longley()),
        (GLMClassifier(), *ref.anes96()),
    ]


def test_no_warning_on_the_reference_sets(no_lp):
    for model, Xr, yr in _reference_fits():
        found = caught_fit(model, Xr, yr)
        assert not found, [str(w.message) for w in found]
        assert hasattr(model, "std_errors_") or model.coef_.ndim == 2


def test_find_divergence_at_the_optimum_is_none():
    """Along any direction from the minimiser the objective rises: the direct check."""
    Xd, yd = _standard(datasets.load_diabetes)
    model = GLMRegressor(loss="poisson").fit(Xd, yd)
    objective = GLMObjective(get_loss("poisson"), get_penalty("l2", alpha=0.0), Xd, yd)
    coef = np.r_[model.coef_, model.intercept_]
    assert find_divergence(objective, coef) is None
    assert find_divergence(objective, np.zeros_like(coef)) is None  # nothing to follow


def test_find_divergence_follows_a_separating_fit():
    objective = GLMObjective(
        get_loss("logistic"), get_penalty("l2", alpha=0.0), X, SEPARATED.astype(float)
    )
    coef = 10.0 * np.r_[1.0, 0.5, 0.0, 0.0]  # far along the separating direction
    d = find_divergence(objective, coef)
    assert d is not None
    assert abs(d[2]) < 0.2 * max(abs(d[0]), abs(d[1]))
