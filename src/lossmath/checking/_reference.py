"""Exact references for every loss, in ``mpmath`` at :data:`REFERENCE_DPS` digits.

Each reference is written from the catalogue's definition (docs/contract.md §4), not
from lossmath's float formulas: at 400 digits the naive forms are exact enough
(``log(1 + eᶻ)``, ``log cosh r``, ``Σ eᶻ``) for every input the checks use.
The derivative formulas here are themselves checked against ``mpmath.diff`` of
the reference value in the test suite.

A reference returns an :class:`Exact`: value, gradient and Hessian (the full
``K × K`` matrix for multiclass) and, where the exact result is a difference of
rounded terms that cancel only because of the data, a *scale* — the largest term
divided by 8. The ulp unit is then that of ``max(|exact|, scale)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
from mpmath import mpf

from lossmath.checking._ulp import REFERENCE_DPS

__all__ = ["REFERENCES", "Exact", "reference"]


@dataclass
class Exact:
    """Exact value, gradient, Hessian of one sample, with cancellation scales."""

    value: Any
    gradient: Any
    hessian: Any
    value_scale: Any = None
    gradient_scale: Any = None
    hessian_scale: Any = None


#: name → function(loss, y, z) returning :class:`Exact`; ``y``, ``z`` are mpf
#: (multiclass: ``y`` an int label or a list of mpf, ``z`` a list of mpf).
REFERENCES: dict[str, Callable[..., Exact]] = {}


def reference(name: str):
    def decorate(fn):
        REFERENCES[name] = fn
        return fn

    return decorate


def _term_scale(*terms) -> mpf:
    return max(abs(t) for t in terms) / 8


def _sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def _sign(x):
    return mpf(0) if x == 0 else mpf(1 if x > 0 else -1)


def evaluate(loss, y, z) -> Exact:
    """The exact results of ``loss`` at one sample (floats in, exact conversion)."""
    with mpmath.workdps(REFERENCE_DPS):
        if isinstance(z, Sequence) or getattr(z, "ndim", 0) == 1:
            zz = [mpf(float(v)) for v in z]
            yy = [mpf(float(v)) for v in y] if getattr(y, "ndim", 0) == 1 else int(y)
        else:
            zz, yy = mpf(float(z)), mpf(float(y))
        return REFERENCES[loss.name](loss, yy, zz)


# ----------------------------------------------------------------- regression
@reference("squared_error")
def _squared_error(loss, y, z):
    r = z - y
    return Exact(r * r / 2, r, mpf(1))


@reference("absolute_error")
def _absolute_error(loss, y, z):
    r = z - y
    return Exact(abs(r), _sign(r), mpf(0))


@reference("huber")
def _huber(loss, y, z):
    d = mpf(loss.delta)
    r = z - y
    if abs(r) <= d:
        return Exact(r * r / 2, r, mpf(1))
    return Exact(d * (abs(r) - d / 2), d * _sign(r), mpf(0))


@reference("pseudo_huber")
def _pseudo_huber(loss, y, z):
    d = mpf(loss.delta)
    r = z - y
    s = mpmath.sqrt(1 + (r / d) ** 2)
    # δ²(s − 1) written as r²/(1 + s): identical, and no digits lost at tiny r.
    return Exact(r * r / (1 + s), r / s, 1 / s**3)


@reference("log_cosh")
def _log_cosh(loss, y, z):
    r = z - y
    return Exact(mpmath.log(mpmath.cosh(r)), mpmath.tanh(r), 1 / mpmath.cosh(r) ** 2)


@reference("quantile")
def _quantile(loss, y, z):
    q = mpf(loss.quantile)
    u = y - z
    value = q * u if u >= 0 else (q - 1) * u
    grad = -q if u > 0 else ((1 - q) if u < 0 else mpf(0))
    return Exact(value, grad, mpf(0))


# --------------------------------------------------------------------- binary
@reference("logistic")
def _logistic(loss, y, z):
    p = _sigmoid(z)
    soft = y not in (0, 1)
    return Exact(
        mpmath.log1p(mpmath.exp(z)) - y * z,
        p - y,
        p * _sigmoid(-z),
        gradient_scale=_term_scale(p, y) if soft else None,
    )


@reference("hinge")
def _hinge(loss, y, z):
    s = 2 * y - 1
    slack = 1 - s * z
    return Exact(max(slack, mpf(0)), -s if slack > 0 else mpf(0), mpf(0))


@reference("squared_hinge")
def _squared_hinge(loss, y, z):
    s = 2 * y - 1
    d = max(1 - s * z, mpf(0))
    return Exact(d * d, -2 * s * d, mpf(2) if 1 - s * z >= 0 else mpf(0))


@reference("exponential")
def _exponential(loss, y, z):
    s = 2 * y - 1
    e = mpmath.exp(-s * z)
    return Exact(e, -s * e, e)


@reference("focal")
def _focal(loss, y, z):
    gm = mpf(loss.gamma)
    a = mpf(1) if loss.alpha is None else (mpf(loss.alpha) if y == 1 else 1 - mpf(loss.alpha))
    s = 2 * y - 1
    m = s * z
    p, q = _sigmoid(m), _sigmoid(-m)
    big_l = -mpmath.log(p)
    qg = q**gm
    value = a * qg * big_l
    grad = -s * a * qg * (gm * p * big_l + q)
    # H = α p q^γ (γ L (γ p − q) + (2γ + 1) q); its terms cancel near the sign change.
    terms = [a * p * qg * t for t in (gm * gm * big_l * p, -gm * big_l * q, (2 * gm + 1) * q)]
    return Exact(value, grad, sum(terms), hessian_scale=_term_scale(*terms))


# ----------------------------------------------------------------- multiclass
@reference("multinomial")
def _multinomial(loss, y, z):
    k = len(z)
    rows = [mpf(int(y == j)) for j in range(k)] if isinstance(y, int) else list(y)
    eps = mpf(loss.label_smoothing)
    rows = [(1 - eps) * t + eps / k for t in rows]
    w = [mpf(1)] * k if loss.class_weight is None else [mpf(c) for c in loss.class_weight]
    a = [wk * t for wk, t in zip(w, rows, strict=True)]
    abar = sum(a)
    lse = mpmath.log(sum(mpmath.exp(zk) for zk in z))
    p = [mpmath.exp(zk - lse) for zk in z]
    value = sum(ak * (lse - zk) for ak, zk in zip(a, z, strict=True))
    grad = [abar * pk - ak for pk, ak in zip(p, a, strict=True)]
    hess = [[abar * (p[i] * (i == j) - p[i] * p[j]) for j in range(k)] for i in range(k)]
    hard = sum(1 for ak in a if ak != 0) == 1
    # Soft targets: g_k = ā p_k − a_k cancels, and p_k is itself a ratio of K
    # exponentials, ~2 ulps in float64 (libm exp alone is ~0.6): the one place the
    # unit is the largest term / 4 rather than / 8 (docs/accuracy.md).
    scale = None if hard else [2 * _term_scale(abar * pk, ak) for pk, ak in zip(p, a, strict=True)]
    return Exact(value, grad, hess, gradient_scale=scale)


# --------------------------------------------------------------------- counts
@reference("poisson")
def _poisson(loss, y, z):
    e = mpmath.exp(z)
    return Exact(
        e - y * z,
        e - y,
        e,
        value_scale=_term_scale(e, y * z),
        gradient_scale=_term_scale(e, y),
    )


@reference("gamma")
def _gamma(loss, y, z):
    ye = y * mpmath.exp(-z)
    return Exact(
        ye + z,
        1 - ye,
        ye,
        value_scale=_term_scale(ye, z),
        gradient_scale=_term_scale(mpf(1), ye),
    )


@reference("tweedie")
def _tweedie(loss, y, z):
    p = mpf(loss.power)
    e1, e2 = mpmath.exp((1 - p) * z), mpmath.exp((2 - p) * z)
    return Exact(
        e2 / (2 - p) - y * e1 / (1 - p),
        e2 - y * e1,
        (2 - p) * e2 - (1 - p) * y * e1,
        gradient_scale=_term_scale(e2, y * e1),
    )
