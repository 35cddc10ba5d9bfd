r"""The autograd functions: every derivative is the loss's own closed form.

A scalar loss is three :class:`torch.autograd.Function` s, one per derivative
order ``k`` of its kernel (``losses/*.py``, ``_kernel``): ``ℓ``, ``g = ∂ℓ/∂z``,
``H = ∂²ℓ/∂z²``. The backward of order ``k`` is the function of order ``k + 1``
times the incoming gradient, and its forward-mode rule (``jvp``) the same times
the tangent, so double backward — or ``torch.func.hessian`` — returns the
kernel's exact Hessian, not autograd's derivative of a formula. Third derivatives
(the backward of ``H``) are autograd through the kernel's Hessian expression.

The softmax cross-entropy is ``ℓ`` (per row), ``g = ā p − a`` and
``H u = ā (p ⊙ u − p (pᵀu))`` (the loss's ``_hvp``): the backward of ``g`` is
``H u``, so double backward gives exact Hessian-vector products.

Derivatives in the target (soft labels) are declared per loss in
:data:`TARGET_RULES`: for ``ℓ(z − y)`` the order-``k`` derivative in ``y`` is
``−`` the order ``k + 1`` in ``z``; for ``ℓ = A(z) + y B(z)`` it is
``B⁽ᵏ⁾(z)``. Binary losses of labels in ``{0, 1}`` have none.

Infinite scores: a kernel evaluated at ``z = ±∞`` can give ``0 · ∞ = NaN``
where the limit is finite (the logistic loss of a correct label at an infinite
logit). Where asked (``limits=True``), results that are NaN at a non-NaN input
are taken from the kernel at ``±finfo.max / 4`` instead, where every loss has
reached its limit (``exp`` under- or overflows).
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat.torch as _compat
import torch

__all__ = ["TARGET_RULES", "scalar_apply", "softmax_value"]


class _Namespace:
    """array_api_compat's torch namespace, with ``sign`` as ``torch.sign``.

    The compat ``sign`` writes NaN through a boolean mask, which ``torch.func.vmap``
    cannot batch; scores reaching a kernel here are never NaN (checked first), so
    ``torch.sign`` gives the same values.
    """

    sign = staticmethod(torch.sign)

    def __getattr__(self, name: str) -> Any:
        return getattr(_compat, name)


xp = _Namespace()


# --------------------------------------------------------------------- helpers
def _big(z: torch.Tensor) -> float:
    return torch.finfo(z.dtype).max / 4


def _clamped(z: torch.Tensor) -> torch.Tensor:
    big = _big(z)
    return torch.clamp(z, -big, big)


def _mul(grad: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    return grad * d


#: ``limits`` (an int) also says the route: 0 the kernel on tensors, 1 the same with
#: the limits at infinite scores, 2 the NumPy methods (compiled, multi-threaded) on
#: the CPU tensors' memory — for finite scores outside transforms and compilation.
#: 3: the NumPy route computing value and gradient in one pass (the input requires
#: grad): the gradient is kept for the first backward.
TORCH, TORCH_LIMITS, NUMPY, NUMPY_FUSED = 0, 1, 2, 3


def kernel_order(loss: Any, z: torch.Tensor, y: torch.Tensor, k: int, limits: int):
    """The kernel's output of order ``k`` (0 value, 1 gradient, 2 Hessian)."""
    if limits == NUMPY_FUSED and k == 0:
        yn, zn = y.detach().reshape(-1).numpy(), z.detach().reshape(-1).numpy()
        v, g = loss.value_gradient(yn, zn, check_input=False)
        out = torch.from_numpy(v).reshape(z.shape)
        out._lossmath_gradient = torch.from_numpy(g).reshape(z.shape)
        return out
    if limits >= NUMPY:
        method = (loss.value, loss.gradient, loss.hessian_diagonal)[k]
        shape = z.shape
        out = method(
            y.detach().reshape(-1).numpy(), z.detach().reshape(-1).numpy(), check_input=False
        )
        return torch.from_numpy(out).reshape(shape)
    flags = (k == 0, k == 1, k == 2)
    out = loss._kernel(xp, y, z, *flags)[k]
    if limits == TORCH_LIMITS:
        at_limit = loss._kernel(xp, y, _clamped(z), *flags)[k]
        out = torch.where(torch.isnan(out) & ~torch.isnan(z), at_limit, out)
    return out


