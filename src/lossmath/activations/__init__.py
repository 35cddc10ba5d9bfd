"""Activation functions with exact, numerically stable first and second derivatives.

Each activation is a small immutable object: ``act(x)`` is the value,
``act.derivative(x)`` and ``act.second_derivative(x)`` the exact derivatives.
Every formula is written once against the array API, so NumPy, PyTorch and JAX
arrays work and come back in their own namespace; float32 stays float32 and
integers become float64.

Design note — why the formulas look the way they do:

- Everything built on the logistic function is written in ``e = exp(−|v|)``,
  which never overflows, so tails keep their relative accuracy instead of
  turning into ``1 − 1`` or ``inf / inf``.
- ``e`` is formed as ``h²`` with ``h = exp(−|v|/2)``, and a result ``A·e`` is
  evaluated as ``(A·h)·h``: where ``e`` is subnormal but ``A·e`` is not (a large
  ``A`` such as ``x`` in ``x σ(v)``), ``e`` alone would have lost the bits ``A``
  needs.
- In a tail, ``exp(v)`` amplifies the rounding error of its argument ``v`` by
  ``|v|`` (hundreds of ulps at ``v = −700``). Where ``v`` is not the input
  itself (``βx``, ``x/√2``, the cubic of tanh-GELU), ``v`` is carried as an
  unevaluated sum ``v_hi + v_lo`` built from error-free products (Dekker), and
  ``h`` is corrected by the first-order factor ``1 − sign(v) v_lo / 2``.
- The exact GELU uses ``erfcx(t) = e^{t²} erfc(t)`` and ``exp(−x²/2)`` split as
  ``exp(−x_h²/2) exp(−(x − x_h)(x + x_h)/2)`` with ``x_h²`` exact; ``erfc`` and
  ``ndtr`` themselves lose hundreds of ulps in the tail because they round
  ``t²`` before exponentiating.
- The derivatives that vanish inside the domain (swish', swish'', tanh-GELU',
  tanh-GELU'') are written so that the cancelling parts are exact or nearly so;
  near those zeros the error is a few ulps of the cancelling terms, not of the
  (arbitrarily small) result. GELU' is a Taylor polynomial around its zero,
  because ``erfcx`` itself is only good to a few ulps there. GELU'' vanishes at
  ``±√2``, where ``2 − x²`` is evaluated exactly.

One module per family: ``_logistic`` (sigmoid, tanh, softplus), ``_rectifiers``
(ReLU, leaky ReLU), ``_gated`` (``x σ(v)``: the swish), ``_gelu``; ``_base`` holds
the protocol, this module the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lossmath.activations._base import Activation
from lossmath.activations._gated import Swish
from lossmath.activations._gelu import GELU
from lossmath.activations._logistic import Sigmoid, Softplus, Tanh
from lossmath.activations._rectifiers import LeakyReLU, ReLU

__all__ = [
    "GELU",
    "Activation",
    "LeakyReLU",
    "ReLU",
    "Sigmoid",
    "Softplus",
    "Swish",
    "Tanh",
    "available",
    "gelu",
    "get_activation",
    "leaky_relu",
    "relu",
    "sigmoid",
    "silu",
    "softplus",
    "swish",
    "tanh",
]

# The public classes live in the family modules; they are documented, pickled and
# shown under the public path, which stays the same whichever module holds them.
for _cls in (Activation, GELU, LeakyReLU, ReLU, Sigmoid, Softplus, Swish, Tanh):
    _cls.__module__ = __name__
del _cls

# Module-level instances with the default hyper-parameters.
sigmoid = Sigmoid()
tanh = Tanh()
relu = ReLU()
leaky_relu = LeakyReLU()
gelu = GELU()
swish = Swish()
silu = swish
softplus = Softplus()


def _silu() -> Swish:
    """SiLU: the swish with β = 1 (PyTorch's ``SiLU``); it takes no parameters."""
    return Swish(beta=1.0)


_ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    "gelu": GELU,
    "leaky_relu": LeakyReLU,
    "relu": ReLU,
    "sigmoid": Sigmoid,
    "silu": _silu,
    "softplus": Softplus,
    "swish": Swish,
    "tanh": Tanh,
}


def available() -> list[str]:
    """Names of all registered activations, sorted.

    Examples
    --------
    >>> from lossmath.activations import available
    >>> available()
    ['gelu', 'leaky_relu', 'relu', 'sigmoid', 'silu', 'softplus', 'swish', 'tanh']
    """
    return sorted(_ACTIVATIONS)


def get_activation(name: Any, **params: Any) -> Activation:
    """The activation registered as ``name``, constructed with ``params``.

    Parameters
    ----------
    name : str or Activation
        A registered name (see :func:`available`), or an activation object,
        returned as it is (``params`` must then be empty).
    **params
        Hyper-parameters, e.g. ``beta=2.0`` for ``"softplus"``.

    Examples
    --------
    >>> from lossmath.activations import get_activation
    >>> get_activation("gelu", approximate="tanh")
    GELU(approximate='tanh')
    >>> get_activation("silu")
    Swish(beta=1.0)
    """
    if isinstance(name, Activation):
        if params:
            raise TypeError(
                f"get_activation: parameters {sorted(params)} cannot be applied to the "
                f"activation object {name!r}; pass an activation name instead"
            )
        return name
    if not isinstance(name, str):
        raise TypeError(
            f"get_activation: name must be a str or an Activation; got {type(name).__name__}"
        )
    try:
        factory = _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"get_activation: unknown activation {name!r}; available: {', '.join(available())}"
        ) from None
    return factory(**params)
