"""The fast paths of large NumPy inputs: compiled loops and NumPy blocks.

Every loss runs compiled (``lossmath.engine.compiled``: scalar losses their kernel itself,
the softmax a row loop around its per-class formulas); with numba switched off
(``LOSSMATH_JIT=0``) the NumPy kernel runs on row blocks (``lossmath.engine.threads``).
Both must hold the mpmath accuracy bar, give results that do not depend on the
number of threads or the block size (bit for bit), write into ``out=`` buffers,
and raise the plain path's messages. The NumPy blocks also equal the plain path
bit for bit; the compiled loop uses its own ``exp`` / ``log1p`` (within an ulp),
so it agrees with the plain path to a few ulps of each element, and where the
result cancels, both are within the accuracy bar of the exact result
(``elementwise.assert_agree``). No timings here: see ``benchmarks/bench_losses.py``.
"""

from __future__ import annotations

import copy
import pickle
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.special

from conftest import (
    CASES,
    MULTI_CASES,
    SCALAR_CASES,
    case_id,
    one_fast_case_per_loss,
    small_batch,
)
from elementwise import assert_agree
from lossmath.checking import ULP_TOLERANCE, sample_points, ulp_errors
from lossmath.engine import batch, compiled, runners, threads
from lossmath.engine.compiled import input_checks, loops, streaming
from lossmath.links import Identity
from lossmath.losses import ScalarLoss, get_loss

FUSED = ["value", "gradient", "hessian_diagonal", "value_gradient", "gradient_hessian"]
FUSED += ["value_gradient_hessian", "fisher_diagonal"]
#: More than ``MIN_ELEMENTS`` rows, and not a multiple of any block size.
N_LARGE = threads.MIN_ELEMENTS + 4099
#: From ``JIT_MIN_ELEMENTS`` to one compiled block: not a multiple of anything.
N_MID = threads.JIT_MIN_ELEMENTS + 1237
#: How far the compiled loop and the plain path may be apart, in ulps of each
#: element, before the exact result decides. Their ``exp`` and ``log1p`` differ by
#: up to an ulp and a formula compounds a few (measured in float64: at most 7 where
#: the result does not cancel, 17 for focal's q^γ at γ = 5; float32, rounded from
#: float64 on both routes, 0). Where results cancel they can be thousands of ulps
#: of the small result apart, each within the bar of the exact one.
COMPILED_ULPS = ULP_TOLERANCE


@pytest.fixture(params=["compiled", "numpy"])
def engine(request, monkeypatch):
    """Run the test on the compiled loops, then with numba switched off.

    The compiled loops' streaming-store variant is held to the same bits as the
    plain one (``test_streaming_stores_write_the_same_bits``), so it inherits
    every check made here."""
    if request.param == "numpy":
        monkeypatch.setattr(compiled, "available", lambda: False)
    return request.param


@pytest.fixture
def chunk_everything(monkeypatch):
    """Chunk even the smallest input, in blocks of 7 elements: many blocks, odd edges."""
    monkeypatch.setattr(threads, "MIN_ELEMENTS", 1)
    monkeypatch.setattr(threads, "JIT_MIN_ELEMENTS", 1)
    monkeypatch.setattr(threads, "BLOCK_ELEMENTS", 7)
    monkeypatch.setattr(threads, "JIT_BLOCK_ELEMENTS", 7)


def _plain(monkeypatch, fn):
    with monkeypatch.context() as m:
        m.setattr(threads, "MIN_ELEMENTS", np.inf)
        m.setattr(threads, "JIT_MIN_ELEMENTS", np.inf)
        return fn()


def _as_tuple(r):
    return r if isinstance(r, tuple) else (r,)


def _assert_identical(a, b):
    for x, y in zip(_as_tuple(a), _as_tuple(b), strict=True):
        assert x.dtype == y.dtype
        assert x.shape == y.shape
        np.testing.assert_array_equal(x, y, strict=True)


def _assert_matches_plain(engine, loss, method, args, got, plain):
    """Bit for bit on the NumPy blocks; on the compiled loop within
    ``COMPILED_ULPS`` of each element, or else (where the result is a difference
    of terms that cancel) each side within ``ULP_TOLERANCE`` of the exact result.
    ``args`` are the method's positional arguments, ``(y, z[, v], w)``."""
    if engine == "numpy":
        _assert_identical(got, plain)
        return
    if method == "hessian_vector_product":
        y, z, v, *w = args
    else:
        (y, z, *w), v = args, None
    w = w[0] if w else None
    assert_agree(loss, method, got, plain, COMPILED_ULPS, y=y, z=z, w=w, v=v)


