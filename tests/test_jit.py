"""The compiled path's own ``exp`` and ``log1p`` (``lossmath._jit``) against mpmath.

The loss kernels compiled by numba call these instead of the C library's (which
would stop the loops from vectorising); every compiled loss result inherits their
accuracy, so they are held to a tighter bar than the losses: about one ulp.
"""

from __future__ import annotations

import mpmath
import numba
import numpy as np
import pytest

from lossmath import _jit
from lossmath._jit._exp import exp
from lossmath._jit._log1p import log1p
from lossmath.checking._ulp import REFERENCE_DPS, exact, ulp_error


@numba.njit(error_model="numpy")
def _map_exp(x, out):
    for i in range(x.shape[0]):
        out[i] = exp(x[i])


@numba.njit(error_model="numpy")
def _map_log1p(x, out):
    for i in range(x.shape[0]):
        out[i] = log1p(x[i])


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


def test_exp_is_within_one_ulp():
    worst = _ulps(_apply(_map_exp, EXP_POINTS), EXP_POINTS, mpmath.exp)
    assert worst.max() <= 1.0, EXP_POINTS[np.argmax(worst)]


def test_log1p_is_within_one_and_a_half_ulps():
    worst = _ulps(_apply(_map_log1p, LOG1P_POINTS), LOG1P_POINTS, mpmath.log1p)
    assert worst.max() <= 1.5, LOG1P_POINTS[np.argmax(worst)]


@pytest.mark.parametrize(
    ("kernel", "reference", "x"),
    [
        (_map_exp, np.exp, [np.inf, -np.inf, np.nan, 710.0, 1e308, -746.0, -1e308, 0.0, -0.0]),
        (_map_log1p, np.log1p, [np.inf, np.nan, -1.0, -1.5, -np.inf, 0.0, -0.0, -1e-300]),
    ],
    ids=["exp", "log1p"],
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
    assert _jit.available.__wrapped__() is expected