# --------------------------------------------------------- targets' derivatives
def _exp_minus(z):
    return torch.exp(-z)


def _tweedie_rule(loss):
    p = loss.power

    def b(z, k):
        e = torch.exp((1 - p) * z)
        return (-e / (1 - p), -e, -(1 - p) * e)[k]

    return b


def _linear(b):
    return lambda loss: b


#: loss name → ``"shift"`` (a loss of ``z − y``) or a function ``loss ↦ B(z, k)``
#: (a loss ``A(z) + y B(z)``: ``B⁽ᵏ⁾(z)``). Missing: not differentiable in ``y``.
TARGET_RULES: dict[str, Any] = {
    **{
        name: "shift"
        for name in (
            "squared_error",
            "absolute_error",
            "huber",
            "pseudo_huber",
            "log_cosh",
            "quantile",
        )
    },
    "logistic": _linear(lambda z, k: (-z, -torch.ones_like(z), torch.zeros_like(z))[k]),
    "poisson": _linear(lambda z, k: (-z, -torch.ones_like(z), torch.zeros_like(z))[k]),
    "gamma": _linear(lambda z, k: (1, -1, 1)[k] * _exp_minus(z)),
    "tweedie": _tweedie_rule,
}


def _target_derivative(loss, z, y, k, limits, grad, fm):
    """``grad · ∂/∂y`` of the order-``k`` output."""
    rule = TARGET_RULES.get(loss.name)
    if rule is None:  # refused up front for a target requiring grad (lossmath.torch._api)
        return None
    if rule == "shift":
        if k < 2:
            fam = _ORDERS if fm else _ORDERS_COMPILE
            return -_mul(grad, fam[k + 1].apply(z, y, loss, limits, fm))
        return None
    return _mul(grad, rule(loss)(z, k))


# ------------------------------------------------------------ scalar functions
def _third(loss, z, y, grad, needs):
    """Backward of the Hessian: autograd through the kernel's Hessian expression."""
    with torch.enable_grad():
        zz = z.detach().requires_grad_(needs[0])
        yy = y.detach().requires_grad_(needs[1])
        h = loss._kernel(xp, yy, zz, False, False, True)[2]
        inputs = [t for t, n in zip((zz, yy), needs, strict=True) if n]
        grads = torch.autograd.grad(h, inputs, grad, allow_unused=True)
    it = iter(grads)
    return tuple(next(it) if n else None for n in needs)


def _setup(ctx, inputs, output):
    z, y, loss, limits, forward_mode = inputs
    ctx.save_for_backward(z, y)
    ctx.save_for_forward(z, y)
    ctx.loss, ctx.limits, ctx.fm = loss, limits, forward_mode
    # The gradient computed with the value (NUMPY_FUSED), for a first backward.
    ctx.kept_gradient = getattr(output, "_lossmath_gradient", None)
    if ctx.kept_gradient is not None:
        del output._lossmath_gradient


def _backward(ctx, grad, k):
    z, y = ctx.saved_tensors
    loss, limits, fm = ctx.loss, ctx.limits, ctx.fm
    fam = _ORDERS if fm else _ORDERS_COMPILE
    needs = ctx.needs_input_grad[:2]
    if k == 2:
        return (*_third(loss, z, y, grad, needs), None, None, None)
    kept = ctx.kept_gradient if k == 0 else None
    if kept is not None and not torch.is_grad_enabled():
        gz = _mul(grad, kept) if needs[0] else None  # no double backward to follow
    elif kept is not None:
        gz = _mul(grad, KeptGradient.apply(z, y, kept, loss, limits)) if needs[0] else None
    else:
        gz = _mul(grad, fam[k + 1].apply(z, y, loss, limits, fm)) if needs[0] else None
    gy = _target_derivative(loss, z, y, k, limits, grad, fm) if needs[1] else None
    return gz, gy, None, None, None


