"""``lossmath.torch.loss`` and ``lossmath.torch.Loss``: shapes, checks, reductions.

The inputs are checked by the loss's own validation (``_validate_y``, the
sample-weight checks of :mod:`lossmath.engine.batch`), on the flattened tensors,
before anything is computed — so a bad input raises the NumPy methods' named
``ValueError`` before any backward pass. One difference: scores may be ``±inf``
(the loss's limit is returned where finite); NaN scores are refused.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as xp
import torch

from lossmath.engine import batch
from lossmath.losses import Loss as _LossmathLoss
from lossmath.losses import get_loss
from lossmath.torch._functions import (
    NUMPY,
    NUMPY_FUSED,
    TARGET_RULES,
    TORCH,
    TORCH_LIMITS,
    scalar_apply,
    softmax_value,
)

__all__ = ["Loss", "loss"]

_REDUCTIONS = ("none", "mean", "sum")
_HALF = (torch.float16, torch.bfloat16)


def _resolve(spec: Any, params: dict) -> _LossmathLoss:
    return get_loss(spec, **params)


def _tensor(name: str, arg: str, a: Any, like: torch.Tensor) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        if a.device != like.device:
            raise ValueError(
                f"{name}: {arg} must be on the device of input, {like.device}; got {a.device}"
            )
        return a
    if isinstance(a, int | float | bool | list | tuple) or hasattr(a, "__array__"):
        return torch.as_tensor(a, device=like.device)
    raise TypeError(f"{name}: {arg} must be a tensor or array of numbers; got {type(a).__name__}")


def _checkable(*tensors: torch.Tensor | None) -> bool:
    """Whether the values can be inspected: not inside ``vmap`` (no data-dependent
    control flow there) nor traced by ``torch.compile`` / ``torch.export``."""
    if torch.compiler.is_compiling():
        return False
    is_batched = torch._C._functorch.is_batchedtensor
    unwrap = torch._C._functorch.get_unwrapped
    wrapped = torch._C._functorch.is_functorch_wrapped_tensor
    for t in tensors:
        while t is not None and wrapped(t):
            if is_batched(t):
                return False
            t = unwrap(t)
    return True


def _check_scores(name: str, z: torch.Tensor) -> bool:
    """Refuse NaN scores; return whether any score is infinite."""
    finite = torch.isfinite(z)
    if bool(torch.all(finite)):
        return False
    nan = torch.isnan(z)
    if bool(torch.any(nan)):
        n = int(torch.sum(nan))
        raise ValueError(
            f"{name}: input must not be NaN (±inf is allowed); got {n} NaN value{'s' * (n > 1)}"
        )
    return True


def _weights(name: str, w: Any, shape: tuple, z: torch.Tensor, check: bool) -> Any:
    """Per-element weights broadcast to ``shape``, checked finite and ``≥ 0``."""
    if w is None:
        return None
    w = _tensor(name, "weight", w, z)
    try:
        w = torch.broadcast_to(w, shape)
    except RuntimeError:
        raise ValueError(
            f"{name}: weight must be broadcastable to {tuple(shape)}; got shape {tuple(w.shape)}"
        ) from None
    w = w.to(z.dtype)
    if check:
        flat = w.detach().reshape(-1)
        batch.weights(name, xp, flat, flat.shape[0], z.dtype, True)
    return w


def _compute_dtype(z: torch.Tensor) -> torch.dtype:
    # float16 / bfloat16 are evaluated in float32 and the result rounded once.
    return torch.float32 if z.dtype in _HALF else z.dtype


#: Whether finite CPU float32 / float64 input takes the NumPy methods' compiled loops
#: (else the kernel runs as tensor operations, as on other devices).
NUMPY_ROUTE = True


def _route(z: torch.Tensor, has_inf: bool) -> int:
    """The kernel on tensors (with the limits at ±inf where some score is infinite),
    or the NumPy methods' compiled loops on a CPU tensor's memory."""
    if has_inf:
        return TORCH_LIMITS
    plain = not torch._C._functorch.is_functorch_wrapped_tensor(z)  # no torch.func transform
    cpu_float = z.device.type == "cpu" and z.dtype in (torch.float32, torch.float64)
    if NUMPY_ROUTE and plain and cpu_float:
        # With a gradient to come, value and gradient in one pass.
        return NUMPY_FUSED if z.requires_grad and torch.is_grad_enabled() else NUMPY
    return TORCH


def _scalar(lm, z, target, check, inspect):
    y = _tensor(lm.name, "target", target, z)
    if tuple(y.shape) != tuple(z.shape):
        raise ValueError(
            f"{lm.name}: target must have the shape of input, {tuple(z.shape)}; "
            f"got shape {tuple(y.shape)}"
        )
    if y.requires_grad and lm.name not in TARGET_RULES:
        raise ValueError(
            f"{lm.name}: target must not require grad: the {lm.name} loss is not "
            f"differentiable in its target (labels in {lm.y_interval})"
        )
    y = y.to(z.dtype)
    limits = TORCH_LIMITS
    if check:
        limits = _route(z, _check_scores(lm.name, z.detach()))
        lm._validate_y(xp, y.detach().reshape(-1), z.detach().reshape(-1), True)
    elif inspect:
        limits = _route(z, bool(torch.isinf(z.detach()).any()))
    return scalar_apply(lm, z, y, limits), None


def _labels_or_rows(lm, z, target, ignore_index, check, inspect):
    """Rows ``(m, C)`` of scores, target weights ``a`` and the mean's per-row weight."""
    n_classes = z.shape[1]
    rows = torch.movedim(z, 1, -1).reshape(-1, n_classes)
    lm._check_z_shape(rows)
    y = _tensor(lm.name, "target", target, z)
    spatial = (z.shape[0], *z.shape[2:])
    limits = TORCH_LIMITS
    if check:
        limits = _route(z, _check_scores(lm.name, rows.detach()))
    elif inspect:
        limits = _route(z, bool(torch.isinf(z.detach()).any()))
    if tuple(y.shape) == tuple(z.shape):  # probabilities, class axis 1
        y_rows = torch.movedim(y, 1, -1).reshape(-1, n_classes).to(z.dtype)
        if check:
            lm._validate_y(xp, y_rows.detach(), rows.detach(), True)
        a = lm._target_weights(xp, y_rows)
        # torch.nn's mean over probability targets divides by the number of rows.
        return rows, a, None, limits
    if tuple(y.shape) != spatial:
        raise ValueError(
            f"{lm.name}: target must be class indices of shape {spatial} or probabilities "
            f"of shape {tuple(z.shape)} to match input; got shape {tuple(y.shape)}"
        )
    flat = y.detach().reshape(-1)
    ignored = flat == ignore_index
    if check:
        kept = ~ignored
        lm._validate_y(xp, flat[kept].to(z.dtype), rows.detach()[kept], True)
    labels = torch.where(ignored, torch.zeros_like(flat), flat).to(torch.int64)
    one_hot = (labels[:, None] == torch.arange(n_classes, device=z.device)).to(z.dtype)
    a = lm._target_weights(xp, one_hot)
    if not inspect or bool(torch.any(ignored)):
        a = torch.where(ignored[:, None], torch.zeros_like(a), a)
    # torch.nn's mean: Σ w_{yᵢ} ℓᵢ / Σ w_{yᵢ} over the rows not ignored.
    if lm.class_weight is None:
        den = (~ignored).to(z.dtype)
    else:
        cw = torch.as_tensor(lm.class_weight, dtype=z.dtype, device=z.device)
        den = torch.where(ignored, torch.zeros_like(cw[labels]), cw[labels])
    return rows, a, den, limits


