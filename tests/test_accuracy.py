"""Accuracy against mpmath at 400 digits and against finite differences.

The points (extreme scores, random points, near-zero residuals, both labels,
near-optimal scores, multinomial logit gaps of hundreds) are those of
``lossmath.checking.sample_points``; the ulp unit is that of the exact result,
or of ``max(|exact|, largest term / 8)`` where the data make two rounded terms
cancel (docs/accuracy.md).
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest

from lossmath.checking import (
    FD_TOLERANCE,
    REFERENCE_DPS,
    REFERENCES,
    ULP_TOLERANCE,
    evaluate,
    fd_errors,
    ulp_errors,
)
from lossmath.losses import available, get_loss


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_within_16_ulp_of_mpmath(loss, dtype):
    worst = ulp_errors(loss, dtype)
    assert max(worst.values()) <= ULP_TOLERANCE, worst


def test_derivatives_match_finite_differences(loss):
    worst = fd_errors(loss)
    assert max(worst.values()) <= FD_TOLERANCE, worst


def test_every_loss_has_a_reference_and_declared_kinks(loss):
    assert set(available()) <= set(REFERENCES)
    if loss.n_outputs == 1:
        kinks = loss.kinks(loss.example_targets(np.random.default_rng(0), 5))
        assert bool(kinks) == (not loss.is_smooth), f"{loss!r}: is_smooth and kinks disagree"
        for k in kinks:
            assert np.shape(k) == (5,)


def _diff_points(loss, rng):
    if loss.n_outputs != 1:
        k = loss.n_outputs or 3
        return [(int(rng.integers(0, k)), list(rng.normal(0, 2, k))) for _ in range(4)]
    dom = loss.y_interval
    pts = []
    for _ in range(6):
        if dom.binary:
            y = float(rng.integers(0, 2))
        elif dom.low == 0 and dom.high == 1:
            y = float(rng.uniform(0, 1))
        elif dom.low == 0:
            y = float(rng.lognormal(0, 1))
        else:
            y = float(rng.normal(0, 2))
        z = float(rng.normal(0, 2))
        if any(abs(z - k) < 1e-3 for k in loss.kinks(y)):
            continue
        pts.append((y, z))
    return pts


def test_reference_derivatives_are_derivatives_of_the_reference_value(loss):
    """The reference's closed-form g and H agree with mpmath.diff of its value."""
    rng = np.random.default_rng(11)
    ref = REFERENCES[loss.name]
    with mpmath.workdps(REFERENCE_DPS):
        tol = mpmath.mpf(10) ** -100
        for y, z in _diff_points(loss, rng):
            if loss.n_outputs != 1:
                zz = [mpmath.mpf(v) for v in z]
                ex = ref(loss, y, zz)
                for j in range(len(zz)):

                    def along(t, j=j, zz=zz, y=y):
                        return ref(loss, y, [*zz[:j], t, *zz[j + 1 :]])

                    dv = mpmath.diff(lambda t, f=along: f(t).value, zz[j])
                    assert abs(dv - ex.gradient[j]) <= tol * (1 + abs(dv))
                    for i in range(len(zz)):
                        dg = mpmath.diff(lambda t, f=along, i=i: f(t).gradient[i], zz[j])
                        assert abs(dg - ex.hessian[i][j]) <= tol * (1 + abs(dg))
                continue
            yy, zz = mpmath.mpf(y), mpmath.mpf(z)
            ex = ref(loss, yy, zz)
            dv = mpmath.diff(lambda t, yy=yy: ref(loss, yy, t).value, zz)
            dg = mpmath.diff(lambda t, yy=yy: ref(loss, yy, t).gradient, zz)
            assert abs(dv - ex.gradient) <= tol * (1 + abs(dv)), (y, z)
            assert abs(dg - ex.hessian) <= tol * (1 + abs(dg)), (y, z)


def test_evaluate_converts_floats_exactly():
    ex = evaluate(get_loss("squared_error"), 0.1, 0.3)
    with mpmath.workdps(REFERENCE_DPS):
        assert ex.gradient == mpmath.mpf(0.3) - mpmath.mpf(0.1)
