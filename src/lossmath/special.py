"""Numerically stable primitives: log-sum-exp, softmax, softplus and their relatives.

Every function is written once against the array API standard, so NumPy, PyTorch and
JAX arrays go in and arrays of the same namespace come out, with the same accuracy.
Floating inputs keep their dtype; integers, booleans, lists and Python scalars become
float64; non-numeric input raises ``TypeError``. NaN propagates as in NumPy; only
invalid *arguments* (an axis out of range, a temperature ≤ 0, ``log1mexp`` of a
positive number) raise ``ValueError``.

Design note: the rounding of ``x_k − m``
----------------------------------------
Shifting by the maximum ``m`` keeps every exponent ≤ 0, so nothing overflows. But the
rounded difference ``d = fl(x_k − m)`` is off by up to half an ulp of ``d``, and
``exp`` turns that absolute error into a relative error of ``|d|·ε/2``: hundreds of
ulps when logits are hundreds apart, which is exactly where the result is tiny and its
relative accuracy is the point (a tail probability, ``log_softmax`` of a confident
prediction). Knuth's TwoSum recovers the exact remainder ``e = (x_k − m) − d`` with
four more additions, and ``exp(d + e) = exp(d) + exp(d)·e`` to first order; ``|e|`` is
at most half an ulp of ``d`` (below ``2⁻⁴³`` in float64, ``2⁻¹⁷`` in float32, wherever
``exp(d)`` does not underflow), so the neglected ``e²/2`` is far below an ulp.
``smooth_max`` also divides by the temperature, and recovers that rounding error with
Dekker's exact product.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, NamedTuple

import array_api_compat

from lossmath._array import numpy_errstate
from lossmath._error_free import precision, two_prod, two_sum
from lossmath._real_input import namespace_of, real_array
from lossmath._validation import Interval, check_param

__all__ = [
    "log1mexp",
    "log_sigmoid",
    "log_softmax",
    "logcosh",
    "logsumexp",
    "sigmoid",
    "smooth_max",
    "softmax",
    "softplus",
    "xlogy",
]

_LN2 = math.log(2.0)


def _floating(owner: str, x: Any) -> tuple[Any, Any]:
    return real_array(owner, "x", x)


def _check_axis(owner: str, x: Any, axis: Any) -> None:
    """An axis to reduce over must exist and hold at least one entry."""
    shape = tuple(x.shape)
    if axis is None:
        if math.prod(shape) == 0:
            raise ValueError(f"{owner}: x must have at least one entry; got shape {shape}")
        return
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"{owner}: axis must be an int or None; got {axis!r}")
    if not -len(shape) <= axis < len(shape):
        raise ValueError(
            f"{owner}: axis must lie in [-{len(shape)}, {len(shape)}) for x of shape "
            f"{shape}; got axis = {axis}"
        )
    if shape[axis] == 0:
        raise ValueError(
            f"{owner}: x must have at least one entry along axis {axis}; got shape {shape}"
        )


class _ExpSum(NamedTuple):
    """``Σ_k exp((x_k − m)/T)`` along an axis, in pieces that keep relative accuracy.

    ``m`` and ``rest`` keep the reduced axis (size 1).
    """

    m: Any  # the maximum
    is_max: Any  # x_k == m
    shifted: Any  # fl((x_k − m)/T)
    correction: Any  # (x_k − m)/T − shifted, to first order (0 where not finite)
    terms: Any  # exp((x_k − m)/T): exactly 1 at the maxima
    rest: Any  # Σ_k terms − 1, the sum without one maximum


def _exp_sum(xp: Any, x: Any, axis: Any, temperature: Any = None) -> _ExpSum:
    m = xp.max(x, axis=axis, keepdims=True)
    is_max = x == m
    shifted = x - m
    correction = two_sum(x, -m)[1]  # x − m = shifted + correction exactly
    if temperature is not None:
        t = xp.zeros_like(m) + temperature  # the temperature in x's dtype and device
        quotient = shifted / t
        # (shifted + correction)/t = quotient + (remainder + correction)/t, where the
        # remainder shifted − quotient·t is exact: Sterbenz for the difference, Dekker
        # for the product.
        product = quotient * t
        remainder = (shifted - product) - two_prod(quotient, t, precision(xp, t))[1]
        shifted, correction = quotient, (remainder + correction) / t
    # Where the shift overflowed to −inf (or x itself is infinite) the correction is
    # NaN, and exp(shifted) is 0 or handled by is_max anyway.
    correction = xp.where(xp.isfinite(correction), correction, 0.0)
    e = xp.exp(shifted)
    terms = xp.where(is_max, 1.0, e + e * correction)
    n_max = xp.sum(xp.astype(is_max, x.dtype), axis=axis, keepdims=True)
    # Leaving one maximum out of the sum lets log1p see the small remainder itself,
    # not 1 + remainder, which would round it away.
    rest = xp.sum(xp.where(is_max, 0.0, terms), axis=axis, keepdims=True) + (n_max - 1.0)
    return _ExpSum(m, is_max, shifted, correction, terms, rest)


def _squeeze(xp: Any, a: Any, axis: Any) -> Any:
    return xp.squeeze(a, axis=tuple(range(a.ndim)) if axis is None else axis)


def logsumexp(x: Any, axis: int | None = -1, keepdims: bool = False) -> Any:
    r"""Logarithm of the sum of exponentials, without overflow.

    .. math::

        \operatorname{logsumexp}(x) = \log \sum_k e^{x_k}
            = m + \operatorname{log1p}\Bigl(\sum_{k \ne k^*} e^{x_k - m}\Bigr),
        \qquad m = x_{k^*} = \max_k x_k .

    Every exponent is ≤ 0, so no finite input overflows. The sum leaves one maximum
    out and goes through ``log1p``, so a result close to 0 keeps its relative accuracy
    (``logsumexp([0, -700]) = log1p(e⁻⁷⁰⁰) ≈ e⁻⁷⁰⁰``); the rounding of each ``x_k − m``
    is compensated (see the module notes).

    Parameters
    ----------
    x : array_like
        Input values.
    axis : int or None, default -1
        Axis to reduce; ``None`` reduces over all entries.
    keepdims : bool, default False
        Keep the reduced axis with size 1.

    Returns
    -------
    array
        ``x``'s dtype (float64 for integer input), shape of ``x`` without ``axis``.
        A slice of all ``−inf`` gives ``−inf``; one holding ``+inf`` gives ``+inf``.

    Raises
    ------
    ValueError
        If ``axis`` is out of range or the slices along it are empty.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.special import logsumexp
    >>> logsumexp(np.array([[0.0, 0.0], [1000.0, 1000.0]]))  # no overflow
    array([6.93147181e-01, 1.00069315e+03])
    >>> float(logsumexp([0.0, -700.0]))  # e^-700, not 0
    9.85967654375977e-305
    """
    xp, x = _floating("logsumexp", x)
    _check_axis("logsumexp", x, axis)
    with numpy_errstate():
        s = _exp_sum(xp, x, axis)
        out = s.m + xp.log1p(s.rest)
    return out if keepdims else _squeeze(xp, out, axis)


def softmax(x: Any, axis: int | None = -1) -> Any:
    r"""Normalised exponentials along ``axis``.

    .. math::

        \operatorname{softmax}(x)_k = \frac{e^{x_k}}{\sum_j e^{x_j}}
            = \frac{e^{x_k - m}}{1 + \sum_{j \ne k^*} e^{x_j - m}},
        \qquad m = x_{k^*} = \max_j x_j .

    Shifting by the maximum avoids overflow; compensating the rounding of ``x_k − m``
    keeps tiny probabilities (``e⁻⁷⁰⁰``) accurate to a few ulps instead of hundreds.
    A slice of equal entries, all ``−inf`` included, gives the uniform distribution;
    the entries equal to ``+inf`` share the mass when there are any.

    Parameters
    ----------
    x : array_like
        Logits.
    axis : int or None, default -1
        Axis along which the result sums to 1.

    Returns
    -------
    array
        Probabilities, same shape and dtype as ``x`` (float64 for integer input).

    Raises
    ------
    ValueError
        If ``axis`` is out of range or the slices along it are empty.

    Examples
    --------
    >>> from lossmath.special import softmax
    >>> softmax([0.0, 1.0, 2.0])
    array([0.09003057, 0.24472847, 0.66524096])
    """
    xp, x = _floating("softmax", x)
    _check_axis("softmax", x, axis)
    with numpy_errstate():
        s = _exp_sum(xp, x, axis)
        return s.terms / (1.0 + s.rest)


def _softmax_with_complement(xp: Any, x: Any, axis: int) -> tuple[Any, Any]:
    """``softmax(x)`` and ``1 − softmax(x)``, both to a few ulps.

    ``1 − p`` cancels at the dominant class, where ``p = 1/(1 + rest)``; there it is
    ``rest/(1 + rest)``. Elsewhere ``p ≤ 1/2`` and ``1 − p`` is exact enough.
    """
    with numpy_errstate():
        s = _exp_sum(xp, x, axis)
        denominator = 1.0 + s.rest
        p = s.terms / denominator
        return p, xp.where(s.is_max, s.rest / denominator, 1.0 - p)


def log_softmax(x: Any, axis: int | None = -1) -> Any:
    r"""Logarithm of :func:`softmax`, without forming the probabilities.

    .. math::

        \log \operatorname{softmax}(x)_k = (x_k - m) - \operatorname{log1p}(r),
        \qquad r = \sum_{j \ne k^*} e^{x_j - m},\; m = x_{k^*} = \max_j x_j ,

    so the maximal entry gets ``−log1p(r)``, tiny and accurate for a confident
    prediction, where ``x_k − logsumexp(x)`` would cancel to 0. For the other entries
    the exact remainder of the rounded ``x_k − m`` is added back.

    Parameters
    ----------
    x : array_like
        Logits.
    axis : int or None, default -1
        Axis along which ``exp`` of the result sums to 1.

    Returns
    -------
    array
        Log-probabilities, same shape and dtype as ``x`` (float64 for integer input).

    Raises
    ------
    ValueError
        If ``axis`` is out of range or the slices along it are empty.

    Examples
    --------
    >>> from lossmath.special import log_softmax
    >>> log_softmax([0.0, 1.0, 2.0])
    array([-2.40760596, -1.40760596, -0.40760596])
    >>> float(log_softmax([0.0, -700.0])[0])  # -e^-700, not 0
    -9.85967654375977e-305
    """
    xp, x = _floating("log_softmax", x)
    _check_axis("log_softmax", x, axis)
    with numpy_errstate():
        s = _exp_sum(xp, x, axis)
        log_rest = xp.log1p(s.rest)
        # The maxima are written apart because x_k − m is NaN there when m = +inf; the
        # correction is worth up to half an ulp here, as no exp amplifies it.
        return xp.where(s.is_max, -log_rest, s.shifted + (s.correction - log_rest))


def smooth_max(x: Any, temperature: float = 1.0, axis: int | None = -1) -> Any:
    r"""Smooth maximum: ``temperature · logsumexp(x / temperature)``.

    .. math::

        \operatorname{smax}_T(x) = T \log \sum_k e^{x_k / T}
            = m + T \operatorname{log1p}\Bigl(\sum_{k \ne k^*} e^{(x_k - m)/T}\Bigr),
        \qquad m = x_{k^*} = \max_k x_k .

    The shifted form never overflows, even for a tiny ``T`` where ``x / T`` would.
    It satisfies ``max(x) ≤ smax_T(x) ≤ max(x) + T log K`` (``K`` entries), so it
    tends to the maximum as ``T → 0``.

    Parameters
    ----------
    x : array_like
        Input values.
    temperature : float, default 1.0
        ``T > 0``, rounded to ``x``'s dtype.
    axis : int or None, default -1
        Axis to reduce; ``None`` reduces over all entries.

    Returns
    -------
    array
        ``x``'s dtype (float64 for integer input), shape of ``x`` without ``axis``.

    Raises
    ------
    ValueError
        If ``temperature`` is not a positive finite number, ``axis`` is out of range
        or the slices along it are empty.

    Examples
    --------
    >>> from lossmath.special import smooth_max
    >>> float(smooth_max([1.0, 2.0, 3.0], temperature=0.01))
    3.0
    >>> float(smooth_max([0.0, 0.0], temperature=2.0))  # 2 log 2
    1.3862943611198906
    """
    temperature = check_param("smooth_max", "temperature", temperature, Interval(0.0, math.inf))
    xp, x = _floating("smooth_max", x)
    _check_axis("smooth_max", x, axis)
    dtype = x.dtype
    finfo = xp.finfo(dtype)
    if not float(finfo.smallest_normal) <= temperature <= float(finfo.max) and dtype != xp.float64:
        # T rounds to 0, a subnormal or inf in float16/float32: 0·inf and inf − inf
        # would follow. float64 holds every finite T; the result is rounded back.
        with warnings.catch_warnings():
            # JAX without x64 keeps float32 and says so; the guards below still hold.
            warnings.simplefilter("ignore", UserWarning)
            x = xp.astype(x, xp.float64)
    if x.dtype != xp.float64 and temperature > _HUGE_T:
        # float16/32 that could not be widened (JAX without x64): see _smooth_max_huge_t.
        with numpy_errstate():
            out = _smooth_max_huge_t(xp, x, temperature, axis)
        return _squeeze(xp, out, axis)
    with numpy_errstate():
        s = _exp_sum(xp, x, axis, temperature)
        t = xp.zeros_like(s.m) + temperature
        log_rest = xp.log1p(s.rest)
        out = s.m + t * log_rest
        # m + T·log1p(rest) can overflow in T·log1p(rest) alone (T near the largest
        # float, several entries) though the sum is finite for m < 0: halve, add, double.
        halved = 2.0 * (0.5 * s.m + (0.5 * t) * log_rest)
        out = xp.where(xp.isfinite(out), out, halved)
        # A single maximum and nothing else (rest = 0) is m itself, whatever T.
        out = xp.where(s.rest == 0.0, s.m, out)
        if out.dtype != dtype:
            out = xp.astype(out, dtype)  # may overflow to inf, as the exact result does
    return _squeeze(xp, out, axis)


#: Above this temperature a narrow dtype's ``x / T`` is taken at a scale (below).
_HUGE_T = 2.0**100
#: The step of those scalings: a power of two that float32 holds as a normal number.
_STEP = 2.0**-100


def _scale_down(a: Any, j: int) -> Any:
    """``a · 2⁻ʲ`` in ``a``'s dtype, by steps that are normal numbers of it
    (``2⁻ʲ`` itself may not be one; an underflow to 0 is what the product does)."""
    while j >= 100:
        a, j = a * _STEP, j - 100
    return a * 2.0**-j


def _scale_up(a: Any, j: int) -> Any:
    """``a · 2ʲ`` in ``a``'s dtype (±inf where it overflows), as :func:`_scale_down`."""
    while j >= 100:
        a, j = a * 2.0**100, j - 100
    return a * 2.0**j


