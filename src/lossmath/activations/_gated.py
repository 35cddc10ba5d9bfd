"""Sigmoid-gated activations ``x σ(v(x))``: their shared formulas and the swish (SiLU).

The tanh-approximated GELU is the other member (``_gelu._GELUTanh``).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from lossmath._validation import Interval, check_param
from lossmath.activations._base import _V_CLIP, Activation, _half_exp
from lossmath.activations._logistic import _beta_working_dtype, _times_beta


class _SigmoidGated(Activation):
    r"""Functions of the form :math:`f(x) = x\,σ(v(x))` with :math:`v' > 0`.

    With :math:`e = e^{-|v|}`, :math:`z = x v'`, :math:`S = 2v' + x v''` and
    :math:`D = |x| v'^2`:

    .. math::

        f' = \frac{N}{(1 + e)^2}, \quad
        N = \begin{cases} 1 + e + z e & v \ge 0 \\ e\,(1 + z + e) & v < 0 \end{cases},
        \qquad
        f'' = \frac{e \left[(S - D) + e (S + D)\right]}{(1 + e)^3}.

    Subclasses give :math:`v` and :math:`z` as ``hi + lo`` pairs and :math:`S, D`,
    all from an argument already clipped to where ``e`` underflows.
    """

    @abstractmethod
    def _v(self, xp: Any, x: Any) -> tuple[Any, Any]: ...

    @abstractmethod
    def _z(self, xp: Any, x: Any) -> tuple[Any, Any]: ...

    @abstractmethod
    def _s_minus_d_and_s_plus_d(self, xp: Any, x: Any) -> tuple[Any, Any]: ...

    def _scale(self) -> float:
        """A factor of ``S`` and ``D`` left out of them and applied last (β of the swish)."""
        return 1.0

    def _value(self, xp: Any, x: Any) -> Any:
        v, v_lo = self._v(xp, x)
        h = _half_exp(xp, v, v_lo)
        one_plus_e = 1.0 + h * h
        return xp.where(v >= 0, x / one_plus_e, ((x * h) / one_plus_e) * h)

    def _first(self, xp: Any, x: Any) -> Any:
        v, v_lo = self._v(xp, x)
        h = _half_exp(xp, v, v_lo)
        e = h * h
        z, z_lo = self._z(xp, x)
        one_plus_e = 1.0 + e
        square = one_plus_e * one_plus_e
        # Where f' vanishes (v < 0, z ≈ −1.3), 1 + z is exact, so the only
        # cancellation left is against e, which is accurate to an ulp.
        negative = ((h * (((1.0 + z) + z_lo) + e)) / square) * h
        return xp.where(v >= 0, (1.0 + e + z * e) / square, negative)

    def _second(self, xp: Any, x: Any) -> Any:
        v, v_lo = self._v(xp, x)
        h = _half_exp(xp, v, v_lo)
        e = h * h
        s_minus_d, s_plus_d = self._s_minus_d_and_s_plus_d(xp, x)
        one_plus_e = 1.0 + e
        a = (h * (s_minus_d + e * s_plus_d)) / (one_plus_e * one_plus_e * one_plus_e)
        scale = self._scale()
        if scale == 1.0:
            return a * h
        # |a·h| ≤ 1/2, so (a·h)·scale overflows only with the exact value; where h is
        # tiny, a·(h·scale) keeps the bits that a·h would lose to underflow.
        tiny_h = h < float(xp.finfo(h.dtype).smallest_normal) ** 0.5
        return xp.where(tiny_h, a * (h * scale), (a * h) * scale)


@dataclass(frozen=True)
class Swish(_SigmoidGated):
    r"""The swish :math:`x\,σ(βx)`; with :math:`β = 1` it is SiLU.

    .. math::

        f(x) = x\,σ(u), \quad u = βx, \qquad
        f'(x) = σ(u)\left(1 + u\,σ(-u)\right), \qquad
        f''(x) = β\,σ(u)σ(-u)\left(2 - u \tanh(u/2)\right).

    :math:`f'` vanishes at :math:`u ≈ -1.2785` and :math:`f''` at
    :math:`|u| ≈ 2.3994`; they are evaluated as
    :math:`f' = e(1 + u + e)/(1 + e)^2` (:math:`u < 0`) and
    :math:`f'' = βe\left[(2 - |u|) + e(2 + |u|)\right]/(1 + e)^3`,
    :math:`e = e^{-|u|}`, where :math:`1 + u` and :math:`2 - |u|` are exact.

    Parameters
    ----------
    beta : float, default=1.0
        :math:`β > 0`.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import silu, Swish
    >>> silu(np.array([-1.0, 0.0, 1.0]))
    array([-0.26894142,  0.        ,  0.73105858])
    >>> Swish(beta=2.0).derivative(np.array([0.0]))
    array([0.5])
    """

    name: ClassVar[str] = "swish"
    beta: float = 1.0

    def __post_init__(self) -> None:
        beta = check_param("Swish", "beta", self.beta, Interval(low=0.0))
        object.__setattr__(self, "beta", beta)

    def _working_dtype(self, xp: Any, dtype: Any) -> Any:
        return _beta_working_dtype(xp, dtype, self.beta)

    def _scale(self) -> float:
        return self.beta

    def _v(self, xp: Any, x: Any) -> tuple[Any, Any]:
        return _times_beta(xp, x, self.beta)

    def _z(self, xp: Any, x: Any) -> tuple[Any, Any]:
        u, u_lo = self._v(xp, x)
        return xp.clip(u, -_V_CLIP, _V_CLIP), 0.0 if u_lo is None else u_lo

    def _s_minus_d_and_s_plus_d(self, xp: Any, x: Any) -> tuple[Any, Any]:
        u, lo = self._z(xp, x)
        # S = 2β and D = β|u|, here without their factor β (see _scale); 2 − |u| is
        # exact where it cancels (|u| ≈ 2.4).
        abs_u = xp.abs(u)
        lo = xp.sign(u) * lo
        return (2.0 - abs_u) - lo, (2.0 + abs_u) + lo
