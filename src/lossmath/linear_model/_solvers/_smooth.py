r"""Solvers for a smooth penalty (no L1 part): lstsq, newton, lbfgs, gd.

Each minimises :math:`F(\text{coef})` from ``coef`` and stops when the KKT residual
(here the max-norm of :math:`∇F`) is at most ``tol``.

* ``lstsq`` — squared error: :math:`F` is quadratic, so one solve of the normal
  equations :math:`H δ = −∇F` (Cholesky of ``[X 1]ᵀ diag(s) [X 1] / S + α I_w``, the
  intercept unpenalised; ``scipy.linalg.lstsq`` if that matrix is singular) plus up
  to a few steps of iterative refinement with the same factor.
* ``newton`` — :math:`δ = −H^{-1} ∇F` with the exact Hessian where the loss is convex
  (then it is PSD), the Fisher weights otherwise, and Armijo backtracking.
* ``lbfgs`` — ``scipy.optimize.minimize(method="L-BFGS-B")`` with ``gtol = tol``;
  where it stops short of the KKT test (its line search needs ``F`` to decrease,
  which near the optimum falls below ``F``'s rounding), L-BFGS goes on from its
  curvature pairs with a line search that decides on the directional derivative
  there (the approximate Wolfe conditions), while iterations remain.
* ``gd`` — gradient descent with step ``1/L``, ``L`` from the loss's
  ``hessian_bound`` (power iteration), adapted by backtracking.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la
from scipy.optimize import minimize

from lossmath.linear_model._solvers._common import (
    EPS,
    SolverResult,
    advice,
    armijo,
    kkt_norm,
    lipschitz,
    n_w,
    roundoff,
    stalled,
)

__all__ = ["gd", "lbfgs", "lstsq", "newton"]


def _gauge(obj, hess: np.ndarray) -> np.ndarray:
    """Pin the multinomial's null directions (a constant added to every class).

    ``F`` is invariant along them and ``∇F`` orthogonal to them, so adding
    ``c P_null`` to ``H`` leaves the Newton step on the other directions unchanged
    and makes its null-space part exactly zero (the minimum-norm step).
    """
    k, p = obj.n_scores, obj.n_features
    if k == 1:
        return hess
    c = float(np.mean(np.diag(hess))) or 1.0
    groups = []
    if obj.fit_intercept:
        groups.append(n_w(obj) + np.arange(k))
    if obj.penalty.alpha * (1 - obj.penalty.l1_ratio) == 0:
        groups.extend(np.arange(k) * p + j for j in range(p))
    hess = hess.copy()
    for idx in groups:
        hess[np.ix_(idx, idx)] += c / k
    return hess


#: Pivot ratio (squared) below which the *equilibrated* PSD matrix is treated as
#: singular: only columns collinear to about 1e-6 relative (duplicated or exactly
#: dependent ones, up to rounding) fall under it; a full-rank but ill-conditioned
#: design (NIST's Longley: condition number 2e19 unscaled, 5e8 equilibrated) does not.
_RANK_CUTOFF = 1e-12


def psd_solver(hess: np.ndarray):
    """``rhs ↦ H⁻¹ rhs`` as :func:`solve_psd`, the factorisation made once (for the
    refinement steps of lstsq)."""
    diag = np.diag(hess).copy()
    e = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 1.0)
    h = hess * e[:, None] * e[None, :]
    try:
        factor = la.cho_factor(h, check_finite=False)
        pivots = np.abs(np.diag(factor[0]))
        if pivots.size == 0 or pivots.min() ** 2 > _RANK_CUTOFF * pivots.max() ** 2:
            return lambda r: e * la.cho_solve(factor, r * e, check_finite=False)
    except la.LinAlgError:
        pass
    pinv = la.pinvh(h, rtol=_RANK_CUTOFF, check_finite=False)
    return lambda r: e * (pinv @ (r * e))


def solve_psd(hess: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``H⁻¹ rhs`` by Cholesky; the minimum-norm solution if ``H`` is singular.

    ``H`` is first equilibrated, ``H̃ = E H E`` with ``E = diag(H)^{-1/2}`` (unit
    diagonal), so that singularity is judged on a matrix that does not depend on
    the units of the columns, and the cutoff is a relative one.

    A rank-deficient ``H`` (more features than samples, collinear columns) has a
    null space in which ``F`` is flat (or decreases only towards infinity, for
    separable data). Cholesky would still succeed on rounding noise and send the
    step far into that null space, differently for inputs that differ only by
    rounding (weights versus repeated rows); the pseudo-inverse step stays in the
    row space, so equivalent problems follow the same path to the same point.
    """
    diag = np.diag(hess).copy()
    e = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 1.0)
    h = hess * e[:, None] * e[None, :]
    r = rhs * e
    try:
        factor = la.cho_factor(h, check_finite=False)
        pivots = np.abs(np.diag(factor[0]))
        if pivots.size == 0 or pivots.min() ** 2 > _RANK_CUTOFF * pivots.max() ** 2:
            return e * la.cho_solve(factor, r, check_finite=False)
    except la.LinAlgError:
        pass
    return e * la.lstsq(h, r, cond=_RANK_CUTOFF, check_finite=False)[0]