def _refuse_forward_over_forward() -> None:
    """Forward-mode AD of a custom Function's ``jvp`` rule is not carried out by
    PyTorch (2.13): ``jacfwd(jacfwd(f))`` would silently return zeros. Refuse it."""
    stack = torch._C._functorch.get_interpreter_stack() or []
    jvp = torch._C._functorch.TransformType.Jvp
    if sum(i.key() == jvp for i in stack) > 1:
        raise NotImplementedError(
            "lossmath.torch: forward-over-forward differentiation (jacfwd(jacfwd(f)), "
            "jvp of jvp) is not supported; use torch.func.hessian (jacfwd of jacrev) "
            "or jacrev"
        )


def _jvp(ctx, dz, dy, k):
    _refuse_forward_over_forward()
    z, y = ctx.saved_tensors
    loss, limits, fm = ctx.loss, ctx.limits, ctx.fm
    fam = _ORDERS if fm else _ORDERS_COMPILE
    out = 0
    if dz is not None:
        out = _mul(dz, fam[k + 1].apply(z, y, loss, limits, fm))
    if dy is not None:
        dl = _target_derivative(loss, z, y, k, limits, dy, fm)
        out = out if dl is None else out + dl
    return out


# Module-level classes (not made in a closure), which torch.compile's tracer resolves.
class LossValue(torch.autograd.Function):
    """``ℓ(y, z)`` elementwise; backward ``g``."""

    generate_vmap_rule = True
    setup_context = staticmethod(_setup)

    @staticmethod
    def forward(z, y, loss, limits, forward_mode):
        return kernel_order(loss, z, y, 0, limits)

    @staticmethod
    def backward(ctx, grad):
        return _backward(ctx, grad, 0)


class LossGradient(torch.autograd.Function):
    """``g = ∂ℓ/∂z`` elementwise; backward ``H``."""

    generate_vmap_rule = True
    setup_context = staticmethod(_setup)

    @staticmethod
    def forward(z, y, loss, limits, forward_mode):
        return kernel_order(loss, z, y, 1, limits)

    @staticmethod
    def backward(ctx, grad):
        return _backward(ctx, grad, 1)


class LossHessian(torch.autograd.Function):
    """``H = ∂²ℓ/∂z²`` elementwise; backward by autograd through its formula."""

    generate_vmap_rule = True
    setup_context = staticmethod(_setup)

    @staticmethod
    def forward(z, y, loss, limits, forward_mode):
        return kernel_order(loss, z, y, 2, limits)

    @staticmethod
    def backward(ctx, grad):
        return _backward(ctx, grad, 2)


class KeptGradient(torch.autograd.Function):
    """The gradient computed with the value (``NUMPY_FUSED``), differentiable: its
    backward is the Hessian, as :class:`LossGradient`'s (eager double backward)."""

    @staticmethod
    def forward(z, y, g, loss, limits):
        return g.view_as(g)

    @staticmethod
    def setup_context(ctx, inputs, output):
        z, y, _, loss, limits = inputs
        ctx.save_for_backward(z, y)
        ctx.loss, ctx.limits, ctx.fm, ctx.kept_gradient = loss, limits, True, None

    @staticmethod
    def backward(ctx, grad):
        gz, gy, *_ = _backward(ctx, grad, 1)
        return gz, gy, None, None, None


class _LossValueJvp(LossValue):
    @staticmethod
    def jvp(ctx, dz, dy, _loss, _limits, _forward_mode):
        return _jvp(ctx, dz, dy, 0)


class _LossGradientJvp(LossGradient):
    @staticmethod
    def jvp(ctx, dz, dy, _loss, _limits, _forward_mode):
        return _jvp(ctx, dz, dy, 1)


# With forward-mode rules (``jvp``: ``torch.func.jacfwd``, ``hessian``) in eager
# code; without them under ``torch.compile``, whose tracer (Dynamo, torch 2.13)
# refuses autograd functions that define ``jvp``. Forward-mode third derivatives
# (the Hessian's ``jvp``) are not available.
_ORDERS = (_LossValueJvp, _LossGradientJvp, LossHessian)
_ORDERS_COMPILE = (LossValue, LossGradient, LossHessian)


