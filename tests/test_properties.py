"""The seed identities as property tests (hypothesis)."""

from __future__ import annotations

import mpmath
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lossmath.losses import get_loss

scores = st.floats(-700, 700, allow_nan=False)


@given(z=scores, y=st.sampled_from([0.0, 1.0]) | st.floats(0, 1))
def test_logistic_gradient_is_prediction_minus_target(z, y):
    loss = get_loss("logistic")
    g = loss.gradient(np.array([y]), np.array([z]))[0]
    p = float(loss.predict(np.array([z]))[0])
    # σ(z) − y in exact arithmetic, rounded once: the largest term bounds the error.
    with mpmath.workdps(60):
        exact = 1 / (1 + mpmath.exp(-mpmath.mpf(z))) - mpmath.mpf(y)
    assert abs(g - float(exact)) <= 4 * np.finfo(float).eps * max(abs(p), y, abs(g))


@given(z=st.floats(-30, 30), y=st.floats(0, 50))
def test_poisson_gradient_is_prediction_minus_target(z, y):
    loss = get_loss("poisson")
    g = loss.gradient(np.array([y]), np.array([z]))[0]
    mu = loss.predict(np.array([z]))[0]
    assert abs(g - (mu - y)) <= 4 * np.finfo(float).eps * max(mu, y)


@given(
    z=arrays(np.float64, (3, 5), elements=st.floats(-300, 300)),
    y=st.lists(st.integers(0, 4), min_size=3, max_size=3),
)
def test_softmax_hessian_is_psd_with_zero_row_sums(z, y):
    loss = get_loss("multinomial")
    h = loss.hessian(np.array(y), z)
    scale = np.abs(h).max(axis=(1, 2)) + np.finfo(float).tiny
    assert np.all(np.linalg.eigvalsh(h).min(axis=1) >= -8 * np.finfo(float).eps * scale)
    assert np.all(np.abs(h.sum(axis=2)).max(axis=1) <= 8 * np.finfo(float).eps * scale)
    assert np.allclose(h, np.swapaxes(h, 1, 2), rtol=0, atol=0)


@given(
    z=arrays(np.float64, (2, 4), elements=st.floats(-50, 50)),
    shift=st.floats(-100, 100),
    y=st.lists(st.integers(0, 3), min_size=2, max_size=2),
)
def test_shifting_all_logits_changes_nothing(z, shift, y):
    loss = get_loss("multinomial")
    labels = np.array(y)
    before = loss.value_gradient_hessian(labels, z)
    after = loss.value_gradient_hessian(labels, z + shift)
    # The shift itself is rounded: |z| + |shift| ≤ 150 moves each score by ≤ 150 eps.
    tol = 1e3 * np.finfo(float).eps
    for a, b in zip(before, after, strict=True):
        assert np.allclose(a, b, rtol=tol, atol=tol)


@given(z=arrays(np.float64, (4, 3), elements=st.floats(-700, 700)))
def test_softmax_probabilities_sum_to_one(z):
    p = get_loss("multinomial").predict(z)
    assert np.allclose(p.sum(axis=1), 1.0, rtol=0, atol=4 * np.finfo(float).eps)