def _smooth_max_huge_t(xp: Any, x: Any, temperature: float, axis: Any) -> Any:
    """:func:`smooth_max` for ``T > 2¹⁰⁰`` in float32 (or float16), keeping its axis.

    There ``1/T`` is subnormal or zero, and XLA (JAX on CPU) divides by multiplying
    with the reciprocal, flushed to 0 (every ``x/T`` came out 0); ``T`` may even lie
    beyond the dtype's range. So ``x − m`` and ``T`` are both taken at the scale
    ``2⁻ʲ`` with ``T 2⁻ʲ < 2¹⁰⁰`` (exact powers of 2; ``x − m`` halved first, so it
    cannot overflow), and ``m + T log1p(R)`` is formed at that scale and scaled back.
    Digits lost to underflow there are below ``T 2⁻¹²⁶`` of a result ``≥ T log 2``
    wherever ``R ≠ 0``.
    """
    j = max(0, math.frexp(temperature)[1] - 100)
    t_scaled = math.ldexp(temperature, -j)  # exact, < 2¹⁰⁰: a normal float32
    m = xp.max(x, axis=axis, keepdims=True)
    is_max = x == m
    half_gap = _scale_down(0.5 * x - 0.5 * m, j)  # (x − m) 2⁻ʲ / 2, ≤ 0
    t = xp.zeros_like(m) + 0.5 * t_scaled
    e = xp.exp(half_gap / t)
    n_max = xp.sum(xp.astype(is_max, x.dtype), axis=axis, keepdims=True)
    rest = xp.sum(xp.where(is_max, 0.0, e), axis=axis, keepdims=True) + (n_max - 1.0)
    log_rest = xp.log1p(rest)
    out = _scale_up(_scale_down(m, j) + (2.0 * t) * log_rest, j)
    # A single maximum and nothing else (rest = 0) is m itself, whatever T.
    return xp.where(rest == 0.0, m, out)


