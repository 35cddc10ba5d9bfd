"""The checks of batch normalisation's arguments, shared by every entry point.

Each failure is a ``TypeError`` or ``ValueError`` that names the function, the
argument, what was expected and what was received. Value checks (finite entries,
a non-negative running variance) are skipped where the values cannot be read: on
JAX tracers (under ``jit``) and on tensors inside ``torch.func.vmap`` or
``torch.compile``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from lossmath._array import numpy_errstate
from lossmath._real_input import namespace_of, real_array
from lossmath._validation import Interval, check_finite, check_param
from lossmath.batchnorm import _formulas as formulas

__all__ = ["Prepared", "check_statistics", "prepare", "prepare_forward"]

_EPS = Interval(0.0, math.inf)
_MOMENTUM = Interval(0.0, 1.0, low_inclusive=True, high_inclusive=True)


@dataclass
class Prepared:
    """The checked arguments, in the dtype the computation runs in (``work``)."""

    xp: Any
    x: Any
    axis: int  # in ``[0, x.ndim)``
    red: tuple[int, ...]
    m: int  # entries per channel
    work: Any  # float32 for float16 / bfloat16 input, else x's dtype
    out: Any  # x's floating dtype
    per_channel: dict[str, Any]  # name → array in the broadcast shape and ``work``, or None
    dtypes: dict[str, Any]  # name → the argument's own floating dtype (None where absent)
    inspect: bool  # whether values were (and can be) inspected
    eps: float
    training: bool


def _concrete(xp: Any, arrays: list[Any]) -> bool:
    """Whether the values of ``arrays`` can be read (no tracer, no vmap, no compile)."""
    if array_api_compat.is_jax_namespace(xp):
        import jax

        return not any(isinstance(a, jax.core.Tracer) for a in arrays)
    if array_api_compat.is_torch_namespace(xp):
        import torch

        if torch.compiler.is_compiling():
            return False
        functorch = torch._C._functorch
        for a in arrays:
            while functorch.is_functorch_wrapped_tensor(a):
                if functorch.is_batchedtensor(a):
                    return False
                a = functorch.get_unwrapped(a)
    return True


def _convert(owner: str, arg: str, xp: Any, a: Any, like: Any) -> Any:
    """``a`` as a real floating array of ``xp`` on ``like``'s device."""
    got_xp, arr = real_array(owner, arg, a)
    if got_xp is not xp and not (
        array_api_compat.is_numpy_namespace(got_xp) and array_api_compat.is_numpy_namespace(xp)
    ):
        # Python data (a list of weights) passed beside arrays of another library.
        return xp.asarray(np.asarray(arr), device=array_api_compat.device(like))
    device, wanted = array_api_compat.device(arr), array_api_compat.device(like)
    if device is not None and wanted is not None and device != wanted:  # None: JAX tracers
        raise ValueError(f"{owner}: {arg} must be on the device of x, {wanted}; got {device}")
    return arr


def _check_int_axis(owner: str, axis: Any, ndim: int, shape: tuple) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{owner}: axis must be an int; got {axis!r}")
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{owner}: axis must lie in [{-ndim}, {ndim}) for x of shape {shape}; got axis={axis}"
        )
    return axis % ndim


