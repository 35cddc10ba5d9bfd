r"""The objective in standardised coordinates, for the smooth-penalty solvers.

With ``m_j`` and ``d_j`` the weighted mean and standard deviation of column ``j``
the solvers newton, lbfgs, gd and lstsq work in ``v = T⁻¹ coef``,

.. math::

    v_{w_j} = d_j w_j,\qquad v_b = b + \sum_j m_j w_j
    \quad(\text{per class}),

the coordinates of a fit on standardised columns ``(x_j − m_j) / d_j``. Then

.. math::

    \tilde F(v) = F(T v),\qquad ∇\tilde F = Tᵀ ∇F,\qquad ∇^2 \tilde F = Tᵀ ∇^2 F\, T.

``F`` itself — the penalty included — is always evaluated on the user's
coefficients ``T v``, so the penalty stays defined on them. The change of variables
makes a fit invariant to multiplying a column by any constant and to shifting it
(with an intercept), up to rounding: Newton's factorisation and L-BFGS's curvature
pairs see the numbers of the standardised problem whatever the units. Without an
intercept, or for a constant column, ``m_j = 0`` and ``d_j`` is the root mean square.
No copy of ``X`` is made.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

__all__ = ["ScaledObjective", "column_moments"]


def column_moments(obj) -> tuple[np.ndarray, np.ndarray]:
    """``(m, d)``: weighted column means (0 without intercept) and scales (see notes)."""
    rms = obj.col_scale
    p = obj.n_features
    if not obj.fit_intercept or p == 0:
        return np.zeros(p), rms
    s = obj.sample_weight
    mean = np.asarray(obj.X.T @ s).ravel() / obj.weight_sum
    var = rms * rms - mean * mean
    # A (nearly) constant column stays as it is: centring would make it zero.
    ok = var > 1e-10 * rms * rms
    m = np.where(ok, mean, 0.0)
    d = np.where(ok, np.sqrt(np.where(ok, var, 1.0)), rms)
    return m, d


class ScaledObjective:
    """``F(T v)`` with the interface of :class:`GLMObjective` the smooth solvers use.

    Parameters
    ----------
    obj : GLMObjective
        The objective in the user's coefficients (with a smooth penalty).
    """

    def __init__(self, obj):
        self.base = obj
        for name in (
            "loss",
            "penalty",
            "y",
            "sample_weight",
            "fit_intercept",
            "offset",
            "n_samples",
            "n_features",
            "n_scores",
            "n_coef",
            "weight_sum",
            "n_threads",
        ):
            setattr(self, name, getattr(obj, name))
        self.mean, self.scale = column_moments(obj)
        k, p = obj.n_scores, obj.n_features
        self._m = k * p
        m, inv = self.mean, 1.0 / self.scale
        X = obj.X
        n = X.shape[0]
        if obj.fit_intercept:
            # (X − 1 mᵀ) D⁻¹ without a copy of X (gd's Lipschitz estimate uses it).
            def matvec(v):
                u = inv * np.ravel(v)
                return np.asarray(X @ u).ravel() - float(m @ u)

            def rmatvec(r):
                r = np.ravel(r)
                return inv * (np.asarray(X.T @ r).ravel() - m * r.sum())
        else:

            def matvec(v):
                return np.asarray(X @ (inv * np.ravel(v))).ravel()

            def rmatvec(r):
                return inv * np.asarray(X.T @ np.ravel(r)).ravel()

        self.X = LinearOperator((n, p), matvec=matvec, rmatvec=rmatvec, dtype=float)
        self._sparse = sp.issparse(X)

    # The user's coefficients and back.
    def to_user(self, v: np.ndarray) -> np.ndarray:
        k, p, m = self.n_scores, self.n_features, self._m
        W = v[:m].reshape(k, p) / self.scale
        out = np.empty_like(v)
        out[:m] = W.ravel()
        if self.fit_intercept:
            out[m:] = v[m:] - W @ self.mean
        return out

    def from_user(self, coef: np.ndarray) -> np.ndarray:
        k, p, m = self.n_scores, self.n_features, self._m
        W = coef[:m].reshape(k, p)
        out = np.empty_like(coef)
        out[:m] = (W * self.scale).ravel()
        if self.fit_intercept:
            out[m:] = coef[m:] + W @ self.mean
        return out

    def _pull_back(self, g: np.ndarray) -> np.ndarray:
        """``Tᵀ g``."""
        k, p, m = self.n_scores, self.n_features, self._m
        G = g[:m].reshape(k, p)
        out = np.empty_like(g)
        if self.fit_intercept:
            G = G - np.outer(g[m:], self.mean)
            out[m:] = g[m:]
        out[:m] = (G / self.scale).ravel()
        return out

    def _matrix(self) -> np.ndarray:
        """``T`` as a dense matrix (for the Hessian)."""
        k, p, m = self.n_scores, self.n_features, self._m
        T = np.zeros((self.n_coef, self.n_coef))
        idx = np.arange(m)
        T[idx, idx] = np.tile(1.0 / self.scale, k)
        if self.fit_intercept:
            for c in range(k):
                T[m + c, c * p : (c + 1) * p] = -self.mean / self.scale
                T[m + c, m + c] = 1.0
        return T

    def unpack(self, v):
        return self.base.unpack(self.to_user(v))

    def raw_score(self, v):
        return self.base.raw_score(self.to_user(v))

    def value(self, v) -> float:
        return self.base.value(self.to_user(v))

    def value_gradient(self, v):
        f, g = self.base.value_gradient(self.to_user(v))
        return f, self._pull_back(g)

    def gradient(self, v):
        return self.value_gradient(v)[1]

    def kkt_weights(self, v) -> np.ndarray:
        """``1 / G`` for every entry: ``∇F̃`` is already in standardised units."""
        rms = self.base.gradient_rms(self.to_user(v))
        return np.full(self.n_coef, 1.0 / (max(1.0, rms) if np.isfinite(rms) else 1.0))

    def hessian(self, v, *, fisher: bool = False):
        h = self.base.hessian(self.to_user(v), fisher=fisher)
        if not self.fit_intercept:
            inv = np.r_[np.tile(1.0 / self.scale, self.n_scores)]
            return h * inv[:, None] * inv[None, :]
        T = self._matrix()
        return T.T @ h @ T
