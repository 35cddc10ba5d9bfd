"""Input checks with messages that name the owner, the argument, expected and received."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lossmath._array import as_float_array, is_numpy

__all__ = [
    "Interval",
    "check_finite",
    "check_out",
    "check_param",
    "to_float",
]


@dataclass(frozen=True)
class Interval:
    """A set of reals ``low (<|<=) x (<|<=) high``, or ``{0, 1}`` when ``binary``."""

    low: float = -math.inf
    high: float = math.inf
    low_inclusive: bool = False
    high_inclusive: bool = False
    binary: bool = False

    @property
    def limits(self) -> tuple:
        """``(low, high, low_inclusive, high_inclusive, binary)``: the compiled checks' input."""
        return (self.low, self.high, self.low_inclusive, self.high_inclusive, self.binary)

    def __str__(self) -> str:
        if self.binary:
            return "{0, 1}"
        left = "[" if self.low_inclusive else "("
        right = "]" if self.high_inclusive else ")"
        return f"{left}{self.low:g}, {self.high:g}{right}"

    def describe(self, arg: str) -> str:
        """``'y must be >= 0'`` and the like, for error messages."""
        if self.binary:
            return f"{arg} must be 0 or 1"
        if math.isinf(self.low) and math.isinf(self.high):
            return f"{arg} must be finite"
        if math.isinf(self.high):
            return f"{arg} must be {'>=' if self.low_inclusive else '>'} {self.low:g}"
        if math.isinf(self.low):
            return f"{arg} must be {'<=' if self.high_inclusive else '<'} {self.high:g}"
        return f"{arg} must lie in {self}"

    def contains(self, xp: Any, x: Any) -> Any:
        """Elementwise membership, a boolean array."""
        if self.binary:
            return (x == 0) | (x == 1)
        ok = (x >= self.low) if self.low_inclusive else (x > self.low)
        return ok & ((x <= self.high) if self.high_inclusive else (x < self.high))

    def check(self, owner: str, arg: str, xp: Any, x: Any) -> None:
        """Raise ``ValueError`` naming the first offending value of ``x``."""
        inside = self.contains(xp, x)
        if _all(xp, inside):
            return
        bad = x[~inside]
        if self.binary:
            detail = f"got {_scalar(bad[0])} at {int(xp.sum(xp.astype(~inside, xp.int64)))} entries"
        elif bool(xp.any(bad < self.low)) or (
            not self.low_inclusive and bool(xp.any(bad == self.low))
        ):
            detail = f"got min({arg}) = {_scalar(xp.min(x))}"
        else:
            detail = f"got max({arg}) = {_scalar(xp.max(x))}"
        raise ValueError(f"{owner}: {self.describe(arg)}; {detail}")


def _all(xp: Any, mask: Any) -> bool:
    """``bool(xp.all(mask))``; a NumPy array's own method where it is one (a third
    of the time of the namespace's function, which small inputs notice)."""
    if type(mask) is np.ndarray:
        return bool(mask.all())
    return bool(xp.all(mask))


def _scalar(x: Any) -> str:
    return f"{float(x)!r}"


def to_float(owner: str, arg: str, xp: Any, x: Any, dtype: Any = None) -> Any:
    """``x`` as a floating array, or a ``TypeError`` naming ``arg``."""
    if is_numpy(xp) or isinstance(x, list | tuple | int | float):
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as error:  # ragged lists, odd objects
            raise TypeError(
                f"{owner}: {arg} must be a real numeric array; got a {type(x).__name__} "
                f"that is not one ({error})"
            ) from None
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"{owner}: {arg} must be a real numeric array; got dtype {arr.dtype} "
                f"({type(x).__name__})"
            )
        x = arr
    elif not (xp.isdtype(x.dtype, "numeric") or xp.isdtype(x.dtype, "bool")):
        raise TypeError(f"{owner}: {arg} must be a real numeric array; got dtype {x.dtype}")
    elif xp.isdtype(x.dtype, "complex floating"):
        raise TypeError(f"{owner}: {arg} must be real; got dtype {x.dtype}")
    return as_float_array(xp, x, dtype)


def check_finite(owner: str, arg: str, xp: Any, x: Any) -> None:
    """Raise ``ValueError`` if ``x`` holds a NaN or an infinity."""
    finite = xp.isfinite(x)
    if _all(xp, finite):
        return
    n_bad = int(xp.sum(xp.astype(~finite, xp.int64)))
    first = _scalar(x[~finite][0])
    raise ValueError(
        f"{owner}: {arg} must be finite; got {n_bad} non-finite "
        f"value{'s' if n_bad > 1 else ''} (first: {first})"
    )


def check_param(
    owner: str, name: str, value: Any, interval: Interval, *, allow_none: bool = False
) -> float | None:
    """A scalar hyper-parameter as a float, checked against ``interval``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{owner}: {name} must be a real number; got {value!r}")
    value = float(value)
    if math.isnan(value) or not bool(interval.contains(np, np.asarray(value))):
        raise ValueError(f"{owner}: {interval.describe(name)}; got {name} = {value!r}")
    return value


def check_out(owner: str, arg: str, out: Any, shape: tuple, dtype: Any) -> None:
    """An ``out=`` buffer must have the result's shape and dtype and be writable."""
    if tuple(out.shape) != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"{owner}: {arg} must have shape {tuple(shape)} and dtype {dtype}; "
            f"got shape {tuple(out.shape)} and dtype {out.dtype}"
        )
    flags = getattr(out, "flags", None)  # NumPy's; other array types have none
    if flags is not None and not getattr(flags, "writeable", True):
        raise ValueError(f"{owner}: {arg} must be writable; got a read-only array")