def prepare(
    owner: str,
    x: Any,
    *,
    axis: Any,
    training: Any,
    eps: Any,
    momentum: Any = 0.0,
    channel: dict[str, Any] | None = None,
    like_x: dict[str, Any] | None = None,
) -> tuple[Prepared, dict[str, Any]]:
    """Check everything; return the prepared arguments and the ``like_x`` arrays
    (cotangents, tangents: the shape of ``x``) converted to the working dtype.

    ``channel``: the per-channel arguments by name (``weight``, ``bias``,
    ``running_mean``, ``running_var``, ``dweight``, ``dbias``), None allowed.
    """
    channel = channel or {}
    like_x = like_x or {}
    xp = namespace_of(owner, {"x": x, **channel, **like_x})
    if not isinstance(training, bool | np.bool_):
        raise TypeError(f"{owner}: training must be a bool; got {training!r}")
    training = bool(training)
    eps = check_param(owner, "eps", eps, _EPS)
    check_param(owner, "momentum", momentum, _MOMENTUM)

    xp, x = real_array(owner, "x", x)
    shape = tuple(int(s) for s in x.shape)
    if x.ndim < 2:
        raise ValueError(
            f"{owner}: x must have at least 2 dimensions (a batch axis and a channel axis); "
            f"got shape {shape}"
        )
    axis = _check_int_axis(owner, axis, x.ndim, shape)
    n_channels = shape[axis]
    red = formulas.reduce_axes(x.ndim, axis)
    m = math.prod(shape[i] for i in red)
    out = x.dtype
    work = xp.float32 if xp.finfo(out).bits < 32 else out

    arrays = {"x": x}
    for name, a in channel.items():
        if a is None:
            continue
        a = _convert(owner, name, xp, a, x)
        if tuple(a.shape) != (n_channels,):
            raise ValueError(
                f"{owner}: {name} must have shape ({n_channels},), one entry per channel "
                f"(axis {axis} of x, shape {shape}); got shape {tuple(int(s) for s in a.shape)}"
            )
        arrays[name] = a
    for name, a in like_x.items():
        if a is None:
            continue
        a = _convert(owner, name, xp, a, x)
        if tuple(a.shape) != shape:
            raise ValueError(
                f"{owner}: {name} must have the shape of x, {shape}; "
                f"got shape {tuple(int(s) for s in a.shape)}"
            )
        arrays[name] = a

    if ("running_mean" in arrays) != ("running_var" in arrays):
        given, missing = (
            ("running_mean", "running_var")
            if "running_mean" in arrays
            else ("running_var", "running_mean")
        )
        raise ValueError(f"{owner}: {missing} must be given with {given}; got {missing}=None")
    if not training and "running_mean" not in arrays and "running_mean" in channel:
        raise ValueError(
            f"{owner}: running_mean and running_var are required when training=False "
            "(inference normalises with them); got None"
        )
    if training and m <= 1:
        # torch: "Expected more than 1 value per channel when training".
        raise ValueError(
            f"{owner}: x must have more than 1 value per channel when training; got shape "
            f"{shape}, {m} value per channel (the axes other than axis {axis})"
        )

    inspect = _concrete(xp, list(arrays.values()))
    if inspect:
        for name, a in arrays.items():
            _check_finite(owner, name, xp, a)
        if "running_var" in arrays:
            Interval(0.0, math.inf, low_inclusive=True).check(
                owner, "running_var", xp, arrays["running_var"]
            )

    bshape = tuple(n_channels if i == axis else 1 for i in range(x.ndim))
    per_channel, dtypes = {}, {}
    for name in channel:
        a = arrays.get(name)
        dtypes[name] = None if a is None else a.dtype
        per_channel[name] = None if a is None else xp.reshape(_cast(xp, a, work), bshape)
    shaped = {
        name: None if a is None else _cast(xp, arrays[name], work) for name, a in like_x.items()
    }
    prepared = Prepared(
        xp=xp,
        x=_cast(xp, x, work),
        axis=axis,
        red=red,
        m=m,
        work=work,
        out=out,
        per_channel=per_channel,
        dtypes=dtypes,
        inspect=inspect,
        eps=eps,
        training=training,
    )
    return prepared, shaped


def check_statistics(owner: str, p: Prepared, mean: Any, var: Any) -> None:
    """Refuse batch statistics that overflowed (finite ``x`` beyond about ``√max`` of
    its dtype): they would make every output NaN."""
    if not p.inspect:
        return
    xp = p.xp
    if bool(xp.all(xp.isfinite(mean))) and bool(xp.all(xp.isfinite(var))):
        return
    raise ValueError(
        f"{owner}: x must be small enough for its channel variance to be finite in "
        f"{p.x.dtype}; got max |x| = {float(xp.max(xp.abs(p.x)))!r} (rescale x)"
    )


def _check_finite(owner: str, arg: str, xp: Any, a: Any) -> None:
    """A finite sum means every entry is finite (an infinity or NaN makes the sum
    ±inf or NaN): one reduction, where ``isfinite`` writes a mask (three passes in
    PyTorch). Only a sum that is not finite — a bad entry, or an overflow — is
    looked at entry by entry."""
    with numpy_errstate():
        total = xp.sum(a)
    if not bool(xp.isfinite(total)):
        check_finite(owner, arg, xp, a)


def _cast(xp: Any, a: Any, dtype: Any) -> Any:
    return a if a.dtype == dtype else xp.astype(a, dtype)


def prepare_forward(
    x: Any,
    weight: Any,
    bias: Any,
    running_mean: Any,
    running_var: Any,
    *,
    training: Any,
    momentum: Any,
    eps: Any,
    axis: Any,
) -> Prepared:
    """:func:`prepare` of the forward pass's arguments (``batch_norm`` on any array
    library and on tensors alike)."""
    p, _ = prepare(
        "batch_norm",
        x,
        axis=axis,
        training=training,
        eps=eps,
        momentum=momentum,
        channel={
            "weight": weight,
            "bias": bias,
            "running_mean": running_mean,
            "running_var": running_var,
        },
    )
    return p
