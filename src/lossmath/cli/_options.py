"""Option values of ``lossmath fit``: checked as they are parsed, refused in one line."""

from __future__ import annotations

import argparse
import dataclasses
import math

from lossmath.cli._errors import UsageError, did_you_mean

__all__ = [
    "build_loss",
    "loss_name",
    "nonnegative_float",
    "parse_params",
    "positive_float",
    "positive_int",
    "solver_name",
    "unit_interval",
]


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number; got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """``--alpha``: a number ≥ 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {text}")
    return value


def positive_float(text: str) -> float:
    """``--tol``: a number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0; got {text}")
    return value


def unit_interval(text: str) -> float:
    """``--l1-ratio``: a number in [0, 1]."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1] (0 ridge ... 1 lasso); got {text}")
    return value


def positive_int(text: str) -> int:
    """``--max-iter``: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {text}")
    return value


def loss_name(text: str) -> str:
    """``--loss``: a name of the catalogue (a near miss is named)."""
    from lossmath.losses import available

    if text not in available():
        raise argparse.ArgumentTypeError(
            f"unknown loss {text!r}{did_you_mean(text, available())} "
            f"(available: {', '.join(available())})"
        )
    return text


def solver_name(text: str) -> str:
    """``--solver``: ``auto`` or a solver of :mod:`lossmath.linear_model`."""
    from lossmath.linear_model._solvers import SOLVERS

    choices = ("auto", *SOLVERS)
    if text not in choices:
        raise argparse.ArgumentTypeError(
            f"unknown solver {text!r}{did_you_mean(text, choices)} "
            f"(available: {', '.join(choices)})"
        )
    return text


def _value(text: str):
    """``2`` → 2, ``0.5`` → 0.5, ``true`` → True, ``none`` → None, else the text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_params(items: list[str] | None) -> dict:
    """``["delta=2", "power=1.3"]`` → ``{"delta": 2, "power": 1.3}``."""
    params = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param expects NAME=VALUE (e.g. --param delta=2); got {item!r}")
        params[name.strip()] = _value(text)
    return params


def build_loss(name: str, params: dict):
    """The loss ``name`` with ``params``; a wrong parameter is named with the valid ones."""
    from lossmath.losses import get_loss

    fields = [f.name for f in dataclasses.fields(get_loss(name))]
    for key in params:
        if key not in fields:
            valid = f"its parameters: {', '.join(fields)}" if fields else "it has no parameters"
            raise UsageError(
                f"--param {key}=...: loss {name!r} has no parameter {key!r}"
                f"{did_you_mean(key, fields)} ({valid})"
            )
    try:
        return get_loss(name, **params)
    except (TypeError, ValueError) as err:
        raise UsageError(f"--param: {err}") from err