def _multinomial(lm, z, target, ignore_index, check, inspect):
    if z.ndim < 2:
        raise ValueError(
            f"{lm.name}: input must have shape (N, C) or (N, C, d1, ...); got {tuple(z.shape)}"
        )
    rows, a, den, limits = _labels_or_rows(lm, z, target, ignore_index, check, inspect)
    spatial = (z.shape[0], *z.shape[2:])
    value = softmax_value(lm, rows, a, limits).reshape(spatial)
    return value, None if den is None else den.reshape(spatial)


def _reduce(name, value, w, den, reduction):
    if w is not None:
        wv = w * value
        # A weight of 0 contributes exactly 0, also where the loss is infinite.
        value = torch.where(w == 0, torch.zeros_like(wv), wv)
        den = w if den is None else w * den
    if reduction == "none":
        return value
    total = torch.sum(value)
    if reduction == "sum":
        return total
    if den is None:
        return total / max(value.numel(), 1)
    den = torch.sum(den)
    # Every weight 0 (or every target ignored): 0, not 0/0.
    return total / torch.where(den == 0, torch.ones_like(den), den)


def loss(
    loss: Any,
    input: torch.Tensor,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    *,
    ignore_index: int = -100,
    check_input: bool = True,
    **params: Any,
) -> torch.Tensor:
    r"""A lossmath loss of PyTorch tensors, with closed-form derivatives at every order.

    Parameters
    ----------
    loss : str or lossmath.Loss
        A registered loss name (``lossmath.losses.available()``) or a loss object.
    input : torch.Tensor
        Raw scores ``z``: any shape for scalar losses; ``(N, C)`` or
        ``(N, C, d₁, …)`` for ``"multinomial"`` (class axis 1). ``±inf`` allowed.
    target : torch.Tensor
        Scalar losses: the shape of ``input``. Multinomial: class indices of shape
        ``(N, d₁, …)`` (``ignore_index`` skipped) or probabilities of the shape of
        ``input``. A floating target with ``requires_grad`` gets its gradient
        where the loss is differentiable in it.
    weight : torch.Tensor, optional
        Non-negative weights broadcastable to the per-element losses (``input``'s
        shape; ``(N, d₁, …)`` for the multinomial).
    reduction : {"mean", "sum", "none"}
        ``"mean"`` is torch.nn's: ``Σ wℓ / Σ w`` (plain mean without ``weight``);
        multinomial with class weights ``Σ w_{yᵢ} ℓᵢ / Σ w_{yᵢ}`` over the rows
        not ignored (probability targets: over all rows). A zero denominator gives 0.
    ignore_index : int, default -100
        Multinomial class-index targets equal to it contribute nothing.
    check_input : bool, default True
        Check shapes, NaN scores, the target's domain and the weights before
        computing (skipped automatically under ``vmap`` and ``torch.compile``
        tracing, where values cannot be inspected).
    **params
        The loss's hyper-parameters (``delta=``, ``gamma=``, ``label_smoothing=``,
        ``class_weight=``, ...).

    Returns
    -------
    torch.Tensor
        The reduced loss (0-d) or the per-element losses, in ``input``'s dtype
        and device.

    Raises
    ------
    ValueError
        Bad shapes, NaN scores, targets outside the loss's domain, labels out of
        range, negative or non-finite weights, an unknown ``reduction``.
    TypeError
        ``input`` not a floating tensor, or an unknown loss parameter.

    Examples
    --------
    >>> import torch
    >>> import lossmath.torch as lmt
    >>> lmt.loss("logistic", torch.tensor([0.0, float("inf")]), torch.tensor([1.0, 1.0]))
    tensor(0.3466)
    """
    lm = _resolve(loss, params)
    if not isinstance(input, torch.Tensor) or not input.is_floating_point():
        raise TypeError(
            f"{lm.name}: input must be a floating-point torch.Tensor; got "
            f"{getattr(input, 'dtype', type(input).__name__)}"
        )
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{lm.name}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    inspect = _checkable(input, target, weight)
    check = check_input and inspect
    z = input.to(_compute_dtype(input))
    if lm.n_outputs == 1:
        value, den = _scalar(lm, z, target, check, inspect)
    else:
        value, den = _multinomial(lm, z, target, ignore_index, check, inspect)
    w = _weights(lm.name, weight, tuple(value.shape), z, check)
    out = _reduce(lm.name, value, w, den, reduction)
    return out.to(input.dtype)


