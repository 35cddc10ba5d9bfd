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
