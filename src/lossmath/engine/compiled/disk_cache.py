"""The compiled loops, cached on disk: compiled once per machine, not once per process.

Why: a loop's first call in a process compiles it — 0.1-0.6 s for a scalar loss's
method, 1.3-2.3 s for the softmax's — and a script, a command-line fit or a
restarted notebook paid that again every time. numba caches compiled functions
on disk (``cache=True``), but not these: it keys a function's cache on its
bytecode and the pickled contents of its closure, and the loops are closures
over compiled kernels, which pickle with an id that differs from process to
process; their hyper-parameters are named tuples of classes made at run time,
which pickle by value and never compare equal to the next process's.

How: :func:`cached` gives a loop its own name (so its own index file) and a
:class:`LoopCache` (numba's, made to treat a broken file — or another loop's
file in its place — as a miss; numba's own raised from the next call) whose key
is the loop's bytecode, its identity (loss class, outputs, store) and a hash of
every source file of lossmath with the versions of NumPy and llvmlite (numba
adds its own version, the source file's time stamp and the CPU's name and
features). Any change to a kernel, a helper or an
elementary function therefore misses the cache and compiles anew. The
hyper-parameter tuples' classes are attributes of this module, found by name
when an index is read (:func:`params_class`). Only lossmath's own losses are
cached: a user's subclass may call code whose changes the hash would not see.

Where: numba's choice — ``__pycache__`` beside the loops' modules when it is
writable, else the user's cache directory; ``NUMBA_CACHE_DIR`` overrides it.
``LOSSMATH_JIT_CACHE=0`` turns the cache off. Reading or writing it never
fails a call: a broken or unwritable cache means compiling, as before.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from numba.core.caching import FunctionCache

__all__ = ["LoopCache", "attach", "cached", "enabled", "params_class"]


def enabled() -> bool:
    """Whether compiled loops are cached on disk (``LOSSMATH_JIT_CACHE`` is not ``0``)."""
    return os.environ.get("LOSSMATH_JIT_CACHE", "1").strip() != "0"


@functools.cache
def source_hash() -> str:
    """SHA-256 of every lossmath source file, and of the versions of NumPy and llvmlite."""
    import llvmlite

    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    digest.update(f"numpy {np.__version__} llvmlite {llvmlite.__version__}".encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text)


def params_class(loss_cls: type, fields: list[str]) -> type:
    """The named tuple of ``loss_cls``'s hyper-parameters, an attribute of this module.

    Pickled by reference (module and name), so a cached loop's signature reads
    back as the class of this process.
    """
    name = _identifier(f"{loss_cls.__module__}.{loss_cls.__qualname__}") + "_Params"
    module = sys.modules[__name__]
    existing = getattr(module, name, None)
    if existing is not None and list(existing._fields) == list(fields):
        return existing
    params = collections.namedtuple(name, fields, module=__name__)
    setattr(module, name, params)
    return params


class LoopCache(FunctionCache):
    """numba's per-function disk cache, keyed by ``key`` instead of the closure.

    Loading and saving never raise: a cache that cannot be read or written is
    a cache miss, and the loop compiles as it would without one.
    """

    def __init__(self, py_func: Any, key: str):
        self._lossmath_key = key
        super().__init__(py_func)

    def _index_key(self, sig, codegen):
        code = hashlib.sha256(self._py_func.__code__.co_code).hexdigest()
        return (sig, codegen.magic_tuple(), (code, self._lossmath_key))

    def load_overload(self, sig, target_context):
        try:
            result = super().load_overload(sig, target_context)
        except Exception:  # a broken cache entry is a miss
            return None
        if result is not None and not self._belongs(result, sig):
            return None  # another loop's file (swapped, copied over): a miss
        return result

    def _belongs(self, result: Any, sig: Any) -> bool:
        """Whether a loaded loop is this one, for these argument types: its function's
        qualified name (one per loop, :func:`cached`) and its signature."""
        try:
            from numba.core import sigutils

            args, _ = sigutils.normalize_signature(sig)
            return result.fndesc.qualname == self._py_func.__qualname__ and tuple(
                result.signature.args
            ) == tuple(args)
        except Exception:
            return False

    def save_overload(self, sig, data):
        with contextlib.suppress(Exception):  # an unwritable cache costs a compile, no more
            super().save_overload(sig, data)


def attach(dispatcher: Any, name: str) -> Any:
    """``dispatcher`` (not yet called) with a :class:`LoopCache` keyed by ``name``
    and :func:`source_hash`; as it is with the cache off."""
    if enabled():
        with contextlib.suppress(Exception):  # no writable cache location: compile per process
            dispatcher._cache = LoopCache(dispatcher.py_func, f"{source_hash()} {name}")
    return dispatcher


def cached(dispatcher: Any, loss_cls: type, identity: tuple) -> Any:
    """A compiled loop of ``loss_cls``, not yet called, with its disk cache.

    ``identity`` names what the loop computes (outputs, labels, store). Loops of
    losses defined outside lossmath are returned as they are.
    """
    if not loss_cls.__module__.startswith("lossmath."):
        return dispatcher
    name = _identifier(f"{loss_cls.__module__}.{loss_cls.__qualname__}.{identity}")
    # The index file is named after the qualified name: one per loop, so reading
    # it needs only this loss's hyper-parameter class.
    dispatcher.py_func.__qualname__ = f"loop_{name}"
    return attach(dispatcher, name)
