"""The factor ``S`` of the loss's Hessian, in BackPACK's and curvlinops' layouts."""

from __future__ import annotations

import math
from typing import Any

import torch

from lossmath.curvature import _data, _outputs

_LAYOUTS = ("backpack", "curvlinops")


def loss_hessian_sqrt(
    loss: Any,
    z: torch.Tensor,
    y: Any,
    *,
    sample_weight: Any = None,
    reduction: str = "mean",
    layout: str = "backpack",
    **loss_params: Any,
) -> torch.Tensor:
    r"""The factor ``S`` of the loss's Hessian ``H = S Sᵀ`` with respect to the raw scores.

    Per sample ``n``: a scalar loss (outputs ``zₙ ∈ ℝᴰ``, acting element-wise)
    has ``Sₙ = diag(√hₙ)``, ``hₙ = sₙ ∂²ℓ/∂z²``; the multinomial has
    ``Sₙ = √(sₙ āₙ) (diag(√p) − p √pᵀ)``, ``p = softmax(zₙ)``, ``āₙ`` the summed
    target weights (class weights, label smoothing; 0 for an ignored row).

    ``reduction="sum"`` factors ``Σₙ Hₙ``. ``reduction="mean"`` is scaled as each
    library scales it:

    - ``layout="backpack"``: ``S[v, n, c] = Sₙ[c, v]`` of shape ``(V, N, C)``
      (``V = C``, ``C`` the output size), divided by ``√T``, ``T`` the loss terms
      in the batch: ``N·D`` for a scalar loss, ``N`` for the multinomial
      (BackPACK's ``sqrt_hessian`` of ``MSELoss`` / ``CrossEntropyLoss``), so
      that ``Σᵥₙ S[v,n] S[v,n]ᵀ`` is the Hessian of the mean loss.
    - ``layout="curvlinops"``: ``Sₙ`` per datum, shape ``(N, C, C)`` (rows: the
      outputs, columns: the factor's columns), divided by ``√D`` for a scalar
      loss and not at all for the multinomial — curvlinops'
      ``loss_hessian_matrix_sqrt``, which leaves the ``1/N`` of the data set to
      the caller.

    The values are lossmath's losses: lossmath's ``squared_error`` is ``½ r²``
    where ``torch.nn.MSELoss`` is ``r²``, so BackPACK's and curvlinops' MSE
    factors are ``√2`` times these.

    Parameters
    ----------
    loss : str or lossmath.Loss
        A registered loss name or a loss object.
    z : torch.Tensor
        Raw scores ``(N, D)`` (``(N,)`` is taken as ``D = 1``); ``(N, C)`` for
        the multinomial.
    y : torch.Tensor
        Targets, as :func:`lossmath.torch.loss` takes them.
    sample_weight : torch.Tensor, optional
        ``(N,)``, multiplying each sample's Hessian.
    reduction : {"mean", "sum"}, default "mean"
    layout : {"backpack", "curvlinops"}, default "backpack"
    **loss_params
        The loss's hyper-parameters and the multinomial's ``ignore_index``.

    Returns
    -------
    torch.Tensor
        ``S`` in ``z``'s dtype and device.

    Raises
    ------
    NotImplementedError
        For a loss whose Hessian can be negative (focal), naming it: it has no
        real factor.
    """
    where = "loss_hessian_sqrt"
    _data.check_reduction(where, reduction)
    if layout not in _LAYOUTS:
        raise ValueError(f"{where}: layout must be one of {_LAYOUTS}; got {layout!r}")
    lm, ignore_index = _data.resolve_loss(where, loss, loss_params)
    if not lm.curvature.psd:
        raise NotImplementedError(
            f"{where}: {lm.name} has a Hessian that can be negative; it has no factor S "
            f"with H = S Sᵀ (use its fisher_diagonal)"
        )
    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        raise TypeError(f"{where}: z must be a floating-point torch.Tensor; got {type(z).__name__}")
    y, w = _data.unpack(
        where, (z, y, sample_weight) if sample_weight is not None else (z, y), z.dtype, z.device
    )[1:]
    z = z.detach()
    scalar = lm.n_outputs == 1
    if scalar and z.ndim == 1:
        z, y = z[:, None], y[:, None]
    if scalar and z.ndim != 2:
        raise ValueError(f"{where}: z must have shape (N,) or (N, D); got {tuple(z.shape)}")
    S, _ = _outputs.hessian(where, lm, z, y, w, ignore_index).factor()  # (V, N, C)
    if reduction == "mean":
        terms = z.numel() if scalar else z.shape[0]
        S = S / math.sqrt(terms if layout == "backpack" else (z.shape[1] if scalar else 1))
    return S if layout == "backpack" else S.permute(1, 2, 0)
