"""Name → class registry of losses: tests, the CLI and estimators find every loss here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["available", "get_loss", "register"]

_LOSSES: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a loss class findable as ``get_loss(name)``."""

    def decorate(cls: T) -> T:
        if name in _LOSSES:
            raise ValueError(f"a loss named {name!r} is already registered: {_LOSSES[name]}")
        cls.name = name
        _LOSSES[name] = cls
        return cls

    return decorate


def available() -> list[str]:
    """Names of all registered losses, sorted.

    Examples
    --------
    >>> import lossmath
    >>> "huber" in lossmath.losses.available()
    True
    """
    return sorted(_LOSSES)


def get_loss(name: Any, **params: Any) -> Any:
    """The loss registered as ``name``, constructed with ``params``.

    Parameters
    ----------
    name : str or Loss
        A registered name (see :func:`available`), or a loss object, which is
        returned as it is (``params`` must then be empty).
    **params
        Hyper-parameters of the loss, e.g. ``delta=2.0`` for ``"huber"``.

    Examples
    --------
    >>> import lossmath
    >>> lossmath.get_loss("huber", delta=2.0)
    Huber(delta=2.0)
    """
    from lossmath.losses._base import Loss

    if isinstance(name, Loss):
        if params:
            raise TypeError(
                f"get_loss: parameters {sorted(params)} cannot be applied to the loss object "
                f"{name!r}; pass a loss name instead"
            )
        return name
    if not isinstance(name, str):
        raise TypeError(f"get_loss: name must be a str or a Loss; got {type(name).__name__}")
    try:
        cls = _LOSSES[name]
    except KeyError:
        raise ValueError(
            f"get_loss: unknown loss {name!r}; available: {', '.join(available())}"
        ) from None
    return cls(**params)