def large_batch(loss, dtype=np.float64):
    y, z, w = small_batch(loss, dtype, n=N_LARGE, seed=11)
    return y, z, w


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_accuracy_on_the_chunked_path(loss, dtype, engine, chunk_everything):
    worst = ulp_errors(loss, dtype)
    assert max(worst.values()) <= ULP_TOLERANCE, worst


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ["logistic", "focal", "poisson", "tweedie", "log_cosh"])
def test_extreme_points_in_a_large_input_match_the_small_one(name, dtype, engine, monkeypatch):
    loss = get_loss(name)
    ((y, z),) = sample_points(loss, dtype)
    reps = -(-N_LARGE // z.size)
    big = loss.value_gradient_hessian(np.tile(y, reps), np.tile(z, reps), n_threads=2)
    with monkeypatch.context() as m:
        if engine == "compiled":  # the compiled loop in blocks of 7, as the mpmath test runs it
            m.setattr(threads, "JIT_MIN_ELEMENTS", 1)
            m.setattr(threads, "JIT_BLOCK_ELEMENTS", 7)
        small = loss.value_gradient_hessian(y, z)  # what test_accuracy* checks
    for b, s in zip(big, small, strict=True):
        np.testing.assert_array_equal(b.reshape(reps, -1), np.broadcast_to(s, (reps, s.size)))


@pytest.mark.parametrize("method", FUSED)
@pytest.mark.parametrize("loss", one_fast_case_per_loss(CASES))
def test_chunked_does_not_depend_on_threads_or_blocks(loss, method, engine, monkeypatch):
    y, z, w = large_batch(loss)
    plain = _plain(monkeypatch, lambda: getattr(loss, method)(y, z, w))
    first = getattr(loss, method)(y, z, w, n_threads=1)
    _assert_matches_plain(engine, loss, method, (y, z, w), first, plain)
    for n_threads in (2, 3):
        _assert_identical(getattr(loss, method)(y, z, w, n_threads=n_threads), first)
    monkeypatch.setattr(threads, "BLOCK_ELEMENTS", 1000)
    monkeypatch.setattr(threads, "JIT_BLOCK_ELEMENTS", 1000)
    _assert_identical(getattr(loss, method)(y, z, w, n_threads=2), first)


@pytest.mark.parametrize("method", [*FUSED[:6], "hessian_vector_product"])
@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_every_loss_takes_the_compiled_loop(loss, method, monkeypatch):
    """No silent fall-back: every kernel of the catalogue compiles."""

    def fail(*args, **kwargs):
        raise AssertionError("NumPy blocks used")

    monkeypatch.setattr(runners, "numpy_blocks", fail)
    y, z, w = large_batch(loss)
    args = (y, z, np.ones_like(z), w) if method == "hessian_vector_product" else (y, z, w)
    getattr(loss, method)(*args)


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_chunked_hessian_vector_product_and_float32(loss, engine, monkeypatch):
    y, z, w = large_batch(loss, np.float32)
    v = np.random.default_rng(0).normal(size=z.shape).astype(np.float32)
    plain = _plain(monkeypatch, lambda: loss.hessian_vector_product(y, z, v, w))
    got = loss.hessian_vector_product(y, z, v, w, n_threads=2)
    _assert_identical(loss.hessian_vector_product(y, z, v, w, n_threads=1), got)
    _assert_matches_plain(engine, loss, "hessian_vector_product", (y, z, v, w), got, plain)
    plain = _plain(monkeypatch, lambda: loss.value_gradient_hessian(y, z))
    got = loss.value_gradient_hessian(y, z, n_threads=2)
    _assert_matches_plain(engine, loss, "value_gradient_hessian", (y, z), got, plain)


@pytest.mark.parametrize("name", ["logistic", "multinomial"])
def test_chunked_out_buffers(name, engine):
    loss = get_loss(name)
    y, z, w = large_batch(loss)
    expected = loss.value_gradient_hessian(y, z, w)
    bufs = tuple(np.empty_like(e) for e in expected)
    got = loss.value_gradient_hessian(y, z, w, out=bufs)
    assert all(g is b for g, b in zip(got, bufs, strict=True))
    _assert_identical(got, expected)
    g = np.empty_like(expected[1])
    got = loss.gradient_hessian(y, z, w, out=(g, None))
    assert got[0] is g
    _assert_identical(got, expected[1:])
    with pytest.raises(ValueError, match="out"):
        loss.gradient_hessian(y, z, out=(np.empty(3), None))


@pytest.mark.parametrize("n", [N_MID, N_LARGE])
def test_out_buffer_aliasing_the_input(n, engine):
    """Computed into new buffers, then copied: the values of the call without ``out``."""
    loss = get_loss("logistic")
    y, z, _ = small_batch(loss, n=n, seed=11)
    expected = loss.gradient(y, z)
    assert loss.gradient(y, z, out=z) is z
    _assert_identical(z, expected)


@pytest.mark.parametrize("n_threads", [0, -1, 1.5, "2", True])
@pytest.mark.parametrize("n", [5, N_LARGE])
def test_n_threads_is_validated(n_threads, n):
    loss = get_loss("logistic")
    y, z = np.zeros(n), np.zeros(n)
    with pytest.raises(ValueError, match="logistic: n_threads must be a positive int or None"):
        loss.gradient_hessian(y, z, n_threads=n_threads)


def test_numpy_integer_n_threads_is_accepted():
    loss = get_loss("poisson")
    y, z, _ = large_batch(loss)
    _assert_identical(loss.gradient(y, z, n_threads=np.int64(2)), loss.gradient(y, z))


@pytest.mark.parametrize(
    ("name", "arg", "index", "bad", "match"),
    [
        ("logistic", "y", -1, 2.0, r"y must lie in \[0, 1\]; got max\(y\) = 2.0"),
        ("poisson", "y", N_LARGE // 2, -3.0, r"y must be >= 0; got min\(y\) = -3.0"),
        ("squared_error", "y", 5, np.nan, "y must be finite; got 2 non-finite values"),
        ("gamma", "y", -7, 0.0, r"y must be > 0; got min\(y\) = 0.0"),
        ("hinge", "y", N_LARGE - 100, 0.5, r"y must be 0 or 1; got 0.5 at 1 entries"),
        ("poisson", "y", -3, np.inf, "y must be finite; got 1 non-finite value"),
        ("huber", "z", -2, -np.inf, r"z must be finite; got 1 non-finite value \(first: -inf\)"),
        ("logistic", "sample_weight", -5, -1.0, r"sample_weight must be >= 0; got min"),
        ("tweedie", "sample_weight", N_LARGE // 3, np.nan, "sample_weight must be finite"),
    ],
)
def test_chunked_errors_name_the_whole_array(name, arg, index, bad, match, engine):
    """Bad input anywhere in a large array — past the first block, where the compiled
    path checks in its own pass — raises the plain path's message."""
    loss = get_loss(name)
    y, z, w = large_batch(loss)
    {"y": y, "z": z, "sample_weight": w}[arg][index] = bad
    if name == "squared_error":
        y[-1] = bad
    with pytest.raises(ValueError, match=match):
        loss.gradient_hessian(y, z, w, n_threads=2)
    {"y": y, "z": z, "sample_weight": w}[arg][index] = np.ones(1, y.dtype)[0]
    if name == "squared_error":
        y[-1] = 1.0
    loss.gradient_hessian(y, z, w, n_threads=2)  # and nothing else was wrong


@pytest.mark.parametrize("n", [3, N_MID, N_LARGE])
def test_shape_mismatch_takes_the_plain_path_and_raises(n):
    loss = get_loss("logistic")
    with pytest.raises(ValueError, match="y must have the shape of z"):
        loss.gradient_hessian(np.zeros(n - 1), np.zeros(n))
    loss = get_loss("multinomial")
    with pytest.raises(ValueError, match=r"y must be labels of shape \(\d+,\)"):
        loss.gradient_hessian(np.zeros(n + 1), np.zeros((n, 3)))
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        loss.gradient_hessian(np.zeros(n), np.zeros((n, 3)), np.ones(n - 1))


def test_without_numba_small_inputs_stay_plain(monkeypatch):
    """``LOSSMATH_JIT=0``: nothing compiles, and below ``MIN_ELEMENTS`` the NumPy
    expressions run in the calling thread (lists too)."""

    def fail(*args, **kwargs):
        raise AssertionError("run_blocks or a compiled loop called")

    monkeypatch.setattr(compiled, "available", lambda: False)  # as LOSSMATH_JIT=0 makes it
    monkeypatch.setattr(threads, "run_blocks", fail)
    monkeypatch.setattr(loops, "compiled_loop", fail)
    monkeypatch.setattr(input_checks, "count_invalid", fail)
    loss = get_loss("logistic")
    n = threads.MIN_ELEMENTS - 1
    loss.gradient_hessian(np.zeros(n), np.zeros(n), n_threads=2)
    loss.gradient_hessian([0.0] * 100, [0.0] * 100, n_threads=2)


def test_every_numpy_input_takes_the_compiled_loop(monkeypatch):
    """From one score on (``JIT_MIN_ELEMENTS``), lists included: a call on a few
    hundred rows is a few microseconds, not the NumPy expressions' tens."""

    def fail(*args, **kwargs):
        raise AssertionError("the NumPy kernel ran")

    loss = get_loss("logistic")
    monkeypatch.setattr(runners, "_block", fail)
    for n in (1, 2, 100):
        y, z, w = small_batch(loss, n=n)
        loss.gradient_hessian(y, z, w)
        loss.value_gradient(list(y), list(z))


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_mid_sized_inputs_take_the_compiled_loop_in_this_thread(loss, monkeypatch):
    """One compiled block, no thread hand-off, the arrays read as they are (no
    validation pass: float32 stays float32, so one compiled signature), and the
    results of the large path: within the plain path's tolerance, weights, float32
    and ``H v`` included."""
    n = N_MID // (loss.n_outputs or 1) + 1
    assert threads.JIT_MIN_ELEMENTS <= n * (loss.n_outputs or 1) <= threads.JIT_BLOCK_ELEMENTS
    y, z, w = small_batch(loss, n=n, seed=4)
    v = np.random.default_rng(0).normal(size=z.shape)
    plain = {
        "vgh": _plain(monkeypatch, lambda: loss.value_gradient_hessian(y, z, w)),
        "hvp": _plain(monkeypatch, lambda: loss.hessian_vector_product(y, z, v, w)),
        "f32": _plain(monkeypatch, lambda: loss.gradient_hessian(y, z.astype(np.float32))),
    }

    def fail(*args):
        raise AssertionError("run_blocks called")

    calls = []
    real = batch.validate

    def no_validation(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(threads, "run_blocks", fail)
    monkeypatch.setattr(runners, "numpy_blocks", fail)
    got = loss.value_gradient_hessian(y, z, w, check_input=False, n_threads=2)
    _assert_matches_plain("compiled", loss, "value_gradient_hessian", (y, z, w), got, plain["vgh"])
    _assert_identical(loss.value_gradient_hessian(y, z, w), got)
    got = loss.hessian_vector_product(y, z, v, w)
    hvp = "hessian_vector_product"
    _assert_matches_plain("compiled", loss, hvp, (y, z, v, w), got, plain["hvp"])
    monkeypatch.setattr(batch, "validate", no_validation)
    z32 = z.astype(np.float32)
    got = loss.gradient_hessian(y, z32, check_input=False)
    _assert_matches_plain("compiled", loss, "gradient_hessian", (y, z32), got, plain["f32"])
    assert calls == []


@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_one_block_route_gives_the_bits_of_the_general_one(loss, monkeypatch):
    """A mid-sized input's call takes a short route to the compiled loop
    (``lossmath.engine.runners.one_block``), past the decisions of the general one: the same
    loop, so the same bits — every method, weights, ``H v``, float32, ``out=``
    buffers (written in place) and the default checks."""
    n = N_MID // (loss.n_outputs or 1) + 1
    y, z, w = small_batch(loss, n=n, seed=5)
    v = np.random.default_rng(1).normal(size=z.shape)
    calls = [(method, (y, z, w)) for method in FUSED]
    calls += [("hessian_vector_product", (y, z, v, w)), ("gradient_hessian", (y, z[::-1].copy()))]
    calls += [("value_gradient", (y, z.astype(np.float32), w.astype(np.float32)))]

    def run():
        results = [getattr(loss, method)(*args) for method, args in calls]
        results += [getattr(loss, method)(*args, check_input=False) for method, args in calls]
        bufs = tuple(np.full_like(r, np.nan) for r in results[4])  # gradient_hessian
        assert loss.gradient_hessian(y, z, w, out=bufs) == bufs
        return [*results, bufs]

    def fail(*args, **kwargs):
        raise AssertionError("the general route ran")

    with monkeypatch.context() as m:
        m.setattr(runners, "compiled", fail)
        short = run()
    with monkeypatch.context() as m:
        m.setattr(runners, "one_block", lambda *args: None)
        general = run()
    for a, b in zip(short, general, strict=True):
        _assert_identical(a, b)


def test_a_kernel_numba_cannot_compile_runs_as_numpy_expressions(monkeypatch):
    """A user's loss whose kernel calls what numba does not support (here SciPy's
    ``log_expit``) warns once and runs that method as NumPy expressions, at every
    size; its other methods still compile."""

    @dataclass(frozen=True)
    class LogExpit(ScalarLoss):
        name = "log_expit"
        _link = Identity()
        _convex = True
        _smooth = True
        _hessian_bound = 1.0

        def _kernel(self, xp, y, z, value, gradient, hessian):
            r = z - y
            v = -scipy.special.log_expit(-r) if value else None
            return v, (r if gradient else None), (xp.ones_like(r) if hessian else None)

        def baseline(self, y, sample_weight=None):
            return 0.0

    loss = LogExpit()
    y, z, w = small_batch(get_loss("squared_error"), n=N_LARGE, seed=8)
    with pytest.warns(compiled.CompileWarning, match=r"log_expit: numba could not compile .*value"):
        small = loss.value(y[:5], z[:5], w[:5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once is enough
        big = loss.value(y, z, w, n_threads=2)
        _assert_identical(small, big[:5])
        _assert_identical(big, _plain(monkeypatch, lambda: loss.value(y, z, w)))
        spy = []
        real = runners.compiled
        monkeypatch.setattr(runners, "compiled", lambda *a: spy.append(1) or real(*a))
        g, h = loss.gradient_hessian(y, z, w, n_threads=2)
    assert spy, "gradient_hessian compiles"
    _assert_identical(g, (z - y) * w)
    _assert_identical(h, w)


@pytest.mark.parametrize("n", [5, N_MID, N_LARGE])
def test_a_read_only_out_buffer_is_refused(n):
    """A ``ValueError`` naming the buffer — not numba's failure to type a store into
    it, which would also have switched the method to NumPy expressions."""
    loss = get_loss("logistic")
    y, z, _ = small_batch(loss, n=n, seed=9)
    expected = loss.gradient(y, z)
    g = np.empty_like(z)
    g.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"out \(gradient\) must be writable"):
            loss.gradient(y, z, out=g)
        _assert_identical(loss.gradient(y, z), expected)
        y.flags.writeable = z.flags.writeable = False  # read-only inputs are fine
        _assert_identical(loss.gradient(y, z), expected)


@pytest.mark.parametrize("n", [5, N_MID, N_LARGE])
@pytest.mark.parametrize("name", ["logistic", "multinomial"])
def test_arrays_of_the_other_byte_order_give_the_same_values(name, n):
    """numba reads native byte order only: the others are converted first."""
    loss = get_loss(name)
    y, z, w = small_batch(loss, n=n, seed=10)
    expected = loss.value_gradient_hessian(y, z, w)
    swapped = [a.astype(a.dtype.newbyteorder("S")) for a in (y, z, w)]
    assert not any(a.dtype.isnative for a in swapped)
    _assert_identical(loss.value_gradient_hessian(*swapped), expected)


def test_a_loss_pickles_without_what_this_process_made_of_it():
    """The compiled loops' arguments, kept on the loss after its first call, are not
    pickled or copied: the hyper-parameters are (a tuple class made at run time
    would not unpickle in another process)."""
    loss = get_loss("tweedie", power=1.5)
    y, z, w = small_batch(loss, n=50)
    expected = loss.gradient_hessian(y, z, w)
    assert "_jit_arguments_" in vars(loss)
    for other in (pickle.loads(pickle.dumps(loss)), copy.deepcopy(loss), copy.copy(loss)):
        assert other == loss
        assert vars(other) == {"power": 1.5}
        _assert_identical(other.gradient_hessian(y, z, w), expected)


@pytest.mark.parametrize("n", [N_MID, N_LARGE])
def test_unusual_arrays_take_the_general_route(n, monkeypatch):
    """What the short route does not take — an ``out`` overlapping an input, a
    strided ``out`` or input, other dtypes (boolean targets, integer scores),
    lists — the general route computes, with the same values."""
    loss = get_loss("logistic")
    y, z, w = small_batch(loss, n=n, seed=6)
    expected = loss.gradient_hessian(y, z, w)
    pair = np.empty((n, 2))
    got = loss.gradient_hessian(y, z, w, out=(pair[:, 0], pair[:, 1]))
    _assert_identical(got, expected)
    wide = np.repeat(z[:, None], 2, axis=1)
    _assert_identical(loss.gradient_hessian(y, wide[:, 0], w), expected)
    _assert_identical(loss.gradient_hessian(y.astype(bool), z, w), expected)
    _assert_identical(loss.gradient_hessian(list(y), z, list(w)), expected)
    scores = np.round(z).astype(np.int64)
    _assert_identical(loss.gradient(y, scores), loss.gradient(y, scores.astype(np.float64)))
    zc = z.copy()
    assert loss.gradient(y, zc, w, out=zc) is zc
    _assert_identical(zc, expected[0])


@pytest.mark.parametrize(
    ("name", "arg", "bad", "match"),
    [
        ("logistic", "y", "2-D", r"y must have the shape of z, \(\d+,\); got shape \(\d+, 1\)"),
        ("logistic", "z", "2-D", r"z must be a 1-D array of shape \(n_samples,\); got shape"),
        ("logistic", "y", "text", "y must be a real numeric array; got dtype <U"),
        ("logistic", "y", 3.0, r"y must lie in \[0, 1\]; got max\(y\) = 3.0"),
        ("logistic", "z", np.nan, "z must be finite; got 1 non-finite value"),
        ("logistic", "sample_weight", -2.0, r"sample_weight must be >= 0; got min"),
        ("multinomial", "y", 2.5, "integer labels y must be whole numbers; got 2.5"),
        ("multinomial", "y", 3.0, r"y \(class labels\) must lie in \[0, 2\]; got max"),
        ("multinomial", "y", -1.0, r"y \(class labels\) must lie in \[0, 2\]; got min"),
        ("multinomial", "y", np.nan, "y must be finite; got 1 non-finite value"),
        ("multinomial", "z", np.inf, r"z must be finite; got 1 non-finite value \(first: inf\)"),
        ("multinomial", "z", "1-D", r"z must have shape \(n_samples, 3\); got \(\d+,\)"),
        ("multinomial", "sample_weight", np.inf, "sample_weight must be finite"),
    ],
)
def test_mid_sized_bad_input_raises_the_plain_message(name, arg, bad, match):
    """The compiled path reads mid-sized arrays without a validation pass: shapes
    and dtypes are checked before the loop, values by its compiled checks, and
    either way the message is the plain path's."""
    loss = get_loss("multinomial", n_classes=3) if name == "multinomial" else get_loss(name)
    y, z, w = small_batch(loss, n=N_MID)
    if name == "multinomial":
        y = y.astype(np.float64)
    args = {"y": y, "z": z, "sample_weight": w}
    a = args[arg]
    if bad == "2-D":
        args[arg] = a[:, None]
    elif bad == "1-D":
        args[arg] = a[:, 0]
    elif bad == "text":
        args[arg] = a.astype(str)
    elif a.ndim == 2:
        a[N_MID // 2, 1] = bad
    else:
        a[N_MID // 2] = bad
    with pytest.raises((TypeError, ValueError), match=match):
        loss.gradient_hessian(args["y"], args["z"], args["sample_weight"])


@pytest.mark.parametrize("loss", MULTI_CASES, ids=case_id)
def test_multinomial_probability_rows_and_memory_layouts(loss, engine, monkeypatch):
    """Soft targets, Fortran-ordered inputs (copied per block for the row loop) and
    a Fortran-ordered ``out`` (which the row loop cannot write: the results are
    made in a new array and copied, the values of the call without ``out``)."""
    y, z, w = large_batch(loss)
    rows = np.random.default_rng(5).dirichlet(np.ones(z.shape[1]), size=z.shape[0])
    v = np.random.default_rng(6).normal(size=z.shape)
    zf, vf = np.asfortranarray(z), np.asfortranarray(v)
    plain = _plain(monkeypatch, lambda: loss.value_gradient_hessian(rows, z, w))
    got = loss.value_gradient_hessian(rows, zf, w)
    _assert_matches_plain(engine, loss, "value_gradient_hessian", (rows, z, w), got, plain)
    plain = _plain(monkeypatch, lambda: loss.hessian_vector_product(rows, z, v, w))
    got = loss.hessian_vector_product(rows, zf, vf, w)
    _assert_matches_plain(engine, loss, "hessian_vector_product", (rows, z, v, w), got, plain)
    out = np.empty(z.shape, order="F")
    assert loss.gradient(y, z, w, out=out) is out
    _assert_identical(out, loss.gradient(y, z, w))


def test_non_class_labels_unchecked_give_zero_targets_as_the_plain_path(monkeypatch, engine):
    """With ``check_input=False`` a label that is no class (2.5, 7) gets no target
    weight on either path — the compiled loop reads labels as they are."""
    loss = get_loss("multinomial")
    y, z, _ = large_batch(loss)
    y = y.astype(np.float64)
    y[:3] = [2.5, 7.0, -1.0]
    plain = _plain(monkeypatch, lambda: loss.gradient(y, z, check_input=False))
    got = loss.gradient(y, z, check_input=False)
    _assert_matches_plain(engine, loss, "gradient", (y, z), got, plain)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("loss", SCALAR_CASES, ids=case_id)
def test_streaming_stores_write_the_same_bits(loss, dtype, monkeypatch):
    """Streaming stores change how results reach memory, not what they are: the
    same bits as the plain compiled loop, into buffers at every alignment (so the
    unaligned head, the vector body and the tail are all exercised), weighted or
    not, for every fused method and ``H v``."""
    y, z, w = large_batch(loss, dtype)
    v = np.random.default_rng(1).normal(size=z.shape).astype(dtype)
    calls = [
        ("value_gradient_hessian", (y, z, w)),
        ("gradient_hessian", (y, z)),
        ("hessian_vector_product", (y, z, v, w)),
    ]
    expected = {m: _as_tuple(getattr(loss, m)(*args, n_threads=2)) for m, args in calls}
    stores = _record_stores(monkeypatch)
    monkeypatch.setattr(streaming, "_last_level_cache", lambda: 0)
    # Every kernel, those bound by their arithmetic too: a user's may not be.
    monkeypatch.setattr(loops, "bound_by_arithmetic", lambda cls: False)
    monkeypatch.setattr(threads, "JIT_BLOCK_ELEMENTS", 1000)  # chunks cut at odd places
    itemsize = np.dtype(dtype).itemsize
    for residue in range(0, streaming.VECTOR_BYTES, itemsize):
        for method, args in calls:
            bufs = tuple(_at_alignment(e.size, dtype, residue) for e in expected[method])
            got = getattr(loss, method)(*args, n_threads=2, out=bufs if len(bufs) > 1 else bufs[0])
            _assert_identical(got, expected[method])
    assert stores.count("stream") == len(calls) * (streaming.VECTOR_BYTES // itemsize)


def _record_stores(monkeypatch):
    """The ``store`` of every compiled loop looked up from now on, in order."""
    stores = []
    real = loops.compiled_loop

    def spy(*args, store="plain", **kwargs):
        stores.append(store)
        return real(*args, store=store, **kwargs)

    monkeypatch.setattr(loops, "compiled_loop", spy)
    return stores


def _at_alignment(n, dtype, residue):
    """An empty array of ``n`` elements whose address is ``residue`` mod ``VECTOR_BYTES``."""
    itemsize = np.dtype(dtype).itemsize
    base = np.empty(n + streaming.VECTOR_BYTES // itemsize, dtype)
    skip = (residue - base.ctypes.data) % streaming.VECTOR_BYTES // itemsize
    out = base[skip : skip + n]
    assert out.ctypes.data % streaming.VECTOR_BYTES == residue
    return out


#: The methods whose strided ``out=`` is checked: every output slot, and ``H v``.
STRIDED_OUT = ("value_gradient_hessian", "hessian_vector_product")


#: Every scalar loss in float64; float32 (the same stores, rounding on the way) once.
STRIDED_CASES = [(loss, np.float64) for loss in SCALAR_CASES]
STRIDED_CASES += [(get_loss("logistic"), np.float32), (get_loss("tweedie"), np.float32)]


@pytest.mark.parametrize(
    ("loss", "dtype"), STRIDED_CASES, ids=[f"{case_id(c)}-{d.__name__}" for c, d in STRIDED_CASES]
)
def test_strided_inputs_and_outputs_give_the_same_bits(loss, dtype, monkeypatch):
    """Columns of 2-D arrays, as inputs (copied block by block to contiguous ones)
    and as ``out=`` buffers (written through the chunked loop, ``store="strided"``):
    the same bits as contiguous arrays, every fused method and ``H v``, with the
    blocks and chunks cut at odd places."""
    y, z, w = large_batch(loss, dtype)
    v = np.random.default_rng(2).normal(size=z.shape).astype(dtype)
    calls = [
        ("value_gradient_hessian", (y, z, w)),
        ("gradient_hessian", (y, z)),
        ("value", (y, z, w)),
        ("hessian_vector_product", (y, z, v, w)),
    ]
    expected = {m: _as_tuple(getattr(loss, m)(*args, n_threads=2)) for m, args in calls}

    def column(a):  # the same values, every third element of a 2-D array's storage
        wide = np.zeros((a.shape[0], 3), a.dtype)
        wide[:, 1] = a
        return wide[:, 1]

    stores = _record_stores(monkeypatch)
    monkeypatch.setattr(threads, "JIT_BLOCK_ELEMENTS", 1000)
    for method, args in calls:
        strided = tuple(a if a is None else column(a) for a in args)
        assert not strided[1].flags.c_contiguous
        _assert_identical(getattr(loss, method)(*strided, n_threads=2), expected[method])
        if method not in STRIDED_OUT:
            continue  # each strided-output loop compiles anew: the two that cover them all
        bufs = tuple(column(np.empty_like(e)) for e in expected[method])
        got = getattr(loss, method)(*args, n_threads=2, out=bufs if len(bufs) > 1 else bufs[0])
        _assert_identical(got, expected[method])
        _assert_identical(bufs, expected[method])
    assert stores.count("strided") == len(STRIDED_OUT)


def test_streaming_only_where_outputs_outgrow_the_cache(monkeypatch):
    big = streaming._last_level_cache() // 8 + 1
    assert streaming.worthwhile((np.empty(big), None)) == streaming._x86_64()
    assert not streaming.worthwhile((np.empty(1000), None))
    assert not streaming.worthwhile((np.empty((big, 2))[:, 0],))  # strided: plain stores
    monkeypatch.setattr(streaming, "_x86_64", lambda: False)
    assert not streaming.worthwhile((np.empty(big),))


def test_shared_blocks_are_larger_for_scalar_losses_yet_four_per_thread():
    """A scalar loss's input shared among threads goes in blocks of up to
    ``SCALAR_BLOCK_FACTOR`` single blocks, never fewer than four per thread and
    never smaller than one single block; the softmax's rows keep single blocks."""
    single = threads.JIT_BLOCK_ELEMENTS
    factor = threads.SCALAR_BLOCK_FACTOR
    for n, n_threads, expected in [
        (10_000_000, 2, factor * single),  # capped
        (1_000_000, 2, 1_000_000 // 8),  # four blocks per thread
        (1_000_000, 1, 1_000_000 // 4),
        (200_000, 2, single),  # never below a single block
        (10_000_000, 64, single),
    ]:
        assert threads.shared_block_rows(np.empty(n), n_threads, scalar=True) == expected
    rows = threads.shared_block_rows(np.empty((1_000_000, 10)), 2, scalar=False)
    assert rows == single // 10
    cpus = threads._available_cpus()
    z = np.empty(10_000_000)
    assert threads.shared_block_rows(z, None, True) == threads.shared_block_rows(z, cpus, True)


@pytest.mark.parametrize(
    ("name", "bound"),
    [
        ("squared_error", False),
        ("huber", False),
        ("quantile", False),
        ("logistic", True),  # through _sigmoid_pair's exp
        ("poisson", True),
        ("pseudo_huber", True),  # hypot, a C-library call
        ("log_cosh", True),
    ],
)
def test_streaming_stores_only_for_kernels_bound_by_memory(name, bound, monkeypatch):
    """A kernel calling an elementary function, itself or through a helper, is
    bound by its arithmetic: its loop keeps plain stores on outputs of any size;
    the others stream once the outputs outgrow the cache."""
    loss = get_loss(name)
    assert loops.bound_by_arithmetic(type(loss)) is bound
    stores = _record_stores(monkeypatch)
    monkeypatch.setattr(streaming, "_last_level_cache", lambda: 0)
    y, z, _ = large_batch(loss)
    loss.gradient_hessian(y, z, n_threads=2)
    assert ("stream" in stores) == (not bound and streaming._x86_64())


@pytest.mark.parametrize("check_input", [True, False], ids=["checked", "unchecked"])
@pytest.mark.parametrize("loss", CASES, ids=case_id)
def test_float32_inputs_are_computed_in_float64(loss, check_input):
    """float32 in: computed in float64, rounded once — the compiled loops read the
    float32 blocks as they are, and must not let two float32 inputs meet in float32
    arithmetic (numba's ``float()`` of a float32 element stays float32)."""
    y, z, w = large_batch(loss, np.float32)
    wide = tuple(a.astype(np.float64) if a.dtype == np.float32 else a for a in (y, z, w))
    got = loss.value_gradient_hessian(y, z, w, check_input=check_input, n_threads=2)
    expected = loss.value_gradient_hessian(*wide, check_input=check_input, n_threads=2)
    for g, e in zip(got, expected, strict=True):
        _assert_identical(g, e.astype(np.float32))
