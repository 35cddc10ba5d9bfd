"""Link functions: ``z = g(y_pred)`` maps a prediction to the raw score, and back.

A loss sees the raw score ``z`` and needs the prediction ``y_pred = g⁻¹(z)`` with its
first and second derivatives in ``z`` (the chain rule of every gradient and Hessian),
so links provide exactly those: ``inverse``, ``inverse_derivative`` and
``inverse_second_derivative``, each by a formula that stays within a few ulps over the
whole floating range. ``link`` itself is for the other direction (an intercept from a
mean, a raw score from a probability) and checks that ``y_pred`` lies in its domain.

Every link is registered by name (:func:`get_link`, :func:`available`), so tests and
losses find all of them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import array_api_compat

from lossmath._array import numpy_errstate
from lossmath._real_input import real_array
from lossmath._validation import Interval
from lossmath.special import _softmax_with_complement, sigmoid, softmax

__all__ = [
    "HalfLogit",
    "Identity",
    "Link",
    "Log",
    "Logit",
    "Softmax",
    "available",
    "get_link",
]

# name → class: tests, losses and the command line find every link here.
_LINKS: dict[str, type[Link]] = {}

_LinkClass = TypeVar("_LinkClass", bound="type[Link]")


def _register(name: str) -> Callable[[_LinkClass], _LinkClass]:
    def decorate(cls: _LinkClass) -> _LinkClass:
        cls.name = name
        _LINKS[name] = cls
        return cls

    return decorate


def available() -> list[str]:
    """Names of all registered links, sorted.

    Examples
    --------
    >>> from lossmath.links import available
    >>> available()
    ['half_logit', 'identity', 'log', 'logit', 'softmax']
    """
    return sorted(_LINKS)


def get_link(name: str | Link) -> Link:
    """The link registered as ``name``.

    Parameters
    ----------
    name : str or Link
        A registered name (see :func:`available`), or a link object, returned as it is.

    Returns
    -------
    Link

    Raises
    ------
    ValueError
        If no link is registered under ``name``.
    TypeError
        If ``name`` is neither a str nor a Link.

    Examples
    --------
    >>> from lossmath.links import get_link
    >>> get_link("logit")
    Logit()
    """
    if isinstance(name, Link):
        return name
    if not isinstance(name, str):
        raise TypeError(f"get_link: name must be a str or a Link; got {type(name).__name__}")
    try:
        return _LINKS[name]()
    except KeyError:
        raise ValueError(
            f"get_link: unknown link {name!r}; available: {', '.join(available())}"
        ) from None


class Link(ABC):
    r"""A link function ``g`` with ``z = g(y_pred)`` and ``y_pred = g⁻¹(z)``.

    Links are immutable (``__slots__ = ()``). The links here hold no parameters, so two
    are equal when they are of the same class; a link with parameters must extend
    ``__eq__``, ``__hash__`` and ``__repr__`` with them. Subclasses implement the private
    ``_link``, ``_inverse``, ``_inverse_derivative`` and ``_inverse_second_derivative``
    on floating arrays of namespace ``xp``; the public methods convert the input
    (lists, scalars, any array-API namespace; integers become float64, float32 stays
    float32), check it, and return an array of the input's namespace and dtype.

    Attributes
    ----------
    name : str
        The registry name.
    interval_y_pred : Interval
        The domain of ``y_pred`` that :meth:`link` accepts.
    acts_on_rows : bool
        ``False`` for elementwise links (any shape); ``True`` for links such as
        :class:`Softmax` that map rows of ``(n_samples, n_classes)`` to rows, whose
        derivatives are Jacobians.
    """

    __slots__ = ()

    name: ClassVar[str]
    interval_y_pred: ClassVar[Interval]
    acts_on_rows: ClassVar[bool] = False

    def link(self, y_pred: Any) -> Any:
        """The raw score ``z = g(y_pred)``.

        Parameters
        ----------
        y_pred : array_like
            Predictions in :attr:`interval_y_pred`.

        Returns
        -------
        array
            ``z``, same shape as ``y_pred``.

        Raises
        ------
        ValueError
            If ``y_pred`` lies outside :attr:`interval_y_pred` (NaN included) or has the
            wrong dimensionality; the message names the link, the argument, the domain
            and the offending value.
        TypeError
            If ``y_pred`` is not real and numeric.
        """
        owner = f"{type(self).__name__}.link"
        xp, y_pred = real_array(owner, "y_pred", y_pred)
        self._check_shape(owner, "y_pred", y_pred)
        self.interval_y_pred.check(owner, "y_pred", xp, y_pred)
        with numpy_errstate():
            return self._link(xp, y_pred)

    def inverse(self, z: Any) -> Any:
        """The prediction ``y_pred = g⁻¹(z)``.

        Parameters
        ----------
        z : array_like
            Raw scores; NaN propagates.

        Returns
        -------
        array
            ``y_pred``, same shape as ``z``.
        """
        xp, z = self._raw_score("inverse", z)
        with numpy_errstate():
            return self._inverse(xp, z)

    def inverse_derivative(self, z: Any) -> Any:
        """The first derivative ``∂y_pred/∂z`` of the inverse link.

        Parameters
        ----------
        z : array_like
            Raw scores.

        Returns
        -------
        array
            Same shape as ``z``; for a row link the Jacobian ``(n, K, K)``.
        """
        xp, z = self._raw_score("inverse_derivative", z)
        with numpy_errstate():
            return self._inverse_derivative(xp, z)

    def inverse_second_derivative(self, z: Any) -> Any:
        """The second derivative ``∂²y_pred/∂z²`` of the inverse link.

        Parameters
        ----------
        z : array_like
            Raw scores.

        Returns
        -------
        array
            Same shape as ``z``; for a row link ``(n, K, K, K)`` with
            ``[:, i, j, k] = ∂²y_pred_i/∂z_j∂z_k``.
        """
        xp, z = self._raw_score("inverse_second_derivative", z)
        with numpy_errstate():
            return self._inverse_second_derivative(xp, z)

    def _raw_score(self, method: str, z: Any) -> tuple[Any, Any]:
        owner = f"{type(self).__name__}.{method}"
        xp, z = real_array(owner, "z", z)
        self._check_shape(owner, "z", z)
        return xp, z

    def _check_shape(self, owner: str, arg: str, a: Any) -> None:
        """Row-wise links take ``(n_samples, n_classes)``; elementwise ones any shape."""
        shape = tuple(a.shape)
        if self.acts_on_rows and (len(shape) != 2 or shape[1] == 0):
            raise ValueError(
                f"{owner}: {arg} must have shape (n_samples, n_classes) with "
                f"n_classes >= 1; got shape {shape}"
            )

    @abstractmethod
    def _link(self, xp: Any, y_pred: Any) -> Any: ...

    @abstractmethod
    def _inverse(self, xp: Any, z: Any) -> Any: ...

    @abstractmethod
    def _inverse_derivative(self, xp: Any, z: Any) -> Any: ...

    @abstractmethod
    def _inverse_second_derivative(self, xp: Any, z: Any) -> Any: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Link):
            return NotImplemented
        return type(self) is type(other)

    def __hash__(self) -> int:
        return hash(type(self))


@_register("identity")
class Identity(Link):
    r"""The identity link, ``y_pred = z``.

    .. math::

        g(\hat y) = \hat y, \qquad g^{-1}(z) = z, \qquad
        (g^{-1})'(z) = 1, \qquad (g^{-1})''(z) = 0 .

    Domain: ``y_pred`` finite.

    Examples
    --------
    >>> from lossmath.links import Identity
    >>> Identity().inverse_derivative([3.0, -1.0])
    array([1., 1.])
    """

    __slots__ = ()
    interval_y_pred = Interval()

    def _link(self, xp: Any, y_pred: Any) -> Any:
        return xp.asarray(y_pred, copy=True)  # never the caller's array itself

    def _inverse(self, xp: Any, z: Any) -> Any:
        return xp.asarray(z, copy=True)

    def _inverse_derivative(self, xp: Any, z: Any) -> Any:
        return xp.ones_like(z)

    def _inverse_second_derivative(self, xp: Any, z: Any) -> Any:
        return xp.zeros_like(z)


def _logit(xp: Any, p: Any) -> Any:
    """``log(p/(1 − p))``, accurate over all of [0, 1].

    ``log(p) − log1p(−p)`` keeps the tails but cancels near ``p = 1/2``, where the
    result is near 0; there ``2 atanh(2p − 1)`` is accurate, and ``2p − 1`` is exact
    for ``p ≥ 1/4`` (Sterbenz). Below 1/4, ``|log p|`` exceeds ``|log1p(−p)|``
    fourfold, so the difference does not cancel.
    """
    return xp.where(p < 0.25, xp.log(p) - xp.log1p(-p), 2.0 * xp.atanh(2.0 * p - 1.0))


def _sigmoid_derivative(xp: Any, u: Any) -> Any:
    """``σ'(u) = σ(u)σ(−u) = t/(1 + t)²`` with ``t = e^{−|u|} ≤ 1``: no overflow, and
    no ``1 − σ(u)``, which cancels for large ``u``."""
    t = xp.exp(-xp.abs(u))
    return t / ((1.0 + t) * (1.0 + t))


@_register("logit")
class Logit(Link):
    r"""The logit link, ``y_pred = σ(z)``: the canonical link of the Bernoulli.

    .. math::

        g(p) = \log\frac{p}{1 - p}, \qquad g^{-1}(z) = \sigma(z) = \frac{1}{1 + e^{-z}},

        (g^{-1})'(z) = \sigma(z)\,\sigma(-z), \qquad
        (g^{-1})''(z) = -\sigma(z)\,\sigma(-z) \tanh(z/2) .

    The second derivative is usually written ``σ(z)σ(−z)(σ(−z) − σ(z))``; the
    difference cancels near ``z = 0``, while ``tanh(z/2)`` (equal to it) does not.

    Domain: ``y_pred`` in [0, 1] (0 and 1 map to ∓inf).

    Examples
    --------
    >>> from lossmath.links import Logit
    >>> Logit().inverse([-1.0, 0.0, 40.0])
    array([0.26894142, 0.5       , 1.        ])
    >>> float(Logit().inverse_derivative(40.0))  # e^-40, not 0
    4.248354255291589e-18
    """

    __slots__ = ()
    interval_y_pred = Interval(0.0, 1.0, low_inclusive=True, high_inclusive=True)

    def _link(self, xp: Any, y_pred: Any) -> Any:
        return _logit(xp, y_pred)

    def _inverse(self, xp: Any, z: Any) -> Any:
        return sigmoid(z)

    def _inverse_derivative(self, xp: Any, z: Any) -> Any:
        return _sigmoid_derivative(xp, z)

    def _inverse_second_derivative(self, xp: Any, z: Any) -> Any:
        return -_sigmoid_derivative(xp, z) * xp.tanh(0.5 * z)


@_register("half_logit")
class HalfLogit(Link):
    r"""The half-logit link, ``y_pred = σ(2z)``: the link of the exponential loss.

    .. math::

        g(p) = \tfrac12 \log\frac{p}{1 - p}, \qquad g^{-1}(z) = \sigma(2z),

        (g^{-1})'(z) = 2\,\sigma(2z)\,\sigma(-2z), \qquad
        (g^{-1})''(z) = -4\,\sigma(2z)\,\sigma(-2z) \tanh(z) .

    Domain: ``y_pred`` in [0, 1] (0 and 1 map to ∓inf).

    Examples
    --------
    >>> from lossmath.links import HalfLogit
    >>> HalfLogit().link([0.5, 0.8807970779778823])
    array([0., 1.])
    """

    __slots__ = ()
    interval_y_pred = Interval(0.0, 1.0, low_inclusive=True, high_inclusive=True)

    def _link(self, xp: Any, y_pred: Any) -> Any:
        return 0.5 * _logit(xp, y_pred)

    def _inverse(self, xp: Any, z: Any) -> Any:
        return sigmoid(2.0 * z)

    def _inverse_derivative(self, xp: Any, z: Any) -> Any:
        return 2.0 * _sigmoid_derivative(xp, 2.0 * z)

    def _inverse_second_derivative(self, xp: Any, z: Any) -> Any:
        return -4.0 * _sigmoid_derivative(xp, 2.0 * z) * xp.tanh(z)


@_register("log")
class Log(Link):
    r"""The log link, ``y_pred = e^z``: the canonical link of the Poisson.

    .. math::

        g(\mu) = \log \mu, \qquad g^{-1}(z) = (g^{-1})'(z) = (g^{-1})''(z) = e^{z} .

    Domain: ``y_pred`` ≥ 0 (0 maps to −inf). ``e^z`` overflows to ``inf`` past
    ``z ≈ 709.78`` (float64) or ``88.72`` (float32), as the exact result rounds.

    Examples
    --------
    >>> from lossmath.links import Log
    >>> Log().link([1.0, 0.0])
    array([  0., -inf])
    """

    __slots__ = ()
    interval_y_pred = Interval(0.0, math.inf, low_inclusive=True)

    def _link(self, xp: Any, y_pred: Any) -> Any:
        return xp.log(y_pred)

    def _inverse(self, xp: Any, z: Any) -> Any:
        return xp.exp(z)

    def _inverse_derivative(self, xp: Any, z: Any) -> Any:
        return xp.exp(z)

    def _inverse_second_derivative(self, xp: Any, z: Any) -> Any:
        return xp.exp(z)


@_register("softmax")
class Softmax(Link):
    r"""The softmax link on rows, ``y_pred = softmax(z)``: canonical for the multinomial.

    ``z`` and ``y_pred`` have shape ``(n_samples, n_classes)``; the link acts on each
    row. With ``p = softmax(z)``:

    .. math::

        p_i = \frac{e^{z_i}}{\sum_k e^{z_k}}, \qquad
        J_{ij} = \frac{\partial p_i}{\partial z_j} = p_i(\delta_{ij} - p_j),

        T_{ijk} = \frac{\partial^2 p_i}{\partial z_j \partial z_k}
            = p_i(\delta_{ij} - p_j)(\delta_{ik} - p_k) - p_i p_j(\delta_{jk} - p_k),

        g(p)_i = \log p_i - \frac1K \sum_k \log p_k .

    ``inverse_derivative`` returns ``J`` of shape ``(n, K, K)``, i.e.
    ``diag(p) − p pᵀ`` per row, and ``inverse_second_derivative`` returns ``T`` of
    shape ``(n, K, K, K)``. The diagonal ``p_i(1 − p_i)`` takes ``1 − p_i`` as the sum of
    the other probabilities, so the dominant class keeps its tiny curvature.

    Softmax is invariant to adding a constant to a row, so it is invertible only up to
    that shift: ``link`` returns the representative with zero row mean, and
    ``link(inverse(z)) = z − mean(z)`` row by row. Rows of ``y_pred`` are normalised
    implicitly: ``inverse(link(p)) = p / Σ p``.

    Domain: ``y_pred`` in (0, 1] (a zero probability has no finite raw score).

    Examples
    --------
    >>> from lossmath.links import Softmax
    >>> Softmax().inverse([[0.0, 0.0], [0.0, 2.0]])
    array([[0.5       , 0.5       ],
           [0.11920292, 0.88079708]])
    >>> Softmax().inverse_derivative([[0.0, 0.0]])
    array([[[ 0.25, -0.25],
            [-0.25,  0.25]]])
    """

    __slots__ = ()
    interval_y_pred = Interval(0.0, 1.0, high_inclusive=True)
    acts_on_rows = True

    def _link(self, xp: Any, y_pred: Any) -> Any:
        log_p = xp.log(y_pred)
        return log_p - xp.mean(log_p, axis=-1, keepdims=True)

    def _inverse(self, xp: Any, z: Any) -> Any:
        return softmax(z, axis=-1)

    def _jacobian_factors(self, xp: Any, z: Any) -> tuple[Any, Any]:
        """``p`` and ``A`` with ``A[:, i, j] = δ_ij − p_j`` (stable ``1 − p_i`` on the
        diagonal), so that ``J_ij = p_i A_ij``."""
        p, complement = _softmax_with_complement(xp, z, -1)
        eye = xp.eye(z.shape[-1], dtype=xp.bool, device=array_api_compat.device(z))
        return p, xp.where(eye, complement[:, None, :], -p[:, None, :])

    def _inverse_derivative(self, xp: Any, z: Any) -> Any:
        p, a = self._jacobian_factors(xp, z)
        return p[:, :, None] * a

    def _inverse_second_derivative(self, xp: Any, z: Any) -> Any:
        p, a = self._jacobian_factors(xp, z)
        p_i = p[:, :, None, None]
        return p_i * a[:, :, :, None] * a[:, :, None, :] - p_i * p[:, None, :, None] * a[:, None]
