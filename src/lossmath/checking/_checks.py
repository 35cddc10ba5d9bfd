"""The derivative checks behind ``lossmath check`` and the test suite.

Every loss in the registry is checked at the same kinds of points: extreme raw
scores (±1e-300, ±30, ±100, ±700 in float64; ±1e-30, ±20, ±80 in float32),
random points, residuals near zero, both labels of binary losses, near-optimal
scores where data-dependent cancellation happens, and for the multinomial K = 2,
3, 10 with logit gaps of hundreds. Values, gradients and Hessians are compared
with exact ``mpmath`` results in ulps, and the derivatives with 4th-order central
finite differences of the next-lower derivative.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from lossmath.checking._reference import evaluate
from lossmath.checking._ulp import ulp_error
from lossmath.losses import available, get_loss

__all__ = [
    "FD_TOLERANCE",
    "PARAMETER_CASES",
    "ULP_TOLERANCE",
    "CheckResult",
    "check_loss",
    "fd_errors",
    "loss_cases",
    "sample_points",
    "ulp_errors",
]

#: Largest error allowed against the exact result, in ulps.
ULP_TOLERANCE = 16.0
#: Largest relative disagreement allowed with finite differences (float64).
FD_TOLERANCE = 1e-6

#: Hyper-parameter cases checked per loss: each loss's ``example_params``.
PARAMETER_CASES: dict[str, list[dict[str, Any]]] = {
    name: [dict(p) for p in get_loss(name).example_params] for name in available()
}

_EXTREMES = {
    np.float64: (1e-300, 30.0, 100.0, 700.0),
    np.float32: (1e-30, 20.0, 80.0),
}


def loss_cases(names: list[str] | None = None) -> list[Any]:
    """Every registered loss (or those in ``names``) with each of its parameter cases."""
    names = available() if names is None else names
    return [get_loss(n, **p) for n in names for p in get_loss(n).example_params]


def sample_points(loss, dtype=np.float64, n_random: int = 40, seed: int = 0) -> list[tuple]:
    """Batches ``(y, z)`` at which ``loss`` is checked; see the module notes."""
    dtype = np.dtype(dtype).type
    rng = np.random.default_rng(seed)
    if loss.n_outputs != 1:
        return _multinomial_points(loss, dtype, rng, n_random)
    ext = np.array(_EXTREMES[dtype])
    z_ext = np.concatenate([ext, -ext, [0.0]])
    dom = loss.y_interval
    ys, zs = [], []
    # Every extreme score against several targets (both labels for binary losses).
    for y in loss.example_targets(rng, 6 if not dom.binary else 2, dtype):
        ys.append(np.full(z_ext.size, y))
        zs.append(z_ext)
    if dom.binary:
        ys[-1] = np.zeros(z_ext.size)
        ys[-2] = np.ones(z_ext.size)
    # Random points.
    y = loss.example_targets(rng, n_random, dtype)
    ys.append(y)
    zs.append(rng.normal(0, 3, n_random) * rng.choice([0.01, 1, 5], n_random))
    # Near the optimum: residuals near zero / eᶻ near y / margins near 1.
    y = loss.example_targets(rng, n_random // 2, dtype)
    if dom.low == 0 and dom.high != 1:
        y = np.where(y > 0, y, 1.5)
        z0 = np.log(y)
    elif dom.binary or dom.high == 1:
        z0 = 2 * np.round(y) - 1
    else:
        z0 = y
    wiggle = rng.choice([0.0, 1e-12, -1e-7, 1e-4, -1e-2], y.size)
    ys.append(y)
    zs.append(z0 + wiggle * np.maximum(1, np.abs(z0)))
    y, z = np.concatenate(ys).astype(dtype), np.concatenate(zs).astype(dtype)
    return [(y, z)]


def _multinomial_points(loss, dtype, rng, n_random):
    ext = _EXTREMES[dtype][-1]
    ks = [loss.n_outputs] if loss.n_outputs else [2, 3, 10]
    batches = []
    for k in ks:
        n = n_random + 2 * k + 3  # the structured rows below, then n_random random ones
        z = rng.normal(0, 3, (n, k))
        # Logit gaps of hundreds, one class dominant or two tied at the top.
        gaps = np.array([0.0, -3.0, -ext / 2, -ext, -2 * ext][:k] + [-ext / 3] * max(0, k - 5))
        labels = rng.integers(0, k, n)
        for i in range(k):
            # Row i peaks at class i: the target is the argmax, then a class far below it.
            z[i] = z[k + i] = np.roll(gaps, i) + rng.normal(0, 0.1)
            labels[i], labels[k + i] = i, (i + 1) % k
        z[2 * k] = gaps + ext
        z[2 * k + 1] = 0.0
        z[2 * k + 2, :2] = ext
        rows = rng.dirichlet(np.ones(k), n)
        rows[: 2 * k] = np.eye(k)[labels[: 2 * k]]  # one-hot rows must match integer labels
        batches.append((labels.astype(dtype), z.astype(dtype)))
        batches.append((rows.astype(dtype), z.astype(dtype)))
    return batches


def _flat_exact(loss, y, z):
    """Exact results of a batch flattened: ``{quantity: (exact list, scale list)}``.

    Computed once per process for each ``(loss, y, z)``: the 400-digit references
    are the slow part of every check, and the test suite compares several
    implementations (compiled, threaded, array API, …) against the same points.
    The key holds the arrays' bytes, dtypes and shapes, so equal inputs share one
    result and any different input gets its own.
    """
    y, z = np.asarray(y), np.asarray(z)
    key = (loss, y.dtype.str, y.shape, y.tobytes(), z.dtype.str, z.shape, z.tobytes())
    return _flat_exact_cached(key)


@cache
def _flat_exact_cached(key):
    loss, ydt, yshape, yb, zdt, zshape, zb = key
    y = np.frombuffer(yb, dtype=ydt).reshape(yshape)
    z = np.frombuffer(zb, dtype=zdt).reshape(zshape)
    out = {q: ([], []) for q in ("value", "gradient", "hessian")}
    for i in range(z.shape[0]):
        ex = evaluate(loss, y[i], z[i])
        for q in out:
            exact, scale = getattr(ex, q), getattr(ex, f"{q}_scale")
            if isinstance(exact, list):
                flat = (
                    exact if not isinstance(exact[0], list) else [e for row in exact for e in row]
                )
                out[q][0].extend(flat)
                out[q][1].extend(scale if scale is not None else [None] * len(flat))
            else:
                out[q][0].append(exact)
                out[q][1].append(scale)
    # Tuples: the cached result is shared, so no caller can change it.
    return {q: (tuple(ref), tuple(sc)) for q, (ref, sc) in out.items()}


def ulp_errors(loss, dtype=np.float64, n_random: int = 40, seed: int = 0) -> dict[str, float]:
    """Worst error in ulps of value, gradient and Hessian against ``mpmath``."""
    worst = {"value": 0.0, "gradient": 0.0, "hessian": 0.0}
    for y, z in sample_points(loss, dtype, n_random, seed):
        v, g, _ = loss.value_gradient_hessian(y, z)
        computed = {"value": v, "gradient": g, "hessian": loss.hessian(y, z)}
        exact = _flat_exact(loss, y, z)
        for q, (ref, scale) in exact.items():
            err = ulp_error(np.ravel(computed[q]), ref, dtype, scale)
            worst[q] = max(worst[q], float(np.max(err)))
    return worst


def _partial(f, y, z, j: int, h: float) -> Any:
    """4th-order central difference of ``f(y, z)[0]`` along score ``j`` of sample 0."""

    def at(step: float):
        zz = z.copy()
        if zz.ndim == 2:
            zz[0, j] += step
        else:
            zz[0] += step
        return f(y, zz)[0]

    return (at(-2 * h) - 8 * at(-h) + 8 * at(h) - at(2 * h)) / (12 * h)


def fd_errors(loss, n_points: int = 30, seed: int = 1) -> dict[str, float]:
    """Worst relative disagreement of gradient and Hessian with finite differences.

    4th-order central differences of the value (for the gradient) and of the
    gradient (for the Hessian), in float64, at random points at least four steps
    away from any kink.
    """
    rng = np.random.default_rng(seed)
    worst = {"gradient": 0.0, "hessian": 0.0}
    y = loss.example_targets(rng, n_points, np.float64)
    z = loss.example_scores(rng, n_points)
    for i in range(n_points):
        yi, zi = y[i : i + 1], z[i : i + 1]
        for j in range(zi.shape[-1] if zi.ndim == 2 else 1):
            base = float(zi[0, j] if zi.ndim == 2 else zi[0])
            h = 1e-3 * max(1.0, abs(base))
            if zi.ndim == 1 and any(abs(base - k) < 4 * h for k in loss.kinks(float(yi[0]))):
                continue
            g = loss.gradient(yi, zi)
            hess = loss.hessian(yi, zi)
            fd_g = _partial(loss.value, yi, zi, j, h)
            fd_h = _partial(loss.gradient, yi, zi, j, h)
            if zi.ndim == 2:
                g_j, h_j = g[0, j], hess[0, :, j]
            else:
                g_j, h_j = g[0], hess[0]
            scale_g = max(abs(g_j), 1e-3)
            scale_h = max(float(np.max(np.abs(h_j))), 1e-3)
            worst["gradient"] = max(worst["gradient"], abs(fd_g - g_j) / scale_g)
            worst["hessian"] = max(worst["hessian"], float(np.max(np.abs(fd_h - h_j))) / scale_h)
    return worst


@dataclass
class CheckResult:
    """Outcome of :func:`check_loss` for one loss and dtype."""

    loss: Any
    dtype: str
    ulp: dict[str, float] = field(default_factory=dict)
    fd: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        ulp_ok = all(e <= ULP_TOLERANCE for e in self.ulp.values())
        return ulp_ok and all(e <= FD_TOLERANCE for e in self.fd.values())


def check_loss(loss, dtype=np.float64, n_random: int = 40, seed: int = 0) -> CheckResult:
    """Check every derivative of ``loss`` against ``mpmath`` and finite differences."""
    return CheckResult(
        loss=loss,
        dtype=np.dtype(dtype).name,
        ulp=ulp_errors(loss, dtype, n_random, seed),
        fd=fd_errors(loss, seed=seed + 1),
    )
