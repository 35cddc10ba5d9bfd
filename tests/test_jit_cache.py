"""The compiled loops' disk cache (``lossmath.engine.compiled.disk_cache``).

A loop compiled in one process is loaded, not compiled, by the next, and
computes the same bits; anything that could change what a loop computes (the
sources, the loss, its outputs) changes the key; a broken cache is a miss, never
an error; a user's own loss is not cached.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import numba
import numpy as np
import pytest

from lossmath.engine.compiled import disk_cache, loops
from lossmath.losses import Logistic, get_loss

#: Run in a fresh interpreter: every compiled loop the calls below use, its cache
#: statistics, and the results (to compare across processes).
_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from lossmath.losses import get_loss
    from lossmath.engine.compiled import loops

    rng = np.random.default_rng(0)
    n = 20_000
    results = []
    cases = [("logistic", {}), ("tweedie", {"power": 1.3}),
             ("multinomial", {"class_weight": [1.0, 2.0, 0.5]})]
    for name, kwargs in [c for c in cases if c[0] in sys.argv[2].split(",")]:
        loss = get_loss(name, **kwargs)
        if name == "multinomial":
            z = rng.normal(size=(n, 3))
            y = rng.integers(0, 3, n)
        else:
            z = rng.normal(size=n)
            y = (rng.random(n) < 0.5) * 1.0
        results += loss.value_gradient_hessian(y, z, check_input=False)
        results.append(loss.gradient(y, z.astype(np.float32)))
    hits = sum(sum(loop.stats.cache_hits.values()) for loop in loops._loops.values())
    misses = sum(sum(loop.stats.cache_misses.values()) for loop in loops._loops.values())
    np.savez(sys.argv[1], *results)
    print(hits, misses)
    """
)


#: The losses a run computes; the softmax's loops compile for seconds, so the
#: tests that need no softmax leave it out.
ALL, SCALAR = "logistic,tweedie,multinomial", "logistic,tweedie"
#: Arrays a loss adds to the results (value, gradient, Hessian; float32 gradient).
PER_LOSS = 4


def _run(tmp_path, tag, losses=ALL, **env):
    out = tmp_path / f"{tag}.npz"
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(out), losses],
        env={**_environ(), "NUMBA_CACHE_DIR": str(tmp_path / "cache"), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    hits, misses = map(int, done.stdout.split())
    with np.load(out) as data:
        return hits, misses, [data[k] for k in data.files]


def _environ():
    return {k: v for k, v in os.environ.items() if k != "LOSSMATH_JIT_CACHE"}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One process on an empty cache, shared by the tests below (each compiles for
    seconds): its cache directory, now warm, and ``(hits, misses, results)``."""
    base = tmp_path_factory.mktemp("first")
    return base / "cache", _run(base, "first")


def _warm(tmp_path, first_run):
    """A copy of the first process's cache, where ``_run(tmp_path, …)`` looks."""
    shutil.copytree(first_run[0], tmp_path / "cache")


def test_a_loop_compiled_once_is_loaded_by_the_next_process(tmp_path, first_run):
    hits, misses, first = first_run[1]
    assert (hits, misses) == (0, 6)  # 3 losses x 2 loops (vgh in float64, gradient in float32)
    _warm(tmp_path, first_run)
    hits, misses, second = _run(tmp_path, "second")
    assert (hits, misses) == (6, 0)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


def test_the_cache_can_be_switched_off(tmp_path, first_run):
    _warm(tmp_path, first_run)
    hits, _, _ = _run(tmp_path, "off", SCALAR, LOSSMATH_JIT_CACHE="0")
    assert hits == 0  # warm, yet nothing loaded: the cache is not consulted


def test_a_broken_cache_is_a_miss_not_an_error(tmp_path, first_run):
    _warm(tmp_path, first_run)
    for path in (tmp_path / "cache").rglob("*.nb*"):
        path.write_bytes(b"not a pickle")
    hits, _, got = _run(tmp_path, "broken", SCALAR)
    assert hits == 0
    for a, b in zip(first_run[1][2][: 2 * PER_LOSS], got, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


def test_a_file_of_another_loop_is_a_miss_not_an_error(tmp_path, first_run):
    """Each loop's compiled code swapped with another's (same loss, other outputs
    or dtype): loaded, it would be called with arguments it was not compiled for."""
    _warm(tmp_path, first_run)
    for stem in ("Logistic", "Multinomial"):
        data = sorted(p for p in (tmp_path / "cache").rglob(f"*{stem}*.nbc"))
        assert len(data) == 2, data
        a, b = (p.read_bytes() for p in data)
        data[0].write_bytes(b)
        data[1].write_bytes(a)
    hits, misses, got = _run(tmp_path, "swapped")
    assert (hits, misses) == (2, 4)  # tweedie's two loops load; the swapped ones compile
    for a, b in zip(first_run[1][2], got, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


@pytest.mark.skipif(not disk_cache.enabled(), reason="this process runs with LOSSMATH_JIT_CACHE=0")
def test_the_key_holds_the_sources_and_the_loop(monkeypatch):
    """Each loop has its own index (its qualified name) and a key that changes with
    what it computes and with the lossmath sources."""
    loss = get_loss("poisson")
    loop = loops.compiled_loop(loss, ("kernel", True, False, False), store="strided")
    assert "Poisson" in loop.py_func.__qualname__
    assert isinstance(loop._cache, disk_cache.LoopCache)
    key = loop._cache._lossmath_key
    assert key.startswith(disk_cache.source_hash())
    assert "strided" in key
    other = loops.compiled_loop(loss, ("kernel", True, True, False), store="strided")
    assert other._cache._lossmath_key != key
    assert other.py_func.__qualname__ != loop.py_func.__qualname__
    # The same loop after an edit of any source file: another key.
    monkeypatch.setattr(disk_cache, "source_hash", lambda: "0" * 64)
    edited = disk_cache.attach(numba.njit(loop.py_func), "edited")
    assert edited._cache._lossmath_key.startswith("0" * 64)
    assert edited._cache._lossmath_key.split()[0] != key.split()[0]


@dataclass(frozen=True)
class _MyLogistic(Logistic):
    """A user's subclass: its kernel may call code the source hash does not cover."""


def test_losses_outside_lossmath_are_not_cached():
    loss = _MyLogistic()
    loop = loops.compiled_loop(loss, ("kernel", False, True, False))
    assert not isinstance(loop._cache, disk_cache.LoopCache)
    y, z = np.zeros(9000), np.linspace(-5, 5, 9000)
    np.testing.assert_array_equal(loss.gradient(y, z), Logistic().gradient(y, z))


@pytest.mark.parametrize("name", ["logistic", "huber", "multinomial", "focal"])
def test_hyper_parameter_tuples_pickle_by_reference(name):
    """A cached signature names the tuple's class; it must read back as this one."""
    params = loops.kernel_params(get_loss(name))
    assert type(params).__module__ == disk_cache.__name__
    assert pickle.loads(pickle.dumps(type(params))) is type(params)
    assert pickle.loads(pickle.dumps(params)) == params
