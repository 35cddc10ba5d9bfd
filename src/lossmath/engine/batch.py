"""One normalised batch: every conversion and check of a loss method's inputs.

A loss method's arguments ``(y, z, sample_weight, v, out)`` arrive as whatever the
user has — NumPy arrays, lists, pandas objects, PyTorch or JAX tensors — and leave
this module as arrays of one namespace that the runners read, or as a
``TypeError`` / ``ValueError`` that names the loss, the argument, what was
expected and what was received. Nothing else in the engine converts or checks
an input:

* :func:`arrays` — the argument types (pandas objects become NumPy arrays; ``None``,
  strings, mappings are refused), Python sequences and integer scores as the
  float arrays the validation makes of them, native byte order;
* :func:`namespace` — the one array namespace of the inputs;
* :func:`validate` — shapes, dtypes, finiteness and the target's domain (the
  loss's ``_check_z_shape`` and ``_validate_y`` say what its shapes and domain are);
* :func:`weights` — ``sample_weight``, checked here and nowhere else;
* :func:`apply_weight` — ``sample_weight`` applied, the NumPy way (the compiled
  loops apply it with the same rule: a weight of 0 contributes exactly 0);
* :func:`out_buffers` — ``out=`` as one buffer per result.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from lossmath._array import get_namespace, is_numpy, numpy_errstate
from lossmath._validation import Interval, check_finite, to_float

__all__ = [
    "apply_weight",
    "array_like",
    "arrays",
    "namespace",
    "out_buffers",
    "read_as_they_are",
    "validate",
    "vector",
    "weights",
]

#: The arguments of a loss method, in the order the engine passes them.
NAMES = ("y", "z", "sample_weight", "v")
_NON_NEGATIVE = Interval(0.0, low_inclusive=True)


def _refuse(owner: str, method: str, name: str, a: Any) -> None:
    raise TypeError(
        f"{owner}: {name} must be an array of numbers (NumPy, a pandas Series or "
        f"DataFrame, a list, PyTorch, JAX, CuPy) in {owner}.{method}; "
        f"got {type(a).__name__}"
    )


def array_like(owner: str, method: str, name: str, a: Any) -> Any:
    """``a`` itself where the engine reads it as it is; a pandas object (anything
    with ``__array__`` that is no array API array) as a NumPy array; else a
    ``TypeError`` naming the argument."""
    if a is None or type(a) is np.ndarray:
        return a
    if isinstance(a, list | tuple | int | float | bool | np.generic):
        return a
    if isinstance(a, str | bytes | dict | set | frozenset):
        _refuse(owner, method, name, a)
    if array_api_compat.is_array_api_obj(a):
        return a
    if hasattr(a, "__array__"):  # pandas Series / DataFrame, xarray, ...
        try:
            return np.asarray(a)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{owner}: {name} could not be read as a NumPy array in {owner}.{method} "
                f"({type(a).__name__}: {error})"
            ) from None
    _refuse(owner, method, name, a)


def _sequences_as_arrays(owner: str, y: Any, z: Any, w: Any, v: Any) -> tuple:
    """Python sequences among ``(y, z, w, v)`` as NumPy arrays, converted as the
    validation converts them, so that a list takes the route — and gives the bits —
    of the array it holds. Left as they are next to another array type (PyTorch,
    JAX, ...), whose namespace then decides."""
    items = (y, z, w, v)
    if not any(isinstance(a, list | tuple) for a in items):
        return items
    if not all(a is None or isinstance(a, list | tuple | np.ndarray) for a in items):
        return items
    return tuple(
        to_float(owner, name, np, a) if isinstance(a, list | tuple) else a
        for name, a in zip(NAMES, items, strict=True)
    )


def _native(a: Any) -> Any:
    """A NumPy array in native byte order (a copy only where it is not); else ``a``."""
    if type(a) is np.ndarray and not a.dtype.isnative:
        return a.astype(a.dtype.newbyteorder("="))
    return a


def arrays(owner: str, method: str, y: Any, z: Any, w: Any, v: Any) -> tuple:
    """``(y, z, w, v)`` as the engine reads them.

    NumPy arrays stay as they are (the common case, checked first). pandas
    objects become NumPy arrays; ``None`` for ``y`` or ``z``, strings and
    mappings are refused with a ``TypeError`` naming ``owner.method`` and the
    argument. Python sequences become NumPy arrays (as the validation converts
    them), integer scores float64, and every NumPy array native byte order
    (numba types no other) — so that each takes the route, and gives the bits,
    of the float array it holds.
    """
    if v is None and method == "hessian_vector_product":
        _refuse(owner, method, "v", v)  # v is no optional argument there
    if not (
        type(z) is np.ndarray
        and type(y) is np.ndarray
        and (w is None or type(w) is np.ndarray)
        and (v is None or type(v) is np.ndarray)
    ):
        for name, a in (("y", y), ("z", z)):
            if a is None:
                _refuse(owner, method, name, a)
        y, z, w, v = (
            array_like(owner, method, name, a) for name, a in zip(NAMES, (y, z, w, v), strict=True)
        )
        y, z, w, v = _sequences_as_arrays(owner, y, z, w, v)
        if type(z) is not np.ndarray:
            return y, z, w, v
    if z.dtype.kind in "iu":
        z = z.astype(np.float64)
    if not (
        z.dtype.isnative
        and (type(y) is not np.ndarray or y.dtype.isnative)
        and (w is None or type(w) is not np.ndarray or w.dtype.isnative)
        and (v is None or type(v) is not np.ndarray or v.dtype.isnative)
    ):
        y, z, w, v = (_native(a) for a in (y, z, w, v))
    return y, z, w, v


def namespace(owner: str, *items: Any) -> Any:
    """The array namespace of ``items`` (``None`` ignored), or a ``TypeError`` naming
    the argument types where they mix namespaces (a NumPy ``y`` with a PyTorch ``z``)."""
    try:
        return get_namespace(*items)
    except TypeError:
        kinds = ", ".join(
            f"{name}: {type(a).__module__.split('.')[0]}.{type(a).__name__}"
            for name, a in zip(NAMES, items, strict=False)
            if a is not None
        )
        raise TypeError(
            f"{owner}: y, z, sample_weight and v must be arrays of one library "
            f"(all NumPy, or all PyTorch, ...); got {kinds}"
        ) from None


def weights(owner: str, xp: Any, w: Any, n: int, dtype: Any, check_input: bool) -> Any:
    """``sample_weight`` as an array of ``dtype`` and shape ``(n,)``, finite and ``≥ 0``.

    The one place the weights are checked (the compiled pass of
    :mod:`lossmath.engine.compiled.input_checks` makes the same tests, and calls
    this on a failure for the message).
    """
    if w is None:
        return None
    w = to_float(owner, "sample_weight", xp, w, dtype)
    if tuple(w.shape) != (n,):
        raise ValueError(
            f"{owner}: sample_weight must have shape ({n},) to match z; got shape {tuple(w.shape)}"
        )
    if check_input:
        check_finite(owner, "sample_weight", xp, w)
        _NON_NEGATIVE.check(owner, "sample_weight", xp, w)
    return w


def validate(
    loss: Any,
    y: Any,
    z: Any,
    w: Any,
    check_input: bool,
    xp: Any = None,
    keep_labels: bool = False,
) -> tuple:
    """``(xp, y, z, w, result dtype)``, in the dtype of the computation.

    NumPy float32 and float16 scores are evaluated in float64, other libraries'
    float16 and bfloat16 in float32 (the results are rounded once to the input's
    dtype); the loss's ``_validate_y`` converts and
    checks ``y`` (``keep_labels``: the softmax's class labels stay labels).
    """
    if xp is None:
        xp = namespace(loss.name, y, z, w)
    z = to_float(loss.name, "z", xp, z)
    loss._check_z_shape(z)
    result_dtype = z.dtype
    if is_numpy(xp) and z.dtype in (xp.float32, xp.float16):
        z = xp.astype(z, xp.float64)
    elif z.dtype == xp.float16 or "bfloat16" in str(z.dtype):
        # Half precision on other libraries (a device may lack float64): in float32,
        # rounded once, so that an intermediate such as y − z does not overflow
        # float16's range of 65504 where the result does not.
        z = xp.astype(z, xp.float32)
    y = loss._validate_y(xp, y, z, check_input, keep_labels)
    if check_input:
        check_finite(loss.name, "z", xp, z)
    w = weights(loss.name, xp, w, z.shape[0], z.dtype, check_input)
    return xp, y, z, w, result_dtype


def vector(owner: str, xp: Any, v: Any, like: Any, check_input: bool) -> Any:
    """The vector ``v`` of a Hessian-vector product: the shape of ``z``, finite."""
    v = to_float(owner, "v", xp, v, like.dtype)
    if tuple(v.shape) != tuple(like.shape):
        raise ValueError(
            f"{owner}: v must have the shape of z, {tuple(like.shape)}; got {tuple(v.shape)}"
        )
    if check_input:
        check_finite(owner, "v", xp, v)
    return v


def apply_weight(xp: Any, w: Any, a: Any, dtype: Any = None) -> Any:
    """``a`` times the per-sample weights ``w``, rounded to ``dtype`` once.

    A sample of weight 0 contributes exactly 0, also where its loss overflows
    (``0 · inf`` would be NaN); the compiled loops apply the same rule.
    """
    if a is None:
        return a
    if w is not None:
        ws = xp.reshape(w, (w.shape[0],) + (1,) * (a.ndim - 1))
        with numpy_errstate():
            a = a * ws
            # ``0 · inf`` and ``0 · NaN`` become 0; a finite product stays ``±0``.
            if type(a) is not np.ndarray or np.isnan(a).any():
                a = xp.where((ws == 0) & xp.isnan(a), xp.zeros_like(a), a)
    return a if dtype is None or a.dtype == dtype else xp.astype(a, dtype)


def read_as_they_are(loss: Any, y: Any, z: Any, w: Any, v: Any) -> bool:
    """Whether the compiled loop reads these NumPy arrays as they are.

    Float scores, weights and ``v``, real targets (class labels for the softmax,
    whose row loop also needs C-contiguous rows), in the contract's shapes: they
    skip the NumPy validation, and their values are checked by one compiled pass
    (:mod:`lossmath.engine.compiled.input_checks`). Anything else is validated by
    :func:`validate`, which raises its messages. The softmax's probability rows
    (which the validation smooths and weights) are never read as they are.
    """
    # dtype.char: "f" float32, "d" float64; kind "iu": integers.
    raw = (y.dtype.char in "fd" or y.dtype.kind in "iu") and z.dtype.char in "fd"
    raw = raw and (w is None or w.dtype.char in "fd") and (v is None or v.dtype.char in "fd")
    if loss.n_outputs != 1:
        classes = loss.n_outputs
        raw = raw and y.ndim == 1 and z.ndim == 2 and z.shape[1] >= 2
        raw = raw and classes in (None, z.shape[1])
        raw = raw and z.flags.c_contiguous and (v is None or v.flags.c_contiguous)
    else:
        raw = raw and z.ndim == 1 and y.shape == z.shape
    return raw and (w is None or w.shape == y.shape) and (v is None or v.shape == z.shape)


def out_buffers(owner: str, out: Any, names: tuple) -> tuple:
    """``out`` as a tuple of one buffer (or ``None``) per result named in ``names``."""
    count = len(names)
    if out is None:
        return (None,) * count
    if count == 1:
        outs = tuple(out) if isinstance(out, list | tuple) else (out,)
    elif isinstance(out, list | tuple):
        outs = tuple(out)
    else:
        raise TypeError(
            f"{owner}: out must be a tuple of {count} arrays ({', '.join(names)}); "
            f"got {type(out).__name__}"
        )
    if len(outs) != count:
        raise ValueError(
            f"{owner}: out must be {'one array' if count == 1 else f'a tuple of {count} arrays'}"
            f" ({', '.join(names)}); got {len(outs)}"
        )
    for name, b in zip(names, outs, strict=True):
        if b is not None and not hasattr(b, "shape"):
            raise TypeError(
                f"{owner}: out ({name}) must be an array or None; got {type(b).__name__}"
            )
    return outs
