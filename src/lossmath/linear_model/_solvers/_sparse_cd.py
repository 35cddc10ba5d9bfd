r"""The working-set model of ``cd`` solved on the columns of a sparse ``X`` (numba).

``cd``'s outer step minimises, over the working set ``W`` and the intercept,

.. math::

    q(d) = gᵀd + \tfrac12 dᵀ \Bigl(\tfrac1S X̃ᵀ \operatorname{diag}(h) X̃
           + λ_2 I_w\Bigr) d + λ_1 \lVert w + d_w \rVert_1,
    \qquad X̃ = [X_W\; 1].

The dense route forms that Hessian, ``|W|²`` entries from a sparse product, and
pays ``O(|W|)`` per coordinate step. Here nothing of size ``|W|²`` exists: the
intercept is eliminated as in the dense route (its optimum for fixed ``d_w`` is
``d_b = −g_b S / Σh − μᵀ d_w``, ``μ_j = X_jᵀ h / Σh``), which leaves CD on the
*weighted-centred* columns ``X_j − μ_j``:

.. math::

    a_j = \tilde g_j + \tfrac1S \bigl(X_jᵀ (h ⊙ u) − m\, μ_j Σh\bigr) + λ_2 d_j,
    \qquad c_j = \tfrac1S \bigl(X_jᵀ (h ⊙ X_j) − μ_j^2 Σh\bigr) + λ_2,

with ``g̃_j = g_j − μ_j g_b``, ``u = X_W d_w`` kept up to date (``O(nnz_j)`` per
step) and the scalar ``m = μᵀ d_w`` (the centring of ``u``: ``X̃_jᵀ h`` of a
centred column is zero, so the intercept never has to be touched inside the
loop). Each coordinate step costs two passes over the column's non-zeros, as in
skglm's and glmnet's sparse CD. Sweeps follow glmnet: all of ``W``, then only its
non-zeros until they are solved, then all again; a sweep ends the loop when no
coordinate it visited violated its optimality condition by more than ``tol``.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

__all__ = ["sparse_model_step"]

# cache: plain module-level functions, so numba keeps their machine code on disk
# (the package's __pycache__, else a per-user cache) and later processes skip
# the ~3 s compile.
_OPTIONS = {"nogil": True, "error_model": "numpy", "cache": True}


@numba.njit(**_OPTIONS)
def _sweep(coords, indptr, indices, data, h, grad, w, mu, curv, hsum, l1, l2, scale, d, u, m):
    """One pass of CD over ``coords``; returns ``(largest violation seen, m)``."""
    worst = 0.0
    for k in coords:
        c = curv[k]
        if not c > 0.0:
            continue
        start, stop = indptr[k], indptr[k + 1]
        dot = 0.0
        for p in range(start, stop):
            i = indices[p]
            dot += data[p] * h[i] * u[i]
        a = grad[k] + (dot - m * mu[k] * hsum) / scale + l2 * d[k]
        x = w[k] + d[k]
        if x > 0.0:
            viol = abs(a + l1)
        elif x < 0.0:
            viol = abs(a - l1)
        else:
            viol = max(abs(a) - l1, 0.0)
        worst = max(worst, viol)
        v = x - a / c
        t = l1 / c
        new = v - t if v > t else (v + t if v < -t else 0.0)
        delta = new - x
        if delta != 0.0:
            d[k] += delta
            for p in range(start, stop):
                u[indices[p]] += delta * data[p]
            m += mu[k] * delta
    return worst, m


@numba.njit(**_OPTIONS)
def _model_cd(indptr, indices, data, h, grad, w, mu, curv, hsum, l1, l2, scale, tol, max_cycles):
    """``(d_w, m)`` minimising the centred model (see the module notes)."""
    n_ws = grad.shape[0]
    d = np.zeros(n_ws)
    u = np.zeros(h.shape[0])
    m = 0.0
    everything = np.arange(n_ws)
    for _ in range(max_cycles):
        worst, m = _sweep(
            everything, indptr, indices, data, h, grad, w, mu, curv, hsum, l1, l2, scale, d, u, m
        )
        if worst <= tol:
            break
        active = np.flatnonzero(w + d != 0.0)
        for _ in range(max_cycles):
            worst, m = _sweep(
                active, indptr, indices, data, h, grad, w, mu, curv, hsum, l1, l2, scale, d, u, m
            )
            if worst <= tol:
                break
    return d, m


def sparse_model_step(X_ws, h, grad, coef, l1, l2, scale, fit_intercept, tol, max_cycles=1000):
    """Minimiser ``d`` of the working-set model for one score, sparse ``X``.

    Parameters
    ----------
    X_ws : sparse matrix of shape (n, |W|)
        The working set's columns.
    h : ndarray of shape (n,)
        Curvature weights ``s ⊙ ℓ''`` (or the Fisher weights), all ``≥ 0``.
    grad : ndarray of shape (|W| + fit_intercept,)
        Gradient of the smooth part on ``W`` (then the intercept).
    coef : ndarray, like ``grad``
        The current coefficients there.
    l1, l2 : float
        The L1 and L2 strengths.
    scale : float
        ``S = Σ s``, the objective's normaliser.
    fit_intercept : bool
    tol : float
        Stop when a sweep sees no coordinate violating its optimality by more.

    Returns
    -------
    ndarray, like ``grad``
        The step, intercept last.
    """
    X_ws = sp.csc_matrix(X_ws)
    X_ws.sort_indices()
    n_ws = X_ws.shape[1]
    squares = X_ws.multiply(X_ws).T @ h
    g = np.array(grad[:n_ws], dtype=float)
    hsum = float(h.sum())
    if fit_intercept and hsum > 0:
        mu = np.asarray(X_ws.T @ h).ravel() / hsum
        g -= mu * grad[n_ws]  # g̃ = g_w − H_wb g_b / H_bb, and H_wb / H_bb = μ
        curv = (squares - mu * mu * hsum) / scale + l2
    else:
        mu = np.zeros(n_ws)
        curv = squares / scale + l2
    # A column that is constant once centred (or unweighted) cannot move the model.
    curv = np.where(curv > 1e-12 * np.max(curv, initial=0.0), curv, 0.0)
    d_w, m = _model_cd(
        X_ws.indptr.astype(np.int64),
        X_ws.indices.astype(np.int64),
        X_ws.data.astype(np.float64),
        np.ascontiguousarray(h, dtype=np.float64),
        g,
        np.ascontiguousarray(coef[:n_ws], dtype=np.float64),
        mu,
        np.ascontiguousarray(curv),
        hsum,
        float(l1),
        float(l2),
        float(scale),
        float(tol),
        int(max_cycles),
    )
    if not fit_intercept:
        return d_w
    d_b = -(grad[n_ws] * scale / hsum) - m if hsum > 0 else 0.0
    return np.r_[d_w, d_b]
