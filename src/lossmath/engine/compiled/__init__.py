"""Compiled loops over samples, made from the loss kernels themselves (numba).

The design note is in :mod:`lossmath.engine.compiled.loops`; the decision and its
measurements in ``docs/performance.md``. Importing this package does not import
numba: :func:`available` does, the first time a NumPy input needs it.
"""

from __future__ import annotations

import functools
import os

__all__ = ["CompileWarning", "available"]


class CompileWarning(UserWarning):
    """numba could not compile a loss's kernel: that loss runs as NumPy expressions.

    Issued (once per loss class and method) for a user's loss whose ``_kernel``
    calls what numba does not support; the results are the same formulas, slower
    (``docs/performance.md``).
    """


@functools.cache
def available() -> bool:
    """Whether the compiled path can be used: numba imports and ``LOSSMATH_JIT`` is not ``0``."""
    if os.environ.get("LOSSMATH_JIT", "1").strip() == "0":
        return False
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a core dependency
        return False
    return True
