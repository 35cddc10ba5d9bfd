"""The compiled path's own elementary functions (``lossmath.engine.compiled``) against mpmath.

The loss kernels compiled by numba call these instead of the C library's (which
would stop the loops from vectorising); every compiled loss result inherits their
accuracy, so they are held to a tighter bar than the losses: about one ulp.
"""

from __future__ import annotations

import mpmath
import numba
import numpy as np
import pytest

from lossmath.checking._ulp import REFERENCE_DPS, exact, ulp_error
from lossmath.engine import compiled
from lossmath.engine.compiled.exp import exp, expm1
from lossmath.engine.compiled.hyperbolic import sinh, tanh
from lossmath.engine.compiled.log1p import log1p


def _mapped(fn):
    @numba.njit(error_model="numpy")
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])

    return apply


_map_exp, _map_expm1, _map_log1p = _mapped(exp), _mapped(expm1), _mapped(log1p)
_map_sinh, _map_tanh = _mapped(sinh), _mapped(tanh)


def _apply(kernel, x):
    out = np.empty_like(x)
    kernel(x, out)
    return out


def _ulps(computed, x, fn):
    with mpmath.workdps(REFERENCE_DPS):
        return ulp_error(computed, [fn(exact(v)) for v in x], np.float64)


_RNG = np.random.default_rng(2026)
EXP_POINTS = np.concatenate(
    [
        _RNG.uniform(-750.0, 712.0, 400),
        _RNG.uniform(-1.0, 1.0, 200),
        # the edges: last finite result, first subnormal, last non-zero, around 0
        [709.782712893384, -708.3964185322641, -708.4, -745.1332191019411, -745.0],
        [1e-300, -1e-300, 5e-324, 0.5 * np.log(2), -0.5 * np.log(2), 1.0, -1.0],
    ]
)
LOG1P_POINTS = np.concatenate(
    [
        _RNG.uniform(-1.0, 1.0, 200),
        10.0 ** _RNG.uniform(-320.0, 300.0, 200),
        -(10.0 ** _RNG.uniform(-320.0, -1e-9, 200)),
        [np.nextafter(-1.0, 0.0), 2.0**-54, -(2.0**-54), 2.0**-53, 7.9e-17, -7.9e-17],
        [np.sqrt(2.0) - 1, np.sqrt(0.5) - 1, 1.7976931348623157e308, 5e-324, 1.0],
    ]
)


EXPM1_POINTS = np.concatenate(
    [
        _RNG.uniform(-750.0, 712.0, 300),
        _RNG.uniform(-2.0, 2.0, 300),
        # k = 1 (the brackets cancel most), tiny arguments, the ends of the ranges
        _RNG.uniform(0.5 * np.log(2), 1.5 * np.log(2), 200),
        2.0 ** -_RNG.uniform(0.0, 70.0, 50),
        -(2.0 ** -_RNG.uniform(0.0, 70.0, 50)),
        [709.78, 693.2, 693.1, -700.0, -701.0, 5e-324, -5e-324, 2.0**-54, 2.0**-53],
    ]
)
HYPERBOLIC_POINTS = np.concatenate(
    [
        _RNG.uniform(-711.0, 711.0, 300),
        _RNG.uniform(-3.0, 3.0, 300),
        2.0 ** -_RNG.uniform(0.0, 70.0, 50),
        -(2.0 ** -_RNG.uniform(0.0, 70.0, 50)),
        # sinh past the overflow of eˣ, the switch at 709, tanh's approach to 1
        [710.4, -710.47, 709.0, 709.5, 5e-324, -5e-324, 19.06, 22.0, 0.5493],
    ]
)


@pytest.mark.parametrize(
    ("kernel", "reference", "x", "bound"),
    [
        (_map_exp, mpmath.exp, EXP_POINTS, 1.0),
        (_map_expm1, mpmath.expm1, EXPM1_POINTS, 1.5),
        (_map_log1p, mpmath.log1p, LOG1P_POINTS, 1.5),
        (_map_sinh, mpmath.sinh, HYPERBOLIC_POINTS, 2.0),
        (_map_tanh, mpmath.tanh, HYPERBOLIC_POINTS, 2.5),
    ],
    ids=["exp", "expm1", "log1p", "sinh", "tanh"],
)
def test_within_its_ulp_bound(kernel, reference, x, bound):
    worst = _ulps(_apply(kernel, x), x, reference)
    assert worst.max() <= bound, x[np.argmax(worst)]


@pytest.mark.parametrize(
    ("kernel", "reference", "x"),
    [
        (_map_exp, np.exp, [np.inf, -np.inf, np.nan, 710.0, 1e308, -746.0, -1e308, 0.0, -0.0]),
        (_map_log1p, np.log1p, [np.inf, np.nan, -1.0, -1.5, -np.inf, 0.0, -0.0, -1e-300]),
        (_map_expm1, np.expm1, [np.inf, -np.inf, np.nan, 710.0, 1e308, -1e308, 0.0, -0.0, -5e-324]),
        (_map_sinh, np.sinh, [np.inf, -np.inf, np.nan, 711.0, -711.0, 1e308, 0.0, -0.0, 5e-324]),
        (_map_tanh, np.tanh, [np.inf, -np.inf, np.nan, 711.0, -1e308, 0.0, -0.0, -5e-324]),
    ],
    ids=["exp", "log1p", "expm1", "sinh", "tanh"],
)
def test_special_values_as_numpy(kernel, reference, x):
    x = np.array(x)
    with np.errstate(all="ignore"):
        expected = reference(x)
    got = _apply(kernel, x)
    np.testing.assert_array_equal(got, expected)
    signed = ~np.isnan(expected)  # the sign of a NaN carries no meaning
    np.testing.assert_array_equal(np.signbit(got[signed]), np.signbit(expected[signed]))


@pytest.mark.parametrize(("setting", "expected"), [("0", False), ("1", True), (None, True)])
def test_lossmath_jit_switch(monkeypatch, setting, expected):
    if setting is None:
        monkeypatch.delenv("LOSSMATH_JIT", raising=False)
    else:
        monkeypatch.setenv("LOSSMATH_JIT", setting)
    assert compiled.available.__wrapped__() is expected