def scalar_apply(loss: Any, z: torch.Tensor, y: torch.Tensor, limits: bool) -> torch.Tensor:
    """``ℓ(y, z)`` elementwise, differentiable at every order by closed forms."""
    fm = not torch.compiler.is_compiling()
    return (_ORDERS if fm else _ORDERS_COMPILE)[0].apply(z, y, loss, limits, fm)


# ----------------------------------------------------------- the softmax rows
def _softmax_limits(loss, z, a, k, out, extra=None):
    """Results at infinite logits: NaN replaced by the kernel at ``±max/4``."""
    zc = _clamped(z)
    if k == 0:
        at = loss._kernel(xp, a, zc, True, False, False)[0]
        nan = torch.isnan(out)
        out = torch.where(nan, at, out)
        # The value is +inf where a positive target weight sits on a class that an
        # infinite logit outranks (or on a class of logit −∞).
        pos_inf = torch.any(z == math.inf, dim=1, keepdim=True)
        lost = (a > 0) & ((z == -math.inf) | (pos_inf & (z != math.inf)))
        return torch.where(torch.any(lost, dim=1), torch.full_like(out, math.inf), out)
    at = loss._kernel(xp, a, zc, False, True, False)[1] if k == 1 else loss._hvp(xp, a, zc, extra)
    return torch.where(torch.isnan(out), at, out)


#: The NumPy route of the softmax: a plain multinomial of the target weights ``a``
#: as probability rows (smoothing and class weights are already in ``a``).
_PLAIN_SOFTMAX: list = []


def _softmax_numpy(method: str, a, z, *extra):
    if not _PLAIN_SOFTMAX:
        from lossmath.losses import Multinomial

        _PLAIN_SOFTMAX.append(Multinomial())
    args = (t.detach().contiguous().numpy() for t in (a, z, *extra))
    out = getattr(_PLAIN_SOFTMAX[0], method)(*args, check_input=False)
    if isinstance(out, tuple):
        return tuple(torch.from_numpy(o) for o in out)
    return torch.from_numpy(out)


def _p(z):
    return torch.softmax(z, dim=1)


class _SoftmaxValue(torch.autograd.Function):
    """Per-row ``ℓ = Σ_k a_k (lse(z) − z_k)`` of rows ``z`` and target weights ``a``."""

    generate_vmap_rule = True

    @staticmethod
    def forward(z, a, loss, limits, fm):
        if limits == NUMPY_FUSED:
            v, g = _softmax_numpy("value_gradient", a, z)
            v._lossmath_gradient = g
            return v
        if limits >= NUMPY:
            return _softmax_numpy("value", a, z)
        out = loss._kernel(xp, a, z, True, False, False)[0]
        return _softmax_limits(loss, z, a, 0, out) if limits == TORCH_LIMITS else out

    @staticmethod
    def setup_context(ctx, inputs, output):
        z, a, loss, limits, fm = inputs
        ctx.save_for_backward(z, a)
        ctx.save_for_forward(z, a)
        ctx.loss, ctx.limits = loss, limits
        ctx.fam = _SOFTMAX if fm else _SOFTMAX_COMPILE
        ctx.fm = fm
        ctx.kept_gradient = getattr(output, "_lossmath_gradient", None)
        if ctx.kept_gradient is not None:
            del output._lossmath_gradient

    @staticmethod
    def backward(ctx, grad):
        z, a = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gz = ga = None
        if needs[0]:
            g = ctx.kept_gradient
            if g is None or torch.is_grad_enabled():  # a double backward may follow
                g = ctx.fam[1].apply(z, a, ctx.loss, ctx.limits, ctx.fm)
            gz = grad[:, None] * g
        if needs[1]:
            ga = grad[:, None] * -torch.log_softmax(z, dim=1)
        return gz, ga, None, None, None