class Loss(torch.nn.Module):
    """A lossmath loss as a ``torch.nn.Module``: ``criterion(input, target, weight=None)``.

    Parameters as :func:`loss` (``loss``, ``reduction``, ``ignore_index``,
    ``check_input`` and the loss's hyper-parameters).

    Examples
    --------
    >>> import torch
    >>> import lossmath.torch as lmt
    >>> criterion = lmt.Loss("multinomial", label_smoothing=0.1)
    >>> criterion(torch.zeros(2, 3), torch.tensor([0, 2]))
    tensor(1.0986)
    """

    def __init__(
        self,
        loss: Any,
        reduction: str = "mean",
        *,
        ignore_index: int = -100,
        check_input: bool = True,
        **params: Any,
    ) -> None:
        super().__init__()
        self.loss = _resolve(loss, params)
        if reduction not in _REDUCTIONS:
            raise ValueError(
                f"{self.loss.name}: reduction must be one of {_REDUCTIONS}; got {reduction!r}"
            )
        self.reduction = reduction
        self.ignore_index = ignore_index
        self.check_input = check_input

    def forward(self, input: torch.Tensor, target: Any, weight: Any = None) -> torch.Tensor:
        return loss(
            self.loss,
            input,
            target,
            weight,
            self.reduction,
            ignore_index=self.ignore_index,
            check_input=self.check_input,
        )

    def extra_repr(self) -> str:
        return f"{self.loss!r}, reduction={self.reduction!r}"
