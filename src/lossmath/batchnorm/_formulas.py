r"""The formulas of batch normalisation, written once against the array API.

Shapes: ``x`` has the channel axis ``axis``; the per-channel quantities (``mean``,
``var``, ``weight``, ``bias``) come in the broadcast shape ``(1, …, C, …, 1)``, and
every mean below is over the ``m`` entries of a channel (all axes but ``axis``).
Nothing here checks its input (:mod:`lossmath.batchnorm._checks` does) nor casts
dtypes: callers pass arrays of the dtype the computation runs in.

Notation: ``μ``, ``σ² `` the channel's mean and biased variance (batch statistics in
train mode, running statistics in inference mode), ``σ = √(σ² + ε)``,
``x̂ = (x − μ)/σ``, ``y = γ x̂ + β``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["backward", "forward", "jvp", "moments", "reduce_axes", "running_update"]


def reduce_axes(ndim: int, axis: int) -> tuple[int, ...]:
    """Every axis but the channel axis."""
    return tuple(i for i in range(ndim) if i != axis)


def moments(xp: Any, x: Any, red: tuple[int, ...]) -> tuple[Any, Any]:
    """``(μ, σ²)``: the mean and the biased variance of each channel, two passes.

    ``σ² = mean((x − μ)²)``, not ``mean(x²) − μ²``: the latter subtracts two numbers
    of size ``μ²`` to get one of size ``σ²`` and loses ``(μ/σ)²`` ulps (a channel of
    mean 1e4 and standard deviation 1 keeps no correct digit of its variance in
    float32, and can even come out negative, so ``√(σ² + ε)`` is NaN). The rounding
    error of ``μ`` enters the two-pass variance only squared, ``(ε_mach μ/σ)²``
    relative.
    """
    mean = xp.mean(x, axis=red, keepdims=True)
    d = x - mean
    return mean, xp.mean(d * d, axis=red, keepdims=True)


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
    y = (x - mean) * _inv_std(xp, var, eps)
    if weight is not None:
        y = y * weight
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
    the channel axis kept (broadcast shape).
    """
    inv_std, scale = _scale(xp, weight, var, eps)
    want_xhat = needs[1] or (needs[0] and training)
    xhat = (x - mean) * inv_std if want_xhat else None
    sum_dy = xp.sum(dy, axis=red, keepdims=True) if needs[2] or (needs[0] and training) else None
    sum_dy_xhat = xp.sum(dy * xhat, axis=red, keepdims=True) if want_xhat else None
    dx = None
    if needs[0]:
        if training:
            m = _count(x, red)
            dx = scale * (dy - sum_dy / m - xhat * (sum_dy_xhat / m))
        else:
            dx = scale * dy
    return dx, sum_dy_xhat if needs[1] else None, sum_dy if needs[2] else None


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
    if v is not None:
        if training:
            m = _count(x, red)
            xhat = (x - mean) * inv_std
            mean_v = xp.sum(v, axis=red, keepdims=True) / m
            mean_v_xhat = xp.sum(v * xhat, axis=red, keepdims=True) / m
            out = scale * (v - mean_v - xhat * mean_v_xhat)
        else:
            out = scale * v
    if dweight is not None:
        if xhat is None:
            xhat = (x - mean) * inv_std
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
    new_mean = momentum * mean + (1.0 - momentum) * old_mean
    new_var = momentum * unbiased + (1.0 - momentum) * old_var
    return new_mean, new_var


def _count(x: Any, red: tuple[int, ...]) -> int:
    """The number of entries of a channel."""
    m = 1
    for i in red:
        m *= int(x.shape[i])
    return m
