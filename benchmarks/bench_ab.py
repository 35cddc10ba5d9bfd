"""Two source trees of lossmath, timed against each other call by call.

Usage::

    python benchmarks/bench_ab.py A_SRC B_SRC [--quick]

Each tree is imported by a worker process of its own (``PYTHONPATH=A_SRC``,
``PYTHONPATH=B_SRC``): lossmath imports itself by absolute name, so two versions
cannot share one process. The workers time the same case in turn, round after
round (A, B, B, A, ...), so both see the same drift of a shared machine; the
table gives each median and the ratio ``B / A`` (below 1: B is faster) with the
range of the per-round ratios. Inputs are made from one seed in each worker.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap

_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    import numpy as np
    from lossmath.losses import get_loss

    def batch(name, n, dtype):
        rng = np.random.default_rng(0)
        if name == "multinomial":
            k = 10
            rows = max(n // k, 1)
            y, z = rng.integers(0, k, rows).astype(float), rng.normal(size=(rows, k))
            return y, z.astype(dtype), rng.random(y.shape[0]).astype(dtype) + 0.5
        z = rng.normal(size=n).astype(dtype)
        y = {"logistic": (rng.random(n) < 0.5) * 1.0, "poisson": rng.poisson(2.0, n) * 1.0}
        return y.get(name, rng.normal(size=n)).astype(dtype), z, (rng.random(n) + 0.5).astype(dtype)

    cpus = os.sched_getaffinity(0)
    pin = {int(sys.argv[1])} if len(sys.argv) > 1 else cpus
    cache = {}
    for line in sys.stdin:
        name, method, n, weighted, check, threads, reps, dtype = json.loads(line)
        key = (name, n, dtype)
        if key not in cache:
            cache[key] = batch(name, n, dtype)
        y, z, w = cache[key]
        os.sched_setaffinity(0, pin if threads == 1 else cpus)  # one thread: one CPU
        loss = get_loss(name)
        sw = w if weighted else None
        if method == "__call__":
            fn = lambda: loss(y, z, sw, check_input=check)
        elif method == "hessian_vector_product":
            hvp = loss.hessian_vector_product
            fn = lambda: hvp(y, z, z, sw, check_input=check, n_threads=threads)
        else:
            f = getattr(loss, method)
            fn = lambda: f(y, z, sw, check_input=check, n_threads=threads)
        fn()
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        print(json.dumps((time.perf_counter() - t) / reps), flush=True)
    """
)


def _worker(src: str, cpu: int | None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": src}
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER, *([] if cpu is None else [str(cpu)])],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _time(proc: subprocess.Popen, case: tuple) -> float:
    proc.stdin.write(json.dumps(case) + "\n")
    proc.stdin.flush()
    return float(proc.stdout.readline())


def _label(case: tuple) -> str:
    name, method, n, weighted, check, threads, _, dtype = case
    label = f"{name}{' f32' if dtype == 'float32' else ''} {method} n={n:,}"
    label += f"{' w' if weighted else ''}{' check' if check else ''}"
    return label + ("" if threads is None else f" t={threads}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="source directory of tree A (the baseline)")
    parser.add_argument("b", help="source directory of tree B")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, n <= 1,000,000")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per case")
    parser.add_argument("--cpu", type=int, default=None, help="run one-thread cases on this CPU")
    parser.add_argument("--only", default=None, help="only cases whose label contains this")
    args = parser.parse_args()
    big = 1_000_000 if args.quick else 10_000_000
    rounds = args.rounds or (5 if args.quick else 9)
    f64, f32 = "float64", "float32"

    def reps(n):
        return max(3, min(5000, 2_000_000 // n))

    cases = []
    # The rows of bench_losses.py: gradient_hessian and value_gradient, all CPUs,
    # unchecked and checked, at its sizes (multinomial: n scores, n / 10 rows).
    for name, dtype in (
        ("logistic", f64),
        ("logistic", f32),
        ("multinomial", f64),
        ("squared_error", f64),
        ("huber", f64),
        ("poisson", f64),
    ):
        for method in ("gradient_hessian", "value_gradient"):
            for check in (False, True):
                cases.append((name, method, big, False, check, None, 3, dtype))
    # Its small-input rows: one thread, unchecked and checked.
    for name in ("logistic", "squared_error", "poisson", "multinomial"):
        for n in (100, 1_000, 10_000):
            for method in ("gradient_hessian", "value_gradient"):
                for check in (False, True):
                    cases.append((name, method, n, False, check, 1, reps(n), f64))
    # The other methods, weighted and not, checked and not.
    for method in ("hessian_vector_product", "fisher_diagonal", "__call__"):
        for name in ("logistic", "squared_error", "poisson", "multinomial"):
            if method == "fisher_diagonal" and name == "multinomial":
                continue
            for n in (100, 10_000, 1_000_000):
                for weighted, check in ((True, True), (False, False)):
                    threads = None if method == "__call__" else 1
                    cases.append((name, method, n, weighted, check, threads, reps(n), f64))
    cases += [
        ("logistic", "gradient_hessian", 1_000_000, True, True, 1, 3, f64),
        ("logistic", "gradient_hessian", big, False, False, 2, 3, f64),
    ]
    if args.only:
        cases = [c for c in cases if args.only in _label(c)]
    a, b = _worker(args.a, args.cpu), _worker(args.b, args.cpu)
    print(f"{'case':58s} {'A ms':>9s} {'B ms':>9s} {'B/A':>6s}  per-round B/A")
    try:
        for case in cases:
            ta, tb = [], []
            for r in range(rounds):
                first, second = (a, b) if r % 2 == 0 else (b, a)
                t1, t2 = _time(first, case), _time(second, case)
                (ta, tb)[first is b].append(t1)
                (ta, tb)[second is b].append(t2)
            ratios = sorted(y / x for x, y in zip(ta, tb, strict=True))
            ma, mb = statistics.median(ta), statistics.median(tb)
            label = _label(case)
            print(
                f"{label:58s} {1e3 * ma:9.4f} {1e3 * mb:9.4f} {mb / ma:6.2f}"
                f"  {ratios[0]:.2f}-{ratios[-1]:.2f}",
                flush=True,
            )
    finally:
        for p in (a, b):
            p.stdin.close()
            p.wait()


if __name__ == "__main__":
    main()
