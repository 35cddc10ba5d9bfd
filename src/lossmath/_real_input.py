"""One conversion for the inputs of the elementwise primitives (special, activations, links).

Whatever the caller passes — an array of any array-API namespace, a list, a Python or
NumPy scalar, an object with ``__array__`` such as a pandas ``Series`` — comes out as a
real floating array of its namespace in native byte order, or as a ``TypeError`` /
``ValueError`` that names the function and the argument. Nothing here leaks an error
from inside NumPy or array_api_compat ("str is not a supported array type",
"inhomogeneous shape", a ``UFuncTypeError`` on a big-endian array).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossmath._array import get_namespace, is_numpy
from lossmath._validation import to_float

__all__ = ["namespace_of", "real_array"]


def _as_numpy(owner: str, arg: str, x: Any) -> np.ndarray:
    """``np.asarray(x)`` with NumPy's conversion errors renamed after ``owner`` and ``arg``."""
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as error:  # ragged nesting, objects NumPy cannot read
        raise TypeError(
            f"{owner}: {arg} must be a real numeric array; got {type(x).__name__} that "
            f"NumPy cannot convert ({error})"
        ) from None


def namespace_of(owner: str, args: dict[str, Any]) -> Any:
    """The one array namespace of the named arguments, or a ``TypeError`` naming them.

    Lists, scalars and objects with ``__array__`` (pandas) count as NumPy.
    """
    present = {name: a for name, a in args.items() if a is not None}
    for name, a in present.items():
        if not _numpy_convertible(a) and not _is_array_api(a):
            raise TypeError(f"{owner}: {name} must be a real numeric array; got {type(a).__name__}")
    # Python data takes the other arguments' namespace; pandas and the like are NumPy.
    probe = [
        np.empty(0) if _numpy_convertible(a) else a
        for a in present.values()
        if not isinstance(a, list | tuple | int | float | bool | np.generic)
    ]
    try:
        return get_namespace(*probe)
    except TypeError:
        raise TypeError(
            f"{owner}: {', '.join(present)} must be arrays of one namespace (library); got "
            + ", ".join(f"{n}: {type(a).__module__}.{type(a).__name__}" for n, a in present.items())
        ) from None


def _is_array_api(a: Any) -> bool:
    return hasattr(a, "__array_namespace__") or type(a).__module__.split(".")[0] in (
        "torch",
        "jax",
        "jaxlib",
        "cupy",
        "dask",
    )


def _numpy_convertible(a: Any) -> bool:
    """Plain Python data and objects exposing ``__array__`` (pandas), not str or bytes."""
    if isinstance(a, str | bytes | dict | set):
        return False
    return isinstance(a, list | tuple | int | float | bool | np.generic | np.ndarray) or (
        hasattr(a, "__array__") and not _is_array_api(a)
    )


def real_array(owner: str, arg: str, x: Any, dtype: Any = None) -> tuple[Any, Any]:
    """``(xp, x)``: ``x`` as a real floating array of namespace ``xp``, native byte order.

    Integers and booleans become float64 (or ``dtype``); floating input keeps its
    dtype. Complex, string, object, date and time input raises ``TypeError``.
    """
    try:
        xp = get_namespace(x)
    except TypeError:
        if not _numpy_convertible(x):
            raise TypeError(
                f"{owner}: {arg} must be a real numeric array; got {type(x).__name__}"
            ) from None
        x = _as_numpy(owner, arg, x)
        xp = get_namespace(x)
    if is_numpy(xp) and type(x) is not np.ndarray:
        given = type(x).__name__
        x = _as_numpy(owner, arg, x)
        if x.dtype.kind not in "biuf":
            raise TypeError(
                f"{owner}: {arg} must be a real numeric array; got {given} (NumPy dtype {x.dtype})"
            )
    x = to_float(owner, arg, xp, x, dtype)
    if type(x) is np.ndarray and not x.dtype.isnative:
        # NumPy's ufuncs with ``out=`` or ``casting="no"`` (clip, the compiled loops)
        # refuse a byte-swapped array; the swap to native order is exact.
        x = x.astype(x.dtype.newbyteorder("="))
    return get_namespace(x), x
