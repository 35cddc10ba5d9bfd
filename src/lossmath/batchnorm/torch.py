r"""Batch normalisation for PyTorch with closed-form derivatives at every order.

``import lossmath.batchnorm`` does not import PyTorch; this module does.

:class:`BatchNorm` is a drop-in for ``torch.nn.BatchNorm1d`` / ``BatchNorm2d`` /
``BatchNorm3d`` (a subclass of their base, ``torch.nn.modules.batchnorm._BatchNorm``:
the same parameters, buffers and ``state_dict`` keys ``weight``, ``bias``,
``running_mean``, ``running_var``, ``num_batches_tracked``; ``train()`` / ``eval()``;
``momentum=None`` for the cumulative average), for input of any rank ≥ 2.

Its derivatives are the closed forms of :mod:`lossmath.batchnorm` in one
``autograd.Function``:

- backward: :func:`~lossmath.batchnorm.batch_norm_backward`'s formula, written with
  torch operations. When the backward is itself differentiated (``create_graph=True``,
  ``torch.func.hessian``), train mode recomputes ``μ`` and ``σ`` from ``x`` inside it,
  so double backward differentiates the closed form, coupling included; otherwise
  it reuses the forward's statistics.
- forward mode (``jvp``): :func:`~lossmath.batchnorm.batch_norm_jvp`'s formula, so
  ``torch.func.jvp`` and ``jacfwd`` work; ``vmap`` through the generated rule.
  Forward-over-forward (``jacfwd(jacfwd(f))``) is refused: PyTorch does not
  differentiate a custom ``jvp`` rule and would return zeros; use
  ``torch.func.hessian`` (forward over reverse).

The running statistics are buffers: updated in place in train mode, under
``no_grad``, never differentiated.
"""

from __future__ import annotations

from typing import Any

import array_api_compat.torch as xp
import torch
from torch.nn.modules.batchnorm import _BatchNorm

from lossmath.batchnorm import _formulas as formulas
from lossmath.batchnorm._checks import check_statistics, prepare_forward

__all__ = ["BatchNorm", "batch_norm"]


def _wrapped(t: torch.Tensor) -> bool:
    return torch._C._functorch.is_functorch_wrapped_tensor(t)


def _differentiated(x: torch.Tensor) -> bool:
    """Whether what is computed from ``x`` now may itself be differentiated in ``x``:
    then the batch statistics must be recomputed from ``x`` with tracked operations
    (the forward's were computed detached)."""
    return _wrapped(x) or (torch.is_grad_enabled() and x.requires_grad)


def _refuse_forward_over_forward() -> None:
    stack = torch._C._functorch.get_interpreter_stack() or []
    jvp = torch._C._functorch.TransformType.Jvp
    if sum(i.key() == jvp for i in stack) > 1:
        raise NotImplementedError(
            "batch_norm: forward-over-forward differentiation (jacfwd(jacfwd(f)), jvp of "
            "jvp) is not supported; use torch.func.hessian (jacfwd of jacrev) or jacrev"
        )


def _mean(mean: torch.Tensor, shift: torch.Tensor | None) -> Any:
    """The per-channel mean as :mod:`~lossmath.batchnorm._formulas` takes it."""
    return mean if shift is None else (mean, shift)


