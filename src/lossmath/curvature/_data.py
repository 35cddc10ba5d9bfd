"""Reading the model, the loss and the data set the curvature operators share."""

from __future__ import annotations

from typing import Any

import torch

from lossmath.losses import Loss as _LossmathLoss
from lossmath.losses import get_loss

_REDUCTIONS = ("mean", "sum")


def resolve_loss(where: str, loss: Any, loss_params: dict) -> tuple[_LossmathLoss, int]:
    """The lossmath loss object and the multinomial's ``ignore_index`` (default −100)."""
    params = dict(loss_params)
    ignore_index = int(params.pop("ignore_index", -100))
    if isinstance(loss, str):
        lm = get_loss(loss, **params)
    elif isinstance(loss, _LossmathLoss):
        if params:
            raise TypeError(
                f"{where}: loss parameters {sorted(params)} given beside a loss object; "
                f"set them on the object"
            )
        lm = loss
    else:
        raise TypeError(
            f"{where}: loss must be a lossmath loss name or object; got {type(loss).__name__}"
        )
    return lm, ignore_index


def check_reduction(where: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{where}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")


def trainable(where: str, model: torch.nn.Module, params: Any) -> tuple[list, list, dict]:
    """Names and tensors of the parameters to differentiate, and the rest (fixed).

    ``params=None``: every parameter with ``requires_grad``; otherwise a list of
    the model's own parameter tensors (matched by identity).
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{where}: model must be a torch.nn.Module; got {type(model).__name__}")
    named = dict(model.named_parameters())
    if params is None:
        names = [k for k, p in named.items() if p.requires_grad]
    else:
        ids = {id(p): k for k, p in named.items()}
        names = []
        for p in params:
            if id(p) not in ids:
                raise ValueError(
                    f"{where}: params must be parameters of model; got a foreign tensor"
                )
            names.append(ids[id(p)])
    if not names:
        raise ValueError(f"{where}: the model has no trainable parameters")
    tensors = [named[k] for k in names]
    fixed = {k: p for k, p in named.items() if k not in set(names)}
    return names, tensors, fixed


def unpack(where: str, batch: Any, dtype: torch.dtype, device: torch.device) -> tuple:
    """``(X, y, sample_weight)`` of one batch, on the model's device and dtype."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        raise ValueError(
            f"{where}: each batch of data must be (X, y) or (X, y, sample_weight); "
            f"got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        )
    X, y = batch[0], batch[1]
    w = batch[2] if len(batch) == 3 else None
    X = _to(X, dtype, device)
    y = _to(y, dtype, device)
    if w is not None:
        w = _to(w, dtype, device)
        if w.ndim != 1:
            raise ValueError(f"{where}: sample_weight must be 1-D (N,); got shape {tuple(w.shape)}")
    return X, y, w


def _to(a: Any, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    a = torch.as_tensor(a, device=device)
    # Integer labels stay integers; floating data takes the model's dtype.
    return a.to(dtype) if a.is_floating_point() else a


def count_terms(lm: _LossmathLoss, y: torch.Tensor) -> int:
    """Loss terms in a batch: the elements of ``y`` (scalar losses), its rows (multinomial)."""
    if lm.n_outputs == 1:
        return int(y.numel())
    return int(y.shape[0])


def weight_for(
    w: torch.Tensor | None, z: torch.Tensor, multinomial: bool, where: str = "lossmath.curvature"
) -> torch.Tensor | None:
    """Per-sample weights ``(N,)`` shaped to broadcast over one sample's loss terms."""
    if w is None:
        return None
    if w.shape[0] != z.shape[0]:
        raise ValueError(
            f"{where}: sample_weight has {w.shape[0]} entries but the batch has "
            f"{z.shape[0]} samples (model outputs of shape {tuple(z.shape)})"
        )
    extra = z.ndim - (2 if multinomial else 1)
    return w.reshape(w.shape[0], *([1] * extra))
