"""``lossmath predict MODEL DATA``: predictions of a saved model, as CSV on stdout."""

from __future__ import annotations

import argparse
import sys

import numpy as np
from rich.console import Console

from lossmath.cli._data import encode, read_table, split_columns
from lossmath.cli._errors import UsageError

__all__ = ["add_predict_parser"]


def add_predict_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a model saved by `lossmath fit --save`",
        description="Read MODEL (the JSON written by `lossmath fit --save`) and DATA (a "
        ".csv or .parquet file with the model's feature columns) and write one row per "
        "data row: the prediction (the mean for a regressor, the class for a "
        "classifier) and, with --proba, the class probabilities.",
    )
    p.add_argument("model", help="a model file written by `lossmath fit --save`")
    p.add_argument("data", help="a .csv or .parquet file")
    p.add_argument("--proba", action="store_true", help="add class probabilities")
    p.add_argument("--index-col", metavar="COL", help="a row-label column, copied to the output")
    p.add_argument("--output", choices=["csv", "json"], default="csv")
    p.set_defaults(run=run_predict)


def run_predict(args: argparse.Namespace, console: Console) -> int:
    import pandas as pd

    from lossmath.cli._fit import standardize
    from lossmath.cli._model_file import load_model

    model, doc = load_model(args.model)
    table = read_table(args.data, args.index_col)
    X, _, _, offset = split_columns(table, None, doc["features"], None, None, doc.get("offset"))
    X, _ = encode(table, X, doc.get("levels") or {})
    if doc.get("scale"):
        X, _ = standardize(table, X, doc["scale"])
    X = X[[str(c) for c in model.feature_names_in_]]
    out = pd.DataFrame(index=table.frame.index)
    out["prediction"] = model.predict(X, offset=offset)
    if args.proba:
        if not hasattr(model, "predict_proba"):
            raise UsageError(
                f"--proba: the model's loss {doc['loss']['name']!r} gives no probabilities"
            )
        proba = model.predict_proba(X, offset=offset)
        for k, label in enumerate(np.asarray(model.classes_).tolist()):
            out[f"proba_{label}"] = proba[:, k]
    if args.output == "json":
        sys.stdout.write(out.reset_index().to_json(orient="records") + "\n")
    else:
        sys.stdout.write(out.to_csv(index=args.index_col is not None))
    return 0
