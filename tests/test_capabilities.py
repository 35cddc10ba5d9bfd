"""What each loss declares about itself (``lossmath.losses._capabilities``), checked
against what the loss computes: a declaration that lies fails here."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

import lossmath
from conftest import CASES, SCALAR_CASES, case_id
from lossmath.links import Identity
from lossmath.losses import Loss, ScalarLoss
from lossmath.losses._capabilities import TASKS


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_example_targets_are_valid_and_scores_have_the_loss_shape(loss):
    rng = np.random.default_rng(0)
    y = loss.example_targets(rng, 40)
    z = loss.example_scores(rng, 40)
    assert y.shape == (40,)
    loss.check_target(y)
    # Every method accepts them (the contract's shapes).
    v, g, h = loss.value_gradient_hessian(y, z)
    assert v.shape == (40,)
    assert g.shape == h.shape == z.shape
    assert np.all(np.isfinite(v))


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_task_matches_the_targets(loss):
    assert loss.task in TASKS
    if loss.task == "binary":
        dom = loss.y_interval
        assert dom.binary or (dom.low, dom.high) == (0, 1)
    if loss.task == "multiclass":
        assert loss.n_outputs != 1
    else:
        assert loss.n_outputs == 1
    if loss.task == "counts":
        assert loss.y_interval.low == 0
        assert math.isinf(loss.y_interval.high)


@pytest.mark.parametrize("loss", SCALAR_CASES, ids=case_id)
def test_declared_kinks_are_where_the_hessian_jumps(loss):
    """The Hessian changes across each declared kink (or the gradient does), and
    nowhere else between random points: a smooth loss declares none."""
    rng = np.random.default_rng(1)
    y = loss.example_targets(rng, 8)
    kinks = loss.kinks(y)
    assert bool(kinks) == (not loss.is_smooth)
    for k in kinks:
        k = np.asarray(k, dtype=float)
        step = 1e-6 * np.maximum(1, np.abs(k))
        g_lo, h_lo = loss.gradient_hessian(y, k - step)
        g_hi, h_hi = loss.gradient_hessian(y, k + step)
        jump = (np.abs(h_hi - h_lo) > 1e-3) | (np.abs(g_hi - g_lo) > 1e-3)
        assert np.all(jump), (loss, k)


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_declared_curvature_holds_on_example_data(loss):
    rng = np.random.default_rng(2)
    y = loss.example_targets(rng, 200)
    z = loss.example_scores(rng, 200, scale=8.0)
    c = loss.curvature
    h = loss.hessian(y, z)
    if c.psd:
        if h.ndim == 3:
            assert np.all(np.linalg.eigvalsh(h).min(axis=1) >= -1e-12)
        else:
            assert np.all(h >= 0)
    if c.positive:
        assert np.all(loss.hessian_diagonal(y, z) > 0)
    if c.fisher_positive:
        assert np.all(loss.fisher_diagonal(y, z) > 0)
    else:
        assert np.any(loss.fisher_diagonal(y, z) == 0)
    assert np.all(loss.hessian_diagonal(y, z) <= c.bound * (1 + 1e-12))
    if c.vanishing:
        # Somewhere the Newton step |g| / |H| is large: H vanishes faster than g.
        zz = loss.example_scores(rng, 400, scale=1e9)
        yy = loss.example_targets(rng, 400)
        g, hd = loss.gradient_hessian(yy, zz)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            step = np.abs(g) / np.abs(hd)
        assert np.nanmax(step) > 1e6


@dataclass(frozen=True)
class _Unregistered(ScalarLoss):
    """A user's loss: squared error, never registered."""

    _convex = True
    _smooth = True
    _hessian_bound = 1.0
    _link = Identity()

    def _kernel(self, xp, y, z, value, gradient, hessian):
        r = z - y
        v = (0.5 * r) * r if value else None
        h = xp.ones_like(z) if hessian else None
        return v, (r if gradient else None), h

    def baseline(self, y, sample_weight=None):
        return 0.0


def test_an_unregistered_subclass_has_a_name():
    loss = _Unregistered()
    assert loss.name == "_Unregistered"
    np.testing.assert_array_equal(loss.gradient(np.zeros(3), np.ones(3)), np.ones(3))
    with pytest.raises(ValueError, match="_Unregistered: y must be finite"):
        loss.value(np.array([np.nan]), np.zeros(1))

    class Child(lossmath.losses.Huber):
        pass

    assert Child().name == "Child"  # not its registered parent's
    assert lossmath.get_loss("huber").name == "huber"


def test_an_invalid_task_is_refused_at_definition():
    with pytest.raises(TypeError, match="task must be one of"):

        class Wrong(Loss):  # defining it is the test
            task = "ranking"


def test_parameter_cases_come_from_the_losses():
    from lossmath.checking import PARAMETER_CASES, loss_cases

    assert set(PARAMETER_CASES) == set(lossmath.available())
    assert len(loss_cases()) == sum(
        len(lossmath.get_loss(n).example_params) for n in PARAMETER_CASES
    )
