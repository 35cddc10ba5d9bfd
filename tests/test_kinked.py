"""Kinked losses (absolute error, quantile, hinge) at scale, their solver choice and Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from lossmath import GLMClassifier, GLMRegressor
from lossmath.linear_model._objective import GLMObjective
from lossmath.linear_model._solvers import solve
from lossmath.linear_model._solvers._kinked import _kinks, _linprog
from lossmath.losses import get_loss
from lossmath.penalties import get_penalty

rng = np.random.default_rng(11)


def _data(n, p, binary=False):
    X = rng.standard_normal((n, p))
    z = X @ rng.normal(size=p) * 0.3
    if binary:
        return X, (z + rng.normal(size=n) > 0).astype(float)
    return X, z + rng.standard_t(3, n)


@pytest.mark.parametrize("loss", ["quantile", "absolute_error", "hinge"])
@pytest.mark.parametrize("pen", ["l1", "none"])
def test_interior_point_matches_the_highs_vertex(loss, pen):
    """Weights, an offset and an L1 part: the crossover lands on HiGHS's optimum."""
    X, y = _data(600, 4, binary=loss == "hinge")
    w = rng.uniform(0.0, 2.0, y.size)
    w[:20] = 0.0
    offset = rng.normal(scale=0.1, size=y.size)
    penalty = get_penalty("l1", alpha=0.01) if pen == "l1" else get_penalty("l2", alpha=0.0)
    obj = GLMObjective(get_loss(loss), penalty, X, y, w, True, offset)
    r = solve(obj)
    assert r.converged, r.message
    # The hinge's levels τ ∈ {0, 1} are moved inside for the interior start; on a
    # degenerate optimum its crossover may miss and HiGHS finishes: exact either way.
    assert r.solver == "interior_point" or (loss == "hinge" and r.solver == "linprog")
    ref = obj.value(_linprog(obj, _kinks(obj)))
    assert abs(r.objective - ref) <= 1e-10 * abs(ref)


def test_quantile_at_1e5_rows():
    X, y = _data(100_000, 5)
    model = GLMRegressor(loss=get_loss("quantile", quantile=0.8)).fit(X, y)
    assert model.converged_
    assert model.solver_ == "interior_point"
    assert abs(np.mean(y > model.predict(X)) - 0.2) < 0.01


def test_hinge_with_ridge_at_1e5_rows():
    X, y = _data(100_000, 5, binary=True)
    model = GLMClassifier(loss="hinge", alpha=1e-3).fit(X, y)
    assert model.converged_
    assert model.kkt_ <= 1e-8
    assert model.solver_ == "smoothing"


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["quantile", "hinge"])
def test_kinked_at_1e6_rows(loss):
    X, y = _data(1_000_000, 20, binary=loss == "hinge")
    cls = GLMClassifier if loss == "hinge" else GLMRegressor
    model = cls(loss=loss, alpha=1e-3 if loss == "hinge" else 0.0).fit(X, y)
    assert model.converged_


@pytest.mark.parametrize("solver", ["lbfgs", "newton", "cd"])
def test_an_explicit_solver_is_refused_with_a_message(solver):
    X, y = _data(50, 2)
    with pytest.raises(ValueError, match=rf"solver='{solver}' cannot minimise the kinked loss"):
        GLMRegressor(loss="quantile", solver=solver).fit(X, y)


SCRIPT = """
import sys, numpy as np
from lossmath.linear_model._objective import GLMObjective
from lossmath.linear_model._solvers._kinked import _kinks, _linprog
from lossmath import GLMClassifier, GLMRegressor
from lossmath.losses import get_loss
from lossmath.penalties import get_penalty
rng = np.random.default_rng(0)
n, p = {n}, 20
X = rng.standard_normal((n, p))
y = X @ rng.normal(size=p) + rng.standard_t(3, n)
obj = GLMObjective(get_loss("quantile"), get_penalty("l2", alpha=0.0), X, y)
kinks = _kinks(obj)
print("ready", flush=True)
try:
    if "{how}" == "highs":
        _linprog(obj, kinks)
    elif "{how}" == "interior":
        GLMRegressor(loss="quantile").fit(X, y)
    else:
        GLMClassifier(loss="hinge", alpha=1e-4).fit(X, (y > 0).astype(float))
except KeyboardInterrupt:
    print("interrupted", flush=True)
    raise
print("finished", flush=True)
"""


@pytest.mark.parametrize(("how", "n"), [("highs", 60_000), ("interior", 2_000_000)])
def test_ctrl_c_stops_a_fit_within_two_seconds(how, n):
    code = textwrap.dedent(SCRIPT.format(n=n, how=how))
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # well inside the solve
        assert proc.poll() is None, "the fit ended before the signal"
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        line = proc.stdout.readline().strip()
        waited = time.perf_counter() - sent
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert line == "interrupted"
    assert "KeyboardInterrupt" in err
    # KeyboardInterrupt reached the caller within 2 s (then the interpreter exits).
    assert waited < 2.0, waited
