"""The exact parameter Hessian of a network and any lossmath loss."""

from __future__ import annotations

from typing import Any

import torch

import lossmath.torch as lmt
from lossmath.curvature._autodiff import linearize
from lossmath.curvature._data import weight_for
from lossmath.curvature._operator import CurvatureOperator


class Hessian(CurvatureOperator):
    r"""The exact Hessian ``∇²_θ L`` of ``L(θ) = c Σₙ sₙ ℓ(yₙ, f_θ(Xₙ))``.

    Products are Hessian-vector products by double backward through the model
    and :func:`lossmath.torch.loss` (whose derivatives are the loss's closed-form
    ones at every order): ``∇²L = Σₙ Jₙᵀ Hₙ Jₙ + Σₙₖ gₙₖ ∇²zₙₖ``, the GGN plus the
    residual of the model's own curvature (:func:`hessian_decomposition`). Not
    PSD in general (:attr:`is_psd` is False). :meth:`diagonal` and
    :meth:`to_dense` cost ``P`` Hessian-vector products.

    Parameters are those of :class:`~lossmath.curvature.GGN`.
    """

    is_psd = False

    def __init__(self, model, loss: Any, data, *, reduction="mean", params=None, **loss_params):
        super().__init__(
            "Hessian",
            model,
            loss,
            data,
            reduction=reduction,
            params=params,
            loss_params=loss_params,
        )

    def _matmat_torch(self, M):
        V = self._split(M)
        total = torch.zeros(M.shape, dtype=self._tdtype, device=self._device)
        for X, y, w in self._batches():
            lin = linearize(self.model, self._names, self._tensors, self._fixed, X)
            with torch.enable_grad():
                value = lmt.loss(
                    self.loss,
                    lin.z,
                    y,
                    weight=weight_for(w, lin.z, self.loss.n_outputs != 1, self._where),
                    reduction="sum",
                    ignore_index=self.ignore_index,
                )
                grads = torch.autograd.grad(
                    value, lin._leaves, create_graph=True, allow_unused=True
                )
            pairs = [(i, g) for i, g in enumerate(grads) if g is not None and g.requires_grad]
            if not pairs:
                continue
            hv = lin._grad([g for _, g in pairs], lin._leaves, [V[i] for i, _ in pairs])
            total += self._join(hv)
        return total * self.scale
