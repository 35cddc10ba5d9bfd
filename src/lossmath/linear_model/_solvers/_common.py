"""Pieces every solver shares: the result, the KKT residual, starts, line searches.

Stopping rule (all solvers): the max-norm of the minimum-norm subgradient of ``F``,
each entry made relative,

.. math::

    \\operatorname{kkt}(w, b) = \\max\\Bigl(
        \\max_j \\frac{|\\operatorname{minnorm}(∇_w f + ∂P(w))_j|}{d_j G},\\;
        \\frac{\\lVert ∇_b f \\rVert_∞}{G}\\Bigr) \\le \\text{tol},

with ``f`` the data term, ``d_j`` the root weighted mean square of column ``j`` and
``G = max(1, rms(∂ℓ/∂z))`` the size of the per-sample gradient at ``(w, b)``
(:attr:`GLMObjective.col_scale`, :meth:`GLMObjective.kkt_weights`). It is zero
exactly at a minimiser of a convex ``F``, free of the scale of ``n`` (the data term
is a weighted *mean*) and of the scale of each column (multiplying column ``j`` by
``c`` divides ``w_j`` by ``c`` and multiplies ``∂F/∂w_j`` and ``d_j`` by ``c``).
On standardised columns with ``G = 1`` it is the plain max-norm of the subgradient.
``converged`` is set only when this test passes on the returned coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SolverResult"]

EPS = np.finfo(float).eps


@dataclass(frozen=True)
class SolverResult:
    """What every solver returns.

    Attributes
    ----------
    coef : ndarray of shape (n_coef,)
        In :class:`GLMObjective`'s layout (``w`` row-major, then the intercepts).
    n_iter : int
        Outer iterations taken (0 when the start already met the tolerance).
    converged : bool
        True only if ``kkt ≤ tol`` at ``coef``.
    objective : float
        ``F(coef)``, the L1 part included.
    kkt : float
        Max-norm of the minimum-norm subgradient of ``F`` at ``coef``.
    solver : str
        The solver actually used.
    message : str
        How it ended; advice when it did not converge.
    """

    coef: np.ndarray
    n_iter: int
    converged: bool
    objective: float
    kkt: float
    solver: str
    message: str


def l1_l2(obj) -> tuple[float, float]:
    """``(α ρ, α (1 − ρ))``: the L1 and L2 strengths."""
    pen = obj.penalty
    return pen.alpha * pen.l1_ratio, pen.alpha * (1.0 - pen.l1_ratio)


def loss_kw(obj) -> dict:
    """Keywords of a solver's own loss calls: unchecked, ``obj.n_threads`` threads."""
    n_threads = getattr(obj, "n_threads", None)
    if n_threads is None:
        return {"check_input": False}
    return {"check_input": False, "n_threads": n_threads}


def n_w(obj) -> int:
    """Number of penalised entries (``K p``) at the front of ``coef``."""
    return obj.n_scores * obj.n_features


