"""Shared fixtures: every registered loss with each of its parameter cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

from lossmath.checking import loss_cases

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.load_profile("ci")

#: Every loss of the registry × its parameter cases; a new loss is tested here at once.
CASES = loss_cases()
SCALAR_CASES = [c for c in CASES if c.n_outputs == 1]
MULTI_CASES = [c for c in CASES if c.n_outputs != 1]


def one_fast_case_per_loss(cases):
    """``cases`` as pytest params: each loss's first parameter case in the default
    run, its other cases marked ``slow`` (for checks that do not depend on the
    hyper-parameters: namespaces, threads, blocks)."""
    seen: set[str] = set()
    params = []
    for c in cases:
        marks = [pytest.mark.slow] if c.name in seen else []
        seen.add(c.name)
        params.append(pytest.param(c, marks=marks, id=case_id(c)))
    return params


def case_id(loss) -> str:
    return repr(loss)


def small_batch(loss, dtype=np.float64, n: int = 7, seed: int = 3):
    """A small valid batch ``(y, z)`` at moderate scores, plus weights; the targets
    of binary losses are hard labels (tests read them as booleans too)."""
    rng = np.random.default_rng(seed)
    y = loss.example_targets(rng, n)
    if loss.task == "binary":
        y = np.round(y)
    z = loss.example_scores(rng, n)
    w = rng.uniform(0.5, 2.0, n)
    return y.astype(dtype) if y.dtype.kind == "f" else y, z.astype(dtype), w.astype(dtype)


@pytest.fixture(params=CASES, ids=case_id)
def loss(request):
    return request.param


def ulp_distance(actual, desired) -> np.ndarray:
    """Element-wise distance of ``actual`` from ``desired`` in ulps of each element.

    The unit is the spacing of the arrays' dtype at ``max(|actual|, |desired|)``
    of that element, so a tiny value is held to its own precision, not to that of
    the array's largest element. Equal values (the same infinity included) and
    NaN against NaN are 0 apart; an infinity against a finite value is ``inf``.
    """
    a, d = np.asarray(actual), np.asarray(desired)
    dtype = np.result_type(a.dtype, d.dtype)
    dtype = dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)
    a64, d64 = a.astype(np.float64), d.astype(np.float64)
    same = (a64 == d64) | (np.isnan(a64) & np.isnan(d64))
    with np.errstate(invalid="ignore", over="ignore"):
        unit = np.spacing(np.maximum(np.abs(a), np.abs(d)).astype(dtype)).astype(np.float64)
        dist = np.abs(a64 - d64) / unit
    return np.where(same, 0.0, np.where(np.isnan(dist), np.inf, dist))


def assert_within_ulps(actual, desired, nulp: float, err_msg: str = "") -> None:
    """Each element of ``actual`` within ``nulp`` ulps of itself from ``desired``."""
    assert np.shape(actual) == np.shape(desired), (np.shape(actual), np.shape(desired), err_msg)
    dist = ulp_distance(actual, desired)
    if dist.size and not np.all(dist <= nulp):
        i = np.unravel_index(int(np.argmax(dist)), dist.shape)
        raise AssertionError(
            f"{err_msg}: {int(np.sum(dist > nulp))} of {dist.size} elements more than "
            f"{nulp} ulps apart; worst {dist[i]:.3g} ulps at {i}: "
            f"{np.asarray(actual)[i]!r} vs {np.asarray(desired)[i]!r}"
        )


def _compile_group(item) -> str | None:
    """The loss class and float dtype a test is parametrised with, or ``None``.

    Why: most of a cold run's time is numba compiling each loss's loops, once per
    loss, method and dtype, in each process. Under ``pytest -n`` (``addopts``) the
    tests of one loss and dtype go to one worker (``--dist loadgroup``), so a
    loop is compiled by one worker and not by both.
    """
    from lossmath.losses import Loss, available, get_loss

    params = getattr(getattr(item, "callspec", None), "params", {})
    loss, dtype = None, ""
    for value in params.values():
        if isinstance(value, Loss):
            loss = type(value).__name__
        elif isinstance(value, str) and value in available():
            loss = type(get_loss(value)).__name__
        elif isinstance(value, str) and value in ("float32", "float64"):
            dtype = value
        elif isinstance(value, type) and value in (np.float32, np.float64):
            dtype = value.__name__
        elif isinstance(value, np.dtype) and value.kind == "f":
            dtype = value.name
    return None if loss is None else f"{loss}-{dtype}" if dtype else loss


def pytest_collection_modifyitems(config, items):
    for item in items:
        group = _compile_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
