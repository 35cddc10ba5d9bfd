"""Separation: the unpenalised minimiser does not exist → a warning, no inference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from lossmath import GLMClassifier, GLMRegressor
from lossmath.linear_model._separation import SeparationWarning

rng = np.random.default_rng(3)
N = 200
X = rng.normal(size=(N, 3))
SEPARATED = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
OVERLAP = (X[:, 0] + rng.normal(size=N) > 0).astype(int)


def fit(model, y, Xm=X):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(Xm, y)
    return model, [w for w in caught if issubclass(w.category, SeparationWarning)]


@pytest.mark.parametrize("loss", ["logistic", "exponential", "focal"])
def test_separated_binary_classes_warn_and_drop_inference(loss):
    model, found = fit(GLMClassifier(loss=loss, max_iter=200), SEPARATED)
    assert len(found) == 1
    text = str(found[0].message)
    assert "separated" in text
    assert "alpha" in text
    assert model.separated_
    assert not hasattr(model, "std_errors_")
    with pytest.raises(AttributeError, match="does not exist"):
        model.coef_table()


def test_quasi_separation_is_found():
    """One class fills a half-space, the other touches the boundary."""
    Xq = np.vstack([X, np.zeros((5, 3))])
    y = np.concatenate([(X[:, 0] > 0).astype(int), np.array([0, 1, 0, 1, 0])])
    Xq[:N, 0] = np.where(y[:N] == 1, np.abs(Xq[:N, 0]) + 0.1, -np.abs(Xq[:N, 0]) - 0.1)
    model, found = fit(GLMClassifier(max_iter=300), y, Xq)
    assert found
    assert model.separated_


@pytest.mark.parametrize(
    ("model", "y"),
    [
        (GLMClassifier(), OVERLAP),
        (GLMClassifier(alpha=1e-3), SEPARATED),  # a penalty: the minimiser exists
        (GLMClassifier(loss="hinge"), SEPARATED),  # the hinge attains its infimum
        (GLMRegressor(loss="poisson"), rng.poisson(np.exp(0.5 * X[:, 0]))),
    ],
)
def test_no_warning_where_the_minimiser_exists(model, y):
    model, found = fit(model, y)
    assert not found
    assert not model.separated_


def test_multinomial_separation():
    y = np.digitize(X[:, 0], [-0.5, 0.5])  # three classes cut along one feature
    model, found = fit(GLMClassifier(max_iter=300), y)
    assert found
    assert model.separated_
    _, found = fit(GLMClassifier(), np.digitize(X[:, 0] + rng.normal(size=N), [-0.5, 0.5]))
    assert not found


@pytest.mark.parametrize("loss", ["poisson", "tweedie"])
def test_zero_counts_fitted_exactly_warn(loss):
    """A group (indicator g) whose counts are all 0: its mean can shrink to 0, w_g → −∞."""
    g = (np.arange(N) < 30).astype(float)
    y = np.where(g == 1, 0, rng.poisson(np.exp(0.3 * X[:, 0]))).astype(float)
    model, found = fit(GLMRegressor(loss=loss, max_iter=300), y, np.column_stack([X, g]))
    assert found
    assert "zero targets" in str(found[0].message)
    assert not hasattr(model, "std_errors_")


def test_one_vs_rest_names_the_class():
    y = np.digitize(X[:, 0], [-0.5, 0.5])
    _, found = fit(GLMClassifier(loss="exponential", max_iter=100), y)
    assert any("class 0 against the rest" in str(w.message) for w in found)


def test_cli_separable_csv_warns_and_shows_no_standard_errors(tmp_path, capsys):
    import pandas as pd

    from lossmath.cli import main

    path = tmp_path / "separable.csv"
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": SEPARATED}).to_csv(path, index=False)
    assert main(["fit", str(path), "--target", "y"]) == 0
    out, err = capsys.readouterr()
    assert "warning" in err
    assert "separated" in err
    assert "std_error" not in out
    assert "p_value" not in out
    assert "finite optimum" in out
