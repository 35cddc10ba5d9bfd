r"""Frisch–Newton interior point for weighted quantile-type regression (no L2 part).

A piecewise-linear loss with kink ``κᵢ`` and slopes ``a⁻ᵢ < a⁺ᵢ`` is, per sample,
``sᵢ max(a⁻ᵢ tᵢ, a⁺ᵢ tᵢ) = cᵢ ρ_{τᵢ}(uᵢ − x̃ᵢ·β)`` with ``tᵢ = x̃ᵢ·β + oᵢ − κᵢ``,
``uᵢ = κᵢ − oᵢ``, ``cᵢ = sᵢ (a⁺ᵢ − a⁻ᵢ)``, ``τᵢ = −a⁻ᵢ / (a⁺ᵢ − a⁻ᵢ)`` and the check
function ``ρ_τ(r) = r (τ − 1[r < 0])``. As ``ρ_τ`` is positively homogeneous the
weights scale the rows: ``X̂ = diag(c) X̃``, ``û = c u``. An L1 term ``λ |wⱼ|`` is
one more such row, ``2λ ρ_{1/2}(0 − wⱼ)``. The problem is then the linear programme
of quantile regression, solved through its dual (Koenker and Portnoy, 1997),

.. math::

    \max_a\; û^\top a \quad\text{s.t.}\quad X̂^\top a = X̂^\top (1 − τ),\; 0 ≤ a ≤ 1,

by Mehrotra's predictor–corrector primal–dual interior-point method (the
``rq.fit.fnb`` algorithm of R's quantreg). Each iteration forms the
``m × m`` matrix ``X̂ᵀ diag(q) X̂`` block by block (memory ``O(n m)``, time
``O(n m²)``), factors it once and solves twice; 20–40 iterations reach a duality
gap of ``10⁻¹⁰`` relative. The interior start ``a = 1 − τ`` needs ``0 < τ < 1``:
slopes with ``τ ∈ {0, 1}`` (the hinge) are moved ``10⁻⁶`` inside, which the exact
crossover in :mod:`._kinked` then undoes.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.linalg import cho_factor, cho_solve

__all__ = ["frisch_newton"]

#: Rows per block when forming ``X̂ᵀ diag(q) X̂`` (bounds the temporary memory).
BLOCK_ROWS = 2048


def _gram(A, q):
    """``Aᵀ diag(q) A`` block by block."""
    m = A.shape[1]
    G = np.zeros((m, m))
    for start in range(0, A.shape[0], BLOCK_ROWS):
        blk = A[start : start + BLOCK_ROWS]
        G += blk.T @ (blk * q[start : start + BLOCK_ROWS, None])
    return G


def _factor(G):
    """Cholesky of ``G`` with a tiny ridge if it is numerically singular."""
    ridge = 0.0
    scale = max(float(np.max(np.abs(np.diag(G)))), 1e-300)
    for _ in range(8):
        try:
            return cho_factor(G + ridge * np.eye(G.shape[0]), check_finite=False)
        except np.linalg.LinAlgError:
            ridge = scale * 1e-14 if ridge == 0 else ridge * 100
    raise np.linalg.LinAlgError("frisch_newton: the normal equations are singular")


@numba.njit(nogil=True)
def _step(v, dv):
    """Largest step ``f ≤ 1e20`` keeping ``v + f dv ≥ 0``.

    One fused pass: the NumPy form (a mask, two gathers, a division, a minimum)
    made five passes and three temporaries of length ``n``, four times an iteration.
    """
    best = 1e20
    for i in range(v.shape[0]):
        if dv[i] < 0:
            ratio = -v[i] / dv[i]
            if ratio < best:
                best = ratio
    return best


def frisch_newton(A, u, tau, *, tol=1e-10, max_iter=100, beta=0.99995):
    """``(β, n_iter, converged)`` minimising ``Σᵢ ρ_{τᵢ}(uᵢ − Aᵢ·β)`` (module notes).

    Parameters
    ----------
    A : ndarray of shape (n, m)
        Rows already scaled by their weights.
    u : ndarray of shape (n,)
        Targets already scaled by their weights.
    tau : ndarray of shape (n,)
        Per-row levels, strictly inside (0, 1).
    tol : float
        Stop when the duality gap is at most ``tol (1 + |primal|)``.
    """
    n = A.shape[0]
    c = -u
    x = 1.0 - tau
    s = 1.0 - x
    b = A.T @ x
    G = _gram(A, np.ones(n))
    y = cho_solve(_factor(G), A.T @ c, check_finite=False)
    r = c - A @ y
    delta = 1e-8 * max(float(np.max(np.abs(r))), 1e-300)
    z = np.maximum(r, 0.0) + delta
    w = np.maximum(-r, 0.0) + delta
    it = 0
    gap = float(c @ x - y @ b + w.sum())
    while it < max_iter:
        if gap <= tol * (1.0 + abs(float(c @ x))):
            return -y, it, True
        it += 1
        q = 1.0 / (z / x + w / s)
        r = z - w
        fac = _factor(_gram(A, q))
        dy = cho_solve(fac, A.T @ (q * r), check_finite=False)
        dx = q * (A @ dy - r)
        ds = -dx
        dz = -z * (dx / x + 1.0)
        dw = -w * (ds / s + 1.0)
        fp = min(beta * min(_step(x, dx), _step(s, ds)), 1.0)
        fd = min(beta * min(_step(w, dw), _step(z, dz)), 1.0)
        if min(fp, fd) < 1.0:
            # Mehrotra's corrector, on the same factorisation.
            mu = float(z @ x + w @ s)
            g = float((z + fd * dz) @ (x + fp * dx) + (w + fd * dw) @ (s + fp * ds))
            mu = mu * (g / mu) ** 3 / (2 * n)
            dxdz, dsdw = dx * dz, ds * dw
            xinv, sinv = 1.0 / x, 1.0 / s
            xi = mu * (xinv - sinv)
            dy = cho_solve(fac, A.T @ (q * (r + dxdz - dsdw - xi)), check_finite=False)
            dx = q * (A @ dy + xi - r - dxdz + dsdw)
            ds = -dx
            dz = mu * xinv - z - xinv * z * dx - dxdz
            dw = mu * sinv - w - sinv * w * ds - dsdw
            fp = min(beta * min(_step(x, dx), _step(s, ds)), 1.0)
            fd = min(beta * min(_step(w, dw), _step(z, dz)), 1.0)
        x = x + fp * dx
        s = s + fp * ds
        y = y + fd * dy
        w = w + fd * dw
        z = z + fd * dz
        gap = float(c @ x - y @ b + w.sum())
    return -y, it, gap <= tol * (1.0 + abs(float(c @ x)))