def _finish(obj, coef, f, g, it, tol, max_iter, name, other, stall=False):
    k = kkt_norm(obj, coef, g)
    ok = k <= tol
    if ok:
        msg = f"{name} converged: KKT residual {k:.3g} <= tol={tol:.3g}"
    elif stall:
        msg = stalled(name, k, tol)
    else:
        msg = advice(name, max_iter, k, tol, other)
    return SolverResult(coef, it, ok, float(f), k, name, msg)


def _log(verbose, name, it, f, k):
    if verbose:
        print(f"[{name}] iter {it:4d}  F = {f:.12g}  kkt = {k:.3e}")


#: Refinement steps lstsq takes at least (each stops once it no longer helps).
_REFINE_STEPS = 3


def lstsq(obj, coef, tol, max_iter, verbose):
    """Closed form for squared error + L2 (see the module notes)."""
    f, g = obj.value_gradient(coef)
    step = psd_solver(obj.hessian(coef))
    it = 0
    while it < max_iter:
        k = kkt_norm(obj, coef, g)
        _log(verbose, "lstsq", it, f, k)
        # Refinement is cheap (one pass over X and a triangular solve): once begun
        # it goes on while it gains digits, past tol, for a few steps at least
        # (ill-conditioned designs such as NIST's Longley need them for full
        # accuracy); a start that meets tol is returned as it is.
        if k <= tol and (it == 0 or it >= _REFINE_STEPS):
            break
        new = coef + step(-g)
        f_new, g_new = obj.value_gradient(new)
        it += 1
        if kkt_norm(obj, new, g_new) >= k:  # refinement no longer helps
            break
        coef, f, g = new, f_new, g_new
    return _finish(obj, coef, f, g, it, tol, max_iter, "lstsq", "newton", stall=it < max_iter)


def newton(obj, coef, tol, max_iter, verbose):
    """Damped Newton / IRLS (see the module notes)."""
    fisher = not obj.loss.is_convex
    with np.errstate(all="ignore"):
        f, g = obj.value_gradient(coef)
    hess = None
    for it in range(max_iter + 1):
        k = kkt_norm(obj, coef, g)
        _log(verbose, "newton", it, f, k)
        if k <= tol or it == max_iter:
            break
        hess = _gauge(obj, obj.hessian(coef, fisher=fisher))
        d = solve_psd(hess, -g)
        if not np.all(np.isfinite(d)) or g @ d >= 0:
            d = -g
        step = armijo(obj, coef, f, g, d, k)
        if step is None and not np.array_equal(d, -g):
            step = armijo(obj, coef, f, g, -g, k)
        if step is None:
            return _finish(obj, coef, f, g, it, tol, max_iter, "newton", "lbfgs", stall=True)
        coef, f, g = step
    if hess is not None and k <= tol:
        # Iterative refinement with the last Hessian, while it gains digits (a
        # least-squares fit: NIST's Longley 1.8e-7 after one step, 2e-11 after three).
        for _ in range(POLISH_STEPS):
            d = solve_psd(hess, -g)
            # The step is the coefficients' remaining error: once it is negligible
            # the pass over the data that would test it is saved (a well-conditioned
            # fit stops after one step; bench_glm's logistic_l2 made three, +10 %).
            if not np.max(np.abs(d), initial=0.0) > POLISH_NEGLIGIBLE * max(
                1.0, float(np.max(np.abs(coef), initial=0.0))
            ):
                break
            new = _polish(obj, d, coef, f, g, k)
            if new[0] is coef:
                break
            coef, f, g = new
            k = kkt_norm(obj, coef, g)
    return _finish(obj, coef, f, g, it, tol, max_iter, "newton", "lbfgs")


#: Refinement steps with the last Hessian after Newton has converged, at most.
POLISH_STEPS = 3
#: A refinement step below this (relative to the largest coefficient, in the
#: standardised coordinates) is not taken: the coefficients are that accurate.
POLISH_NEGLIGIBLE = 1e-12


