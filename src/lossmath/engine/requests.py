"""What a loss method asks the engine for: a :class:`Request`.

A request names its results (``("value", "gradient")``) and says how one block of
validated input gives them — the kernel's requested outputs, ``H v``, or the
Fisher weight — and which compiled loop computes the same (its *mode*), if any.
The runners know nothing else about the method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Request"]


@dataclass(frozen=True)
class Request:
    """The results ``names`` of one loss method.

    ``kind`` is ``"kernel"`` (the kernel's outputs flagged in ``flags``:
    value, gradient, Hessian diagonal), ``"hvp"`` (``H v``) or ``"fisher"`` (the
    Fisher weight).
    """

    names: tuple[str, ...]
    kind: str = "kernel"
    flags: tuple[bool, bool, bool] = (False, False, False)

    def compute(self, loss: Any, xp: Any, y: Any, z: Any, v: Any) -> tuple:
        """The unweighted results on one block of validated input, in the computation dtype."""
        if self.kind == "kernel":
            return tuple(r for r in loss._kernel(xp, y, z, *self.flags) if r is not None)
        if self.kind == "hvp":
            return (loss._hvp(xp, y, z, v),)
        return (loss._fisher(xp, y, z),)

    def mode(self, loss: Any) -> tuple | None:
        """The compiled loop's mode computing these results; ``None`` where there is none.

        ``("kernel", value, gradient, hessian)`` or ``("hvp",)``. A Fisher weight
        that is the Hessian (:meth:`Loss._fisher_is_hessian`) takes the Hessian's loop.
        """
        if self.kind == "kernel":
            return ("kernel", *self.flags)
        if self.kind == "hvp":
            return ("hvp",)
        return ("kernel", False, False, True) if loss._fisher_is_hessian() else None
