r"""Newton's method for a smoothed kinked loss with an L2 penalty, on the elbow rows only.

The Moreau envelope of a kinked loss (:mod:`._kinked`) has curvature ``1/μ`` on
the elbow ``μ a⁻ᵢ < tᵢ < μ a⁺ᵢ`` and none elsewhere, so the Hessian of

.. math::

    F_μ(β) = \frac{1}{S} \sum_i s_i ℓ_μ(t_i) + \frac{λ}{2} \lVert w \rVert^2,
    \qquad t = X̃ β + o − κ,

is ``(1/(S μ)) X̃_Eᵀ diag(s_E) X̃_E + λ diag(1, …, 1, 0)`` over the elbow rows ``E``
alone: as ``μ`` shrinks, few rows, and a Newton step costs two passes over ``X``
(``O(n p)``) plus ``O(|E| p²)`` — the finite Newton method of linear SVMs
(Keerthi and DeCoste, 2005). ``F_μ`` is piecewise quadratic, so the exact line
search along the precomputed ``X̃ d`` costs ``O(n)`` a trial.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["smoothed_newton"]


def _design_apply(obj, beta):
    """``X̃ β`` (without offset)."""
    p = obj.n_features
    out = np.asarray(obj.X @ beta[:p]).ravel()
    return out + beta[p] if obj.fit_intercept else out


def _exact_step(t, Xd, sw, lo, hi, mu, bd, dd):
    """The minimiser ``η ≥ 0`` of ``F_μ(β + η d)``: the root of its derivative

    ``φ'(η) = Σ swᵢ clip((tᵢ + η Xdᵢ)/μ, lo, hi) Xdᵢ + bd + η dd``, nondecreasing and
    piecewise linear in ``η`` (``F_μ`` is convex and piecewise quadratic), by
    safeguarded secant (regula falsi, Illinois) from ``[0, 1]`` widened as needed.
    """

    def slope(eta):
        return float(sw @ (np.clip((t + eta * Xd) / mu, lo, hi) * Xd)) + bd + eta * dd

    a, fa = 0.0, slope(0.0)
    if fa >= 0:
        return 0.0
    b, fb = 1.0, slope(1.0)
    while fb < 0 and b < 1e6:
        a, fa, b = b, fb, 2.0 * b
        fb = slope(b)
    if fb <= 0:
        return b
    side = 0
    for _ in range(60):
        c = b - fb * (b - a) / (fb - fa)
        fc = slope(c)
        if abs(fc) <= 1e-14 * (abs(fa) + abs(fb)) or b - a <= 1e-12 * b:
            return c
        if fc < 0:
            a, fa = c, fc
            if side == -1:
                fb /= 2
            side = -1
        else:
            b, fb = c, fc
            if side == 1:
                fa /= 2
            side = 1
    return 0.5 * (a + b)


def smoothed_newton(obj, coef, kinks, mu, tol, max_iter, stop=None):
    """``(coef, n_iter)``: ``argmin F_μ`` to a gradient max-norm of ``tol`` (module notes).

    ``stop(beta)``, if given, is asked after each step while the elbow holds at most
    ``2 (p + 1) + 10`` rows; True ends the loop (the caller has its exact answer).
    """
    kappa, lo, hi, _ = kinks
    p, S, s = obj.n_features, obj.weight_sum, obj.sample_weight
    lam = obj.penalty.alpha * (1.0 - obj.penalty.l1_ratio)
    shift = (0.0 if obj.offset is None else obj.offset) - kappa
    X = obj.X
    penal = np.zeros(coef.size)
    penal[:p] = lam

    def value(t, beta):
        a = np.clip(t / mu, lo, hi)
        return float(s @ (a * t - 0.5 * mu * a * a)) / S + 0.5 * lam * float(beta[:p] @ beta[:p])

    beta = coef.copy()
    t = _design_apply(obj, beta) + shift
    f = value(t, beta)
    for it in range(1, max_iter + 1):
        a = np.clip(t / mu, lo, hi)
        sa = s * a / S
        grad = penal * beta
        grad[:p] += np.asarray(X.T @ sa).ravel()
        if obj.fit_intercept:
            grad[p] += sa.sum()
        if np.max(np.abs(grad)) <= tol:
            return beta, it - 1
        E = (t > mu * lo) & (t < mu * hi)
        if stop is not None and E.sum() <= 2 * (p + 1) + 10 and stop(beta):
            return beta, it - 1
        XE = X[E]
        XE = XE.toarray() if sp.issparse(XE) else np.asarray(XE)
        if obj.fit_intercept:
            XE = np.column_stack([XE, np.ones(XE.shape[0])])
        H = XE.T @ (XE * (s[E] / (S * mu))[:, None]) + np.diag(penal)
        H[np.diag_indices_from(H)] += 1e-12 * max(1.0, float(np.max(np.diag(H))))
        d = -np.linalg.solve(H, grad)
        Xd = _design_apply(obj, d)
        step = _exact_step(t, Xd, s / S, lo, hi, mu, lam * float(beta[:p] @ d[:p]),
                           lam * float(d[:p] @ d[:p]))  # fmt: skip
        t_new = t + step * Xd
        f_new = value(t_new, beta + step * d)
        if not f_new < f:  # no descent at machine precision: the minimum
            return beta, it
        beta, t, f = beta + step * d, t_new, f_new
    return beta, max_iter
