"""What ``lossmath fit`` shows: a coefficient table with names, and a summary.

Every table names its rows (features, then ``intercept``) and, for several
outputs (multinomial, one-vs-rest), its columns by class. Where inference is not
defined for the fit (an L1 part, a loss that is not a likelihood, several outputs,
a separated data set) the table has the estimates only and its caption says why.
"""

from __future__ import annotations

import json
import math

import numpy as np
from rich.table import Table

__all__ = ["coef_frame", "render_table", "summary_rows", "to_csv", "to_json"]


def _names(model) -> list[str]:
    names = [str(c) for c in getattr(model, "feature_names_in_", [])]
    return names or [f"x{j}" for j in range(np.shape(model.coef_)[-1])]


def coef_frame(model):
    """``(DataFrame, note)``: the coefficient table and why it has no inference (or None)."""
    import pandas as pd

    try:
        return model.coef_table(), None
    except AttributeError as err:
        note = str(err).removeprefix("coef_table: ")
    coef = np.asarray(model.coef_)
    index = _names(model) + (["intercept"] if model.fit_intercept else [])
    if coef.ndim == 1:
        values = {"estimate": np.append(coef, model.intercept_) if model.fit_intercept else coef}
    else:
        intercept = np.atleast_1d(model.intercept_)
        values = {
            f"class {label}": (np.append(coef[k], intercept[k]) if model.fit_intercept else coef[k])
            for k, label in enumerate(model.classes_.tolist())
        }
    return pd.DataFrame(values, index=index), note


def render_table(model) -> tuple[Table, str | None]:
    """The rich table of :func:`coef_frame` and its note (printed apart: never wrapped)."""
    frame, note = coef_frame(model)
    table = Table()
    table.add_column("coefficient")
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for name, row in frame.iterrows():
        table.add_row(str(name), *(f"{v:.4g}" for v in row))
    return table, note


def summary_rows(model, timing: dict) -> list[tuple[str, object]]:
    """``(label, value)`` pairs: solver, iterations, convergence, statistics, times."""
    rows = [
        ("solver", model.solver_),
        ("iterations", int(model.n_iter_)),
        ("converged", bool(model.converged_)),
        *([("finite optimum", False)] if getattr(model, "separated_", False) else []),
        ("KKT residual", float(model.kkt_)),
        ("objective", float(model.objective_)),
    ]
    for attr, label in [
        ("deviance_", "deviance"),
        ("log_likelihood_", "log-likelihood"),
        ("aic_", "AIC"),
        ("bic_", "BIC"),
    ]:
        value = getattr(model, attr, None)
        if value is not None and math.isfinite(value):
            rows.append((label, float(value)))
    rows.extend(timing.items())
    return rows


def to_json(model, header: dict, timing: dict) -> str:
    frame, note = coef_frame(model)
    doc = {
        **header,
        "coefficients": {
            str(name): {str(k): _num(v) for k, v in row.items()} for name, row in frame.iterrows()
        },
        "inference_note": note,
        "summary": {label: _num(v) for label, v in summary_rows(model, timing)},
    }
    return json.dumps(doc, indent=1)


def to_csv(model) -> str:
    frame, _ = coef_frame(model)
    return frame.rename_axis("coefficient").to_csv()


def _num(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
