"""Tests of ``lossmath.activations``, parametrized over the registry.

References are written from the mathematical definitions in ``mpmath`` at
:data:`~lossmath.checking.REFERENCE_DPS` digits, never from the code under test;
the hand-derived derivatives are themselves checked against ``mpmath.diff``.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import pytest

from lossmath.activations import (
    GELU,
    Activation,
    LeakyReLU,
    Softplus,
    Swish,
    available,
    gelu,
    get_activation,
    leaky_relu,
    relu,
    silu,
    swish,
)
from lossmath.checking import REFERENCE_DPS, exact, ulp_error


def _torch():
    """PyTorch, an optional backend: the tests that need it skip without it."""
    return pytest.importorskip("torch")


MAX_ULPS = 16

# Every registered activation with its defaults, and non-default hyper-parameters
# (β ≠ 1 makes βx inexact, which the tails must not feel).
CASES = [get_activation(name) for name in available() if name != "silu"] + [
    GELU(approximate="tanh"),
    LeakyReLU(negative_slope=0.2),
    Softplus(beta=2.7),
    Softplus(beta=0.3),
    Swish(beta=1.702),
    Swish(beta=0.5),
]
ORDERS = (0, 1, 2)
ORDER_NAMES = ("value", "derivative", "second_derivative")

Real = Callable[[mpmath.mpf], mpmath.mpf]
Terms = Callable[[mpmath.mpf], list[mpmath.mpf]]


def _evaluate(act: Activation, order: int, x):
    return getattr(act, "__call__" if order == 0 else ORDER_NAMES[order])(x)


# --------------------------------------------------------------------------
# mpmath references
# --------------------------------------------------------------------------

# Beyond these arguments the exact results are below 10**-400000 or within that
# of 1; mpmath would spend seconds reducing e.g. exp(10**900), so they are cut.
_HUGE = mpmath.mpf(10) ** 6


def _sig(t: mpmath.mpf) -> mpmath.mpf:
    """The logistic function 1 / (1 + e^(−t))."""
    if t < -_HUGE:
        return mpmath.mpf(0)
    return 1 / (1 + mpmath.exp(-t))


def _sech2(t: mpmath.mpf) -> mpmath.mpf:
    return mpmath.mpf(0) if abs(t) > _HUGE else mpmath.sech(t) ** 2


def _ncdf(x: mpmath.mpf) -> mpmath.mpf:
    return mpmath.mpf(0) if x < -_HUGE else mpmath.ncdf(x)


def _npdf(x: mpmath.mpf) -> mpmath.mpf:
    return mpmath.mpf(0) if abs(x) > _HUGE else mpmath.npdf(x)


@dataclass(frozen=True)
class Reference:
    """Exact value and derivatives; ``terms[k]`` lists the parts of derivative
    ``k`` that cancel at its zeros inside the domain (``None``: no such zeros)."""

    value: Real
    d1: Real
    d2: Real
    terms: dict[int, Terms] = dataclasses.field(default_factory=dict)
    torch_fn: Callable[[Any], Any] | None = None  # on torch tensors (torch imported lazily)

    def order(self, k: int) -> Real:
        return (self.value, self.d1, self.d2)[k]


def _reference(act: Activation) -> Reference:
    """The reference of ``act``; its constants take the working precision of the call."""
    name = act.name
    zero = mpmath.mpf(0)
    if name == "sigmoid":

        def d1(x):
            return _sig(x) * _sig(-x)

        return Reference(
            _sig, d1, lambda x: d1(x) * (_sig(-x) - _sig(x)), torch_fn=lambda t: _torch().sigmoid(t)
        )
    if name == "tanh":
        return Reference(
            mpmath.tanh,
            lambda x: _sech2(x),
            lambda x: -2 * mpmath.tanh(x) * _sech2(x),
            torch_fn=lambda t: _torch().tanh(t),
        )
    if name == "relu":
        return Reference(
            lambda x: max(x, zero),
            lambda x: mpmath.mpf(1 if x > 0 else 0),
            lambda x: zero,
            torch_fn=lambda t: _torch().relu(t),
        )
    if name == "leaky_relu":
        a = exact(act.negative_slope)
        return Reference(
            lambda x: x if x > 0 else a * x,
            lambda x: mpmath.mpf(1) if x > 0 else a,
            lambda x: zero,
            torch_fn=lambda t: _torch().nn.functional.leaky_relu(t, act.negative_slope),
        )
    if name == "softplus":
        b = exact(act.beta)

        def value(x):
            u = b * x
            # log(1 + e^u) = u + log(1 + e^(−u)); the split only avoids exp(10**300).
            return (u + mpmath.log1p(mpmath.exp(-u)) if u > 0 else mpmath.log1p(mpmath.exp(u))) / b

        return Reference(
            value,
            lambda x: _sig(b * x),
            lambda x: b * _sig(b * x) * _sig(-b * x),
            torch_fn=lambda t: _torch().nn.functional.softplus(t, beta=act.beta),
        )
    if name == "swish":
        b = exact(act.beta)

        def s1(x):  # σ'(βx)
            return _sig(b * x) * _sig(-b * x)

        def d1_terms(x):
            return [_sig(b * x), x * b * s1(x)]

        def d2_terms(x):
            return [2 * b * s1(x), x * b**2 * s1(x) * (_sig(-b * x) - _sig(b * x))]

        return Reference(
            lambda x: x * _sig(b * x),
            lambda x: sum(d1_terms(x)),
            lambda x: sum(d2_terms(x)),
            terms={1: d1_terms, 2: d2_terms},
            torch_fn=lambda t: t * _torch().sigmoid(act.beta * t),
        )
    if name == "gelu" and act.approximate == "none":
        return Reference(
            lambda x: x * _ncdf(x),
            lambda x: _ncdf(x) + x * _npdf(x),
            lambda x: _npdf(x) * (2 - x**2),
            torch_fn=lambda t: _torch().nn.functional.gelu(t, approximate="none"),
        )
    if name == "gelu" and act.approximate == "tanh":
        k = mpmath.sqrt(2 / mpmath.pi)
        a = mpmath.mpf("0.044715")

        def w(x):
            return k * (x + a * x**3)

        def w1(x):
            return k * (1 + 3 * a * x**2)

        def w2(x):
            return 6 * k * a * x

        def one_plus_tanh(x):
            # 1 + tanh(w) = 2 / (1 + e^(−2w)): at x = −20, 1 + tanh(w) ≈ e^(−600)
            # and the sum would cancel beyond the 400 digits.
            return 2 * _sig(2 * w(x))

        def d1_terms(x):
            return [one_plus_tanh(x) / 2, x / 2 * _sech2(w(x)) * w1(x)]

        def d2_terms(x):
            sech2 = _sech2(w(x))
            return [
                sech2 * w1(x) + x / 2 * sech2 * w2(x),
                -x * mpmath.tanh(w(x)) * sech2 * w1(x) ** 2,
            ]

        return Reference(
            lambda x: x / 2 * one_plus_tanh(x),
            lambda x: sum(d1_terms(x)),
            lambda x: sum(d2_terms(x)),
            terms={1: d1_terms, 2: d2_terms},
            torch_fn=lambda t: _torch().nn.functional.gelu(t, approximate="tanh"),
        )
    raise KeyError(f"no reference for {act!r}")


def _id(act: Activation) -> str:
    return repr(act)


def test_every_registered_activation_has_a_reference():
    for name in available():
        assert _reference(get_activation(name)) is not None


# --------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------

EXTREMES = {
    np.float64: [1e-300, 30.0, 100.0, 700.0, 1e300],
    np.float32: [1e-30, 20.0, 80.0, 3e38],
}
# Where exp(−|v|) or exp(−x²/2) is subnormal while the result is not.
TAILS = {
    np.float64: [(-745.0, -700.0), (-39.0, -36.0), (-22.5, -20.0)],
    np.float32: [(-104.0, -86.0), (-14.5, -12.0), (-11.5, -9.0)],
}
LIMITS = {np.float64: (40.0, 300), np.float32: (15.0, 30)}


def _zeros_inside(act: Activation, order: int) -> list[float]:
    """Zeros of derivative ``order`` in [−4, 4], found from the reference alone."""
    with mpmath.workdps(30):
        f = _reference(act).order(order)
        grid = [mpmath.mpf(i) / 8 for i in range(-32, 33)]
        zeros = []
        for a, b in itertools.pairwise(grid):
            if f(a) * f(b) < 0:
                zeros.append(float(mpmath.findroot(f, (a, b), solver="anderson")))
        return zeros


@functools.cache
def _points(case: int, dtype: type) -> np.ndarray:
    rng = np.random.default_rng(20240601 + case)
    limit, max_exp = LIMITS[dtype]
    extremes = EXTREMES[dtype]
    near_zeros = []
    for order in (1, 2):
        for z in _zeros_inside(CASES[case], order):
            z = dtype(z)
            near_zeros += [z, np.nextafter(z, dtype(-10)), np.nextafter(z, dtype(10))]
            near_zeros += list(rng.uniform(z - 0.3, z + 0.3, 8))
    parts = [
        rng.uniform(-limit, limit, 40),
        rng.uniform(-3.0, 3.0, 40),
        rng.choice([-1.0, 1.0], 20) * 10.0 ** rng.uniform(-max_exp, 3.0, 20),
        np.array(extremes + [-x for x in extremes]),
        np.array(near_zeros, dtype=np.float64),
    ] + [rng.uniform(lo, hi, 6) for lo, hi in TAILS[dtype]]
    return np.concatenate(parts).astype(dtype)


@functools.cache
def _exact(case: int, dtype: type, order: int) -> tuple[list, list | None]:
    """Exact results at :func:`_points`, and the cancellation scale where it applies."""
    xs = [exact(x) for x in _points(case, dtype)]
    with mpmath.workdps(REFERENCE_DPS):
        ref = _reference(CASES[case])
        values = [ref.order(order)(x) for x in xs]
        terms = ref.terms.get(order)
        # The ulp_error convention: where parts cancel, the unit is the ulp of
        # max(|exact|, largest part / 8).
        scale = None if terms is None else [max(abs(t) for t in terms(x)) / 8 for x in xs]
    return values, scale


# --------------------------------------------------------------------------
# Accuracy against mpmath
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("order", ORDERS, ids=ORDER_NAMES)
@pytest.mark.parametrize("case", range(len(CASES)), ids=[_id(a) for a in CASES])
def test_ulp_error_against_mpmath(case, order, dtype, backend):
    act = CASES[case]
    xs = _points(case, dtype)
    x_in = xs if backend == "numpy" else _torch().from_numpy(xs)
    computed = np.asarray(_evaluate(act, order, x_in))
    reference, scale = _exact(case, dtype, order)
    errors = ulp_error(computed, reference, dtype, scale)
    worst = int(np.argmax(errors))
    assert errors[worst] <= MAX_ULPS, (
        f"{act!r}.{ORDER_NAMES[order]} at x = {xs[worst]!r}: {errors[worst]:.1f} ulps "
        f"(computed {computed[worst]!r}, exact {mpmath.nstr(reference[worst], 20)})"
    )


@pytest.mark.parametrize("act", CASES, ids=_id)
def test_hand_derived_derivatives_match_mpmath_diff(act):
    with mpmath.workdps(50):
        ref = _reference(act)
        for x in map(mpmath.mpf, ["-3.1", "-1.3", "-0.6", "0.45", "1.7", "2.9"]):
            for order, hand in ((1, ref.d1), (2, ref.d2)):
                numeric = mpmath.diff(ref.value, x, order)
                assert abs(numeric - hand(x)) <= mpmath.mpf(10) ** -35 * max(1, abs(numeric))


# --------------------------------------------------------------------------
# Finite differences and autodiff
# --------------------------------------------------------------------------


def _central_difference(f, x: np.ndarray, h: float) -> np.ndarray:
    """4th-order central difference of ``f`` at ``x``."""
    return (-f(x + 2 * h) + 8 * f(x + h) - 8 * f(x - h) + f(x - 2 * h)) / (12 * h)


@pytest.mark.parametrize("act", CASES, ids=_id)
def test_derivatives_match_finite_differences(act):
    rng = np.random.default_rng(7)
    x = rng.uniform(-6.0, 6.0, 60)
    h = 1e-3
    if not act.is_smooth:
        x = x[np.abs(x) > 4 * h]  # stay off the kink at 0
    np.testing.assert_allclose(
        act.derivative(x), _central_difference(act, x, h), rtol=1e-8, atol=1e-10
    )
    np.testing.assert_allclose(
        act.second_derivative(x),
        _central_difference(act.derivative, x, h),
        rtol=1e-8,
        atol=1e-10,
    )


@pytest.mark.parametrize("act", CASES, ids=_id)
def test_derivatives_match_torch_autodiff(act):
    torch = _torch()
    f = _reference(act).torch_fn
    x = torch.from_numpy(np.random.default_rng(11).uniform(-5.0, 5.0, 100))
    d1 = torch.func.vmap(torch.func.grad(f))(x)
    d2 = torch.func.vmap(torch.func.grad(torch.func.grad(f)))(x)
    np.testing.assert_allclose(act(x).numpy(), f(x).numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(act.derivative(x).numpy(), d1.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(act.second_derivative(x).numpy(), d2.numpy(), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------
# Types, shapes, special values
# --------------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS, ids=ORDER_NAMES)
@pytest.mark.parametrize("act", CASES, ids=_id)
def test_dtypes_and_namespaces_are_preserved(act, order):
    x64 = np.array([[-2.0, 0.5], [1.5, 3.0]])
    for x, dtype in [
        (x64, np.float64),
        (x64.astype(np.float32), np.float32),
        (np.array([[-2, 0], [1, 3]]), np.float64),
        ([-2.0, 0.5], np.float64),
    ]:
        out = _evaluate(act, order, x)
        assert isinstance(out, np.ndarray)
        assert out.dtype == dtype
        assert out.shape == np.shape(x)


@pytest.mark.parametrize("order", ORDERS, ids=ORDER_NAMES)
@pytest.mark.parametrize("act", CASES, ids=_id)
def test_torch_dtypes_are_preserved(act, order):
    torch = _torch()
    for dtype in (torch.float32, torch.float64):
        t = torch.tensor([[-2.0, 0.5], [1.5, 3.0]], dtype=dtype)
        out = _evaluate(act, order, t)
        assert isinstance(out, torch.Tensor)
        assert out.dtype == dtype
        assert out.shape == t.shape


@pytest.mark.parametrize("order", ORDERS, ids=ORDER_NAMES)
@pytest.mark.parametrize("act", CASES, ids=_id)
def test_nan_propagates(act, order):
    assert np.all(np.isnan(_evaluate(act, order, np.array([np.nan, np.nan], np.float32))))


def test_kink_conventions():
    zero = np.array([0.0])
    assert relu.derivative(zero)[0] == 0.0  # PyTorch's convention
    assert leaky_relu.derivative(zero)[0] == leaky_relu.negative_slope
    assert relu.second_derivative(zero)[0] == 0.0
    assert leaky_relu.second_derivative(zero)[0] == 0.0


def test_complex_input_is_rejected():
    with pytest.raises(TypeError, match="x must be a real numeric array"):
        gelu(np.array([1.0 + 1.0j]))


# --------------------------------------------------------------------------
# Parameters and the registry
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "pattern"),
    [
        ("softplus", {"beta": -1.0}, r"beta must be > 0; got beta = -1\.0"),
        ("softplus", {"beta": 0.0}, r"beta must be > 0; got beta = 0\.0"),
        ("softplus", {"beta": math.inf}, r"beta must be > 0; got beta = inf"),
        ("swish", {"beta": -2}, r"beta must be > 0; got beta = -2\.0"),
        ("swish", {"beta": math.nan}, r"beta must be > 0; got beta = nan"),
        ("leaky_relu", {"negative_slope": math.inf}, r"negative_slope must be finite; got"),
        ("gelu", {"approximate": "erf"}, r"approximate must be 'none' or 'tanh'; got .*'erf'"),
    ],
)
def test_bad_parameters_raise_value_error(name, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        get_activation(name, **params)


def test_non_numeric_parameter_raises_type_error():
    with pytest.raises(TypeError, match="beta must be a real number"):
        Softplus(beta="2")


def test_registry():
    names = available()
    assert names == sorted(names)
    assert {"sigmoid", "tanh", "relu", "leaky_relu", "gelu", "swish", "silu", "softplus"} <= set(
        names
    )
    assert get_activation("silu") == Swish(beta=1.0) == silu == swish
    assert get_activation("gelu", approximate="tanh") == GELU(approximate="tanh")
    assert get_activation(gelu) is gelu
    with pytest.raises(ValueError, match="unknown activation 'elu'; available: gelu"):
        get_activation("elu")
    with pytest.raises(TypeError, match="cannot be applied"):
        get_activation(gelu, approximate="tanh")
    with pytest.raises(TypeError, match="beta"):
        get_activation("silu", beta=2.0)


def test_activations_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Softplus().beta = 2.0


# --------------------------------------------------------------------------
# Extreme hyper-parameters, float16, byte order, bad input (regressions)
# --------------------------------------------------------------------------

EXTREME_BETA_POINTS = {
    np.float64: [0.0, 5e-324, 1e-300, 1e-30, 1.0, 30.0, 1e30, 1e300, 1e303, 1.7976931348623157e308],
    np.float32: [0.0, 1.4e-45, 1e-30, 1e-5, 1.0, 30.0, 1e5, 1e30, 3.4028235e38],
}


@pytest.mark.slow  # a minute: mpmath at 400 digits on exp(±10^5)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("order", ORDERS, ids=ORDER_NAMES)
@pytest.mark.parametrize("beta", [5e-324, 1e-300, 1e-100, 1e-30, 1e30, 1e100, 1e300, 1.7e308])
@pytest.mark.parametrize("cls", [Softplus, Swish])
def test_extreme_beta_against_mpmath(cls, beta, order, dtype):
    # Regression: β·x's error-free product split x and overflowed (NaN for
    # β = 1e-300, x = 1e301), β beyond float32's range gave 0·inf, and swish''
    # formed β·(2 + |u|) before multiplying by e^{-|u|}.
    act = cls(beta=beta)
    pts = np.array(EXTREME_BETA_POINTS[dtype], dtype=dtype)
    xs = np.concatenate([pts, -pts[1:]])
    computed = np.asarray(_evaluate(act, order, xs))
    assert computed.dtype == dtype
    assert not np.isnan(computed).any(), computed
    with mpmath.workdps(REFERENCE_DPS):
        ref = _reference(act)
        exact_values = [ref.order(order)(exact(x)) for x in xs]
        terms = ref.terms.get(order)
        scale = None if terms is None else [max(abs(t) for t in terms(exact(x))) / 8 for x in xs]
    errors = ulp_error(computed, exact_values, dtype, scale)
    worst = int(np.argmax(errors))
    assert errors[worst] <= MAX_ULPS, (
        f"{act!r}.{ORDER_NAMES[order]} at x = {xs[worst]!r}: {errors[worst]:.1f} ulps "
        f"(computed {computed[worst]!r}, exact {mpmath.nstr(exact_values[worst], 20)})"
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16], ids=str)
@pytest.mark.parametrize("order", ORDERS, ids=ORDER_NAMES)
@pytest.mark.parametrize("beta", [5e-324, 1e-300, 1e-30, 0.1, 1e30, 1e300, 1.7e308])
@pytest.mark.parametrize("cls", [Softplus, Swish])
def test_extreme_beta_gives_no_nan(cls, beta, order, dtype):
    # The fast companion of test_extreme_beta_against_mpmath: no NaN anywhere, and
    # an infinity only where the exact result overflows the dtype.
    act = cls(beta=beta)
    info = np.finfo(dtype)
    pts = np.array([0.0, float(info.smallest_subnormal), 1e-5, 1.0, 30.0, 2048.0, float(info.max)])
    xs = np.concatenate([pts, -pts[1:]]).astype(dtype)
    out = np.asarray(_evaluate(act, order, xs))
    assert out.dtype == dtype
    assert out.shape == xs.shape
    assert not np.isnan(out).any(), dict(zip(xs.tolist(), out.tolist(), strict=True))
    with mpmath.workdps(30):
        ref = _reference(act).order(order)
        for x, y in zip(xs, out, strict=True):
            if np.isinf(y):
                assert abs(ref(exact(x))) > info.max
                assert mpmath.sign(ref(exact(x))) == np.sign(y)


@pytest.mark.parametrize("order", ORDERS, ids=ORDER_NAMES)
@pytest.mark.parametrize("act", [*CASES, Softplus(beta=0.1), Swish(beta=0.1)], ids=_id)
def test_float16_keeps_its_dtype_and_matches_float32(act, order):
    # Regression: GELU (exact) returned float64 for float16; tanh-GELU and β ≠ 1 gave
    # NaN beyond |x| ≈ 1000 (Veltkamp's split overflowed float16), e.g. softplus(β=0.1)
    # at 2048. float16 now runs in float32 and rounds back.
    info = np.finfo(np.float16)
    xs = np.array([0.0, 1e-7, 0.5, 1.0, 3.0, 11.0, 2048.0, 30000.0, float(info.max)], np.float16)
    xs = np.concatenate([xs, -xs[1:]])
    out = _evaluate(act, order, xs)
    assert out.dtype == np.float16
    assert out.shape == xs.shape
    with np.errstate(over="ignore"):
        expected = np.asarray(_evaluate(act, order, xs.astype(np.float32))).astype(np.float16)
    np.testing.assert_array_equal(out, expected)
    assert not np.isnan(out).any()


@pytest.mark.parametrize("order", ORDERS, ids=ORDER_NAMES)
@pytest.mark.parametrize("act", CASES, ids=_id)
def test_big_endian_and_strided_input(act, order):
    # Regression: tanh-GELU raised NumPy's UFuncTypeError on a big-endian array.
    x = np.linspace(-6.0, 6.0, 24).reshape(4, 6)
    expected = _evaluate(act, order, x[:, ::2])
    for dtype in (">f8", ">f4"):
        swapped = x.astype(dtype)
        before = swapped.copy()
        out = _evaluate(act, order, swapped[:, ::2])
        assert out.dtype == np.dtype(dtype).newbyteorder("=")
        assert out.dtype.isnative
        np.testing.assert_allclose(out, expected, rtol=1e-6 if dtype == ">f4" else 0, atol=1e-7)
        np.testing.assert_array_equal(swapped, before)


def test_leaky_relu_slope_beyond_the_dtype():
    # Regression: a slope of 1e300 rounds to inf in float32, and inf·0 was NaN at x = 0.
    act = LeakyReLU(negative_slope=1e300)
    out = act(np.array([0.0, -0.0, 1.0, -1.0], np.float32))
    np.testing.assert_array_equal(out, np.array([0.0, 0.0, 1.0, -np.inf], np.float32))


@pytest.mark.parametrize(
    "x",
    ["abc", None, {"a": 1}, [[1.0], [1.0, 2.0]], np.array([1 + 1j]), np.array(["a"]), b"ab"],
    ids=repr,
)
def test_input_that_is_not_real_numbers_is_refused_by_name(x):
    for act in (get_activation(name) for name in available()):
        for order in ORDERS:
            with pytest.raises(TypeError, match=rf"{type(act).__name__}: x must be a real"):
                _evaluate(act, order, x)
