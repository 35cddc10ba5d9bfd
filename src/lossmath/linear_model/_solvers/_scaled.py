r"""The objective in column-scaled coordinates, for the smooth-penalty solvers.

With ``d_j`` the root weighted mean square of column ``j``
(:attr:`GLMObjective.col_scale`) the solvers newton, lbfgs, gd and lstsq work in
``v = D coef`` (``D = diag(d)`` on ``w``, 1 on the intercepts):

.. math::

    \tilde F(v) = F(D^{-1} v),\qquad ∇\tilde F = D^{-1} ∇F,\qquad
    ∇^2 \tilde F = D^{-1} ∇^2 F D^{-1}.

``F`` itself — the penalty included — is always evaluated on the user's
coefficients ``D^{-1} v``, so the penalty stays defined on them (in ``v`` it is the
per-column ridge ``½ α (1 − ρ) Σ_j v_j² / d_j²``). The change of variables makes a
fit invariant to multiplying a column by any constant (up to rounding): Newton's
factorisation and L-BFGS's curvature pairs see the same numbers whatever the units.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

__all__ = ["ScaledObjective"]


class ScaledObjective:
    """``F(D⁻¹ v)`` with the interface of :class:`GLMObjective` the smooth solvers use.

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
        d = np.tile(obj.col_scale, obj.n_scores)
        if obj.fit_intercept:
            d = np.r_[d, np.ones(obj.n_scores)]
        self.d = d
        self.inv_d = 1.0 / d
        inv_col = 1.0 / obj.col_scale
        X = obj.X
        n, p = X.shape
        # X D⁻¹ without a copy of X (gd's Lipschitz estimate multiplies by it).
        self.X = LinearOperator(
            (n, p),
            matvec=lambda v: np.asarray(X @ (inv_col * np.ravel(v))).ravel(),
            rmatvec=lambda u: inv_col * np.asarray(X.T @ np.ravel(u)).ravel(),
            dtype=float,
        )

    # The user's coefficients and back.
    def to_user(self, v: np.ndarray) -> np.ndarray:
        return v * self.inv_d

    def from_user(self, coef: np.ndarray) -> np.ndarray:
        return coef * self.d

    def unpack(self, v):
        return self.base.unpack(self.to_user(v))

    def raw_score(self, v):
        return self.base.raw_score(self.to_user(v))

    def value(self, v) -> float:
        return self.base.value(self.to_user(v))

    def value_gradient(self, v):
        f, g = self.base.value_gradient(self.to_user(v))
        return f, g * self.inv_d

    def gradient(self, v):
        return self.value_gradient(v)[1]

    def kkt_weights(self, v) -> np.ndarray:
        """``∇F̃ = D⁻¹ ∇F``: F's relative KKT weights ``1 / (d_j G)`` become ``1 / G``."""
        return self.base.kkt_weights(self.to_user(v)) * self.d

    def hessian(self, v, *, fisher: bool = False):
        h = self.base.hessian(self.to_user(v), fisher=fisher)
        return h * self.inv_d[:, None] * self.inv_d[None, :]
