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
    import json, sys, time
    import numpy as np
    from lossmath.losses import get_loss

    def batch(name, n):
        rng = np.random.default_rng(0)
        if name == "multinomial":
            k = 10
            return rng.integers(0, k, n // k).astype(float), rng.normal(size=(n // k, k)), None
        z = rng.normal(size=n)
        y = {"logistic": (rng.random(n) < 0.5) * 1.0, "poisson": rng.poisson(2.0, n) * 1.0}
        return y.get(name, rng.normal(size=n)), z, rng.random(n) + 0.5

    cache = {}
    for line in sys.stdin:
        name, method, n, weighted, check, threads, reps = json.loads(line)
        key = (name, n)
        if key not in cache:
            cache[key] = batch(name, n)
        y, z, w = cache[key]
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


def _worker(src: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": src}
    return subprocess.Popen(
        [sys.executable, "-c", _WORKER],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _time(proc: subprocess.Popen, case: tuple) -> float:
    proc.stdin.write(json.dumps(case) + "\n")
    proc.stdin.flush()
    return float(proc.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="source directory of tree A (the baseline)")
    parser.add_argument("b", help="source directory of tree B")
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller inputs")
    args = parser.parse_args()
    big = 1_000_000 if args.quick else 10_000_000
    rounds = 5 if args.quick else 9
    cases = []
    for name in ("squared_error", "logistic", "poisson", "huber", "multinomial"):
        for n, reps in ((1_000, 2000), (10_000, 500), (big, 3)):
            cases.append((name, "gradient_hessian", n, False, False, 1, reps))
        cases.append((name, "gradient_hessian", big, True, True, 1, 3))
        cases.append((name, "value_gradient", 10_000, True, True, 1, 500))
    cases += [
        ("logistic", "gradient_hessian", big, False, False, 2, 3),
        ("logistic", "hessian_vector_product", 10_000, True, True, 1, 500),
        ("logistic", "fisher_diagonal", 10_000, False, True, 1, 500),
        ("logistic", "__call__", 10_000, False, True, 1, 500),
        ("logistic", "__call__", big, True, True, 1, 3),
    ]
    a, b = _worker(args.a), _worker(args.b)
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
            name, method, n, weighted, check, threads, _ = case
            label = f"{name} {method} n={n:,}{' w' if weighted else ''}"
            label += f"{' check' if check else ''} t={threads}"
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
