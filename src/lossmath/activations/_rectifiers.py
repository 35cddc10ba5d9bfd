"""The rectifiers: ReLU and leaky ReLU (piecewise linear, not smooth at 0)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

from lossmath._validation import Interval, check_param
from lossmath.activations._base import Activation


@dataclass(frozen=True)
class ReLU(Activation):
    r"""The rectified linear unit.

    .. math::

        \operatorname{relu}(x) = \max(x, 0), \qquad
        \operatorname{relu}'(x) = [x > 0], \qquad
        \operatorname{relu}''(x) = 0.

    At the kink :math:`x = 0` the derivative is taken as 0, PyTorch's convention
    (its autograd returns 0 there); the second derivative is the almost-everywhere
    one, 0. NaN propagates.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import relu
    >>> relu(np.array([-1.0, 0.0, 2.0])), relu.derivative(np.array([-1.0, 0.0, 2.0]))
    (array([0., 0., 2.]), array([0., 0., 1.]))
    """

    name: ClassVar[str] = "relu"
    is_smooth: ClassVar[bool] = False

    def _value(self, xp: Any, x: Any) -> Any:
        # x <= 0 is False for NaN, which then passes through.
        return xp.where(x <= 0, 0.0, x)

    def _first(self, xp: Any, x: Any) -> Any:
        return xp.where(x <= 0, 0.0, xp.where(x > 0, 1.0, x))

    def _second(self, xp: Any, x: Any) -> Any:
        return xp.where(x <= 0, 0.0, xp.where(x > 0, 0.0, x))


@dataclass(frozen=True)
class LeakyReLU(Activation):
    r"""The leaky rectified linear unit.

    .. math::

        f(x) = \begin{cases} x & x > 0 \\ a x & x \le 0 \end{cases}, \qquad
        f'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}, \qquad
        f''(x) = 0,

    with :math:`a` = ``negative_slope``. At the kink the derivative is the left
    one, :math:`a`, as in PyTorch.

    Parameters
    ----------
    negative_slope : float, default=0.01
        Slope :math:`a` for :math:`x \le 0`; any finite number.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.activations import LeakyReLU
    >>> act = LeakyReLU(negative_slope=0.1)
    >>> act(np.array([-2.0, 3.0])), act.derivative(np.array([-2.0, 0.0, 3.0]))
    (array([-0.2,  3. ]), array([0.1, 0.1, 1. ]))
    """

    name: ClassVar[str] = "leaky_relu"
    is_smooth: ClassVar[bool] = False
    negative_slope: float = 0.01

    def __post_init__(self) -> None:
        slope = check_param("LeakyReLU", "negative_slope", self.negative_slope, Interval())
        object.__setattr__(self, "negative_slope", slope)

    def _slope(self, xp: Any, x: Any) -> float:
        """``a`` as x's dtype holds it: ±inf where it overflows that dtype (PyTorch
        refuses to convert such a number rather than rounding it to inf)."""
        a = self.negative_slope
        info = xp.finfo(x.dtype)
        top, eps = float(info.max), float(info.eps)
        # Rounds to inf from the largest float plus half its ulp, eps·max / (2(2 − eps));
        # below that, to the largest float.
        if abs(a) >= top + eps * top / (2 * (2 - eps)):
            return math.copysign(math.inf, a)
        return math.copysign(min(abs(a), top), a)

    def _value(self, xp: Any, x: Any) -> Any:
        # a·0 is 0 even where a rounds to inf in x's dtype (a = 1e300 in float32).
        zero = x * (1.0 if self.negative_slope >= 0 else -1.0)
        return xp.where(x > 0, x, xp.where(x == 0, zero, self._slope(xp, x) * x))

    def _first(self, xp: Any, x: Any) -> Any:
        return xp.where(x > 0, 1.0, xp.where(x <= 0, self._slope(xp, x), x))

    def _second(self, xp: Any, x: Any) -> Any:
        return xp.where(x <= 0, 0.0, xp.where(x > 0, 0.0, x))
