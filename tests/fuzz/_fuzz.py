"""Shared strategies and checks of the property-based suites (``test_fuzz_*.py``).

Every fuzz test exists twice: a default run of a few examples per test (the whole
default run takes seconds) and a ``slow`` run of many (``pytest -m slow tests/fuzz``),
both derandomised and without an example database, so CI reproduces every run.
``LOSSMATH_FUZZ_SCALE`` multiplies the slow run's example counts.

The slow counts add up to 108,000 examples (``test_links_bad_input`` exhausts its
few hundred distinct inputs before its count). Measured 2026-12-06 at scale 0.1 on
a shared 2-core machine: 121 s of CPU for the whole slow run (about 80 examples per
CPU second; ``test_loss_methods`` about 40/s, the bad-input tests 200-500/s), so the
full slow run needs about 21 minutes on one core, about 11 with ``pytest -n 2``
(pytest-xdist), with the compiled loops already in numba's disk cache.

The properties asserted, for every public function:

- finite valid input gives a result of the documented shape, dtype and namespace,
  finite, or the correctly signed infinity where the exact value (``mpmath``, only
  evaluated where the result is not finite) overflows the dtype;
- invalid input raises ``ValueError`` or ``TypeError`` whose message names the
  function (or loss) and the argument;
- the inputs are never modified.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

SLOW_SCALE = float(os.environ.get("LOSSMATH_FUZZ_SCALE", "1"))

_COMMON = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "print_blob": False,
    "report_multiple_bugs": False,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.differing_executors,
    ],
}


#: Whether the running example belongs to a slow test (which adds JAX, see backends()).
_MODE = {"slow": False}


def fuzz_pair(check: Callable[[Any], None], fast: int, slow: int) -> tuple[Any, Any]:
    """``(default test, slow test)`` running ``check(data)`` on ``fast`` / ``slow`` examples."""

    def run_fast(data):
        _MODE["slow"] = False
        check(data)

    def run_slow(data):
        _MODE["slow"] = True
        try:
            check(data)
        finally:
            _MODE["slow"] = False

    # The default run does not shrink (a failure prints its example as drawn), so a
    # defect costs seconds, not minutes of 400-digit references; the slow run shrinks.
    fast_test = settings(
        max_examples=fast, phases=(Phase.explicit, Phase.reuse, Phase.generate), **_COMMON
    )(given(data=st.data())(run_fast))
    slow_run = settings(max_examples=max(1, int(slow * SLOW_SCALE)), **_COMMON)(
        given(data=st.data())(run_slow)
    )
    return fast_test, pytest.mark.slow(slow_run)


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------


def _installed(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


_INSTALLED = [b for b in ("torch", "jax") if _installed(b)]

#: JAX compiles every operation for every new shape (about 2 s a call), so it is
#: fuzzed in the slow run only, on a few shapes.
JAX_SHAPES = [(), (3,), (2, 3)]


def backends() -> list[str]:
    """The backends of the running example: NumPy, torch, and JAX in the slow run."""
    return ["numpy"] + [b for b in _INSTALLED if b != "jax" or _MODE["slow"]]


def backend_dtypes(backend: str, dtypes: list[str]) -> list[str]:
    """The dtypes ``backend`` is fuzzed with: JAX without x64 holds float32 only (the
    suite does not switch x64 on, which would change every other test's JAX)."""
    if backend == "jax":
        return ["float32"]
    return dtypes


def flush_subnormals(x: np.ndarray, backend: str) -> np.ndarray:
    """JAX (XLA on CPU) flushes subnormal inputs to zero; the reference sees the same."""
    if backend != "jax" or x.dtype.kind != "f":
        return x
    tiny = np.finfo(x.dtype).tiny
    return np.where(np.abs(x) < tiny, np.zeros_like(x), x).astype(x.dtype)


def to_backend(x: np.ndarray, backend: str) -> Any:
    """``x`` in ``backend``; torch and JAX get native-order copies."""
    if backend == "numpy":
        return x
    native = x.astype(x.dtype.newbyteorder("="), order="C")  # keeps 0-d arrays 0-d
    if backend == "torch":
        import torch

        return torch.from_numpy(native.copy())
    import jax.numpy as jnp

    return jnp.asarray(native)


def to_numpy(a: Any) -> np.ndarray:
    if hasattr(a, "detach"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def backend_of(a: Any) -> str:
    module = type(a).__module__.split(".")[0]
    return {"jaxlib": "jax", "jax": "jax", "torch": "torch"}.get(module, "numpy")


def dtype_name(a: Any) -> str:
    """``'float32'`` for NumPy, torch and JAX alike."""
    return str(a.dtype).replace("torch.", "")


def snapshot(a: Any) -> Any:
    """A copy of an input, to show later that it was not modified."""
    if isinstance(a, np.ndarray):
        return a.copy()
    if backend_of(a) == "torch":
        return a.clone()
    if backend_of(a) == "jax":
        return a  # immutable
    import copy

    return copy.deepcopy(a)


def assert_unchanged(before: Any, after: Any, what: str) -> None:
    if isinstance(before, np.ndarray):
        assert before.dtype == after.dtype, f"{what}: dtype changed"
        assert np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"), (
            f"{what} was modified"
        )
    elif backend_of(before) == "torch":
        import torch

        assert torch.equal(before, after) or bool(
            (torch.isnan(before) & torch.isnan(after)).any()
        ), f"{what} was modified"


# --------------------------------------------------------------------------
# Arrays: dtypes, shapes, layouts, values
# --------------------------------------------------------------------------

FLOATS = ["float16", "float32", "float64"]
INTS = ["int8", "int32", "int64", "uint8", "bool"]
LAYOUTS = ["C", "F", "strided", "big-endian", "big-endian-strided"]


def extreme_values(dtype: str) -> list[float]:
    """Finite values where formulas break: the largest and smallest, overflow edges."""
    info = np.finfo(dtype)
    big = float(info.max)
    candidates = [
        0.0,
        big,
        big / 2,
        float(info.tiny),
        float(info.smallest_subnormal),
        1.0,
        0.5,
        2.0,
        11.0,
        17.0,
        36.0,
        88.0,
        104.0,
        700.0,
        710.0,
        745.0,
        1000.0,
        2048.0,
        4097.0,
        65504.0,
        1e10,
        1e30,
        1e38,
        1e110,
        1e154,
        1e155,
        1e200,
        1e300,
        1e-5,
        1e-30,
        1e-300,
        math.log(2.0),
        1.3,
        2.4,
    ]
    with np.errstate(over="ignore", under="ignore"):
        values = [float(np.asarray(v, dtype)) for v in candidates]
    return sorted({s * v for v in values if 0 <= v <= big for s in (1.0, -1.0)})


def float_elements(dtype: str, low: float | None = None, high: float | None = None):
    """Finite floats of ``dtype`` (any width), half of them from the extreme values."""
    width = np.dtype(dtype).itemsize * 8
    with np.errstate(over="ignore", under="ignore"):
        if low is not None:  # the bounds, rounded inwards to the dtype
            rounded = np.asarray(low, dtype)
            low = float(rounded if rounded >= low else np.nextafter(rounded, np.inf, dtype=dtype))
        if high is not None:
            rounded = np.asarray(high, dtype)
            below = np.nextafter(rounded, -np.inf, dtype=dtype)
            high = float(rounded if rounded <= high else below)
    extremes = [v for v in extreme_values(dtype) if (low is None or v >= low)]
    extremes = [v for v in extremes if high is None or v <= high]
    generic = st.floats(
        min_value=low,
        max_value=high,
        allow_nan=False,
        allow_infinity=False,
        width=width,
        # Subnormals only where the bounds leave room for them (hypothesis insists).
        allow_subnormal=(low is None or low < float(np.finfo(dtype).tiny))
        and (high is None or high > -float(np.finfo(dtype).tiny)),
    )
    if not extremes:
        return generic
    return st.one_of(st.sampled_from(extremes), generic)


def apply_layout(x: np.ndarray, layout: str) -> np.ndarray:
    """The same values in a C, Fortran, strided or big-endian array."""
    if layout == "F":
        return x.copy(order="F")  # np.asfortranarray would make a 0-d array 1-d
    if layout in ("strided", "big-endian-strided") and x.ndim > 0:
        x = np.repeat(x, 2, axis=-1)[..., ::2]
    if layout.startswith("big-endian") and x.dtype.kind in "iuf" and x.dtype.itemsize > 1:
        x = x.astype(x.dtype.newbyteorder(">"))
    return x


@st.composite
def arrays(
    draw,
    dtypes: list[str] | None = None,
    shape: tuple | None = None,
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 0,
    max_side: int = 5,
    low: float | None = None,
    high: float | None = None,
) -> np.ndarray:
    """A NumPy array of finite valid values in a random dtype, shape and layout."""
    dtype = draw(st.sampled_from(dtypes or FLOATS + INTS))
    if shape is None:
        shape = draw(
            hnp.array_shapes(
                min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
            )
        )
    if np.dtype(dtype).kind == "f":
        elements = float_elements(dtype, low, high)
    elif dtype == "bool":
        elements = st.booleans()
        if low is not None and low > 0:
            elements = st.just(True)
        if high is not None and high < 1:
            elements = st.just(False)
    else:
        info = np.iinfo(dtype)
        lo = info.min if low is None else max(info.min, math.ceil(low))
        hi = info.max if high is None else min(info.max, math.floor(high))
        elements = st.integers(lo, hi)
    x = draw(hnp.arrays(dtype, shape, elements=elements))
    return apply_layout(x, draw(st.sampled_from(LAYOUTS)))


def result_dtype(x_dtype: str) -> str:
    """Floating input keeps its dtype; integers and booleans become float64."""
    return x_dtype if np.dtype(x_dtype).kind == "f" else "float64"


# --------------------------------------------------------------------------
# Invalid input
# --------------------------------------------------------------------------


def _bad_objects() -> list[tuple[str, Any]]:
    return [
        ("str", "abc"),
        ("bytes", b"ab"),
        ("None", None),
        ("dict", {"a": 1.0}),
        ("set", {1.0}),
        ("ragged", [[1.0], [1.0, 2.0]]),
        ("complex array", np.array([1.0 + 2.0j, 0.5])),
        ("complex scalar", 1.0 + 5.0j),
        ("str array", np.array(["1.0", "2"])),
        ("object array", np.array([1.0, None], dtype=object)),
        ("timedelta", np.array([1, 2], dtype="timedelta64[s]")),
        ("datetime", np.array(["2020-01-01", "2021-01-01"], dtype="datetime64[D]")),
        ("object", object()),
    ]


BAD_OBJECTS = _bad_objects()


def assert_names(error: BaseException, *names: str) -> None:
    """The message of ``error`` names every one of ``names`` (the function, the argument)."""
    message = str(error)
    for name in names:
        assert name in message, f"{type(error).__name__} does not name {name!r}: {message}"


def expect_error(call: Callable[[], Any], *names: str) -> BaseException:
    """``call()`` raises ``ValueError`` or ``TypeError`` naming ``names``."""
    try:
        result = call()
    except (ValueError, TypeError) as error:
        assert_names(error, *names)
        return error
    raise AssertionError(f"no error naming {names}; got result {result!r}")


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


def check_overflow(
    out: np.ndarray, dtype: str, exact_at: Callable[[tuple], Any], what: str, limit: int = 4
) -> None:
    """No NaN in ``out``; an infinity only where ``exact_at(index)`` overflows with its sign.

    ``exact_at`` returns the exact value (``mpmath``) of the entry at an index, or
    ``None`` where that value is itself infinite in the limit sense of the function's
    documentation (``log 0``); it is only called for the non-finite entries.
    """
    out = np.asarray(out)
    nan = np.isnan(out)
    assert not nan.any(), f"{what}: NaN at {np.argwhere(nan)[:limit].tolist()}"
    infinite = np.argwhere(np.isinf(out))
    biggest = mpmath.mpf(float(np.finfo(dtype).max))
    for index in infinite[:limit]:
        index = tuple(int(i) for i in index)
        exact = exact_at(index)
        if exact is None:
            continue
        assert abs(exact) > biggest, (
            f"{what}: {out[index]} at {index} where the exact value is {mpmath.nstr(exact, 12)}"
        )
        assert mpmath.sign(exact) == np.sign(out[index]), (
            f"{what}: {out[index]} at {index}, exact {mpmath.nstr(exact, 12)}"
        )


def check_array_result(out: Any, backend: str, shape: tuple, dtype: str, what: str) -> np.ndarray:
    """``out`` is an array of ``backend`` with ``shape`` and ``dtype``; returned as NumPy."""
    assert backend_of(out) == backend, f"{what}: a {type(out).__name__} for {backend} input"
    assert tuple(out.shape) == tuple(shape), f"{what}: shape {tuple(out.shape)}, not {shape}"
    assert dtype_name(out) == dtype, f"{what}: dtype {dtype_name(out)}, not {dtype}"
    result = to_numpy(out)
    if isinstance(out, np.ndarray):
        assert out.dtype.isnative, f"{what}: a byte-swapped result"
    return result


def exact_of(x: Any) -> mpmath.mpf:
    return mpmath.mpf(float(x))
