"""The engine's input handling and edges, for every loss and every route.

Regression tests of issue 14's defects: pandas inputs accepted; ``None``,
strings, mappings, ragged lists, mixed array libraries and ``out`` tuples of the
wrong length refused with an error naming the loss and the argument; a sample
of weight 0 contributes exactly 0 where its loss overflows, and the weighted
mean is finite or infinite, never NaN; ``v`` of a Hessian-vector product must be
finite; the mean of no sample is an error; ``n_threads`` reaches every method;
``__call__`` and ``predict`` do not hold several copies of their input.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_array_equal

from conftest import CASES, case_id, small_batch
from lossmath.engine import compiled, threads
from lossmath.losses import get_loss

METHODS = [
    "value",
    "gradient",
    "hessian_diagonal",
    "value_gradient",
    "gradient_hessian",
    "value_gradient_hessian",
    "fisher_diagonal",
    "hessian",
    "hessian_vector_product",
    "__call__",
]


def _call(loss, method, y, z, w=None, **kwargs):
    if method == "hessian_vector_product":
        if isinstance(z, pd.DataFrame | pd.Series):
            v = z * 0 + 1
        else:
            v = np.ones(z.shape) if isinstance(z, np.ndarray) else np.ones(7)
        return loss.hessian_vector_product(y, z, v, w, **kwargs)
    return getattr(loss, method)(y, z, w, **kwargs)


def _as_tuple(r):
    return r if isinstance(r, tuple) else (r,)


def _pandas(a):
    return pd.DataFrame(a) if a.ndim == 2 else pd.Series(a)


@pytest.fixture(params=["compiled", "numpy"])
def route(request, monkeypatch):
    """Every NumPy route: the compiled loops, or (numba off) the NumPy kernel in blocks."""
    if request.param == "numpy":
        monkeypatch.setattr(compiled, "available", lambda: False)
        monkeypatch.setattr(threads, "MIN_ELEMENTS", 1)
        monkeypatch.setattr(threads, "BLOCK_ELEMENTS", 7)
    return request.param


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_pandas_series_and_frames_are_accepted_by_every_method(loss):
    y, z, w = small_batch(loss)
    for method in METHODS:
        expected = _as_tuple(_call(loss, method, y, z, w))
        got = _as_tuple(_call(loss, method, pd.Series(y), _pandas(z), pd.Series(w)))
        for a, b in zip(expected, got, strict=True):
            assert_array_equal(np.asarray(a), np.asarray(b), err_msg=method)
    if loss.is_convex:
        assert_array_equal(loss.sqrt_hessian(pd.Series(y), _pandas(z)), loss.sqrt_hessian(y, z))
    assert_array_equal(loss.predict(_pandas(z)), loss.predict(z))
    if loss.n_outputs == 1:
        assert loss.baseline(pd.Series(y), pd.Series(w)) == loss.baseline(y, w)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("bad", "kind"),
    [(None, "NoneType"), ("abc", "str"), ({"a": 1}, "dict"), ([[1.0, 2.0], [3.0]], "list")],
    ids=["None", "str", "dict", "ragged"],
)
@pytest.mark.parametrize("arg", ["y", "z"])
def test_what_is_not_an_array_is_refused_by_name(method, bad, kind, arg):
    loss = get_loss("logistic")
    y, z, _ = small_batch(loss)
    args = {"y": y, "z": z, arg: bad}
    with pytest.raises(TypeError, match=rf"^logistic: {arg} must be .*{kind}"):
        _call(loss, method, args["y"], args["z"])


@pytest.mark.parametrize("y", [np.zeros(3), [0.0, 0.0, 0.0]])
def test_hessian_vector_product_refuses_v_none_by_name(y):
    loss = get_loss("absolute_error")
    with pytest.raises(TypeError, match=r"absolute_error: v must be an array.*hessian_vector"):
        loss.hessian_vector_product(y, np.zeros(3), None)


def test_arrays_of_two_libraries_are_refused_by_name():
    torch = pytest.importorskip("torch")
    loss = get_loss("logistic")
    y, z, w = small_batch(loss)
    for method in METHODS:
        with pytest.raises(TypeError, match=r"^logistic: .*one library.*z: torch\.Tensor"):
            _call(loss, method, y, torch.tensor(z), w)


@pytest.mark.parametrize("n", [5, 100_000])
def test_out_of_the_wrong_length_is_refused_by_name(n):
    loss = get_loss("logistic")
    y, z, _ = small_batch(loss, n=n)
    two = (np.empty(n), np.empty(n))
    with pytest.raises(ValueError, match=r"^logistic: out must be one array \(gradient\); got 2"):
        loss.gradient(y, z, out=two)
    with pytest.raises(ValueError, match=r"^logistic: out must be a tuple of 2 arrays"):
        loss.gradient_hessian(y, z, out=(*two, np.empty(n)))
    with pytest.raises(TypeError, match=r"^logistic: out \(gradient\) must be an array"):
        loss.gradient_hessian(y, z, out=([0.0] * n, None))
    with pytest.raises(TypeError, match=r"^logistic: out must be a tuple of 2 arrays"):
        loss.gradient_hessian(y, z, out=np.empty(n))


def _overflowing(name):
    """A batch whose second sample's loss overflows to ``inf`` in float64."""
    z = {"poisson": [0.0, 800.0, 1.0], "squared_error": [0.0, 1e300, 1.0]}[name]
    return np.array([1.0, 1.0, 2.0]), np.array(z), np.array([1.0, 0.0, 2.0])