def _polish(obj, d, coef, f, g, k):
    """One more Newton step ``d`` with the last Hessian (no new one is formed: a pass
    over the data and a small solve): near the optimum it gains the digits the
    relative tolerance left on ill-conditioned designs (NIST's Longley: 2e-7 →
    1e-11). Kept only if it lowers the KKT residual without raising ``F`` beyond
    rounding."""
    new = coef + d
    with np.errstate(all="ignore"):
        f_new, g_new = obj.value_gradient(new)
    if np.isfinite(f_new) and (f_new <= f or roundoff(f_new, f)) and kkt_norm(obj, new, g_new) < k:
        return new, f_new, g_new
    return coef, f, g


def lbfgs(obj, coef, tol, max_iter, verbose):
    """scipy's L-BFGS-B on ``value_gradient``, finished by :func:`_lbfgs_finish`
    where it stops short of the KKT test."""

    def fun(c):
        with np.errstate(all="ignore"):
            f, g = obj.value_gradient(c)
        return (f, g) if np.isfinite(f) else (np.inf, np.zeros_like(g))

    f, g = fun(coef)
    k = kkt_norm(obj, coef, g)
    _log(verbose, "lbfgs", 0, f, k)
    if k <= tol or max_iter == 0:
        return _finish(obj, coef, f, g, 0, tol, max_iter, "lbfgs", "newton")
    res = minimize(
        fun,
        coef,
        jac=True,
        method="L-BFGS-B",
        options={
            "maxiter": max_iter,
            # scipy tests max |∇F|; the KKT test is max |w_i ∇F_i| ≤ tol.
            "gtol": tol / float(np.max(obj.kkt_weights(coef))),
            "ftol": 0.0,  # stop on the gradient (gtol), not on F's rounding
            "maxcor": _MEMORY,
            "maxls": 50,
        },
    )
    used = max(int(res.nit), 1)
    f_new, g_new = fun(res.x)
    if f_new <= f or roundoff(f_new, f):
        coef, f, g = res.x, f_new, g_new
        k = kkt_norm(obj, coef, g)
    _log(verbose, "lbfgs", used, f, k)
    stall = False
    if k > tol and used < max_iter:
        # scipy's line search needs F to decrease, and stops where the decrease
        # falls below F's rounding: with tol = 1e-8 and F of order one that is
        # where the residual is about tol (F's remaining decrease ~ kkt² / λ).
        # L-BFGS goes on from scipy's curvature pairs, its line search deciding
        # on the directional derivative there.
        # scipy's pairs come from its circular storage, not always oldest first
        # once more than _MEMORY were made: any order of pairs with sᵀy > 0 gives a
        # positive-definite estimate, and the new pairs soon replace them.
        hess_inv = getattr(res, "hess_inv", None)
        pairs = (getattr(hess_inv, "sk", ()), getattr(hess_inv, "yk", ()))
        coef, f, g, k, n, stall = _lbfgs_finish(
            obj, coef, f, g, k, pairs, tol, max_iter - used, verbose, used
        )
        used += n
    return _finish(
        obj, coef, f, g, used, tol, max_iter, "lbfgs", "newton", stall=stall or used < max_iter
    )


#: L-BFGS memory (curvature pairs kept).
_MEMORY = 30


def _two_loop(g, S, Y):
    """``H g`` for the L-BFGS inverse-Hessian estimate of the pairs ``(S, Y)``
    (Nocedal & Wright, Algorithm 7.4), ``H₀ = (sᵀy / yᵀy) I`` from the newest pair."""
    q = g.copy()
    a = []
    for s, y in zip(reversed(S), reversed(Y), strict=True):
        ai = float(s @ q) / float(y @ s)
        q -= ai * y
        a.append(ai)
    if S:
        q *= float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
    for s, y, ai in zip(S, Y, reversed(a), strict=True):
        q += (ai - float(y @ q) / float(y @ s)) * s
    return q


