r"""The formulas of batch normalisation, written once against the array API.

Shapes: ``x`` has the channel axis ``axis``; the per-channel quantities (``mean``,
``var``, ``weight``, ``bias``) come in the broadcast shape ``(1, …, C, …, 1)``
(``mean``: an array, or the pair ``(μ₀, c)`` of :func:`moments`), and
every mean below is over the ``m`` entries of a channel (all axes but ``axis``).
Nothing here checks its input (:mod:`lossmath.batchnorm._checks` does): callers
pass ``x`` and the per-channel arguments in the dtype the elementwise computation
runs in; the per-channel sums accumulate in :func:`accumulation_dtype`.

Notation: ``μ``, ``σ² `` the channel's mean and biased variance (batch statistics in
train mode, running statistics in inference mode), ``σ = √(σ² + ε)``,
``x̂ = (x − μ)/σ``, ``y = γ x̂ + β``.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "accumulation_dtype",
    "backward",
    "forward",
    "full_mean",
    "jvp",
    "moments",
    "reduce_axes",
    "running_update",
]


def reduce_axes(ndim: int, axis: int) -> tuple[int, ...]:
    """Every axis but the channel axis."""
    return tuple(i for i in range(ndim) if i != axis)


def accumulation_dtype(xp: Any, x: Any) -> Any:
    """The dtype the per-channel sums accumulate in: float64 for float32 input (as
    PyTorch's CPU kernels), where the namespace and device have it, else ``x``'s.

    A float32 sum over a channel of ``m`` entries is off by up to ``m·ε₃₂`` relative
    where the library adds naively along an axis (NumPy's pairwise summation covers
    only the contiguous axis): the mean of a (256, 8, 16) float32 batch of mean 1e3
    came out 6 ulps off.
    """
    if x.dtype != xp.float32:
        return x.dtype
    if array_api_compat.is_jax_namespace(xp):
        import jax

        return xp.float64 if jax.config.read("jax_enable_x64") else x.dtype
    if array_api_compat.is_torch_namespace(xp) and x.device.type == "mps":
        return x.dtype  # no float64 on Apple's GPUs
    return xp.float64


def _sum(xp: Any, a: Any, red: tuple[int, ...], acc: Any) -> Any:
    if acc != a.dtype and array_api_compat.is_torch_namespace(xp) and _plain_cpu_tensor(a):
        # PyTorch (2.13) casts the whole tensor before a float32 → float64 sum, 20×
        # the time of the sum; NumPy accumulates in float64 as it reads. Only where
        # no graph is being recorded through ``a``.
        import torch

        summed = np.sum(a.detach().numpy(), axis=red, keepdims=True, dtype=np.float64)
        return torch.from_numpy(np.asarray(summed))
    return xp.sum(a, axis=red, keepdims=True, dtype=acc)


def _plain_cpu_tensor(a: Any) -> bool:
    import torch

    return (
        a.device.type == "cpu"
        and not (a.requires_grad and torch.is_grad_enabled())
        and not torch._C._functorch.is_functorch_wrapped_tensor(a)
        and not torch.compiler.is_compiling()
        and a.layout == torch.strided
    )


def _like(xp: Any, a: Any, x: Any) -> Any:
    """A per-channel quantity, computed in the accumulation dtype, rounded to ``x``'s."""
    return a if a.dtype == x.dtype else xp.astype(a, x.dtype)


def moments(xp: Any, x: Any, red: tuple[int, ...]) -> tuple[Any, Any]:
    """``(μ, σ²)``: the mean and the biased variance of each channel by the corrected
    two-pass algorithm, summed in the accumulation dtype (and returned in it).

    ``μ₀ = mean(x)`` rounded to ``x``'s dtype, ``d = x − μ₀``, ``c = mean(d)``;
    ``μ = μ₀ + c`` and ``σ² = mean(d²) − c²`` (Chan, Golub & LeVeque, 1983).
    Not ``mean(x²) − μ²``: that subtracts two numbers of size ``μ²`` to get one of
    size ``σ²`` and loses ``(μ/σ)²`` ulps (a channel of mean 1e4 and standard
    deviation 1 keeps no correct digit of its variance in float32, and may even come
    out negative, making ``√(σ² + ε)`` NaN). The second pass sums numbers of size
    ``σ``, not ``μ``: its rounding errors are relative to ``σ``, and ``c`` repairs
    the first pass's error in ``μ`` (which a naive sum along an axis makes
    ``m ε_mach |μ|``) to within ``m ε_mach σ``.
    """
    acc = accumulation_dtype(xp, x)
    m = _count(x, red)
    rough = _like(xp, _sum(xp, x, red, acc) / m, x)
    d = x - rough
    correction = _sum(xp, d, red, acc) / m
    var = _sum(xp, d * d, red, acc) / m - correction * correction
    return (rough, correction), var


def full_mean(xp: Any, mean: Any) -> Any:
    """The mean as one array (in the dtype of its low part) from :func:`moments`' pair."""
    if isinstance(mean, tuple):
        rough, correction = mean
        return xp.astype(rough, correction.dtype) + correction
    return mean


def _centre(xp: Any, x: Any, mean: Any) -> Any:
    """``x − μ``; for the pair ``(μ₀, c)`` of :func:`moments` as ``(x − μ₀) − c``, whose
    first difference is exact where ``|μ| ≫ σ`` (Sterbenz): ``x̂`` keeps its relative
    accuracy, where ``x − round(μ)`` would be off by half an ulp of ``μ``."""
    if isinstance(mean, tuple):
        rough, correction = mean
        return (x - _like(xp, rough, x)) - _like(xp, correction, x)
    return x - _like(xp, mean, x)


def _inv_std(xp: Any, var: Any, eps: float) -> Any:
    return 1.0 / xp.sqrt(var + eps)


def _scale(xp: Any, weight: Any, var: Any, eps: float) -> tuple[Any, Any]:
    """``(1/σ, γ/σ)`` per channel (``γ = 1`` when ``weight`` is None)."""
    inv_std = _inv_std(xp, var, eps)
    return inv_std, inv_std if weight is None else weight * inv_std


def forward(xp: Any, x: Any, mean: Any, var: Any, weight: Any, bias: Any, eps: float) -> Any:
    """``y = γ (x − μ)/σ + β`` (``γ = 1``, ``β = 0`` where None).

    ``x − μ`` first: the fused ``x·(γ/σ) + (β − μγ/σ)`` loses ``|μ|/σ`` ulps to
    cancellation where the mean is large.
    """
    _, scale = _scale(xp, weight, var, eps)
    y = _centre(xp, x, mean) * _like(xp, scale, x)
    if bias is not None:
        y = y + bias
    return y


def backward(
    xp: Any,
    dy: Any,
    x: Any,
    mean: Any,
    var: Any,
    weight: Any,
    eps: float,
    red: tuple[int, ...],
    training: bool,
    needs: tuple[bool, bool, bool] = (True, True, True),
) -> tuple[Any, Any, Any]:
    r"""``(dx, dγ, dβ)`` for the cotangent ``dy`` of ``y``.

    ``dβ = Σ dy``, ``dγ = Σ dy x̂``. In train mode ``μ`` and ``σ`` are functions of
    the whole channel, so ``dx = (γ/σ)(dy − mean(dy) − x̂ mean(dy x̂))``; in inference
    mode they are constants and ``dx = (γ/σ) dy``. ``dγ``, ``dβ`` come back with
    the channel axis kept (broadcast shape), in ``x``'s dtype.
    """
    acc = accumulation_dtype(xp, x)
    inv_std, scale = _scale(xp, weight, var, eps)
    coupled = needs[0] and training
    want_xhat = needs[1] or coupled
    xhat = _centre(xp, x, mean) * _like(xp, inv_std, x) if want_xhat else None
    sum_dy = _sum(xp, dy, red, acc) if needs[2] or coupled else None
    sum_dy_xhat = _sum(xp, dy * xhat, red, acc) if want_xhat else None
    dx = None
    if coupled:
        m = _count(x, red)
        centred = dy - _like(xp, sum_dy / m, x) - xhat * _like(xp, sum_dy_xhat / m, x)
        dx = _like(xp, scale, x) * centred
    elif needs[0]:
        dx = _like(xp, scale, x) * dy
    dweight = _like(xp, sum_dy_xhat, x) if needs[1] else None
    return dx, dweight, _like(xp, sum_dy, x) if needs[2] else None


def jvp(
    xp: Any,
    v: Any,
    dweight: Any,
    dbias: Any,
    x: Any,
    mean: Any,
    var: Any,
    weight: Any,
    eps: float,
    red: tuple[int, ...],
    training: bool,
) -> Any:
    r"""The tangent of ``y`` along ``(v, dγ, dβ)`` (None: no change in that input).

    ``dy = γ dx̂ + dγ x̂ + dβ`` with ``dx̂ = (v − mean(v) − x̂ mean(v x̂))/σ`` in train
    mode (``dμ = mean(v)``, ``dσ = mean(x̂ v)``) and ``v/σ`` in inference mode.
    ``None`` when every tangent is None.
    """
    inv_std, scale = _scale(xp, weight, var, eps)
    out = None
    xhat = None
    if (v is not None and training) or dweight is not None:
        xhat = _centre(xp, x, mean) * _like(xp, inv_std, x)
    if v is not None:
        if training:
            acc = accumulation_dtype(xp, x)
            m = _count(x, red)
            mean_v = _like(xp, _sum(xp, v, red, acc) / m, x)
            mean_v_xhat = _like(xp, _sum(xp, v * xhat, red, acc) / m, x)
            out = _like(xp, scale, x) * (v - mean_v - xhat * mean_v_xhat)
        else:
            out = _like(xp, scale, x) * v
    if dweight is not None:
        out = dweight * xhat if out is None else out + dweight * xhat
    if dbias is not None:
        out = dbias + xp.zeros_like(x) if out is None else out + dbias
    return out


def running_update(
    xp: Any, old_mean: Any, old_var: Any, mean: Any, var: Any, momentum: float, m: int
) -> tuple[Any, Any]:
    """torch's update: ``new = (1 − momentum)·old + momentum·batch``, the batch's
    variance unbiased (``σ² m/(m − 1)``) for the running one."""
    unbiased = var * (m / (m - 1))
    new_mean = momentum * full_mean(xp, mean) + (1.0 - momentum) * old_mean
    new_var = momentum * unbiased + (1.0 - momentum) * old_var
    return new_mean, new_var


def _count(x: Any, red: tuple[int, ...]) -> int:
    """The number of entries of a channel."""
    m = 1
    for i in red:
        m *= int(x.shape[i])
    return m