def kkt_vector(obj, coef: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Minimum-norm subgradient of ``F`` from the smooth gradient ``grad`` (data + L2),
    relative: each entry times :meth:`GLMObjective.kkt_weights` (module notes)."""
    m = n_w(obj)
    w = coef[:m]
    data = grad[:m] - l1_l2(obj)[1] * w
    v = np.concatenate([obj.penalty.min_norm_subgradient(w, data), grad[m:]])
    return v * obj.kkt_weights(coef)


def kkt_norm(obj, coef, grad) -> float:
    v = kkt_vector(obj, coef, grad)
    return float(np.max(np.abs(v))) if v.size else 0.0


def initial_coef(obj, coef0) -> np.ndarray:
    """``coef0`` checked, or zeros with the intercept-only optimum as the intercept."""
    if coef0 is not None:
        coef = np.array(coef0, dtype=float).ravel()
        if coef.shape != (obj.n_coef,):
            raise ValueError(
                f"solve: coef0 must have {obj.n_coef} entries (w then intercepts); "
                f"got shape {np.shape(coef0)}"
            )
        if not np.all(np.isfinite(coef)):
            raise ValueError("solve: coef0 must be finite")
        return coef
    coef = np.zeros(obj.n_coef)
    if obj.fit_intercept and obj.offset is None:
        try:
            b = np.atleast_1d(np.asarray(obj.loss.baseline(obj.y, obj.sample_weight), float))
        except (ValueError, TypeError, NotImplementedError, AttributeError):
            b = np.zeros(obj.n_scores)
        if b.size == obj.n_scores and np.all(np.isfinite(b)):
            coef[n_w(obj) :] = b
    return coef


def roundoff(f_new: float, f: float) -> bool:
    """Whether ``f_new`` differs from ``f`` by no more than rounding can explain.

    Sufficient-decrease tests compare values of ``F`` of order one to decreases that
    near the optimum fall below its rounding error; there the solvers decide with
    gradients instead (which keep their relative accuracy).
    """
    return abs(f_new - f) <= 64 * EPS * max(1.0, abs(f))


def advice(name: str, max_iter: int, kkt: float, tol: float, other: str) -> str:
    return (
        f"{name} reached max_iter={max_iter} with KKT residual {kkt:.3g} > tol={tol:.3g}. "
        f"Increase max_iter, scale the features (e.g. StandardScaler), loosen tol, "
        f"or try solver={other!r}."
    )


def stalled(name: str, kkt: float, tol: float) -> str:
    return (
        f"{name} stopped making progress at KKT residual {kkt:.3g} > tol={tol:.3g} "
        "(the line search found no decrease: the limit of float64 precision for this "
        "problem). Scale the features or loosen tol."
    )


def armijo(obj, coef, f, g, d, kkt_old, c=1e-4, max_halvings=50):
    """Backtracking along ``d`` on a smooth ``F``: ``(coef, f, g)`` or None.

    A step whose change of ``F`` is below rounding is accepted when it lowers the
    KKT residual, so the last Newton steps are not refused for want of digits.
    """
    slope = float(g @ d)
    t = 1.0
    for _ in range(max_halvings):
        new = coef + t * d
        with np.errstate(all="ignore"):
            f_new, g_new = obj.value_gradient(new)
        if np.isfinite(f_new) and np.all(np.isfinite(g_new)):
            if f_new <= f + c * t * slope:
                return new, f_new, g_new
            if roundoff(f_new, f + c * t * slope) and kkt_norm(obj, new, g_new) < kkt_old:
                return new, f_new, g_new
        t *= 0.5
    return None


def lipschitz(obj, coef, iters=30) -> float:
    """Estimate of the largest eigenvalue of the smooth part's Hessian.

    ``hessian_bound × λ_max([X 1]ᵀ diag(s) [X 1] / S)`` where the loss's curvature is
    bounded, else the curvature at ``coef``; by power iteration. A guess only: the
    callers backtrack.
    """
    loss, X = obj.loss, obj.X
    bound = float(loss.hessian_bound)
    if np.isfinite(bound) and bound > 0:
        h = obj.sample_weight * bound
    else:
        z = obj.raw_score(coef)
        with np.errstate(all="ignore"):
            h = loss.fisher_diagonal(obj.y, z, obj.sample_weight, **loss_kw(obj))
        h = np.max(np.reshape(h, (obj.n_samples, -1)), axis=1)
        h = np.where(np.isfinite(h), h, 0.0)
    rng = np.random.default_rng(0)
    v = rng.normal(size=obj.n_features + int(obj.fit_intercept))
    lam = 0.0
    for _ in range(iters):
        v /= np.linalg.norm(v) or 1.0
        u = np.asarray(X @ v[: obj.n_features]).ravel()
        if obj.fit_intercept:
            u = u + v[-1]
        hu = h * u
        new = np.asarray(X.T @ hu).ravel()
        if obj.fit_intercept:
            new = np.append(new, hu.sum())
        lam = float(np.linalg.norm(new))
        v = new
    return 1.05 * lam / obj.weight_sum + l1_l2(obj)[1] + 1e-12
