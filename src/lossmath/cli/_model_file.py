"""The model file of ``lossmath fit --save`` / ``lossmath predict``: plain JSON.

Nothing in it is executed or unpickled: it holds the estimator's class name, the
loss (name and parameters), the estimator's parameters, the fitted arrays as
nested lists, and how the data were read (feature columns, one-hot levels, offset
column). Format ``lossmath-glm`` version 1::

    {
      "format": "lossmath-glm", "version": 1,
      "estimator": "GLMClassifier" | "GLMRegressor",
      "loss": {"name": "logistic", "params": {}},
      "params": {"alpha": 0.01, "l1_ratio": 0.0, "fit_intercept": true, ...},
      "target": "y", "features": ["a", "b", "colour"], "offset": null,
      "levels": {"colour": ["blue", "green", "red"]},
      "columns": ["a", "b", "colour=green", "colour=red"],
      "coef": [...], "intercept": 0.3 | [...], "classes": [0, 1] | null
    }
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lossmath.cli._errors import UsageError

__all__ = ["load_model", "save_model"]

FORMAT, VERSION = "lossmath-glm", 1
_PARAMS = ("alpha", "l1_ratio", "solver", "fit_intercept", "max_iter", "tol")


def _plain(value):
    """NumPy scalars and arrays as JSON values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def save_model(path: str, model, loss_name, loss_params, spec: dict) -> None:
    """Write ``model`` (fitted) and the data ``spec`` to ``path`` as JSON."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "estimator": type(model).__name__,
        "loss": {"name": loss_name, "params": {k: _plain(v) for k, v in loss_params.items()}},
        "params": {k: _plain(getattr(model, k)) for k in _PARAMS},
        **spec,
        "columns": [str(c) for c in model.feature_names_in_],
        "coef": _plain(np.asarray(model.coef_)),
        "intercept": _plain(model.intercept_),
        "classes": _plain(getattr(model, "classes_", None)),
    }
    try:
        Path(path).write_text(json.dumps(doc, indent=1) + "\n")
    except OSError as err:
        raise UsageError(f"--save: cannot write {path}: {err.strerror}") from err


def load_model(path: str):
    """``(estimator, doc)`` from a file written by :func:`save_model`."""
    from lossmath.cli._options import build_loss
    from lossmath.linear_model import GLMClassifier, GLMRegressor

    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no such model file: {path}")
    try:
        doc = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(
            f"{p.name} is not a lossmath model file (expected JSON from "
            f"'lossmath fit --save'): {err}"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UsageError(f'{p.name} is not a lossmath model file (no "format": {FORMAT!r})')
    if doc.get("version") != VERSION:
        raise UsageError(f"{p.name}: model format version {doc.get('version')!r} is not {VERSION}")
    classes = {"GLMClassifier": GLMClassifier, "GLMRegressor": GLMRegressor}
    try:
        cls = classes[doc["estimator"]]
        loss = build_loss(doc["loss"]["name"], doc["loss"]["params"])
        model = cls(loss=loss, **{k: doc["params"][k] for k in _PARAMS})
        model.coef_ = np.asarray(doc["coef"], dtype=np.float64)
        model.intercept_ = (
            np.asarray(doc["intercept"], dtype=np.float64)
            if isinstance(doc["intercept"], list)
            else float(doc["intercept"])
        )
        columns = [str(c) for c in doc["columns"]]
        model.feature_names_in_ = np.asarray(columns, dtype=object)
        model.n_features_in_ = len(columns)
        if doc["classes"] is not None:
            model.classes_ = np.asarray(doc["classes"])
        features = [str(c) for c in doc["features"]]
        if model.coef_.shape[-1] != len(columns):
            raise ValueError(f"coef has {model.coef_.shape[-1]} columns for {len(columns)} names")
    except (KeyError, TypeError, ValueError) as err:
        raise UsageError(f"{p.name}: a damaged lossmath model file ({err!r})") from None
    doc["features"] = features
    return model, doc
