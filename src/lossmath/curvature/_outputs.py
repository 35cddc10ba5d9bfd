r"""The curvature of the loss in the space of the model's outputs, one batch at a time.

Every operator of this package except the parameter Hessian is

.. math::

    C = c \sum_n J_n^\top M_n J_n,

``Jₙ = ∂zₙ/∂θ`` the Jacobian of sample ``n``'s outputs, ``c`` the reduction's
factor and ``Mₙ`` a symmetric matrix on sample ``n``'s outputs: the loss's
Hessian (GGN), its Fisher, or sums of outer products of output gradients (Monte
Carlo and empirical Fisher). An :class:`OutputCurvature` holds the ``Mₙ`` of a
batch and gives what the operators need: ``Mₙ uₙ`` (:meth:`apply`) and a signed
factor ``Mₙ = Σᵥ σᵥₙ sᵥₙ sᵥₙᵀ`` (:meth:`factor`) for the exact diagonal.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as xp
import torch

import lossmath.torch as lmt
from lossmath.curvature._data import weight_for


class OutputCurvature:
    """``Mₙ`` of every sample of a batch (outputs ``z`` of shape ``(N, …)``)."""

    def apply(self, U: torch.Tensor) -> torch.Tensor:
        """``Mₙ uₙ`` for a stack ``U`` of shape ``(k, *z.shape)``."""
        raise NotImplementedError

    def factor(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(S, σ)``: ``S`` ``(V, *z.shape)``, signs ``σ`` ``(V, N)`` or ``None`` (all +1)."""
        raise NotImplementedError


class Diagonal(OutputCurvature):
    """``Mₙ = diag(hₙ)`` (a scalar loss acts element-wise): ``h`` of ``z``'s shape, any sign."""

    def __init__(self, h: torch.Tensor):
        self.h = h

    def apply(self, U):
        return U * self.h

    def factor(self):
        n = self.h.shape[0]
        flat = self.h.reshape(n, -1)
        d = flat.shape[1]
        # Column j of the factor is √|h_j| e_j, its sign that of h_j: no clipping.
        S = torch.zeros((d, n, d), dtype=flat.dtype, device=flat.device)
        idx = torch.arange(d, device=flat.device)
        S[idx, :, idx] = torch.sqrt(torch.abs(flat)).T
        sign = None
        if bool(torch.any(flat < 0)):
            sign = torch.sign(flat).T
        return S.reshape(d, *self.h.shape), sign


class Softmax(OutputCurvature):
    """``Mₙ = āₙ (diag(pₙ) − pₙ pₙᵀ)``, the multinomial's Hessian (``ā ≥ 0``)."""

    def __init__(self, abar: torch.Tensor, p: torch.Tensor):
        self.abar = abar
        self.p = p

    def apply(self, U):
        p = self.p
        pu = p * U
        return self.abar[:, None] * (pu - p * pu.sum(-1, keepdim=True))

    def factor(self):
        # S = √ā (diag(√p) − p √pᵀ): column v is √ā (√p_v e_v − p √p_v).
        rp = torch.sqrt(self.p)
        eye = torch.eye(self.p.shape[1], dtype=self.p.dtype, device=self.p.device)
        S = (
            torch.sqrt(self.abar)[None, :, None]
            * rp.T[:, :, None]
            * (eye[:, None, :] - self.p[None, :, :])
        )
        return S, None


class Factor(OutputCurvature):
    """``Mₙ = Σᵥ sᵥₙ sᵥₙᵀ`` from a stack ``S`` of shape ``(V, *z.shape)``."""

    def __init__(self, S: torch.Tensor):
        self.S = S

    def apply(self, U):
        V, n = self.S.shape[0], self.S.shape[1]
        S = self.S.reshape(V, n, -1)
        coef = torch.einsum("vnd,knd->kvn", S, U.reshape(U.shape[0], n, -1))
        return torch.einsum("kvn,vnd->knd", coef, S).reshape(U.shape)

    def factor(self):
        return self.S, None


def _multinomial_rows(where: str, lm: Any, z: torch.Tensor, y: torch.Tensor, ignore_index: int):
    """Target weights ``a`` ``(N, K)`` (ignored rows 0) and ``p = softmax(z)``."""
    if z.ndim != 2:
        raise ValueError(
            f"{where}: the multinomial needs model outputs (N, C); got {tuple(z.shape)}"
        )
    k = z.shape[1]
    if y.shape == z.shape:
        a = lm._target_weights(xp, y.to(z.dtype))
    else:
        flat = y.reshape(-1)
        ignored = flat == ignore_index
        labels = torch.where(ignored, torch.zeros_like(flat), flat).to(torch.int64)
        one_hot = (labels[:, None] == torch.arange(k, device=z.device)).to(z.dtype)
        a = lm._target_weights(xp, one_hot)
        a = torch.where(ignored[:, None], torch.zeros_like(a), a)
    return a, torch.softmax(z, dim=1)


