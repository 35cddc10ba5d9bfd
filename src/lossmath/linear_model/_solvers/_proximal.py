r"""Solvers for any penalty, L1 part included: fista and cd.

Write :math:`F = f + P` with the data term :math:`f` and the penalty :math:`P`.

* ``fista`` — accelerated proximal gradient:
  :math:`x^+ = \operatorname{prox}_{P/L}(y − ∇f(y)/L)` (the intercept is not
  penalised: a plain gradient step), momentum
  :math:`y = x^+ + \frac{t_k − 1}{t_{k+1}}(x^+ − x)`; ``L`` is found by backtracking
  on :math:`f(x^+) ≤ f(y) + ∇f(y)ᵀd + \tfrac{L}{2}‖d‖²`; the momentum restarts
  when it points uphill (O'Donoghue & Candès' gradient test) or ``F`` rises.
* ``cd`` — proximal Newton (glmnet / skglm style). Outer step: the quadratic model
  of the smooth part :math:`f_s = f + \tfrac12 α(1−ρ)‖w‖²` on a *working set* W of
  features (the non-zero ones plus the worst KKT violators),

  .. math::

      q(d) = ∇f_sᵀ d + \tfrac12 dᵀ ∇²f_s d + αρ ‖w + d_w‖_1,

  minimised by cyclic coordinate descent on the small dense model (covariance
  updates: each coordinate step costs O(|W|), not O(n)), then a backtracking line
  search on the full :math:`F` (Tseng & Yun's rule with
  :math:`Δ = ∇f_sᵀd + αρ(‖w + d_w‖_1 − ‖w‖_1)`). The model Hessian is the exact
  one for convex losses, the Fisher one otherwise. X may be dense or
  ``scipy.sparse``; features outside W enter through the raw score only. On a
  dense ``X`` (or several scores) the model's Hessian is formed and CD steps cost
  ``O(|W|)``; on a sparse ``X`` with one score the model is solved on ``X``'s
  columns instead (:mod:`._sparse_cd`: ``O(nnz_j)`` a step, nothing ``|W|²``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lossmath.linear_model._objective import GLMObjective
from lossmath.linear_model._solvers._common import (
    SolverResult,
    advice,
    kkt_vector,
    l1_l2,
    lipschitz,
    loss_kw,
    n_w,
    roundoff,
    stalled,
)
from lossmath.linear_model._solvers._scaled import ScaledObjective
from lossmath.linear_model._solvers._sparse_cd import sparse_model_step

__all__ = ["cd", "fista"]


def _result(obj, coef, f, kv, it, tol, max_iter, name, other, stall):
    k = float(np.max(np.abs(kv))) if kv.size else 0.0
    if k <= tol:
        msg = f"{name} converged: KKT residual {k:.3g} <= tol={tol:.3g}"
    elif stall:
        msg = stalled(name, k, tol)
    else:
        msg = advice(name, max_iter, k, tol, other)
    return SolverResult(coef, it, k <= tol, float(f), k, name, msg)


def fista(obj, coef, tol, max_iter, verbose):
    r"""Accelerated proximal gradient with backtracking and adaptive restart.

    Runs in the standardised coordinates of :class:`ScaledObjective`
    (:math:`v_j = d_j w_j`), so its speed does not depend on the units of the
    columns. The penalty stays defined on the user's coefficients: in ``v`` it is
    :math:`\sum_j αρ |v_j| / d_j + \tfrac12 α(1 − ρ) v_j^2 / d_j^2`, separable with
    per-coordinate weights, and the prox is the weighted one,

    .. math::

        \operatorname{prox}(u)_j = \frac{\operatorname{sign}(u_j)
        \max(|u_j| − t αρ / d_j, 0)}{1 + t α(1 − ρ) / d_j^2}.

    ``coef`` and the result are in the user's coordinates; the KKT residual is the
    user's (relative, hence the same in either coordinates).
    """
    scaled = ScaledObjective(obj)
    base = obj
    m = n_w(obj)
    l1, l2 = l1_l2(obj)
    inv = np.tile(1.0 / scaled.scale, obj.n_scores)
    l1w, l2w = l1 * inv, l2 * inv * inv
    to_user = scaled.to_user

    def data(v):
        """``(F, f, ∇f, kkt)`` at ``v``: objective, data term, its gradient in ``v``,
        the relative KKT vector (user's coordinates)."""
        c = to_user(v)
        with np.errstate(all="ignore"):
            F, g = base.value_gradient(c)
        gv = scaled._pull_back(g)
        gv[:m] -= l2w * v[:m]
        return F, F - base.penalty.value(c[:m]), gv, g

    def prox(u, step):
        out = u.copy()
        w = u[:m]
        out[:m] = np.sign(w) * np.maximum(np.abs(w) - step * l1w, 0.0) / (1.0 + step * l2w)
        return out

    L = max(lipschitz(scaled, scaled.from_user(coef)) - l2, 1e-12)
    x = scaled.from_user(coef)
    F_x, f_x, g_x, gu = data(x)
    kv = kkt_vector(base, to_user(x), gu)
    y, f_y, g_y, t = x, f_x, g_x, 1.0
    stall = False
    it = 0
    for it in range(max_iter + 1):
        k = float(np.max(np.abs(kv))) if kv.size else 0.0
        if verbose and it % 50 == 0:
            print(f"[fista] iter {it:4d}  F = {F_x:.12g}  kkt = {k:.3e}")
        if k <= tol or it == max_iter:
            break
        for _ in range(60):
            x_new = prox(y - g_y / L, 1.0 / L)
            d = x_new - y
            F_new, f_new, g_new, gu_new = data(x_new)
            if np.isfinite(F_new):
                dd = float(d @ d)
                bound = f_y + float(g_y @ d) + 0.5 * L * dd
                if f_new <= bound or (
                    roundoff(f_new, bound) and float((g_new - g_y) @ d) <= L * dd
                ):
                    break
            L *= 2.0
        else:
            stall = True
            break
        kv = kkt_vector(base, to_user(x_new), gu_new)
        if float((y - x_new) @ (x_new - x)) > 0 or F_new > F_x:
            t_new, y, f_y, g_y = 1.0, x_new, f_new, g_new
        else:
            t_new = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
            y = x_new + (t - 1) / t_new * (x_new - x)
            _, f_y, g_y, _ = data(y)
        x, F_x, t = x_new, F_new, t_new
        L *= 0.95
    out = coef if it == 0 else to_user(x)
    return _result(obj, out, F_x, kv, it, tol, max_iter, "fista", "cd", stall)


#: Sweeps (full or over the active set) one model minimisation may take in all: the
#: model is only a step direction, and the outer line search copes with an inexact
#: one; without the cap an unreachable tolerance or a flat direction (duplicated
#: columns) made this pure-Python loop run for minutes.
MAX_MODEL_SWEEPS = 200


def _model_cd(H, g, w, l1, tol, max_cycles=MAX_MODEL_SWEEPS):
    r"""Minimise :math:`gᵀd + ½ dᵀHd + l1 ‖w + d‖_1` by cyclic CD.

    After each full sweep, sweeps only the non-zero coordinates until they are
    solved (glmnet's active-set cycling), then sweeps all again to check.
    ``tol`` is a scalar or one tolerance per coordinate; at most ``max_cycles``
    sweeps in all.
    """
    n = len(g)
    d = np.zeros(n)
    Hd = np.zeros(n)
    diag = np.diag(H).copy()
    live = diag > 0

    def sweep(coords):
        for i in coords:
            c = diag[i]
            u = w[i] + d[i]
            v = u - (g[i] + Hd[i]) / c
            delta = (v - l1 / c if v > l1 / c else v + l1 / c if v < -l1 / c else 0.0) - u
            if delta != 0.0:
                d[i] += delta
                Hd[:] += H[i] * delta  # H is symmetric; a row is contiguous

    def violation():
        a = g + Hd
        u = w + d
        viol = np.where(u != 0, a + l1 * np.sign(u), np.sign(a) * np.maximum(np.abs(a) - l1, 0))
        return np.where(live, np.abs(viol), 0.0)

    tol = np.broadcast_to(np.asarray(tol, dtype=float), (n,))
    everything = np.flatnonzero(live).tolist()
    budget = max_cycles
    while budget > 0:
        sweep(everything)
        budget -= 1
        if np.all(violation() <= tol):
            break
        active = np.flatnonzero(live & (w + d != 0)).tolist()
        while budget > 0:
            sweep(active)
            budget -= 1
            if np.all(violation()[active] <= tol[active]):
                break
    return d


def _model_step(H, g, coef, n_pen, l1, tol):
    """Minimiser ``d`` of the working-set model; the first ``n_pen`` entries are ``w``.

    The unpenalised entries (intercepts) are eliminated first — for fixed ``d_w``
    the model is minimised by ``d_b = −H_bb⁺ (g_b + H_bw d_w)`` — so CD runs on the
    Schur complement. That is the model's version of centring ``X``: without it CD
    crawls along the direction trading the intercept against features with a
    large mean.
    """
    if l1 == 0:
        # No L1 part: the model's minimiser is the Newton step, solved directly
        # (CD crawls on an ill-conditioned H, e.g. NIST's Longley).
        from lossmath.linear_model._solvers._smooth import solve_psd

        return solve_psd(H, -g)
    tol = np.broadcast_to(np.asarray(tol, dtype=float), (len(g),))
    if n_pen == len(g):
        return _model_cd(H, g, coef, l1, tol)
    w, b = slice(0, n_pen), slice(n_pen, None)
    # A relative cutoff: the multinomial's intercept block is singular (its rows sum
    # to zero) and its rounding-level eigenvalue must not be inverted.
    Hbb_pinv = np.linalg.pinv(H[b, b], rcond=1e-10, hermitian=True)
    coupling = H[w, b] @ Hbb_pinv
    d = np.empty_like(g)
    d[w] = _model_cd(H[w, w] - coupling @ H[b, w], g[w] - coupling @ g[b], coef[w], l1, tol[w])
    d[b] = -Hbb_pinv @ (g[b] + H[b, w] @ d[w])
    return d


def center_classes(w: np.ndarray, l1: float, l2: float) -> np.ndarray:
    r"""Shift each column of the ``(K, p)`` coefficients by the constant that
    minimises its penalty: :math:`c_j = \arg\min_c \sum_k l_1 |w_{kj} − c| +
    \tfrac12 l_2 (w_{kj} − c)^2`, returned as ``w − c``.

    The multinomial's data term does not change when a constant is added to a
    feature's ``K`` coefficients (the softmax is invariant to it), so the penalty
    alone decides that shift (Friedman, Hastie & Tibshirani, 2010, §4: the median
    for the lasso, the mean for ridge). Proximal Newton finds it only slowly: the
    model's curvature along the shift is the penalty's alone — none for the lasso —
    and with a column in large units a KKT residual of ``tol`` leaves it free over
    a wide range (thousands of steps on columns 10^±6 apart). Solved exactly
    here: ``c ↦ Σ_k …`` is convex and piecewise quadratic with kinks at the
    ``w_{kj}``, so its minimiser is a kink or, between two consecutive kinks with
    ``m`` of the ``K`` below, the stationary point ``(Σ_k w_{kj} − (2m − K) l_1 /
    l_2) / K`` clipped to that interval; the best of these candidates is taken.
    """
    k = w.shape[0]
    a = np.sort(w, axis=0)
    cands = [a]
    if l2 > 0:
        lo = np.vstack([np.full((1, a.shape[1]), -np.inf), a])
        hi = np.vstack([a, np.full((1, a.shape[1]), np.inf)])
        m = np.arange(k + 1)[:, None]
        c = (a.sum(axis=0) - (2 * m - k) * l1 / l2) / k
        cands.append(np.clip(c, lo, hi))
    cands = np.vstack(cands)  # (n_candidates, p)
    dev = w[None, :, :] - cands[:, None, :]
    cost = l1 * np.abs(dev).sum(axis=1) + 0.5 * l2 * (dev * dev).sum(axis=1)
    best = cands[np.argmin(cost, axis=0), np.arange(w.shape[1])]
    return w - best


def _curvature(obj, coef, fisher):
    """``h = s ⊙ ℓ''`` at ``coef`` (the Fisher weights for a non-convex loss), ``≥ 0``."""
    z = obj.raw_score(coef)
    method = obj.loss.fisher_diagonal if fisher else obj.loss.hessian_diagonal
    with np.errstate(all="ignore"):
        h = method(obj.y, z, obj.sample_weight, **loss_kw(obj))
    return np.where(np.isfinite(h), np.maximum(h, 0.0), 0.0)


def _recenter(obj, coef, F, g, l1, l2):
    """``coef`` with its classes centred (:func:`center_classes`) where that lowers
    ``F`` (it changes the data term by rounding only); ``(coef, F, g)``."""
    k, p = obj.n_scores, obj.n_features
    m = k * p
    w = center_classes(coef[:m].reshape(k, p), l1, l2)
    new = coef.copy()
    new[:m] = w.ravel()
    if np.array_equal(new, coef):
        return coef, F, g
    with np.errstate(all="ignore"):
        F_new, g_new = obj.value_gradient(new)
    if np.isfinite(F_new) and F_new < F:
        return new, F_new, g_new
    return coef, F, g


def cd(obj, coef, tol, max_iter, verbose):
    """Proximal Newton with CD on the working-set model (see the module notes)."""
    k_cls, p = obj.n_scores, obj.n_features
    m = n_w(obj)
    l1, _l2 = l1_l2(obj)
    fisher = not obj.loss.is_convex
    X = obj.X.tocsc() if sp.issparse(obj.X) else obj.X
    with np.errstate(all="ignore"):
        F, g = obj.value_gradient(coef)
    # The multinomial's per-feature shift, set by the penalty alone (center_classes).
    recenter = k_cls > 1 and p > 0 and l1 + _l2 > 0
    if recenter:
        coef, F, g = _recenter(obj, coef, F, g, l1, _l2)
    kv = kkt_vector(obj, coef, g)
    ws_size = 10
    stall = False
    idle = 0
    it = 0
    for it in range(max_iter + 1):
        k = float(np.max(np.abs(kv)))
        if verbose:
            print(f"[cd] iter {it:4d}  F = {F:.12g}  kkt = {k:.3e}  |W| = {ws_size}")
        if k <= tol or it == max_iter:
            break
        # Working set: non-zero features and the worst violators.
        viol = np.abs(kv[:m]).reshape(k_cls, p).max(axis=0)
        nonzero = (coef[:m].reshape(k_cls, p) != 0).any(axis=0)
        score = np.where(nonzero, np.inf, viol)
        ws_size = min(p, max(ws_size, 2 * int(nonzero.sum()), 10))
        order = np.argsort(-score, kind="stable")[:ws_size]
        W = np.sort(order[score[order] > 0])
        idx = np.concatenate([c * p + W for c in range(k_cls)]).astype(int)
        if obj.fit_intercept:
            idx = np.r_[idx, m + np.arange(k_cls)]
        sub_coef = coef[idx]
        # The KKT residual is relative (entry i times kkt_weights[i]); the model's
        # CD tests absolute gradients, one tolerance per coordinate.
        inner_tol = max(0.3 * tol, 1e-3 * k) / obj.kkt_weights(coef)[idx]
        if sp.issparse(X) and k_cls == 1:
            d_sub = sparse_model_step(
                X[:, W],
                _curvature(obj, coef, fisher),
                g[idx],
                sub_coef,
                l1,
                _l2,
                obj.weight_sum,
                obj.fit_intercept,
                float(np.min(inner_tol)),
            )
        else:
            sub = GLMObjective(
                obj.loss,
                obj.penalty,
                X[:, W],
                obj.y,
                obj.sample_weight,
                obj.fit_intercept,
                n_threads=obj.n_threads,
            )
            sub.offset = obj.raw_score(coef) - sub.raw_score(sub_coef)
            H = sub.hessian(sub_coef, fisher=fisher)
            d_sub = _model_step(H, g[idx], sub_coef, k_cls * W.size, l1, inner_tol)
        d = np.zeros_like(coef)
        d[idx] = d_sub
        w = coef[:m]
        delta = float(g @ d) + l1 * (np.abs(w + d[:m]).sum() - np.abs(w).sum())
        accepted = None
        if np.any(d != 0):
            t = 1.0
            for _ in range(50):
                new = coef + t * d
                with np.errstate(all="ignore"):
                    F_new, g_new = obj.value_gradient(new)
                if np.isfinite(F_new):
                    if F_new <= F + 1e-4 * t * min(delta, 0.0):
                        accepted = new
                        break
                    if roundoff(F_new, F + 1e-4 * t * min(delta, 0.0)):
                        kv_new = kkt_vector(obj, new, g_new)
                        if np.max(np.abs(kv_new)) < k:
                            accepted = new
                            break
                        if F_new >= F:
                            # No decrease of F nor of the residual: the limit of
                            # float64 for this problem (an unreachable tol).
                            break
                t *= 0.5
        if accepted is None:
            if W.size < p and ws_size < p:
                ws_size = min(p, 2 * ws_size)
                continue
            stall = True
            break
        progress = F_new < F
        coef, F, g = accepted, F_new, g_new
        if recenter:
            coef, F, g = _recenter(obj, coef, F, g, l1, _l2)
        kv = kkt_vector(obj, coef, g)
        if progress or float(np.max(np.abs(kv))) < k:
            idle = 0
        else:
            idle += 1
            if idle >= 3:  # neither F nor the residual moves: float64's limit
                stall = True
                break
        ws_size = max(10, 2 * int((coef[:m].reshape(k_cls, p) != 0).any(axis=0).sum()))
    return _result(obj, coef, F, kv, it, tol, max_iter, "cd", "fista", stall)
