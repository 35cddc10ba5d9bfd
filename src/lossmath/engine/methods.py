"""The loss methods, made from a table: one function per row, not one copy per method.

``Loss`` lists its public methods as :class:`MethodSpec` rows (name, results,
docstring); :func:`public_method` turns a row into the method users call, with
the contract's signature and the row's docstring, which hands its arguments to
:func:`lossmath.engine.routes.evaluate`. The weighted mean (``Loss.__call__``)
and the blocked ``predict`` are here as well: they reduce or map what the
engine computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lossmath._array import numpy_errstate
from lossmath.engine import batch, routes, threads
from lossmath.engine.requests import Request

__all__ = ["MethodSpec", "blockwise", "public_method", "weighted_mean"]


@dataclass(frozen=True)
class MethodSpec:
    """One public loss method: its ``name``, what it computes and its docstring."""

    name: str
    request: Request
    doc: str = field(repr=False)


def public_method(spec: MethodSpec):
    """The loss method described by ``spec``.

    Signature ``(self, y, z, sample_weight=None, *, check_input=True, out=None,
    n_threads=None)``; a Hessian-vector product takes ``v`` after ``z``. A method
    of one result returns the array, of several a tuple.
    """
    request, name = spec.request, spec.name
    single = len(request.names) == 1

    if request.kind == "hvp":

        def method(
            self, y, z, v, sample_weight=None, *, check_input=True, out=None, n_threads=None
        ):
            r = routes.evaluate(
                self, request, name, y, z, sample_weight, v, check_input, n_threads, out
            )
            return r[0] if single else r

    else:

        def method(self, y, z, sample_weight=None, *, check_input=True, out=None, n_threads=None):
            r = routes.evaluate(
                self, request, name, y, z, sample_weight, None, check_input, n_threads, out
            )
            return r[0] if single else r

    method.__name__ = method.__qualname__ = name
    method.__doc__ = spec.doc
    return method


_VALUE = Request(("value",), "kernel", (True, False, False))


def weighted_mean(loss: Any, y: Any, z: Any, w: Any, check_input: bool, n_threads: Any) -> Any:
    """``Σ sᵢ ℓᵢ / Σ sᵢ`` (the plain mean without weights), a 0-d array of z's dtype.

    The per-sample losses come from the engine as ``value``'s do (compiled and
    blocked: the memory of one float64 array of ``n``), in float64 for NumPy
    float32 input; the sum is NumPy's pairwise one. Where it overflows — or the
    weights' sum does — though the mean is finite, the mean is taken again as
    ``Σ ℓᵢ pᵢ`` with ``pᵢ = sᵢ / Σ s`` from weights scaled to at most 1: then it is
    infinite only where a loss is.
    """
    name = loss.name
    y, z, w, _ = batch.arrays(name, "__call__", y, z, w, None)
    xp = batch.namespace(name, y, z, w)
    shape = tuple(getattr(z, "shape", np.shape(z)))
    if shape[:1] == (0,):
        raise ValueError(f"{name}: the mean loss needs at least one sample; got z of shape {shape}")
    n = shape[0] if shape else 0
    dtype = z.dtype
    z64 = z
    if type(z) is np.ndarray and z.dtype.char in "fe":
        z64 = z.astype(np.float64)  # the values in float64, rounded once at the end
    if w is not None:
        w = batch.weights(name, xp, w, n, z64.dtype, check_input)
        with numpy_errstate():
            total = xp.sum(w)
        if not float(total) > 0:
            raise ValueError(f"{name}: sample_weight must have a positive sum; got {total}")
    values = routes.evaluate(
        loss, _VALUE, "__call__", y, z64, w, None, check_input, n_threads, None
    )
    values = values[0]
    with numpy_errstate():
        if w is None and type(values) is np.ndarray:
            # ``np.mean``'s own sum and division, without its Python wrappers
            # (a quarter of a small input's call).
            mean = np.add.reduce(values, axis=None) / values.size
        else:
            mean = xp.mean(values) if w is None else xp.sum(values) / total
        if not (math.isfinite(float(mean)) and (w is None or math.isfinite(float(total)))):
            mean = _mean_without_overflow(loss, xp, y, z64, w, values, n_threads)
        # A mean beyond float32's range rounds to ±inf, as the exact one does.
        return xp.astype(mean, dtype)


def _mean_without_overflow(loss, xp, y, z, w, values, n_threads):
    """The mean as ``Σ ℓᵢ pᵢ`` with weights ``pᵢ ≤ 1`` summing to 1 (see :func:`weighted_mean`)."""
    if w is not None:
        scaled = w / xp.max(w)  # ≤ 1: their sum does not overflow
        p = scaled / xp.sum(scaled)
    else:
        p = xp.full_like(values, 1.0 / values.shape[0])
    # The terms ℓᵢ pᵢ as weighted values: finite wherever they are representable,
    # also where ℓᵢ alone overflows (engine.overflow); weight 0 gives exactly 0.
    terms = routes.evaluate(loss, _VALUE, "__call__", y, z, p, None, False, n_threads, None)
    return xp.sum(terms[0])


def blockwise(func: Any, z: Any, n_threads: Any = None, owner: str = "") -> Any:
    """``func(z)`` for a row-wise ``func``, on row blocks on threads for a large NumPy
    ``z``: no full-size temporaries beyond the result (``predict``'s link inverse)."""
    if n_threads is not None:
        n_threads = threads.check_n_threads(owner, n_threads)
    if type(z) is not np.ndarray or z.ndim == 0 or z.size < threads.MIN_ELEMENTS:
        return func(z)
    rows = threads.block_rows(z, threads.BLOCK_ELEMENTS)
    first = func(z[:rows])
    out = np.empty((z.shape[0], *first.shape[1:]), first.dtype)
    out[:rows] = first

    def work(i):
        sl = slice((i + 1) * rows, (i + 2) * rows)
        out[sl] = func(z[sl])

    threads.run_blocks(work, -(-z.shape[0] // rows) - 1, n_threads)
    return out
