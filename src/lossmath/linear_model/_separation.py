r"""Does the unpenalised minimiser exist? Separation and its kin, by linear programming.

For a convex loss the objective ``F(w, b) = (1/S) Σᵢ sᵢ ℓ(yᵢ, xᵢ·w + b)`` has no
minimiser exactly when some direction ``d`` (over ``w`` and ``b``) lowers it for
ever. Along ``d`` each sample's score moves by ``tᵢ = x̃ᵢ·d`` (``x̃ = [x, 1]``),
and a sample's loss can fall for ever only where ``ℓ(yᵢ, ·)`` is still strictly
decreasing at ``+∞`` ("open upward": logistic, exponential, focal with ``y = 1``)
or at ``−∞`` ("open downward": the same with ``y = 0``; Poisson and Tweedie with
``y = 0``, whose mean ``e^z`` can shrink to 0). The minimiser fails to exist iff
there is a ``d`` with

.. math::

    x̃ᵢ·d ≥ 0 \text{ (open upward)},\quad x̃ᵢ·d ≤ 0 \text{ (open downward)},\quad
    x̃ᵢ·d = 0 \text{ (all other samples)},

and ``x̃ᵢ·d ≠ 0`` for some sample: complete or quasi-complete separation (Albert
and Anderson, 1984). Which samples are open is read off the loss itself — ``ℓ`` at
scores ±(|yᵢ| + 29) and ±(|yᵢ| + 30) — so no loss is named here. The test is the
linear programme
``max Σ_{up} x̃ᵢ·d − Σ_{down} x̃ᵢ·d`` over the box ``|d| ≤ 1`` (columns scaled to
max-norm 1) under those constraints (Konis, 2007), solved by HiGHS; a positive
optimum is a separating direction. For the multinomial, ``d`` holds one direction
per class and the constraints are ``(d_{yᵢ} − d_k)·x̃ᵢ ≥ 0`` for every ``k ≠ yᵢ``.

Any penalty with ``α > 0`` makes ``F`` coercive, so only ``α = 0`` is checked. When
separation is found the estimator warns (:class:`SeparationWarning`), sets
``separated_ = True`` and drops its standard errors, p-values and likelihood
statistics: at a point that only approximates an infimum at infinity they are
meaningless (huge standard errors, p ≈ 1). Where the LP finds nothing (a loss it
cannot read as open, or data above :data:`MAX_LP_NONZEROS`), the ray test of
:mod:`._divergence` looks at the fitted coefficients themselves
(:class:`DivergenceWarning`, the same consequences).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from lossmath.linear_model._divergence import find_divergence

__all__ = ["DivergenceWarning", "SeparationWarning", "check_separation", "find_separation"]

#: Above this many non-zeros in the LP's constraint matrix the check is skipped.
MAX_LP_NONZEROS = 20_000_000
#: A direction counts when its objective exceeds this (the box makes it ≤ n (p + 1)).
_TOL = 1e-6


class SeparationWarning(UserWarning):
    """The unpenalised minimiser does not exist: coefficients run to infinity."""


class DivergenceWarning(SeparationWarning):
    """The fitted coefficients diverge: the objective keeps falling along a direction."""


def _open_sides(loss, y):
    """Per sample: ``+1`` open upward, ``−1`` open downward, ``0`` closed (module notes)."""
    y = np.asarray(y, dtype=np.float64)
    # Beyond any kink or minimum near y: the scores y ± 30 and y ± 29 (a target of
    # 40 is no reason for the quantile loss to count as open at z = 30).
    far = np.abs(y) + 30.0
    with np.errstate(all="ignore"):
        up = np.asarray(loss.value(y, far, check_input=False)) < np.asarray(
            loss.value(y, far - 1.0, check_input=False)
        )
        down = np.asarray(loss.value(y, -far, check_input=False)) < np.asarray(
            loss.value(y, 1.0 - far, check_input=False)
        )
    return up.astype(int) - down.astype(int)


def _multinomial_open(loss) -> bool:
    """Whether a sample's loss keeps falling as its own class's score grows (no smoothing)."""
    k = loss.n_outputs
    z1, z0 = np.zeros((1, k)), np.zeros((1, k))
    z1[0, 0], z0[0, 0] = 30.0, 29.0
    y = np.zeros(1)
    return float(np.sum(loss.value(y, z1, check_input=False))) < float(
        np.sum(loss.value(y, z0, check_input=False))
    )


def _design(X, fit_intercept: bool):
    """``[X, 1]`` as CSR with columns scaled to max-norm 1 (zero columns left alone)."""
    A = sp.csr_matrix(X, dtype=np.float64)
    if fit_intercept:
        A = sp.hstack([A, np.ones((A.shape[0], 1))], format="csr")
    scale = np.asarray(abs(A).max(axis=0).todense()).ravel()
    scale[scale == 0] = 1.0
    return A @ sp.diags(1.0 / scale), scale


def _solve(c, A_ub, A_eq, n_var):
    res = linprog(
        c,
        A_ub=A_ub,
        b_ub=None if A_ub is None else np.zeros(A_ub.shape[0]),
        A_eq=A_eq,
        b_eq=None if A_eq is None else np.zeros(A_eq.shape[0]),
        bounds=(-1.0, 1.0),
        method="highs",
    )
    if res.status != 0 or res.x is None:
        return None, 0.0
    return res.x, -float(res.fun)


def find_separation(objective) -> tuple[np.ndarray, int] | None:
    """``(direction, rows fitted perfectly)`` if the minimiser does not exist, else None.

    ``direction`` is over the coefficients in ``objective``'s layout (``w`` then
    ``b``; ``(K, p + 1)`` for several outputs), in the original units.
    """
    loss, X = objective.loss, objective.X
    keep = np.asarray(objective.sample_weight) > 0
    y = np.asarray(objective.y)[keep]
    # Decide from the loss alone first: most fits need no copy of X at all.
    if loss.n_outputs == 1:
        side = _open_sides(loss, y)
        if not side.any():
            return None
    elif not _multinomial_open(loss):
        return None
    if X.shape[0] * (X.shape[1] + 1) > MAX_LP_NONZEROS:
        return None
    A, scale = _design(X[keep] if not keep.all() else X, objective.fit_intercept)
    m = A.shape[1]
    if loss.n_outputs == 1:
        signed = sp.diags(side.astype(float)) @ A
        opened = side != 0
        c = -np.asarray(signed[opened].sum(axis=0)).ravel()
        A_eq = A[~opened] if (~opened).any() else None
        d, best = _solve(c, -signed[opened], A_eq, m)
        if d is None or best <= _TOL:
            return None
        t = signed[opened] @ d
        return d / scale, int(np.sum(t > 1e-9))
    k = objective.n_scores
    if A.nnz * 2 * (k - 1) > MAX_LP_NONZEROS:
        return None
    labels = y.astype(int)
    rows, ks = np.nonzero(labels[:, None] != np.arange(k)[None, :])
    # Row r: (d_{y_i} − d_k)·x̃_i ≥ 0, d stacked class by class (k blocks of m).
    Ai = A[rows]
    own = sp.hstack([Ai.multiply((labels[rows] == c)[:, None]) for c in range(k)], format="csr")
    other = sp.hstack([Ai.multiply((ks == c)[:, None]) for c in range(k)], format="csr")
    G = (own - other).tocsr()
    c = -np.asarray(G.sum(axis=0)).ravel()
    # Fix class 0's direction at zero: only differences between classes matter.
    bounds_fix = sp.csr_matrix((np.ones(m), (np.arange(m), np.arange(m))), shape=(m, k * m))
    d, best = _solve(c, -G, bounds_fix, k * m)
    if d is None or best <= _TOL:
        return None
    t = G @ d
    return (d.reshape(k, m) / scale), int(np.unique(rows[t > 1e-9]).size)


def check_separation(estimator, objective, what: str = "") -> bool:
    """Warn, set ``separated_`` and drop inference if the fit's minimiser does not exist.

    Only unpenalised fits (``alpha == 0``) are checked; returns whether it was found.
    """
    estimator.separated_ = False
    if estimator.alpha > 0:
        return False
    found = find_separation(objective)
    if found is None:
        return _check_divergence(estimator, objective, what)
    direction, rows = found
    names = list(
        getattr(estimator, "feature_names_in_", [f"x{j}" for j in range(objective.n_features)])
    )
    if objective.fit_intercept:
        names.append("intercept")
    weight = np.abs(np.atleast_2d(direction)).max(axis=0)
    top = [names[j] for j in np.argsort(-weight)[:3] if weight[j] > 1e-9]
    binary = objective.loss.task in ("binary", "multiclass")
    kind = (
        "the classes are (quasi-)separated"
        if binary
        else "the zero targets can be fitted exactly (mean → 0)"
    )
    note = (
        f"the unpenalised minimiser does not exist: {kind} by a linear combination of "
        f"the features (chiefly {', '.join(map(repr, top))}; {rows} rows fitted "
        "perfectly), so the coefficients run to infinity"
    )
    warnings.warn(
        f"{type(estimator).__name__}{what}: {note}; the estimates are not finite and "
        "standard errors / p-values are not valid. Fit with a penalty (alpha > 0, e.g. "
        "alpha=1e-3) or drop the separating features.",
        SeparationWarning,
        stacklevel=4,
    )
    estimator.separated_ = True
    estimator._clear_inference(f"{note} (fit with alpha > 0)")
    return True


def _top_names(estimator, objective, direction) -> list[str]:
    names = list(
        getattr(estimator, "feature_names_in_", [f"x{j}" for j in range(objective.n_features)])
    )
    if objective.fit_intercept:
        names.append("intercept")
    k, m = objective.n_scores, len(names)
    weight = np.abs(np.reshape(direction[: k * objective.n_features], (k, -1))).max(axis=0)
    if objective.fit_intercept:
        weight = np.r_[weight, np.abs(direction[k * objective.n_features :]).max()]
    weight = weight * np.r_[objective.col_scale, np.ones(m - objective.n_features)]
    return [names[j] for j in np.argsort(-weight)[:3] if weight[j] > 0]


def _check_divergence(estimator, objective, what: str) -> bool:
    """The backstop for any loss (:mod:`._divergence`): warn and drop inference."""
    coef = estimator._pack()
    direction = find_divergence(objective, coef)
    if direction is None:
        return False
    top = _top_names(estimator, objective, direction)
    note = (
        "the coefficients diverge: the objective keeps decreasing along the direction "
        f"of the fit (chiefly {', '.join(map(repr, top))}), so the unpenalised minimiser "
        "does not appear to exist"
    )
    warnings.warn(
        f"{type(estimator).__name__}{what}: {note}; the estimates are not finite and "
        "standard errors / p-values are not valid. Fit with a penalty (alpha > 0, e.g. "
        "alpha=1e-3) or drop the offending features.",
        DivergenceWarning,
        stacklevel=5,
    )
    estimator.separated_ = True
    estimator._clear_inference(f"{note} (fit with alpha > 0)")
    return True
