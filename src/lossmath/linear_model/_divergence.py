r"""Do the fitted coefficients run away? A divergence diagnostic for any loss.

The linear-programming test of :mod:`._separation` decides exactly whether the
unpenalised minimiser exists, but only for losses it can read as "open" at
infinite scores, and only below a size limit. This module is the backstop for
every loss and every size: it looks at the fitted point ``ĉ`` itself.

At a minimiser of a convex ``F`` no direction lowers ``F``: ``F(ĉ + t d) ≥ F(ĉ)``
for every ``d`` and ``t > 0``. Where the minimiser does not exist the solver stops
at a point on the way to infinity, and along the direction it was travelling the
objective keeps falling however far one goes. The diagnostic takes a few
candidate directions ``d`` — ``ĉ`` itself, the part of ``ĉ`` carried by its largest
(scale-free) entries ``|ĉ_j| d_j`` (``d_j`` the column's root mean square), and the
(column-scaled) steepest-descent direction — scales each so that the largest score
change ``maxᵢ |x̃ᵢ·d|`` equals ``u = max(1, maxᵢ |zᵢ|)``, the size of the fitted
scores, and evaluates

.. math::

    F(ĉ + t\,d), \qquad t = 1, 2, 4, 8, 16.

The fit is declared divergent when ``F`` falls at the first step, never rises
after it (up to rounding, ``10⁻¹⁴ (1 + |F(ĉ)|)``) and falls by more than
``10⁻¹² (1 + |F(ĉ)|)`` in all (far out the fall itself may underflow: a converged
divergent fit is already close to the infimum). For a convex loss at (or near) its
minimiser this cannot happen: moving every score by up to 16 times its present size
would have to lower the objective steadily. A fit stopped far from a minimiser that
does exist (not converged, coefficients still small) can show the same picture; it
already carries a convergence warning. The scores ``ĉ + t d`` are ``z + t Δz``: one
product with ``X`` per direction, no refit. Only unpenalised fits are checked
(any ``α > 0`` makes ``F`` coercive).
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["find_divergence"]

#: Multiples of the score scale at which the objective must keep falling.
_STEPS = (1.0, 2.0, 4.0, 8.0, 16.0)
#: The total fall (relative to ``1 + |F|``) that counts as falling at all.
_DROP = 1e-12
#: Rounding allowed between two evaluations (relative to ``1 + |F|``).
_SLACK = 1e-14


def _data_value(objective, z) -> float:
    with np.errstate(all="ignore"):
        v = objective.loss.value(objective.y, z, objective.sample_weight, check_input=False)
    return float(np.sum(v)) / objective.weight_sum


def _score_change(objective, d) -> np.ndarray:
    """``Δz = X̃ d`` (no offset)."""
    w, b = objective.unpack(d)
    dz = objective.X @ (w if objective.n_scores == 1 else w.T)
    return np.asarray(dz) + b


def _directions(objective, coef) -> list[np.ndarray]:
    """Candidate directions of travel at ``coef`` (module notes)."""
    scale = np.tile(objective.col_scale, objective.n_scores)
    if objective.fit_intercept:
        scale = np.r_[scale, np.ones(objective.n_scores)]
    found = [coef]
    size = np.abs(coef) * scale
    if size.max() > 0:
        large = np.where(size >= 0.1 * size.max(), coef, 0.0)
        if not np.array_equal(large, coef):
            found.append(large)
    with np.errstate(all="ignore"):
        _, g = objective.value_gradient(coef)
        descent = -g / scale**2  # steepest descent in the scale-free coordinates
    if np.all(np.isfinite(descent)) and np.any(descent != 0):
        found.append(descent)
    return found


def find_divergence(objective, coef) -> np.ndarray | None:
    """A direction along which ``F`` keeps falling from ``coef``, else None.

    Parameters
    ----------
    objective : GLMObjective
        The unpenalised objective that was minimised.
    coef : ndarray of shape (n_coef,)
        The fitted coefficients in the objective's layout.

    Returns
    -------
    ndarray or None
        The direction (``coef``'s layout, original units) or None when the
        objective does not keep decreasing along any candidate (module notes).
    """
    coef = np.asarray(coef, dtype=np.float64)
    if coef.shape != (objective.n_coef,) or not np.all(np.isfinite(coef)) or not coef.any():
        return None
    z = np.asarray(objective.raw_score(coef))
    f0 = _data_value(objective, z)
    if not np.isfinite(f0):
        return None
    unit = max(1.0, float(np.max(np.abs(z))))
    for d in _directions(objective, coef):
        with np.errstate(all="ignore"):
            dz = _score_change(objective, d)
        reach = float(np.max(np.abs(dz)))
        if not np.isfinite(reach) or reach == 0:
            continue
        step = unit / reach
        with np.errstate(all="ignore"):  # far out a score may overflow: F = inf, no fall
            values = [f0] + [_data_value(objective, z + (t * step) * dz) for t in _STEPS]
        # Never rising (beyond rounding), falling at the first step and by more than
        # rounding in all: far out the fall itself underflows (e^{-300} + 1 == 1).
        slack = _SLACK * (1.0 + abs(f0))
        never_rising = all(b <= a + slack for a, b in itertools.pairwise(values))
        if never_rising and values[1] < f0 - slack and f0 - values[-1] > _DROP * (1.0 + abs(f0)):
            return d
    return None
