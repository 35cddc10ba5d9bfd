r"""Kinked losses at scale: lossmath against scikit-learn at the same objective.

Problems (``n`` rows × 20 Gaussian features, unit weights, unpenalised intercept)::

    quantile  (1/n) Σ ρ_0.7(yᵢ − xᵢ·w − b)                 y = x·β + t₃ noise
    hinge     (1/n) Σ max(0, 1 − ỹᵢ (xᵢ·w + b)) + (α/2)‖w‖²,  α = 1e-3, ỹ = ±1

Contenders: ``GLMRegressor(loss=Quantile(0.7))`` against scikit-learn's
``QuantileRegressor(quantile=0.7, alpha=0, solver="highs")`` (the same LP);
``GLMClassifier(loss="hinge", alpha=1e-3)`` against ``LinearSVC(loss="hinge",
C=1/(n α), intercept_scaling=100, tol=1e-8)`` (the same objective but for
LIBLINEAR's penalty ``b²/(2·100²)`` on the intercept) and ``SGDClassifier(loss="hinge",
alpha=1e-3)`` (exactly this objective, by stochastic gradient). Every solution is
scored by the one formula above; ``gap`` is ``(F − F_best) / F_best``.

Each run is a fresh subprocess: ``time`` is the fit alone (lossmath compiles its
kernels in a warm-up fit on 1,000 rows first), ``memory`` the growth of the
process's peak resident set during the fit (``ru_maxrss``) over the size of ``X``
and ``y``. A run that exceeds ``--timeout`` seconds is reported as such.

Usage::

    python benchmarks/bench_kinked.py                    # 1e4, 1e5, 1e6 rows
    python benchmarks/bench_kinked.py --sizes 10000,100000 --timeout 300
    python benchmarks/bench_kinked.py --sizes 1000000 --methods lossmath,SGD
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

P, TAU, ALPHA = 20, 0.7, 1e-3
METHODS = {
    "quantile": ["lossmath", "sklearn QuantileRegressor(highs)"],
    "hinge": ["lossmath", "sklearn LinearSVC", "sklearn SGDClassifier"],
}


def data(problem: str, n: int):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, P))
    beta = rng.normal(size=P) * 0.3
    if problem == "quantile":
        return X, X @ beta + rng.standard_t(3, n)
    return X, (X @ beta + rng.normal(size=n) > 0).astype(np.float64)


def objective(problem: str, X, y, w, b) -> float:
    z = X @ w + b
    if problem == "quantile":
        r = y - z
        return float(np.mean(r * (TAU - (r < 0))))
    margin = (2 * y - 1) * z
    return float(np.mean(np.maximum(0.0, 1.0 - margin)) + 0.5 * ALPHA * (w @ w))


def fit(problem: str, method: str, X, y):
    n = X.shape[0]
    if method == "lossmath":
        from lossmath import GLMClassifier, GLMRegressor
        from lossmath.losses import Quantile

        if problem == "quantile":
            return GLMRegressor(loss=Quantile(quantile=TAU))
        return GLMClassifier(loss="hinge", alpha=ALPHA)
    if method.startswith("sklearn QuantileRegressor"):
        from sklearn.linear_model import QuantileRegressor

        return QuantileRegressor(quantile=TAU, alpha=0.0, solver="highs")
    if method == "sklearn LinearSVC":
        from sklearn.svm import LinearSVC

        return LinearSVC(
            loss="hinge", C=1.0 / (n * ALPHA), intercept_scaling=100.0, tol=1e-8,
            max_iter=100_000, dual=True,
        )  # fmt: skip
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="hinge", alpha=ALPHA, tol=1e-8, max_iter=1000, random_state=0)


def run_one(problem: str, method: str, n: int) -> dict:
    import warnings

    X, y = data(problem, n)
    model = fit(problem, method, X, y)
    if method == "lossmath":  # compile the kernels outside the timing
        warm = fit(problem, method, X[:1000], y[:1000])
        warm.fit(X[:1000], y[:1000])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    w, b = np.ravel(model.coef_), float(np.ravel(model.intercept_)[0])
    return {
        "time": elapsed,
        "objective": objective(problem, X, y, w, b),
        "memory": (after - before) * 1024 / (X.nbytes + y.nbytes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    parser.add_argument("--problems", default="quantile,hinge")
    parser.add_argument(
        "--methods", help="run only the methods whose names contain one of these (comma list)"
    )
    parser.add_argument(
        "--one", nargs=3, metavar=("PROBLEM", "METHOD", "N"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], int(args.one[2]))))
        return
    rows = []
    for problem in args.problems.split(","):
        for n in (int(float(s)) for s in args.sizes.split(",")):
            results = {}
            wanted = args.methods.split(",") if args.methods else [""]
            for method in METHODS[problem]:
                if not any(w in method for w in wanted):
                    continue
                cmd = [sys.executable, __file__, "--one", problem, method, str(n)]
                try:
                    out = subprocess.run(
                        cmd, capture_output=True, text=True, timeout=args.timeout, check=True
                    ).stdout
                    results[method] = json.loads(out.strip().splitlines()[-1])
                except subprocess.TimeoutExpired:
                    results[method] = None
                except subprocess.CalledProcessError as err:
                    results[method] = {"error": err.stderr.strip().splitlines()[-1]}
            best = min(
                (r["objective"] for r in results.values() if r and "objective" in r),
                default=np.nan,
            )
            for method, r in results.items():
                if r is None:
                    row = f"| {problem} | {n:,} | {method} | > {args.timeout:.0f} | | | |"
                elif "error" in r:
                    row = f"| {problem} | {n:,} | {method} | failed: {r['error']} | | | |"
                else:
                    gap = (r["objective"] - best) / abs(best)
                    row = (
                        f"| {problem} | {n:,} | {method} | {r['time']:.2f} | "
                        f"{r['objective']:.10g} | {gap:.1e} | {r['memory']:.2f} |"
                    )
                rows.append(row)
                print(row, flush=True)
    print()
    print("| problem | n | method | time (s) | objective | gap | memory / data |")
    print("|---|---:|---|---:|---:|---:|---:|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
