"""``lossmath fit``: fit a GLM from the command line and print its coefficient table."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

__all__ = ["add_fit_parser"]


def add_fit_parser(sub) -> None:
    p = sub.add_parser(
        "fit",
        help="fit a generalized linear model and print its coefficient table",
        description="Fit a GLM with any loss and penalty. With no DATA, fits a logistic "
        "regression to scikit-learn's breast-cancer data (standardised features).",
    )
    p.add_argument("data", nargs="?", help="a .csv or .parquet file (default: breast cancer)")
    p.add_argument("--target", help="name of the target column (required with DATA)")
    p.add_argument("--loss", default="logistic", help="loss name (default: logistic)")
    p.add_argument(
        "--alpha",
        type=float,
        help="penalty strength (default 0; 0.01 on the bundled data, which are separable)",
    )
    p.add_argument("--l1-ratio", type=float, default=0.0, help="0 ridge … 1 lasso (default 0)")
    p.add_argument("--solver", default="auto", help="solver (default: auto)")
    p.add_argument("--tol", type=float, default=1e-8, help="KKT tolerance (default 1e-8)")
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--standardize", action="store_true", help="scale features to unit variance")
    p.set_defaults(run=_run)


def _load(args, console: Console):
    import pandas as pd

    if args.data is None:
        from sklearn.datasets import load_breast_cancer

        frame = load_breast_cancer(as_frame=True).frame
        console.print("[dim]data: scikit-learn's breast cancer (569 × 30), target 'target'[/]")
        return frame.drop(columns="target"), frame["target"], True
    path = Path(args.data)
    if not args.target:
        raise SystemExit("lossmath fit: --target is required with a data file")
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix in (".csv", ".txt"):
        frame = pd.read_csv(path)
    else:
        raise SystemExit(f"lossmath fit: DATA must be a .csv or .parquet file; got {path.name}")
    if args.target not in frame.columns:
        raise SystemExit(
            f"lossmath fit: no column {args.target!r} in {path.name}; "
            f"columns: {', '.join(map(str, frame.columns))}"
        )
    return frame.drop(columns=args.target), frame[args.target], args.standardize


def _run(args: argparse.Namespace, console: Console) -> int:
    from lossmath.linear_model import GLMClassifier, GLMRegressor
    from lossmath.losses import get_loss

    X, y, standardize = _load(args, console)
    if args.alpha is None:
        # The breast-cancer classes are linearly separable: without a penalty the
        # maximum-likelihood estimate does not exist (coefficients run to infinity).
        args.alpha = 0.01 if args.data is None else 0.0
    if standardize:
        X = (X - X.mean()) / X.std(ddof=0)
    loss = get_loss(args.loss)
    classify = loss.task in ("binary", "multiclass")
    cls = GLMClassifier if classify else GLMRegressor
    model = cls(
        loss=args.loss,
        alpha=args.alpha,
        l1_ratio=args.l1_ratio,
        solver=args.solver,
        tol=args.tol,
        max_iter=args.max_iter,
    )
    start = time.perf_counter()
    model.fit(X, y)
    elapsed = time.perf_counter() - start
    console.print(_coef_table(model))
    console.print(_summary(model, elapsed))
    return 0 if model.converged_ else 1


def _coef_table(model) -> Table:
    table = Table(
        title=f"{type(model).__name__}(loss={model.loss!r}, alpha={model.alpha:g}, "
        f"l1_ratio={model.l1_ratio:g})"
    )
    try:
        frame = model.coef_table()
    except AttributeError as err:
        table.add_column("coefficient")
        table.add_column("estimate", justify="right")
        coef = np.ravel(model.coef_)
        for j, c in enumerate(coef):
            table.add_row(f"w[{j}]", f"{c:.6g}")
        table.caption = str(err)
        return table
    table.add_column("coefficient")
    for col in frame.columns:
        table.add_column(col, justify="right")
    for name, row in frame.iterrows():
        table.add_row(str(name), *(f"{v:.4g}" for v in row))
    return table


def _summary(model, elapsed: float) -> Table:
    table = Table(show_header=False, box=None)
    rows = [
        ("solver", model.solver_),
        ("iterations", str(model.n_iter_)),
        ("converged", "yes" if model.converged_ else "[bold red]no[/]"),
        ("KKT residual", f"{model.kkt_:.3g}"),
        ("objective", f"{model.objective_:.12g}"),
    ]
    for attr, label in [
        ("deviance_", "deviance"),
        ("log_likelihood_", "log-likelihood"),
        ("aic_", "AIC"),
        ("bic_", "BIC"),
    ]:
        value = getattr(model, attr, None)
        if value is not None and math.isfinite(value):
            rows.append((label, f"{value:.6g}"))
    rows.append(("time", f"{elapsed * 1e3:.1f} ms"))
    for k, v in rows:
        table.add_row(k, v)
    return table
