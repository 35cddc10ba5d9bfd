"""Per-round cost of a lossmath objective versus each library's built-in objective.

For XGBoost, LightGBM and CatBoost, trains the same binary model (logistic loss,
n ≈ 1,000,000 rows, 20 features) once with the library's compiled objective and
once with ``lossmath.integrations.<library>.objective("logistic")``, and prints
the time per boosting round, the ratio, and the overhead as a share of a
built-in round. Data sets are built before the clock starts; each run is timed
``--repeat`` times after one untimed warm-up run, and the fastest kept.

    python benchmarks/bench_gbdt.py            # n = 1,000,000
    python benchmarks/bench_gbdt.py --quick    # n = 100,000, under a minute
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
import warnings

import numpy as np
from rich.console import Console
from rich.table import Table

LOSS = "logistic"


def _data(n: int, d: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    s = X[:, 0] - 0.5 * X[:, 1] + 0.25 * X[:, 2] * X[:, 3]
    y = (rng.random(n) < 1 / (1 + np.exp(-s))).astype(np.float64)
    return X, y


def _best(fn, repeat: int) -> float:
    fn()  # warm-up: caches (histogram cuts, bins) built on first use are not timed
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_xgboost(X, y, rounds, threads, repeat):
    import xgboost as xgb

    import lossmath.integrations.xgboost as lx

    d = xgb.DMatrix(X, y, nthread=threads)
    base = {"tree_method": "hist", "max_depth": 6, "eta": 0.1, "nthread": threads, "seed": 0}
    c = lx.base_score(LOSS, y)
    built_in = {**base, "objective": "binary:logistic", "base_score": 1 / (1 + np.exp(-c))}
    custom = {**base, "base_score": c, "disable_default_eval_metric": 1}
    obj = lx.objective(LOSS)
    t_ref = _best(lambda: xgb.train(built_in, d, rounds), repeat)
    t_new = _best(lambda: xgb.train(custom, d, rounds, obj=obj), repeat)
    return t_ref / rounds, t_new / rounds


def bench_lightgbm(X, y, rounds, threads, repeat):
    import lightgbm as lgb

    import lossmath.integrations.lightgbm as ll

    base = {
        "num_leaves": 31,
        "learning_rate": 0.1,
        "num_threads": threads,
        "verbose": -1,
        "seed": 0,
        "force_col_wise": True,
    }
    d_ref = lgb.Dataset(X, y, params=base, free_raw_data=False).construct()
    d_new = lgb.Dataset(
        X, y, init_score=ll.init_score(LOSS, y), params=base, free_raw_data=False
    ).construct()
    obj = ll.objective(LOSS)
    t_ref = _best(lambda: lgb.train({**base, "objective": "binary"}, d_ref, rounds), repeat)
    t_new = _best(lambda: lgb.train({**base, "objective": obj}, d_new, rounds), repeat)
    return t_ref / rounds, t_new / rounds


def bench_catboost(X, y, rounds, threads, repeat):
    import catboost as cb

    import lossmath.integrations.catboost as lc

    base = {
        "iterations": rounds,
        "depth": 6,
        "learning_rate": 0.1,
        "thread_count": threads,
        "random_seed": 0,
        "verbose": 0,
        "allow_writing_files": False,
        "leaf_estimation_method": "Newton",
        "leaf_estimation_iterations": 1,
        "bootstrap_type": "No",
        "boost_from_average": False,
    }
    pool = cb.Pool(X, y, baseline=lc.init_score(LOSS, y))
    new = {**base, "loss_function": lc.objective(LOSS), "eval_metric": "Logloss"}
    t_ref = _best(lambda: cb.CatBoost({**base, "loss_function": "Logloss"}).fit(pool), repeat)
    t_new = _best(lambda: cb.CatBoost(new).fit(pool), repeat)
    return t_ref / rounds, t_new / rounds


BENCHES = {"xgboost": bench_xgboost, "lightgbm": bench_lightgbm, "catboost": bench_catboost}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 100,000 and fewer rounds")
    parser.add_argument("--n", type=int, default=None, help="number of rows")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    n = args.n or (100_000 if args.quick else 1_000_000)
    rounds = args.rounds or (10 if args.quick else 20)
    repeat = args.repeat or (1 if args.quick else 2)
    X, y = _data(n)

    console = Console()
    table = Table(
        title=f"GBDT objective, {LOSS} loss: seconds per boosting round "
        f"(n = {n:,}, {X.shape[1]} features, {args.threads} threads, {rounds} rounds)"
    )
    for col in ("library", "version", "built-in s/round", "lossmath s/round", "ratio", "overhead"):
        table.add_column(col, justify="left" if col in ("library", "version") else "right")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Can't optimze method", category=UserWarning)
        for name, bench in BENCHES.items():
            try:
                version = importlib.import_module(name).__version__
            except ImportError:
                table.add_row(name, "not installed", "", "", "", "")
                continue
            t_ref, t_new = bench(X, y, rounds, args.threads, repeat)
            table.add_row(
                name,
                version,
                f"{t_ref:.4f}",
                f"{t_new:.4f}",
                f"{t_new / t_ref:.2f}×",
                f"{100 * (t_new - t_ref) / t_ref:+.1f}%",
            )
    console.print(table)
    console.print("overhead = (lossmath − built-in) / built-in time per round; target < 20%.")


if __name__ == "__main__":
    main()
