"""The Hessian of a loss composed with a function: Gauss-Newton term plus residual."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

import lossmath.torch as lmt
from lossmath.curvature import _data


def hessian_decomposition(
    f: Callable,
    loss: Any,
    x: torch.Tensor,
    y: Any,
    *,
    sample_weight: Any = None,
    reduction: str = "sum",
    **loss_params: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""``(H, G, R)``: the exact Hessian of ``L(x) = c Σₙ sₙ ℓ(yₙ, f(x)ₙ)`` split as ``H = G + R``.

    ``f`` maps the variables ``x`` — a 1-D tensor of ``P`` numbers: a small
    model's flattened parameters, or the inputs of a layer — to raw scores
    ``z = f(x)`` (``(N,)`` or ``(N, D)`` for a scalar loss, ``(N, C)`` for the
    multinomial); the targets ``y`` (and weights) are held fixed. With
    ``J = ∂z/∂x`` (``z`` flattened), ``H_ℓ = ∂²L/∂z²`` and ``g = ∂L/∂z``:

    .. math::

        H = ∇²_x L = \underbrace{J^\top H_ℓ J}_{G}
            + \underbrace{\sum_k g_k ∇²_x z_k}_{R}.

    ``G`` is the generalized Gauss-Newton matrix (PSD when the loss is convex),
    ``R`` the residual of ``f``'s own curvature (0 for ``f`` linear in ``x``).
    Every term is computed exactly by :mod:`torch.func` (``jacrev``,
    ``hessian``) in float64, through lossmath's closed-form loss derivatives:
    ``P`` and the number of outputs should be small (dense ``P × P``).

    Parameters
    ----------
    f : callable
        ``x ↦ z``, differentiable twice by ``torch.func``.
    loss : str or lossmath.Loss
        A registered loss name or a loss object.
    x : torch.Tensor
        The point, 1-D, ``(P,)``.
    y : torch.Tensor
        Targets for ``z`` (as :func:`lossmath.torch.loss` takes them).
    sample_weight : torch.Tensor, optional
        ``(N,)``.
    reduction : {"sum", "mean"}, default "sum"
        ``"mean"``: ``c = 1/T``, ``T`` the number of loss terms (the elements
        of ``z`` for a scalar loss, its rows for the multinomial).
    **loss_params
        The loss's hyper-parameters and the multinomial's ``ignore_index``.

    Returns
    -------
    H, G, R : torch.Tensor
        float64 ``(P, P)`` each, ``H = G + R`` to round-off.
    """
    where = "hessian_decomposition"
    _data.check_reduction(where, reduction)
    lm, ignore_index = _data.resolve_loss(where, loss, loss_params)
    if not isinstance(x, torch.Tensor) or x.ndim != 1:
        raise ValueError(
            f"{where}: x must be a 1-D torch.Tensor; got {getattr(x, 'shape', type(x).__name__)}"
        )
    x = x.detach().to(torch.float64)
    y, w = _data.unpack(
        where, (x, y) if sample_weight is None else (x, y, sample_weight), torch.float64, x.device
    )[1:]
    multinomial = lm.n_outputs != 1
    z0 = f(x)
    c = 1.0
    if reduction == "mean":
        c = 1.0 / (z0.shape[0] if multinomial else z0.numel())

    def total(z):
        weight = _data.weight_for(w, z, multinomial, where)
        return c * lmt.loss(lm, z, y, weight=weight, reduction="sum", ignore_index=ignore_index)

    H = torch.func.hessian(lambda t: total(f(t)))(x)
    J = torch.func.jacrev(f)(x).reshape(-1, x.numel())
    z0 = z0.detach()
    H_loss = torch.func.hessian(total)(z0).reshape(z0.numel(), z0.numel())
    g = torch.func.grad(total)(z0).reshape(-1)
    G = J.T @ H_loss @ J
    # R = Σₖ gₖ ∇²zₖ: the Hessian of x ↦ gᵀ f(x) with g held fixed.
    R = torch.func.hessian(lambda t: torch.dot(g, f(t).reshape(-1)))(x)
    return H, G, R