def sigmoid(x: Any) -> Any:
    r"""The logistic function.

    .. math::

        \sigma(x) = \frac{1}{1 + e^{-x}} =
        \begin{cases} 1 / (1 + e^{-x}) & x \ge 0 \\ e^{x} / (1 + e^{x}) & x < 0 \end{cases}

    Both branches use ``t = e^{−|x|} ≤ 1``: nothing overflows, and for ``x < 0`` the
    result ``t/(1 + t)`` keeps the relative accuracy of a tiny probability, which
    ``1/(1 + e^{−x})`` only does by luck of rounding.

    Parameters
    ----------
    x : array_like
        Input values.

    Returns
    -------
    array
        Same shape and dtype as ``x`` (float64 for integer input).

    Examples
    --------
    >>> from lossmath.special import sigmoid
    >>> sigmoid([-1.0, 0.0, 1.0])
    array([0.26894142, 0.5       , 0.73105858])
    """
    xp, x = _floating("sigmoid", x)
    t = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + t), t / (1.0 + t))


def softplus(x: Any) -> Any:
    r"""Softplus, the smooth ReLU.

    .. math::

        \operatorname{softplus}(x) = \log(1 + e^{x})
            = \max(x, 0) + \operatorname{log1p}(e^{-|x|}).

    The exponent is ≤ 0, so nothing overflows, and both terms are ≥ 0, so nothing
    cancels: for ``x ≪ 0`` the result is ``log1p(e^x) ≈ e^x`` to full relative accuracy.

    Parameters
    ----------
    x : array_like
        Input values.

    Returns
    -------
    array
        Same shape and dtype as ``x`` (float64 for integer input).

    Examples
    --------
    >>> from lossmath.special import softplus
    >>> softplus([-1.0, 0.0, 1.0])
    array([0.31326169, 0.69314718, 1.31326169])
    >>> float(softplus(-700.0))  # e^-700, not 0
    9.85967654375977e-305
    """
    xp, x = _floating("softplus", x)
    return xp.where(x > 0, x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def log_sigmoid(x: Any) -> Any:
    r"""Logarithm of the logistic function.

    .. math::

        \log \sigma(x) = -\operatorname{softplus}(-x)
            = \min(x, 0) - \operatorname{log1p}(e^{-|x|}).

    ``log(sigmoid(x))`` would round ``σ(x) = 1 − e^{−x}`` to 1 for ``x > 37`` and return
    0; this form returns ``−e^{−x}``. Likewise ``log(1 − σ(x)) = log_sigmoid(−x)``.

    Parameters
    ----------
    x : array_like
        Input values.

    Returns
    -------
    array
        Same shape and dtype as ``x`` (float64 for integer input).

    Examples
    --------
    >>> from lossmath.special import log_sigmoid
    >>> float(log_sigmoid(700.0))
    -9.85967654375977e-305
    """
    xp, x = _floating("log_sigmoid", x)
    return xp.where(x < 0, x, 0.0) - xp.log1p(xp.exp(-xp.abs(x)))


def logcosh(x: Any) -> Any:
    r"""Logarithm of the hyperbolic cosine, without overflow.

    .. math::

        \log \cosh x =
        \begin{cases}
            \operatorname{log1p}\bigl(2 \sinh^2(x/2)\bigr) & |x| < 1 \\
            |x| - \log 2 + \operatorname{log1p}(e^{-2|x|}) & |x| \ge 1
        \end{cases}

    ``cosh x − 1 = 2 sinh²(x/2)`` holds exactly, so small arguments keep the relative
    accuracy of ``log cosh x ≈ x²/2`` that ``log(cosh(x))`` loses to cancellation;
    large arguments never form ``cosh x``, which overflows past ``|x| ≈ 710``.

    Parameters
    ----------
    x : array_like
        Input values.

    Returns
    -------
    array
        Same shape and dtype as ``x`` (float64 for integer input).

    Examples
    --------
    >>> from lossmath.special import logcosh
    >>> logcosh([1e-8, 1000.0])
    array([5.00000000e-17, 9.99306853e+02])
    """
    xp, x = _floating("logcosh", x)
    a = xp.abs(x)
    with numpy_errstate():
        small = xp.log1p(2.0 * xp.sinh(0.5 * a) ** 2)
        large = (a - _LN2) + xp.log1p(xp.exp(-2.0 * a))
    return xp.where(a < 1.0, small, large)


def log1mexp(x: Any) -> Any:
    r"""``log(1 − e^x)`` for ``x ≤ 0``, accurate near both ends.

    .. math::

        \operatorname{log1mexp}(x) = \log(1 - e^{x}) =
        \begin{cases}
            \log(-\operatorname{expm1}(x)) & -\log 2 < x \le 0 \\
            \operatorname{log1p}(-e^{x}) & x \le -\log 2
        \end{cases}

    Each branch is used where its inner function is accurate (Mächler 2012,
    "Accurately computing log(1 − exp(−|a|))"): ``expm1`` when ``e^x`` is close to 1,
    ``log1p`` when it is small. ``x = 0`` gives ``−inf``.

    Parameters
    ----------
    x : array_like
        Values ≤ 0.

    Returns
    -------
    array
        Same shape and dtype as ``x`` (float64 for integer input).

    Raises
    ------
    ValueError
        If an entry of ``x`` is positive (NaN propagates).

    Examples
    --------
    >>> from lossmath.special import log1mexp
    >>> log1mexp([-1e-20, -1.0, -50.0])
    array([-4.60517019e+01, -4.58675145e-01, -1.92874985e-22])
    """
    xp, x = _floating("log1mexp", x)
    positive = x > 0
    if bool(xp.any(positive)):
        raise ValueError(f"log1mexp: x must be <= 0; got max(x) = {float(xp.max(x[positive]))!r}")
    with numpy_errstate():
        return xp.where(x > -_LN2, xp.log(-xp.expm1(x)), xp.log1p(-xp.exp(x)))


def _is_weak_scalar(a: Any) -> bool:
    """A Python ``int`` or ``float``, which takes the other operand's dtype (NEP 50).

    NumPy scalars (``np.float64`` subclasses ``float``) and ``bool`` are not weak.
    """
    return type(a) in (int, float)


def xlogy(x: Any, y: Any) -> Any:
    r"""``x · log(y)``, defined as 0 where ``x = 0``.

    .. math::

        \operatorname{xlogy}(x, y) =
        \begin{cases} 0 & x = 0 \\ x \log y & \text{otherwise} \end{cases}

    This is the convention ``0 log 0 = 0`` of entropies and cross-entropies: the term
    of a class with zero weight vanishes even where its probability is 0. A NaN in
    ``y`` still propagates, as does ``log`` of a negative ``y``.

    Parameters
    ----------
    x, y : array_like
        Broadcastable inputs. A Python scalar takes the other argument's dtype.

    Returns
    -------
    array
        The broadcast shape; the floating dtype the two inputs promote to (float64 for
        integers).

    Examples
    --------
    >>> from lossmath.special import xlogy
    >>> xlogy([0.0, 0.0, 2.0], [0.0, 5.0, 1.0])
    array([0., 0., 0.])
    """
    xp = namespace_of("xlogy", {"x": x, "y": y})  # one namespace, or an error naming both
    x_weak, y_weak = _is_weak_scalar(x), _is_weak_scalar(y)
    if not x_weak:
        xp, x = real_array("xlogy", "x", x)
    if not y_weak:
        xp, y = real_array("xlogy", "y", y)
    if x_weak and y_weak:
        x, y = xp.asarray(float(x)), xp.asarray(float(y))
    elif x_weak:
        x = xp.asarray(x, dtype=y.dtype, device=array_api_compat.device(y))
    elif y_weak:
        y = xp.asarray(y, dtype=x.dtype, device=array_api_compat.device(x))
    with numpy_errstate():
        return xp.where((x == 0) & ~xp.isnan(y), 0.0, x * xp.log(y))