class BatchNormFunction(torch.autograd.Function):
    """``y = γ (x − μ)/σ + β`` with ``μ``, ``σ²`` given (detached): the batch's in
    train mode (``mean``, ``shift`` the pair ``(μ₀, c)`` of ``_formulas.moments``),
    where the derivatives add the coupling through them, or the running ones in
    inference mode (``shift`` None). Per-channel tensors in the broadcast shape;
    ``weight``, ``bias`` may be None."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x, weight, bias, mean, shift, var, eps, red, training):
        return formulas.forward(xp, x, _mean(mean, shift), var, weight, bias, eps)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _bias, mean, shift, var, eps, red, training = inputs
        ctx.save_for_backward(x, weight, mean, shift, var)
        ctx.save_for_forward(x, weight, mean, shift, var)
        ctx.eps, ctx.red, ctx.training = eps, red, training

    @staticmethod
    def backward(ctx, dy):
        x, weight, mean, shift, var = ctx.saved_tensors
        mean = _mean(mean, shift)
        needs = tuple(ctx.needs_input_grad[:3])
        if ctx.training and _differentiated(x):
            mean, var = formulas.moments(xp, x, ctx.red)
        dx, dw, db = formulas.backward(
            xp, dy, x, mean, var, weight, ctx.eps, ctx.red, ctx.training, needs
        )
        return dx, dw, db, None, None, None, None, None, None

    @staticmethod
    def jvp(ctx, dx, dweight, dbias, *_):
        _refuse_forward_over_forward()
        x, weight, mean, shift, var = ctx.saved_tensors
        mean = _mean(mean, shift)
        if ctx.training and _differentiated(x):
            mean, var = formulas.moments(xp, x, ctx.red)
        dy = formulas.jvp(
            xp, dx, dweight, dbias, x, mean, var, weight, ctx.eps, ctx.red, ctx.training
        )
        return torch.zeros_like(x) if dy is None else dy


def batch_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    *,
    running_mean: torch.Tensor | None = None,
    running_var: torch.Tensor | None = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    axis: int = 1,
) -> tuple[torch.Tensor, Any, Any]:
    """:func:`lossmath.batchnorm.batch_norm` on tensors, differentiable in ``x``,
    ``weight`` and ``bias`` with the closed-form derivatives (module docstring).

    The running statistics are returned, not written in place (:class:`BatchNorm`
    writes them into its buffers).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"batch_norm: x must be a torch.Tensor; got {type(x).__name__}")
    # Refused here, before torch's generated vmap rule of the jvp fails obscurely.
    _refuse_forward_over_forward()
    p = prepare_forward(
        x,
        weight,
        bias,
        running_mean,
        running_var,
        training=training,
        momentum=momentum,
        eps=eps,
        axis=axis,
    )
    c = p.per_channel
    with torch.no_grad():
        if p.training:
            # The derivatives through μ and σ are the Function's (closed form).
            (mean, shift), var = formulas.moments(xp, p.x.detach(), p.red)
            check_statistics("batch_norm", p, formulas.full_mean(xp, (mean, shift)), var)
        else:
            mean, shift, var = c["running_mean"].detach(), None, c["running_var"].detach()
    y = BatchNormFunction.apply(
        p.x, c["weight"], c["bias"], mean, shift, var, p.eps, p.red, p.training
    )
    if y.dtype != p.out:
        y = y.to(p.out)
    if not p.training:
        return y, running_mean, running_var
    if c["running_mean"] is None:
        return y, None, None
    with torch.no_grad():
        new_mean, new_var = formulas.running_update(
            xp,
            c["running_mean"].detach(),
            c["running_var"].detach(),
            (mean, shift),
            var,
            float(momentum),
            p.m,
        )
    return (
        y,
        new_mean.reshape(-1).to(p.dtypes["running_mean"]),
        new_var.reshape(-1).to(p.dtypes["running_var"]),
    )


class BatchNorm(_BatchNorm):
    """Batch normalisation over the channel axis ``axis`` of input of any rank ≥ 2,
    a drop-in for ``torch.nn.BatchNorm1d`` / ``2d`` / ``3d`` with closed-form
    derivatives (module docstring).

    Parameters
    ----------
    num_features : int
        ``C``, the number of channels.
    eps, momentum, affine, track_running_stats, device, dtype
        As ``torch.nn.BatchNorm2d``'s; ``momentum=None`` is the cumulative average
        (``1/num_batches_tracked``).
    axis : int
        The channel axis (1, torch's layout, by default).

    Examples
    --------
    >>> import torch
    >>> from lossmath.batchnorm import BatchNorm
    >>> bn = BatchNorm(3, dtype=torch.float64)
    >>> ref = torch.nn.BatchNorm2d(3, dtype=torch.float64)
    >>> bn.load_state_dict(ref.state_dict())
    <All keys matched successfully>
    >>> x = torch.randn(4, 3, 5, 5, dtype=torch.float64)
    >>> bool(torch.allclose(bn(x), ref(x), rtol=1e-12, atol=0))
    True
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        axis: int = 1,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.axis = axis

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(
                f"BatchNorm: input must have at least 2 dimensions (batch, channel, …); "
                f"got shape {tuple(input.shape)}"
            )

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.axis == 1 else f", axis={self.axis}")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(input)
        # torch's _BatchNorm.forward: which statistics, and the averaging factor.
        factor = 0.0 if self.momentum is None else self.momentum
        counting = self.training and self.track_running_stats
        counting = counting and self.num_batches_tracked is not None
        if counting and self.momentum is None:
            factor = 1.0 / float(self.num_batches_tracked + 1)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        keep = not self.training or self.track_running_stats
        y, new_mean, new_var = batch_norm(
            input,
            self.weight,
            self.bias,
            running_mean=self.running_mean if keep else None,
            running_var=self.running_var if keep else None,
            training=use_batch,
            momentum=factor,
            eps=self.eps,
            axis=self.axis,
        )
        if use_batch and keep and self.running_mean is not None:
            with torch.no_grad():
                self.running_mean.copy_(new_mean)
                self.running_var.copy_(new_var)
        if counting:
            self.num_batches_tracked.add_(1)
        return y
