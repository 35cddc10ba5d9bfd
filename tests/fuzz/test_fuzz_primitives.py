"""Property-based fuzzing of ``special``, ``activations``, ``links`` and ``penalties``.

See ``_fuzz.py`` for the properties and the two runs (default and ``slow``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import numpy as np
from _fuzz import (
    BAD_OBJECTS,
    FLOATS,
    INTS,
    JAX_SHAPES,
    arrays,
    assert_unchanged,
    backend_dtypes,
    backends,
    check_array_result,
    check_overflow,
    exact_of,
    expect_error,
    flush_subnormals,
    fuzz_pair,
    result_dtype,
    snapshot,
    to_backend,
)
from hypothesis import strategies as st

from lossmath import activations, links, penalties, special
from test_activations import _reference as activation_reference

DPS = 30
EPS = float(np.finfo(np.float64).eps)
MAX = float(np.finfo(np.float64).max)


def _positive_floats():
    """Any positive finite float64, the extremes often."""
    return st.one_of(
        st.sampled_from(
            [5e-324, 1e-300, 1e-30, 1e-5, 0.1, 0.5, 1.0, 1.702, 10.0, 1e30, 1e300, MAX]
        ),
        st.floats(min_value=0.0, exclude_min=True, max_value=MAX, allow_subnormal=True),
    )


def _draw_input(data, dtypes=None, backend=None, **kwargs):
    """``(backend, x as NumPy, x in the backend)``."""
    if backend is None:
        backend = data.draw(st.sampled_from(backends()), label="backend")
    if backend == "jax" and "shape" not in kwargs:
        ndim = kwargs.pop("min_dims", 0)
        kwargs["shape"] = data.draw(st.sampled_from([s for s in JAX_SHAPES if len(s) >= ndim]))
    x = data.draw(
        arrays(dtypes=backend_dtypes(backend, dtypes or FLOATS + INTS), **kwargs), label="x"
    )
    x = flush_subnormals(x, backend)
    return backend, x, to_backend(x, backend)


# --------------------------------------------------------------------------
# special: elementwise functions
# --------------------------------------------------------------------------

_CUT = mpmath.mpf(10) ** 6  # beyond it exp(−|t|) is far below any float


def _log1pexp(t):
    """log(1 + e^t), without forming exp of a huge argument."""
    return t + mpmath.log1p(mpmath.exp(-t)) if t > 0 else mpmath.log1p(mpmath.exp(t))


ELEMENTWISE = {
    "sigmoid": lambda t: mpmath.mpf(0) if t < -_CUT else 1 / (1 + mpmath.exp(-t)),
    "softplus": _log1pexp,
    "log_sigmoid": lambda t: -_log1pexp(-t),
    "logcosh": lambda t: abs(t) - mpmath.log(2) + mpmath.log1p(mpmath.exp(-2 * abs(t))),
    "log1mexp": lambda t: None if t == 0 else mpmath.log(-mpmath.expm1(t)),
}


def check_special_elementwise(data):
    name = data.draw(st.sampled_from(sorted(ELEMENTWISE)), label="function")
    high = 0.0 if name == "log1mexp" else None
    backend, x, xb = _draw_input(data, high=high)
    before = snapshot(xb)
    out = getattr(special, name)(xb)
    dtype = result_dtype(x.dtype.name)
    got = check_array_result(out, backend, x.shape, dtype, f"special.{name}")
    reference = ELEMENTWISE[name]
    with mpmath.workdps(DPS):
        check_overflow(got, dtype, lambda i: reference(exact_of(x[i])), f"special.{name}")
    assert_unchanged(before, xb, "x")


test_special_elementwise, test_special_elementwise_slow = fuzz_pair(
    check_special_elementwise, fast=40, slow=12000
)


# --------------------------------------------------------------------------
# special: reductions along an axis
# --------------------------------------------------------------------------


def _exact_logsumexp(values, temperature=1):
    m = max(values)
    t = mpmath.mpf(temperature)
    total = sum(mpmath.exp((v - m) / t) if (v - m) / t > -_CUT else 0 for v in values)
    return m + t * mpmath.log(total)


def check_special_reduction(data):
    name = data.draw(
        st.sampled_from(["logsumexp", "softmax", "log_softmax", "smooth_max"]), label="function"
    )
    backend, x, xb = _draw_input(data, min_dims=1)
    axis = data.draw(st.sampled_from([None, *range(-x.ndim, x.ndim)]), label="axis")
    kwargs = {"axis": axis}
    if name == "smooth_max":
        kwargs["temperature"] = data.draw(_positive_floats(), label="temperature")
    keepdims = name == "logsumexp" and data.draw(st.booleans(), label="keepdims")
    if keepdims:
        kwargs["keepdims"] = True
    f = getattr(special, name)
    before = snapshot(xb)
    empty = x.size == 0 if axis is None else x.shape[axis] == 0
    if empty:
        expect_error(lambda: f(xb, **kwargs), name, "x")
        return
    out = f(xb, **kwargs)
    dtype = result_dtype(x.dtype.name)
    axes = tuple(range(x.ndim)) if axis is None else (axis % x.ndim,)
    if name in ("softmax", "log_softmax"):
        shape = x.shape
    elif keepdims:
        shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    else:
        shape = tuple(n for i, n in enumerate(x.shape) if i not in axes)
    got = check_array_result(out, backend, shape, dtype, f"special.{name}")
    values = x.astype(np.float64) if x.dtype.kind != "f" else x.astype(dtype)

    def slice_of(index):
        if name in ("softmax", "log_softmax"):
            if axis is None:
                return values.ravel(), values[index]
            full = list(index)
            full[axes[0]] = slice(None)
            return values[tuple(full)], values[index]
        if axis is None:
            return values.ravel(), None
        full = list(
            index if not keepdims else tuple(i for k, i in enumerate(index) if k not in axes)
        )
        full.insert(axes[0], slice(None))
        return values[tuple(full)], None

    def exact_at(index):
        row, entry = slice_of(index)
        row = [exact_of(v) for v in np.ravel(row)]
        if name == "smooth_max":
            return _exact_logsumexp(row, kwargs["temperature"])
        lse = _exact_logsumexp(row)
        if name == "log_softmax":
            return exact_of(entry) - lse
        if name == "softmax":
            return mpmath.exp(exact_of(entry) - lse)
        return lse

    with mpmath.workdps(DPS):
        check_overflow(got, dtype, exact_at, f"special.{name}")
    if name == "softmax" and got.size:
        assert (got >= 0).all()
        assert (got <= 1).all()
    assert_unchanged(before, xb, "x")


test_special_reductions, test_special_reductions_slow = fuzz_pair(
    check_special_reduction, fast=40, slow=12000
)


def check_xlogy(data):
    backend = data.draw(st.sampled_from(backends()), label="backend")
    dtypes = backend_dtypes(backend, FLOATS + INTS)
    shape = data.draw(st.sampled_from([(), (3,), (2, 3)]), label="shape")
    x = data.draw(arrays(dtypes=dtypes, shape=shape), label="x")
    y = data.draw(arrays(dtypes=[x.dtype.name], shape=shape, low=0.0), label="y")
    x, y = flush_subnormals(x, backend), flush_subnormals(y, backend)
    xb, yb = to_backend(x, backend), to_backend(y, backend)
    out = special.xlogy(xb, yb)
    dtype = result_dtype(x.dtype.name)
    got = check_array_result(out, backend, shape, dtype, "special.xlogy")

    def exact_at(i):
        a, b = exact_of(x[i]), exact_of(y[i])
        if a == 0:
            return mpmath.mpf(0)
        return None if b == 0 else a * mpmath.log(b)

    with mpmath.workdps(DPS):
        check_overflow(got, dtype, exact_at, "special.xlogy")


test_special_xlogy, test_special_xlogy_slow = fuzz_pair(check_xlogy, fast=20, slow=6000)


def check_special_bad_input(data):
    name = data.draw(
        st.sampled_from(
            [
                "sigmoid",
                "softplus",
                "log_sigmoid",
                "logcosh",
                "log1mexp",
                "logsumexp",
                "softmax",
                "log_softmax",
                "smooth_max",
                "xlogy",
            ]
        ),
        label="function",
    )
    _label, bad = data.draw(st.sampled_from(BAD_OBJECTS), label="bad input")
    f = getattr(special, name)
    if name == "xlogy":
        expect_error(lambda: f(bad, np.ones(2)), name, "x")
        expect_error(lambda: f(np.ones(2), bad), name, "y")
    else:
        expect_error(lambda: f(bad), name, "x")
    if name == "log1mexp":
        expect_error(lambda: f(np.array([-1.0, 0.5])), name, "x")
    if name == "smooth_max":
        t = data.draw(st.sampled_from([0.0, -1.0, math.nan, math.inf, "1", None, True]))
        expect_error(lambda: f(np.ones(3), temperature=t), name, "temperature")
    if name in ("logsumexp", "softmax", "log_softmax", "smooth_max"):
        axis = data.draw(st.sampled_from([2, -3, 1.0, "0", True]))
        expect_error(lambda: f(np.ones((2, 3)), axis=axis), name, "axis")


test_special_bad_input, test_special_bad_input_slow = fuzz_pair(
    check_special_bad_input, fast=20, slow=3000
)


# --------------------------------------------------------------------------
# activations and their derivatives
# --------------------------------------------------------------------------


@st.composite
def activation_objects(draw):
    kind = draw(
        st.sampled_from(
            [*activations.available(), "softplus(β)", "swish(β)", "leaky(a)", "gelu-tanh"]
        )
    )
    if kind == "softplus(β)":
        return activations.Softplus(beta=draw(_positive_floats()))
    if kind == "swish(β)":
        return activations.Swish(beta=draw(_positive_floats()))
    if kind == "leaky(a)":
        slope = draw(_positive_floats()) * draw(st.sampled_from([1.0, -1.0]))
        return activations.LeakyReLU(negative_slope=slope)
    if kind == "gelu-tanh":
        return activations.GELU(approximate="tanh")
    return activations.get_activation(kind)


ORDERS = ("__call__", "derivative", "second_derivative")


def check_activation(data):
    act = data.draw(activation_objects(), label="activation")
    order = data.draw(st.sampled_from(range(3)), label="order")
    backend, x, xb = _draw_input(data)
    if backend == "jax" and not 2.0**-100 <= getattr(act, "beta", 1.0) <= 2.0**100:
        return  # JAX without x64 has no float64 to hold a β beyond float32's range
    before = snapshot(xb)
    out = getattr(act, ORDERS[order])(xb)
    dtype = result_dtype(x.dtype.name)
    what = f"{act!r}.{ORDERS[order]}"
    got = check_array_result(out, backend, x.shape, dtype, what)
    reference = activation_reference(act).order(order)
    with mpmath.workdps(DPS):
        check_overflow(got, dtype, lambda i: reference(exact_of(x[i])), what)
    assert_unchanged(before, xb, "x")


test_activations, test_activations_slow = fuzz_pair(check_activation, fast=60, slow=20000)


def check_activation_bad_input(data):
    act = data.draw(activation_objects(), label="activation")
    _label, bad = data.draw(st.sampled_from(BAD_OBJECTS), label="bad input")
    order = data.draw(st.sampled_from(ORDERS), label="order")
    expect_error(lambda: getattr(act, order)(bad), type(act).__name__, "x")
    # Hyper-parameters.
    bad_number = data.draw(
        st.sampled_from([0.0, -1.0, math.nan, math.inf, -math.inf, "1", None, True])
    )
    for cls, param in ((activations.Softplus, "beta"), (activations.Swish, "beta")):
        expect_error(lambda cls=cls, param=param: cls(**{param: bad_number}), cls.__name__, param)
    if not (isinstance(bad_number, float) and math.isfinite(bad_number)):
        expect_error(
            lambda: activations.LeakyReLU(negative_slope=bad_number), "LeakyReLU", "negative_slope"
        )
    expect_error(lambda: activations.GELU(approximate=bad_number), "GELU", "approximate")
    expect_error(
        lambda: activations.get_activation(bad_number if bad_number is not None else "nope"),
        "get_activation",
    )


test_activations_bad_input, test_activations_bad_input_slow = fuzz_pair(
    check_activation_bad_input, fast=20, slow=3000
)


# --------------------------------------------------------------------------
# links
# --------------------------------------------------------------------------


def _link_reference(name: str, method: str):
    """The exact result at one entry, for the elementwise links (``None``: ±inf by definition)."""
    if method == "link":
        if name == "identity":
            return lambda p: p
        if name in ("logit", "half_logit"):
            half = mpmath.mpf(0.5) if name == "half_logit" else 1
            return lambda p: None if p in (0, 1) else half * mpmath.log(p / (1 - p))
        return lambda p: None if p == 0 else mpmath.log(p)
    if name == "identity":
        return (
            (lambda z: z)
            if method == "inverse"
            else (lambda z: mpmath.mpf(1 - (method != "inverse_derivative")))
        )
    if name == "log":
        return lambda z: mpmath.exp(z) if z < _CUT else mpmath.inf
    return lambda z: mpmath.mpf(0)  # logistic links: bounded by 1 (and by 1/2 for the derivatives)


DOMAINS = {
    "identity": (None, None),
    "logit": (0.0, 1.0),
    "half_logit": (0.0, 1.0),
    "log": (0.0, None),
}
LINK_METHODS = ("link", "inverse", "inverse_derivative", "inverse_second_derivative")


def check_link(data):
    name = data.draw(st.sampled_from(links.available()), label="link")
    link = links.get_link(name)
    method = data.draw(st.sampled_from(LINK_METHODS), label="method")
    if link.acts_on_rows:
        backend = data.draw(st.sampled_from(backends()), label="backend")
        n = data.draw(st.integers(0, 4), label="n")
        k = data.draw(st.integers(1, 4), label="k")
        if backend == "jax":  # few shapes: JAX compiles each one (seconds)
            n, k = data.draw(st.sampled_from([(2, 3), (1, 1)]), label="jax shape")
        low = 1e-300 if method == "link" else None
        backend, x, xb = _draw_input(
            data,
            backend=backend,
            shape=(n, k),
            low=low,
            high=1.0 if method == "link" else None,
            dtypes=FLOATS,
        )
        if method == "link" and x.size and (x <= 0).any():
            return  # float16/32 rounded the lower bound to 0, outside (0, 1]
        extra = {"inverse_derivative": (k,), "inverse_second_derivative": (k, k)}.get(method, ())
        shape = (n, k, *extra)
    else:
        low, high = DOMAINS[name] if method == "link" else (None, None)
        backend, x, xb = _draw_input(data, low=low, high=high)
        shape = x.shape
    before = snapshot(xb)
    out = getattr(link, method)(xb)
    dtype = result_dtype(x.dtype.name)
    what = f"{type(link).__name__}.{method}"
    got = check_array_result(out, backend, shape, dtype, what)
    if link.acts_on_rows:
        check_overflow(got, dtype, lambda i: mpmath.mpf(0), what)  # never infinite
        if method == "inverse" and got.size:
            assert (got >= 0).all()
            assert (got <= 1).all()
    else:
        reference = _link_reference(name, method)
        with mpmath.workdps(DPS):
            check_overflow(got, dtype, lambda i: reference(exact_of(x[i])), what)
    assert_unchanged(before, xb, "z" if method != "link" else "y_pred")


test_links, test_links_slow = fuzz_pair(check_link, fast=40, slow=12000)


def check_link_bad_input(data):
    name = data.draw(st.sampled_from(links.available()), label="link")
    link = links.get_link(name)
    cls = type(link).__name__
    _label, bad = data.draw(st.sampled_from(BAD_OBJECTS), label="bad input")
    for method in LINK_METHODS:
        arg = "y_pred" if method == "link" else "z"
        expect_error(lambda method=method: getattr(link, method)(bad), f"{cls}.{method}", arg)
    if name != "identity":
        outside = np.array([[-0.5, 2.0]]) if link.acts_on_rows else np.array([-0.5, 2.0])
        expect_error(lambda: link.link(outside), f"{cls}.link", "y_pred")
    if link.acts_on_rows:
        expect_error(lambda: link.inverse(np.ones(3)), f"{cls}.inverse", "z")
    expect_error(lambda: links.get_link("nope"), "get_link")
    expect_error(lambda: links.get_link(3), "get_link")


test_links_bad_input, test_links_bad_input_slow = fuzz_pair(
    check_link_bad_input, fast=10, slow=2000
)


# --------------------------------------------------------------------------
# penalties
# --------------------------------------------------------------------------


@st.composite
def penalty_objects(draw, positive: bool = False):
    name = draw(st.sampled_from(penalties.available()))
    alpha = draw(_positive_floats() if positive else st.one_of(st.just(0.0), _positive_floats()))
    params = {"alpha": alpha}
    if name == "elastic_net":
        params["l1_ratio"] = draw(
            st.one_of(st.sampled_from([0.0, 1e-300, 0.5, 1 - 1e-16, 1.0]), st.floats(0.0, 1.0))
        )
    return penalties.get_penalty(name, **params)


def _fractions(w) -> list[Fraction]:
    return [Fraction(float(v)) for v in np.ravel(np.asarray(w, dtype=np.float64))]


def _rounded(value: Fraction) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _exact_value(penalty, w) -> Fraction:
    terms = _fractions(w)
    l1, l2 = Fraction(penalty._l1), Fraction(penalty._l2)
    return l1 * sum(abs(t) for t in terms) + l2 / 2 * sum(t * t for t in terms)


def _log_z(penalty) -> mpmath.mpf:
    a = mpmath.mpf(penalty.alpha) * mpmath.mpf(penalty.l1_ratio)
    b = mpmath.mpf(penalty.alpha) * (1 - mpmath.mpf(penalty.l1_ratio))
    if b == 0:
        return mpmath.log(2 / a)
    c = mpmath.sqrt(2 * b)
    t = a / c
    if t > 1e8:
        log_erfcx = -mpmath.log(t * mpmath.sqrt(mpmath.pi)) + mpmath.log1p(-1 / (2 * t**2))
    else:
        log_erfcx = t * t + mpmath.log(mpmath.erfc(t))
    return mpmath.log(2 * mpmath.sqrt(mpmath.pi) / c) + log_erfcx


def check_penalty(data):
    penalty = data.draw(penalty_objects(), label="penalty")
    w = data.draw(arrays(max_dims=2, max_side=6), label="w")
    before = w.copy()
    n = w.size
    # value: the exact rational value, rounded, to within the rounding of n terms.
    exact = _exact_value(penalty, w)
    expected = _rounded(exact)
    got = penalty.value(w)
    assert isinstance(got, float)
    if math.isinf(expected):
        assert got == expected, f"{penalty!r}.value: {got}, exact {expected}"
    else:
        assert math.isfinite(got), f"{penalty!r}.value: {got} where the exact value is {expected}"
        assert abs(got - expected) <= (n + 4) * EPS * abs(expected) + 5e-324 * 4, (
            penalty,
            got,
            expected,
        )
    # log_prior: −P(w) − n log Z.
    if penalty.alpha == 0:
        expect_error(lambda: penalty.log_prior(w), f"{penalty.name}.log_prior", "alpha")
    else:
        lp = penalty.log_prior(w)
        with mpmath.workdps(DPS):
            log_z = _log_z(penalty)
            reference = -mpmath.mpf(exact.numerator) / exact.denominator - n * log_z
        if abs(reference) > MAX:
            assert lp == -math.inf or (math.isinf(lp) and np.sign(lp) == mpmath.sign(reference))
        else:
            assert math.isfinite(lp), (
                f"{penalty!r}.log_prior = {lp}, exact {mpmath.nstr(reference, 12)}"
            )
            scale = float(abs(mpmath.mpf(exact.numerator) / exact.denominator) + n * abs(log_z))
            assert abs(lp - float(reference)) <= 1e-13 * scale + 1e-300
    # gradient (smooth penalties), Hessian diagonal, prox, subgradient.
    if penalty.is_smooth:
        g = penalty.gradient(w)
        assert g.shape == w.shape
        assert g.dtype == np.float64
        for gi, wi in zip(g.ravel(), _fractions(w), strict=True):
            assert gi == _rounded(Fraction(penalty._l2) * wi)
    else:
        expect_error(lambda: penalty.gradient(w), penalty.name, "L1")
    h = penalty.hessian_diagonal(w)
    assert h.shape == w.shape
    assert (h == penalty._l2).all()
    step = data.draw(st.one_of(st.just(0.0), _positive_floats()), label="step")
    p = penalty.prox(w, step=step)
    assert p.shape == w.shape
    assert np.isfinite(p).all()
    assert (np.abs(p) <= np.abs(w.astype(np.float64))).all()
    grad = data.draw(arrays(dtypes=["float64"], shape=w.shape), label="grad")
    r = penalty.min_norm_subgradient(w, grad)
    assert r.shape == w.shape
    assert not np.isnan(r).any()
    l1, l2 = Fraction(penalty._l1), Fraction(penalty._l2)
    for ri, wi, gi in zip(r.ravel(), _fractions(w), _fractions(grad), strict=True):
        smooth = gi + l2 * wi
        if wi != 0:
            exact_r = smooth + (l1 if wi > 0 else -l1)
        else:
            exact_r = (1 if smooth > 0 else -1) * max(abs(smooth) - l1, Fraction(0))
        bound = _rounded(abs(gi) + abs(l2 * wi) + l1)
        if math.isinf(_rounded(exact_r)):
            assert ri == _rounded(exact_r)
        else:
            assert math.isfinite(ri), (penalty, wi, gi, ri)
            assert abs(ri - _rounded(exact_r)) <= 4 * EPS * bound + 1e-300
    np.testing.assert_array_equal(w, before)


test_penalties, test_penalties_slow = fuzz_pair(check_penalty, fast=40, slow=12000)


def check_penalty_bad_input(data):
    penalty = data.draw(penalty_objects(positive=True), label="penalty")
    _label, bad = data.draw(st.sampled_from(BAD_OBJECTS), label="bad input")
    name = penalty.name
    for method, call in (
        ("value", lambda: penalty.value(bad)),
        ("log_prior", lambda: penalty.log_prior(bad)),
        ("hessian_diagonal", lambda: penalty.hessian_diagonal(bad)),
        ("prox", lambda: penalty.prox(bad, step=1.0)),
        ("min_norm_subgradient", lambda: penalty.min_norm_subgradient(bad, np.ones(2))),
    ):
        expect_error(call, f"{name}.{method}", "w")
    expect_error(
        lambda: penalty.min_norm_subgradient(np.ones(2), bad), "min_norm_subgradient", "grad"
    )
    nonfinite = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    expect_error(lambda: penalty.value([1.0, nonfinite]), f"{name}.value", "w")
    bad_number = data.draw(st.sampled_from([-1.0, math.nan, math.inf, "1", None, True, 1 + 1j]))
    expect_error(lambda: penalty.prox([1.0], step=bad_number), "prox", "step")
    expect_error(lambda: penalties.get_penalty(name, alpha=bad_number), name, "alpha")
    if name == "elastic_net":
        expect_error(lambda: penalties.get_penalty(name, l1_ratio=bad_number), name, "l1_ratio")
        expect_error(lambda: penalties.get_penalty(name, l1_ratio=1.5), name, "l1_ratio")
    expect_error(lambda: penalties.get_penalty("nope"), "get_penalty")


test_penalties_bad_input, test_penalties_bad_input_slow = fuzz_pair(
    check_penalty_bad_input, fast=15, slow=3000
)