def _lbfgs_finish(obj, coef, f, g, k, pairs, tol, budget, verbose, it0):
    """L-BFGS from ``coef`` with the curvature pairs ``pairs = (S, Y)`` and the line
    search of :func:`_wolfe`, for at most ``budget`` iterations, until the KKT test
    passes; ``(coef, f, g, kkt, iterations, stalled)``."""
    kept = [(s, y) for s, y in zip(*pairs, strict=True) if float(s @ y) > 0]
    S = [np.array(s, dtype=float) for s, _ in kept]
    Y = [np.array(y, dtype=float) for _, y in kept]
    n = 0
    while n < budget and k > tol:
        d = -_two_loop(g, S, Y)
        if not float(g @ d) < 0 or not np.all(np.isfinite(d)):
            S, Y = [], []
            d = -g
        step = _wolfe(obj, coef, f, g, d)
        if step is None and S:  # a poor curvature estimate: start it afresh
            S, Y = [], []
            step = _wolfe(obj, coef, f, g, -g)
        if step is None:
            return coef, f, g, k, n, True
        new, f_new, g_new = step
        n += 1
        s, y = new - coef, g_new - g
        if float(s @ y) > EPS * float(np.sqrt((s @ s) * (y @ y))):
            S.append(s)
            Y.append(y)
            if len(S) > _MEMORY:
                del S[0], Y[0]
        coef, f, g = new, f_new, g_new
        k = kkt_norm(obj, coef, g)
        _log(verbose, "lbfgs", it0 + n, f, k)
    return coef, f, g, k, n, False


def _wolfe(obj, coef, f, g, d, c1=1e-4, c2=0.9, delta=0.1, max_evals=40):
    r"""A step along the descent direction ``d`` meeting the weak Wolfe conditions,
    ``(coef, f, g)`` or None.

    With :math:`φ(t) = F(\text{coef} + t d)`: sufficient decrease
    :math:`φ(t) ≤ φ(0) + c_1 t φ'(0)` and curvature :math:`φ'(t) ≥ c_2 φ'(0)`.
    Where the change of ``F`` is within its rounding error, sufficient decrease is
    judged on the derivative instead (the approximate Wolfe condition of Hager and
    Zhang, 2005, :math:`φ'(t) ≤ (2δ − 1) φ'(0)`, which for a quadratic is the
    sufficient-decrease condition with ``c₁ = δ``): ``∇F`` keeps its relative
    accuracy where ``F``'s decrease is below rounding. The step is bracketed and
    refined by secants on ``φ'``, safeguarded by bisection.
    """
    slope = float(g @ d)
    lo, d_lo, hi, d_hi = 0.0, slope, np.inf, np.nan
    t = 1.0
    for _ in range(max_evals):
        new = coef + t * d
        with np.errstate(all="ignore"):
            f_t, g_t = obj.value_gradient(new)
        dphi = float(g_t @ d)
        if not (np.isfinite(f_t) and np.isfinite(dphi)):
            hi, d_hi = t, np.nan
        elif not (
            f_t <= f + c1 * t * slope or (roundoff(f_t, f) and dphi <= (2 * delta - 1) * slope)
        ):
            hi, d_hi = t, dphi
        elif dphi < c2 * slope:
            lo, d_lo = t, dphi
        else:
            return new, f_t, g_t
        if not np.isfinite(hi):
            t = 2.0 * lo
            continue
        t = 0.5 * (lo + hi)
        if np.isfinite(d_hi) and d_hi > d_lo:
            # Secant on φ' (its zero), kept inside the middle 80 % of the bracket.
            sec = lo - d_lo * (hi - lo) / (d_hi - d_lo)
            t = min(max(sec, lo + 0.1 * (hi - lo)), hi - 0.1 * (hi - lo))
        if hi - lo <= EPS * max(1.0, hi):
            break
    return None


def gd(obj, coef, tol, max_iter, verbose):
    """Gradient descent with backtracking on a Lipschitz estimate (module notes)."""
    L = lipschitz(obj, coef)
    with np.errstate(all="ignore"):
        f, g = obj.value_gradient(coef)
    for it in range(max_iter + 1):
        k = kkt_norm(obj, coef, g)
        if verbose and (it % 100 == 0):
            _log(verbose, "gd", it, f, k)
        if k <= tol or it == max_iter:
            break
        for _ in range(60):
            d = -g / L
            new = coef + d
            with np.errstate(all="ignore"):
                f_new, g_new = obj.value_gradient(new)
            if np.isfinite(f_new):
                dd = float(d @ d)
                bound = f + float(g @ d) + 0.5 * L * dd
                if f_new <= bound or (roundoff(f_new, bound) and float((g_new - g) @ d) <= L * dd):
                    break
            L *= 2.0
        else:
            return _finish(obj, coef, f, g, it, tol, max_iter, "gd", "lbfgs", stall=True)
        coef, f, g = new, f_new, g_new
        L *= 0.9
    return _finish(obj, coef, f, g, it, tol, max_iter, "gd", "lbfgs")