@pytest.mark.parametrize("n", [3, 30_000])
@pytest.mark.parametrize("name", ["poisson", "squared_error"])
def test_a_sample_of_weight_zero_contributes_exactly_zero(name, n, route):
    loss = get_loss(name)
    y, z, w = (np.resize(a, n) for a in _overflowing(name))
    zero = w == 0
    for method in ("value", "gradient", "hessian_diagonal", "value_gradient_hessian"):
        for r in _as_tuple(getattr(loss, method)(y, z, w, n_threads=2)):
            assert_array_equal(r[zero], 0.0, err_msg=method)
            assert np.isfinite(r).all(), method
    hv = loss.hessian_vector_product(y, z, np.ones(n), w)
    assert_array_equal(hv[zero], 0.0)
    mean = loss(y, z, w)
    expected = (loss.value(y[~zero], z[~zero]) * w[~zero]).sum() / w.sum()
    assert mean == pytest.approx(expected, rel=1e-15)
    assert np.isinf(loss(y, z))  # without the weights, the mean is infinite


def test_multinomial_weight_zero_with_overflowing_loss():
    """The value overflows where the logits' spread exceeds the float range; its
    gradient and Hessian there are the formulas' (issue 14, defect 4), weighted
    by a plain product (finite by construction elsewhere)."""
    loss = get_loss("multinomial")
    y = np.array([0, 1])
    z = np.array([[0.0, 1e308, -1e308], [0.0, 1.0, 2.0]])
    w = np.array([0.0, 1.0])
    value = loss.value(y, z, w)
    assert value[0] == 0.0
    assert np.isfinite(value).all()
    assert np.isfinite(loss(y, z, w))


def test_the_weighted_mean_is_finite_where_the_exact_one_is():
    """Weights or per-sample losses whose sums overflow, though the mean does not."""
    logistic = get_loss("logistic")
    y, z = np.array([0.0, 1.0]), np.array([0.0, 1.0])
    exact = (np.log(2.0) + np.log1p(np.exp(-1.0))) / 2
    assert float(logistic(y, z, np.array([1e308, 1e308]))) == pytest.approx(exact, rel=1e-15)
    squared = get_loss("squared_error")
    y, z = np.zeros(3), np.full(3, 1.265e154)  # each 0.8e308: their sum overflows
    expected = float(squared.value(y[:1], z[:1])[0])
    assert np.isfinite(expected)
    assert float(squared(y, z)) == pytest.approx(expected, rel=1e-15)
    assert float(squared(y, z, np.array([1.0, 3.0, 2.0]))) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("n", [5, 100_000])