class _SoftmaxValueJvp(_SoftmaxValue):
    @staticmethod
    def jvp(ctx, dz, da, _loss, _limits, _fm):
        _refuse_forward_over_forward()
        z, a = ctx.saved_tensors
        out = 0
        if dz is not None:
            g = ctx.fam[1].apply(z, a, ctx.loss, ctx.limits, ctx.fm)
            out = torch.sum(g * dz, dim=1)
        if da is not None:
            out = out + torch.sum(-torch.log_softmax(z, dim=1) * da, dim=1)
        return out


class _SoftmaxGradient(torch.autograd.Function):
    """``g = ā p − a`` per row; its backward is ``H u`` (the loss's ``_hvp``)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(z, a, loss, limits, fm):
        if limits >= NUMPY:
            return _softmax_numpy("gradient", a, z)
        out = loss._kernel(xp, a, z, False, True, False)[1]
        return _softmax_limits(loss, z, a, 1, out) if limits == TORCH_LIMITS else out

    @staticmethod
    def setup_context(ctx, inputs, output):
        z, a, loss, limits, fm = inputs
        ctx.save_for_backward(z, a)
        ctx.save_for_forward(z, a)
        ctx.loss, ctx.limits = loss, limits
        ctx.fam = _SOFTMAX if fm else _SOFTMAX_COMPILE
        ctx.fm = fm

    @staticmethod
    def backward(ctx, grad):
        z, a = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gz = ctx.fam[2].apply(z, a, grad, ctx.loss, ctx.limits) if needs[0] else None
        # ∂(Σ_j u_j g_j)/∂a_k = pᵀu − u_k  (g = ā p − a, ā = Σ a).
        ga = torch.sum(_p(z) * grad, dim=1, keepdim=True) - grad if needs[1] else None
        return gz, ga, None, None, None


class _SoftmaxGradientJvp(_SoftmaxGradient):
    @staticmethod
    def jvp(ctx, dz, da, _loss, _limits, _fm):
        _refuse_forward_over_forward()
        z, a = ctx.saved_tensors
        out = 0
        if dz is not None:
            out = ctx.fam[2].apply(z, a, dz, ctx.loss, ctx.limits)
        if da is not None:
            # d(ā p − a) = (Σ da) p − da
            out = out + torch.sum(da, dim=1, keepdim=True) * _p(z) - da
        return out


class SoftmaxHvp(torch.autograd.Function):
    """``H u = ā (p ⊙ u − p (pᵀu))`` per row; its derivatives by autograd."""

    generate_vmap_rule = True

    @staticmethod
    def forward(z, a, u, loss, limits):
        if limits >= NUMPY:
            return _softmax_numpy("hessian_vector_product", a, z, u)
        out = loss._hvp(xp, a, z, u)
        return _softmax_limits(loss, z, a, 2, out, u) if limits == TORCH_LIMITS else out

    @staticmethod
    def setup_context(ctx, inputs, output):
        z, a, u, loss, _limits = inputs
        ctx.save_for_backward(z, a, u)
        ctx.loss = loss

    @staticmethod
    def backward(ctx, grad):
        z, a, u = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        with torch.enable_grad():
            leaves = [t.detach().requires_grad_(n) for t, n in zip((z, a, u), needs, strict=True)]
            hv = ctx.loss._hvp(xp, leaves[1], leaves[0], leaves[2])
            wanted = [t for t, n in zip(leaves, needs, strict=True) if n]
            grads = iter(torch.autograd.grad(hv, wanted, grad, allow_unused=True))
        return (*(next(grads) if n else None for n in needs), None, None)


_SOFTMAX = (_SoftmaxValueJvp, _SoftmaxGradientJvp, SoftmaxHvp)
_SOFTMAX_COMPILE = (_SoftmaxValue, _SoftmaxGradient, SoftmaxHvp)


def softmax_value(loss: Any, z: torch.Tensor, a: torch.Tensor, limits: bool) -> torch.Tensor:
    """Per-row softmax cross-entropy of rows ``z`` ``(n, K)`` and target weights ``a``."""
    fm = not torch.compiler.is_compiling()
    return (_SOFTMAX if fm else _SOFTMAX_COMPILE)[0].apply(z, a, loss, limits, fm)
