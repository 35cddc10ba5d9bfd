"""Bad input raises a clear error naming the loss, the argument, expected and received."""

from __future__ import annotations

import numpy as np
import pytest

import lossmath
from conftest import small_batch
from lossmath.losses import get_loss


def test_message_of_a_negative_count():
    with pytest.raises(ValueError, match=r"^poisson: y must be >= 0; got min\(y\) = -3\.0$"):
        get_loss("poisson").value(np.array([1.0, -3.0]), np.zeros(2))


@pytest.mark.parametrize("where", ["y", "z"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_an_error(loss, where, bad):
    y, z, _ = small_batch(loss)
    y, z = y.astype(float), z.copy()
    if where == "y":
        y.flat[0] = bad
    else:
        z.flat[0] = bad
    with pytest.raises(ValueError, match=rf"^{loss.name}: {where} must be finite"):
        loss.gradient(y, z)


def test_check_input_false_skips_the_checks():
    g = get_loss("poisson").gradient(np.array([-3.0]), np.zeros(1), check_input=False)
    assert g[0] == 4.0


def test_mismatched_lengths(loss):
    y, z, _ = small_batch(loss)
    with pytest.raises(ValueError, match=rf"^{loss.name}: y must .*shape.*got shape \(6,?\)?"):
        loss.value(y[:-1], z)


def test_wrong_score_dimensionality(loss):
    y, z, _ = small_batch(loss)
    bad = z[:, None] if z.ndim == 1 else z[:, 0]
    with pytest.raises(ValueError, match=rf"^{loss.name}: z must .*shape"):
        loss.value(y, bad)


def test_sample_weight_checks(loss):
    y, z, w = small_batch(loss)
    with pytest.raises(ValueError, match=rf"^{loss.name}: sample_weight must have shape"):
        loss.value(y, z, w[:-1])
    w = w.copy()
    w[2] = -1.0
    with pytest.raises(ValueError, match=rf"^{loss.name}: sample_weight must be >= 0"):
        loss.value(y, z, w)
    with pytest.raises(ValueError, match="positive sum"):
        loss(y, z, np.zeros_like(w))


def test_non_numeric_input_is_a_type_error(loss):
    y, z, _ = small_batch(loss)
    with pytest.raises(TypeError, match=rf"^{loss.name}: z must be a real numeric array"):
        loss.value(y, np.array(["a"] * z.shape[0]))


def test_wrong_hvp_vector(loss):
    y, z, _ = small_batch(loss)
    with pytest.raises(ValueError, match=rf"^{loss.name}: v must have the shape of z"):
        loss.hessian_vector_product(y, z, np.ones(3))


@pytest.mark.parametrize(
    ("name", "y", "message"),
    [
        ("logistic", 1.5, r"logistic: y must lie in \[0, 1\]; got max\(y\) = 1\.5"),
        ("logistic", -0.1, r"logistic: y must lie in \[0, 1\]; got min\(y\) = -0\.1"),
        ("hinge", 3.0, r"hinge: y must be 0 or 1; got 3\.0"),
        ("squared_hinge", -1.0, r"squared_hinge: y must be 0 or 1; got -1\.0"),
        ("exponential", 0.5, r"exponential: y must be 0 or 1; got 0\.5"),
        ("focal", 2.0, r"focal: y must be 0 or 1; got 2\.0"),
        ("gamma", 0.0, r"gamma: y must be > 0; got min\(y\) = 0\.0"),
        ("tweedie", -1.0, r"tweedie: y must be >= 0; got min\(y\) = -1\.0"),
    ],
)
def test_target_outside_the_domain(name, y, message):
    loss = get_loss(name)
    valid = loss.example_targets(np.random.default_rng(0), 1)[0]
    with pytest.raises(ValueError, match=message):
        loss.value(np.array([y, valid]), np.zeros(2))
    with pytest.raises(ValueError, match=message):
        loss.check_target(np.array([y]))


def test_multinomial_targets():
    loss = get_loss("multinomial")
    z = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"multinomial: y \(class labels\) must lie in \[0, 2\]"):
        loss.value(np.array([0, 3]), z)
    with pytest.raises(ValueError, match=r"whole numbers; got 0\.5"):
        loss.value(np.array([0, 0.5]), z)
    with pytest.raises(ValueError, match=r"must sum to 1; got a row summing to 0\.89999"):
        loss.value(np.array([[0.5, 0.5, 0.0], [0.3, 0.3, 0.3]]), z)
    with pytest.raises(ValueError, match=r"y \(probability rows\) must be >= 0"):
        loss.value(np.array([[1.5, -0.5, 0.0], [1.0, 0.0, 0.0]]), z)
    with pytest.raises(ValueError, match=r"labels of shape \(2,\) or probability rows"):
        loss.value(np.zeros((2, 4)), z)
    with pytest.raises(ValueError, match=r"z must have shape \(n_samples, 3\); got \(2, 4\)"):
        get_loss("multinomial", class_weight=[1, 2, 3]).value(np.array([0, 1]), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="K >= 2"):
        loss.value(np.array([0, 0]), np.zeros((2, 1)))


@pytest.mark.parametrize(
    ("name", "params", "error", "message"),
    [
        (
            "huber",
            {"delta": -1.0},
            ValueError,
            "huber: delta must be > 0; got delta = -1.0",
        ),
        ("huber", {"delta": "1"}, TypeError, "huber: delta must be a real number"),
        (
            "pseudo_huber",
            {"delta": 0},
            ValueError,
            "pseudo_huber: delta must be > 0; got delta = 0.0",
        ),
        ("quantile", {"quantile": 1.0}, ValueError, r"quantile: quantile must lie in \(0, 1\)"),
        ("focal", {"gamma": -1.0}, ValueError, "focal: gamma must be >= 0; got gamma = -1.0"),
        ("focal", {"alpha": 1.5}, ValueError, "focal: alpha must lie in"),
        ("tweedie", {"power": 2}, ValueError, r"use get_loss\('gamma'\)"),
        ("tweedie", {"power": 1.0}, ValueError, r"use get_loss\('poisson'\)"),
        ("tweedie", {"power": 3.0}, ValueError, r"tweedie: power must lie in \(1, 2\)"),
        ("multinomial", {"label_smoothing": 2.0}, ValueError, "label_smoothing must lie in"),
        ("multinomial", {"class_weight": [1.0, -1.0]}, ValueError, "must be positive"),
        ("multinomial", {"class_weight": "abc"}, TypeError, "class_weight must be a 1-D array"),
        ("multinomial", {"n_classes": 1}, ValueError, "n_classes must be >= 2"),
        ("multinomial", {"n_classes": 3, "class_weight": [1, 1]}, ValueError, "n_classes = 3"),
    ],
)
def test_bad_parameters(name, params, error, message):
    with pytest.raises(error, match=message):
        get_loss(name, **params)


def test_get_loss_errors():
    with pytest.raises(ValueError, match="unknown loss 'nope'; available: absolute_error"):
        lossmath.get_loss("nope")
    with pytest.raises(TypeError, match="name must be a str"):
        lossmath.get_loss(3)
    with pytest.raises(TypeError, match="cannot be applied"):
        lossmath.get_loss(get_loss("huber"), delta=2.0)