@pytest.mark.parametrize("name", ["logistic", "multinomial"])
def test_hessian_vector_product_refuses_a_non_finite_v(name, n, route):
    loss = get_loss(name)
    y, z, _ = small_batch(loss, n=n)
    for bad in (np.nan, np.inf):
        v = np.ones_like(z)
        v.flat[n // 2] = bad
        with pytest.raises(ValueError, match=rf"^{name}: v must be finite"):
            loss.hessian_vector_product(y, z, v)
        loss.hessian_vector_product(y, z, v, check_input=False)  # no check asked


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_the_mean_of_no_sample_is_an_error(loss):
    shape = (0,) if loss.n_outputs == 1 else (0, loss.n_outputs or 3)
    with pytest.raises(ValueError, match=rf"^{loss.name}: the mean loss needs at least one"):
        loss(np.zeros(0), np.zeros(shape))


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_n_threads_reaches_every_method(loss):
    y, z, w = small_batch(loss, n=50)
    calls = {m: (lambda m=m, **kw: _call(loss, m, y, z, w, **kw)) for m in METHODS}
    calls["predict"] = lambda **kw: loss.predict(z, **kw)
    if loss.is_convex:
        calls["sqrt_hessian"] = lambda **kw: loss.sqrt_hessian(y, z, w, **kw)
    for method, call in calls.items():
        for a, b in zip(_as_tuple(call(n_threads=1)), _as_tuple(call()), strict=True):
            assert_array_equal(a, b, err_msg=method)
        if loss.n_outputs == 1 or method != "sqrt_hessian":  # the softmax's: one block
            with pytest.raises(ValueError, match="n_threads must be a positive int"):
                call(n_threads=0)


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize("name", ["logistic", "poisson"])
def test_the_mean_and_predict_hold_no_copies_of_their_input(name):
    """``__call__`` evaluates as ``value`` does (compiled, blocked): one float64 array
    of ``n`` values, not the kernel's temporaries at full size; ``predict`` its
    result and a few blocks."""
    loss = get_loss(name)
    n = 1_000_000
    y, z, w = small_batch(loss, n=n)
    loss(y[:10], z[:10], w[:10])  # compiled before measuring
    assert _peak_bytes(lambda: loss(y, z, w)) < 1.5 * 8 * n
    assert _peak_bytes(lambda: loss(y, z)) < 1.5 * 8 * n
    assert _peak_bytes(lambda: loss.predict(z)) < 1.5 * 8 * n


@pytest.mark.skipif(not compiled.available(), reason="the compiled loops are off")
@pytest.mark.parametrize("n", [50, 100_000])  # one block in this thread; several blocks
@pytest.mark.parametrize("name", ["poisson", "multinomial"])
def test_read_only_input_uses_the_loops_compiled_for_writable_input(name, n):
    """pandas and JAX hand out read-only arrays: the same loops and checks read them
    (no compile of their own), with the same bits, and nothing is written to them."""
    from lossmath.engine.compiled import input_checks, loops

    loss = get_loss(name)
    y, z, w = small_batch(loss, n=n)
    expected = loss.value_gradient(y, z, w)
    compiled_loops = [*loops._loops.values(), input_checks.count_invalid]
    compiled_loops.append(input_checks.count_invalid_labels)
    before = [len(loop.signatures) for loop in compiled_loops]
    frozen = [a.copy() for a in (y, z, w)]
    for a in frozen:
        a.flags.writeable = False
    got = loss.value_gradient(*frozen)
    for e, g in zip(expected, got, strict=True):
        assert_array_equal(g, e, strict=True)
    assert [len(loop.signatures) for loop in compiled_loops] == before
    for a, b in zip(frozen, (y, z, w), strict=True):
        assert_array_equal(a, b, strict=True)
    bad = z.copy()
    bad[n // 2] = np.nan
    bad.flags.writeable = False
    with pytest.raises(ValueError, match=rf"^{name}: z must be finite"):
        loss.value_gradient(y, bad)