def _per_sample_weight(where, w, z):
    if w is None:
        return torch.ones(z.shape[0], dtype=z.dtype, device=z.device)
    weight_for(w, z, True, where)  # the length check
    return w


def _score(where, lm, z, y, w, ignore_index, create_graph=False):
    """``∂(Σ wℓ)/∂z`` by lossmath's closed-form backward (and the graph, if asked)."""
    z_ = z.detach().requires_grad_(True)
    with torch.enable_grad():
        total = lmt.loss(
            lm,
            z_,
            y,
            weight=weight_for(w, z_, lm.n_outputs != 1, where),
            reduction="sum",
            ignore_index=ignore_index,
        )
        (g,) = torch.autograd.grad(total, z_, create_graph=create_graph)
    return z_, g


def hessian(where, lm, z, y, w, ignore_index) -> OutputCurvature:
    """The loss's exact Hessian with respect to the outputs, sample weights included."""
    if lm.n_outputs != 1:
        a, p = _multinomial_rows(where, lm, z, y, ignore_index)
        lmt.loss(lm, z, y, reduction="sum", ignore_index=ignore_index)  # lossmath's checks
        return Softmax(a.sum(1) * _per_sample_weight(where, w, z), p)
    z_, g = _score(where, lm, z, y, w, ignore_index, create_graph=True)
    if not g.requires_grad:  # a piecewise-linear loss: the second derivative is 0
        return Diagonal(torch.zeros_like(z))
    # The loss acts element-wise, so the derivative of Σg is the Hessian's diagonal.
    (h,) = torch.autograd.grad(g.sum(), z_, allow_unused=True)
    return Diagonal(torch.zeros_like(z) if h is None else h.detach())


def fisher(where, lm, z, y, w, ignore_index) -> OutputCurvature:
    """The loss's Fisher: ``fisher_diagonal`` (scalar losses); the Hessian (multinomial)."""
    if lm.n_outputs != 1:
        return hessian(where, lm, z, y, w, ignore_index)
    lmt.loss(lm, z, y, reduction="sum")  # lossmath's checks of the targets
    sw = (
        None
        if w is None
        else torch.broadcast_to(weight_for(w, z, False, where), z.shape).reshape(-1)
    )
    f = lm.fisher_diagonal(y.reshape(-1), z.detach().reshape(-1), sw)
    return Diagonal(torch.as_tensor(f, dtype=z.dtype, device=z.device).reshape(z.shape))


def _row_weight(where, lm, z, y, w, ignore_index):
    """``sₙ`` (0 for an ignored multinomial row), broadcast over the sample's outputs."""
    s = _per_sample_weight(where, w, z)
    if lm.n_outputs != 1 and y.shape != z.shape:
        s = torch.where(y.reshape(-1) == ignore_index, torch.zeros_like(s), s)
    return s.reshape(-1, *([1] * (z.ndim - 1)))


def sampled(where, lm, z, y, w, ignore_index, mc_samples, generator) -> OutputCurvature:
    """``Σₘ sₙ g̃ₘ g̃ₘᵀ / M``, ``g̃ₘ = ∂ℓ(ỹₘ, zₙ)/∂zₙ``, ``ỹₘ`` drawn by ``loss.sample``."""
    s = _row_weight(where, lm, z, y, w, ignore_index)
    cols = []
    for _ in range(mc_samples):
        zs = z.detach() if lm.n_outputs != 1 else z.detach().reshape(-1)
        y_tilde = lm.sample(zs, generator)
        if lm.n_outputs == 1:
            y_tilde = y_tilde.reshape(z.shape)
        _, g = _score(where, lm, z, y_tilde, None, ignore_index)
        cols.append(g * torch.sqrt(s / mc_samples))
    return Factor(torch.stack(cols))


def empirical(where, lm, z, y, w, ignore_index) -> OutputCurvature:
    """``sₙ gₙ gₙᵀ`` with ``gₙ = ∂ℓ(yₙ, zₙ)/∂zₙ`` at the data's own targets."""
    _, g = _score(where, lm, z, y, None, ignore_index)
    s = _per_sample_weight(where, w, z).reshape(-1, *([1] * (z.ndim - 1)))
    return Factor((g * torch.sqrt(s))[None])
