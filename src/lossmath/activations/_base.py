"""The activation protocol and the helper every family shares.

:class:`Activation` converts the input once (``real_array``: one namespace, a
floating dtype), picks the dtype the formulas run in and rounds the result back;
a family implements ``_value``, ``_first`` and ``_second``. ``_half_exp`` is the
``h = exp(−|v|/2)`` that the logistic formulas are written in (see the package notes).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from lossmath._array import numpy_errstate
from lossmath._real_input import real_array

# Beyond this |v| every exp(−|v|) underflows in float32 and float64, so clipping
# there changes no result and keeps the error-free products finite.
_V_CLIP = 4096.0


def _half_exp(xp: Any, v: Any, v_lo: Any = None) -> Any:
    """``h = exp(−|v + v_lo|/2)`` for a tiny correction ``v_lo`` (first order in it)."""
    h = xp.exp(-0.5 * xp.abs(v))
    if v_lo is None:
        return h
    return h * (1.0 - 0.5 * xp.sign(v) * v_lo)


class Activation(ABC):
    """An elementwise activation with exact first and second derivatives.

    Subclasses are frozen dataclasses whose fields are the hyper-parameters;
    they implement ``_value``, ``_first`` and ``_second`` on a floating array of
    namespace ``xp``.
    """

    #: Registry name.
    name: ClassVar[str]
    #: Whether the function is twice continuously differentiable everywhere.
    is_smooth: ClassVar[bool] = True

    def __call__(self, x: Any) -> Any:
        """The activation at ``x``, same namespace and floating dtype as ``x``."""
        return self._apply(self._value, x)

    def derivative(self, x: Any) -> Any:
        """The first derivative at ``x``."""
        return self._apply(self._first, x)

    def second_derivative(self, x: Any) -> Any:
        """The second derivative at ``x``."""
        return self._apply(self._second, x)

    def _apply(self, formula: Callable[[Any, Any], Any], x: Any) -> Any:
        xp, x = real_array(type(self).__name__, "x", x)
        dtype = x.dtype
        work = self._working_dtype(xp, dtype)
        if work != dtype:
            with warnings.catch_warnings():
                # JAX without x64 keeps float32 and says so; the result is the same dtype.
                warnings.simplefilter("ignore", UserWarning)
                x = xp.astype(x, work)
        with numpy_errstate():
            out = formula(xp, x)
            # Rounding the wider result back may overflow to inf, as the exact value does.
            return out if out.dtype == dtype else xp.astype(out, dtype)

    def _working_dtype(self, xp: Any, dtype: Any) -> Any:
        """The dtype the formulas run in: float32 for narrower floats (float16).

        The error-free products split a number into halves of ``⌈p/2⌉`` bits, which
        overflows in float16 beyond about 1000, and float16's exponent range cannot
        hold the clipping bounds and constants; the float32 result rounded to float16
        is as accurate.
        """
        return xp.float32 if xp.finfo(dtype).bits < 32 else dtype

    @abstractmethod
    def _value(self, xp: Any, x: Any) -> Any: ...

    @abstractmethod
    def _first(self, xp: Any, x: Any) -> Any: ...

    @abstractmethod
    def _second(self, xp: Any, x: Any) -> Any: ...
