"""``lossmath fit``: fit a GLM from a data file and print its coefficient table.

With no DATA it fits the README's main job: a logistic regression (α = 0.01) to
scikit-learn's breast-cancer data, features standardised.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings

import numpy as np
from rich.console import Console

from lossmath.cli import _options as opt
from lossmath.cli._data import Table, encode, read_table, split_columns
from lossmath.cli._errors import UsageError
from lossmath.cli._report import render_table, summary_rows, to_csv, to_json

__all__ = ["add_fit_parser", "is_classifier_loss", "standardize"]


def add_fit_parser(sub) -> None:
    p = sub.add_parser(
        "fit",
        help="fit a generalized linear model and print its coefficient table",
        description="Fit a GLM with any loss and penalty, minimising "
        "(1/Σs) Σ sᵢ ℓ(yᵢ, xᵢ·w + b) + α (l1_ratio ‖w‖₁ + ½ (1 − l1_ratio) ‖w‖²). "
        "With no DATA, fits a logistic regression to scikit-learn's breast-cancer data "
        "(standardised features, alpha 0.01). Text feature columns are one-hot encoded.",
    )
    p.add_argument("data", nargs="?", help="a .csv or .parquet file (default: breast cancer)")
    p.add_argument("--target", metavar="COL", help="the target column (required with DATA)")
    p.add_argument(
        "--loss",
        type=opt.loss_name,
        help="loss name (`lossmath losses`); default: logistic for a target with two "
        "values, multinomial for text classes, otherwise required",
    )
    p.add_argument(
        "--param",
        action="append",
        metavar="NAME=VALUE",
        help="a loss parameter, e.g. --param delta=2 (huber), --param quantile=0.9, "
        "--param power=1.3 (tweedie); repeatable",
    )
    p.add_argument(
        "--alpha",
        type=opt.nonnegative_float,
        help="penalty strength α >= 0 (default 0; 0.01 on the bundled data, which are separable)",
    )
    p.add_argument(
        "--l1-ratio", type=opt.unit_interval, default=0.0, help="0 ridge … 1 lasso (default 0)"
    )
    p.add_argument("--solver", type=opt.solver_name, default="auto", help="solver (default: auto)")
    p.add_argument("--tol", type=opt.positive_float, default=1e-8, help="KKT tolerance")
    p.add_argument("--max-iter", type=opt.positive_int, default=1000, help="default 1000")
    p.add_argument("--no-intercept", action="store_true", help="fit without an intercept")
    p.add_argument("--standardize", action="store_true", help="scale features to unit variance")
    p.add_argument("--features", metavar="A,B,...", help="the feature columns (default: all)")
    p.add_argument("--exclude", metavar="A,B,...", help="columns that are not features")
    p.add_argument("--weights", metavar="COL", help="a column of sample weights (>= 0)")
    p.add_argument("--offset", metavar="COL", help="a column added to the raw score")
    p.add_argument("--index-col", metavar="COL", help="a row-label column (not a feature)")
    p.add_argument("--output", choices=["table", "json", "csv"], default="table")
    p.add_argument("--save", metavar="MODEL", help="write the fitted model as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="print progress to stderr")
    p.set_defaults(run=run_fit)


def _say(args, text: str) -> None:
    if args.verbose:
        print(f"lossmath fit: {text}", file=sys.stderr, flush=True)


def _note(text: str) -> None:
    print(f"lossmath fit: note: {text}", file=sys.stderr)


def _bundled():
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    return Table(frame, "breast cancer", csv=False)


def infer_loss(table: Table, target: str, y) -> tuple[str, str]:
    """``(loss name, reason)`` when the target leaves no doubt; else a UsageError."""
    import pandas as pd

    values = y.dropna().unique()
    shown = ", ".join(map(str, sorted(values.tolist(), key=str)[:5]))
    if len(values) == 2:
        return "logistic", f"target {target!r} has two values ({shown})"
    if not pd.api.types.is_numeric_dtype(y) and len(values) > 2:
        return "multinomial", f"target {target!r} holds {len(values)} text classes"
    kind = "numbers" if pd.api.types.is_numeric_dtype(y) else "text"
    raise UsageError(
        f"cannot tell which loss fits target {target!r} of {table.name} ({kind}, "
        f"{len(values)} distinct values): name one with --loss, e.g. squared_error "
        "(a measurement), poisson (counts), multinomial (classes) — see `lossmath losses`"
    )


def is_classifier_loss(loss) -> bool:
    """Classes as targets: the loss declares a binary or multiclass task."""
    return loss.task in ("binary", "multiclass")


def _target(table: Table, name: str, y, loss, classify: bool):
    """``y`` checked against the loss: missing values and values outside its domain named."""
    import pandas as pd

    if classify:
        if y.isna().any():
            pos = int(np.argmax(y.isna().to_numpy()))
            raise UsageError(
                f"--target: column {name!r} has a missing value at {table.where(pos)}; "
                "drop or fill those rows"
            )
        return y.to_numpy()
    values = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if not bad.any():
        bad = ~np.asarray(loss.y_interval.contains(np, values))
        if bad.any():
            pos = int(np.argmax(bad))
            raise UsageError(
                f"--target: column {name!r} has {values[pos]:g} at {table.where(pos)}"
                f"{'' if bad.sum() == 1 else f' ({int(bad.sum())} such rows)'}; for the "
                f"loss {loss.name!r}, {loss.y_interval.describe('y')}"
            )
        return values
    pos = int(np.argmax(bad))
    raw = y.iloc[pos]
    kind = "a missing value" if pd.isna(raw) else f"the value {raw!r}"
    raise UsageError(
        f"--target: column {name!r} has {kind} at {table.where(pos)}; expected numbers for "
        f"the loss {loss.name!r}"
    )


def standardize(table: Table, X, scale: dict | None = None):
    """``(X scaled, {column: [mean, std]})``; a constant column is named, not divided by 0."""
    if scale is None:
        mean, std = X.mean(), X.std(ddof=0)
        for name in X.columns:
            if not std[name] > 1e-12 * max(1.0, abs(mean[name])):
                raise UsageError(
                    f"--standardize: column {name!r} of {table.name} is constant "
                    f"({mean[name]:g} in every row) and cannot be scaled; --exclude {name}"
                )
        scale = {c: [float(mean[c]), float(std[c])] for c in X.columns}
    for c, (m, s) in scale.items():
        X[c] = (X[c] - m) / s
    return X, scale


def _warm_up(model, X, y, w, offset, classify):
    """Fit a clone to a few rows first so numba's first compile is timed apart."""
    from sklearn.base import clone

    rows = min(len(X), 64)
    idx = np.arange(rows)
    if classify:  # every class in the sample
        first = np.unique(y, return_index=True)[1]
        idx = np.union1d(idx, first)
    small = clone(model).set_params(max_iter=2, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Any problem here is the real fit's to report.
        with contextlib.suppress(Exception):
            small.fit(
                X.iloc[idx],
                y[idx],
                sample_weight=None if w is None else w[idx],
                offset=None if offset is None else offset[idx],
            )


def run_fit(args: argparse.Namespace, console: Console) -> int:
    from lossmath.linear_model import GLMClassifier, GLMRegressor

    bundled = args.data is None
    if bundled:
        table, args.target, args.standardize = _bundled(), "target", True
        console.print("[dim]data: scikit-learn's breast cancer (569 × 30), target 'target'[/]")
    else:
        if not args.target:
            raise UsageError("--target COL is required with a data file")
        table = read_table(args.data, args.index_col)
    for text in table.notes:
        _note(text)
    table.notes.clear()
    _say(args, f"read {table.name}: {len(table.frame)} rows × {table.frame.shape[1]} columns")
    X, y, w, offset = split_columns(
        table, args.target, args.features, args.exclude, args.weights, args.offset
    )
    if args.loss is None:
        args.loss, why = infer_loss(table, args.target, y)
        _note(f"loss {args.loss!r} chosen because {why} (--loss picks another)")
    params = opt.parse_params(args.param)
    loss = opt.build_loss(args.loss, params)
    classify = is_classifier_loss(loss)
    y = _target(table, args.target, y, loss, classify)
    feature_cols = [str(c) for c in X.columns]
    X, levels = encode(table, X)
    for text in table.notes:
        _note(text)
    scale = None
    if args.standardize:
        X, scale = standardize(table, X)
    if args.alpha is None:
        # The breast-cancer classes are linearly separable: without a penalty the
        # maximum-likelihood estimate does not exist (coefficients run to infinity).
        args.alpha = 0.01 if bundled else 0.0
    cls = GLMClassifier if classify else GLMRegressor
    model = cls(
        loss=loss,
        alpha=args.alpha,
        l1_ratio=args.l1_ratio,
        solver=args.solver,
        fit_intercept=not args.no_intercept,
        tol=args.tol,
        max_iter=args.max_iter,
        verbose=int(args.verbose),
    )
    title = (
        f"{cls.__name__}(loss={_label(args.loss, params)!r}, alpha={args.alpha:g}, "
        f"l1_ratio={args.l1_ratio:g})"
    )
    _say(args, f"compiling (first use) on {min(len(X), 64)} rows")
    start = time.perf_counter()
    _warm_up(model, X, y, w, offset, classify)
    compile_s = time.perf_counter() - start
    _say(args, f"fitting {title} to {X.shape[0]} rows × {X.shape[1]} features")
    start = time.perf_counter()
    # The solvers' progress (--verbose) goes to stderr: stdout is the table / JSON / CSV.
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("always")
        try:
            model.fit(X, y, sample_weight=w, offset=offset)
        except (ValueError, TypeError) as err:
            raise UsageError(str(err)) from err
    fit_s = time.perf_counter() - start
    for item in caught:
        message = " ".join(str(item.message).split())
        print(f"lossmath fit: warning: {message}", file=sys.stderr)
    timing = {"time": f"{fit_s * 1e3:.1f} ms", "compile + warm-up": f"{compile_s * 1e3:.1f} ms"}
    if args.output == "json":
        header = {"model": title, "loss": args.loss, "loss_params": params, "data": table.name}
        print(to_json(model, header, timing))
    elif args.output == "csv":
        sys.stdout.write(to_csv(model))
    else:
        table, note = render_table(model)
        console.print(f"[bold]{title}[/]", soft_wrap=True)
        console.print(table)
        if note:
            console.print(f"[yellow]no standard errors: {note}[/]", soft_wrap=True)
        console.print(_summary(model, timing))
    if args.save:
        from lossmath.cli._model_file import save_model

        spec = {
            "target": args.target,
            "features": feature_cols,
            "offset": args.offset,
            "levels": levels,
            "scale": scale,
        }
        save_model(args.save, model, args.loss, params, spec)
        _say(args, f"saved the model to {args.save}")
    return 0 if model.converged_ else 1


def _label(name: str, params: dict) -> str:
    inner = ", ".join(f"{k}={v!r}" for k, v in params.items())
    return f"{name}({inner})" if inner else name


def _summary(model, timing: dict):
    from rich.table import Table as RichTable

    table = RichTable(show_header=False, box=None)
    for label, value in summary_rows(model, timing):
        if isinstance(value, bool):
            text = "yes" if value else "[bold red]no[/]"
        elif isinstance(value, float):
            text = f"{value:.12g}" if label == "objective" else f"{value:.6g}"
        else:
            text = str(value)
        table.add_row(label, text)
    return table
