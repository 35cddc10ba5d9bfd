"""Reading a data file for ``lossmath fit`` / ``predict`` and turning it into ``X, y``.

Every problem is reported by :class:`UsageError` naming the file, the column, the
line and the value: a missing or empty file, an unknown column, a missing value, a
text value in a numeric column, a text column with too many levels.

Text (non-numeric) feature columns are one-hot encoded, the first level (sorted)
dropped as the reference so that the intercept stays identifiable; the levels are
kept in the model file so that ``predict`` encodes new data the same way.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lossmath.cli._errors import UsageError, did_you_mean

__all__ = ["Table", "encode", "read_table", "split_columns"]

#: A text column with more distinct values than this is refused, not one-hot encoded.
MAX_LEVELS = 50


@dataclass
class Table:
    """A data frame and where it came from (for messages)."""

    frame: object
    name: str
    csv: bool
    notes: list[str] = field(default_factory=list)

    def where(self, position: int) -> str:
        """``"line 7 of data.csv"`` for the row at ``position`` (0-based, after the header)."""
        if self.csv:
            return f"line {position + 2} of {self.name}"
        return f"row {position + 1} of {self.name}"


def read_table(path: str, index_col: str | None = None) -> Table:
    """Read a ``.csv`` / ``.txt`` / ``.parquet`` file; ``index_col`` is not a feature.

    A first column named ``Unnamed: 0`` (what ``DataFrame.to_csv`` writes for an
    unnamed index) is taken as the index too, and a note says so.
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {path}")
    if p.is_dir():
        raise UsageError(f"{path} is a directory; expected a .csv or .parquet file")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        if importlib.util.find_spec("pyarrow") is None:
            raise UsageError(
                f"reading {p.name} needs pyarrow, which is not installed: "
                "pip install 'lossmath[parquet]' (or save the data as .csv)"
            )
        try:
            frame = pd.read_parquet(p)
        except Exception as err:  # pyarrow's many error types
            raise UsageError(f"cannot read {p.name} as Parquet: {err}") from err
        csv = False
    elif suffix in (".csv", ".txt", ".tsv"):
        if p.stat().st_size == 0:
            raise UsageError(f"{p.name} is empty (0 bytes)")
        try:
            frame = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",")
        except pd.errors.EmptyDataError:
            raise UsageError(f"{p.name} has no columns (only blank lines)") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise UsageError(f"cannot read {p.name} as CSV: {str(err).strip()}") from err
        csv = True
    else:
        raise UsageError(f"{p.name}: expected a .csv, .tsv, .txt or .parquet file")
    table = Table(frame, p.name, csv)
    if index_col is not None:
        _require(table, [index_col], "--index-col")
        table.frame = frame.set_index(index_col)
    elif len(frame.columns) and str(frame.columns[0]).startswith("Unnamed: 0"):
        table.frame = frame.set_index(frame.columns[0])
        table.notes.append(
            f"the unnamed first column of {p.name} is taken as the row index, not a feature "
            "(a saved pandas index; --index-col names another)"
        )
    if len(table.frame) == 0:
        raise UsageError(f"{p.name} has a header but no data rows")
    return table


def _require(table: Table, names, option: str) -> None:
    cols = [str(c) for c in table.frame.columns]
    for name in names:
        if name not in cols:
            raise UsageError(
                f"{option}: no column {name!r} in {table.name}{did_you_mean(name, cols)} "
                f"(columns: {', '.join(cols)})"
            )


def _list(text: str | list | None) -> list[str]:
    if isinstance(text, list):
        return [str(c) for c in text]
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def split_columns(table: Table, target, features=None, exclude=None, weights=None, offset=None):
    """``(X frame, y series or None, weights or None, offset or None)`` by column name."""
    frame = table.frame
    special = {"--target": target, "--weights": weights, "--offset": offset}
    for option, name in special.items():
        if name is not None:
            _require(table, [name], option)
    chosen, dropped = _list(features), _list(exclude)
    _require(table, chosen, "--features")
    _require(table, dropped, "--exclude")
    taken = {n for n in special.values() if n is not None}
    if chosen:
        both = taken.intersection(chosen)
        if both:
            raise UsageError(
                f"--features: column {sorted(both)[0]!r} is also the target, weights or offset"
            )
        cols = chosen
    else:
        cols = [str(c) for c in frame.columns if str(c) not in taken]
    cols = [c for c in cols if c not in dropped]
    if not cols:
        raise UsageError(f"no feature columns left in {table.name} (after --features/--exclude)")
    frame.columns = [str(c) for c in frame.columns]
    X = frame[cols]
    y = frame[target] if target is not None else None
    w = _numeric(table, weights, "--weights") if weights else None
    if w is not None and (w < 0).any():
        pos = int(np.argmax(w < 0))
        raise UsageError(
            f"--weights: column {weights!r} has a negative weight {w[pos]:g} "
            f"({table.where(pos)}); weights must be >= 0"
        )
    off = _numeric(table, offset, "--offset") if offset else None
    return X, y, w, off


def _numeric(table: Table, name: str, what: str) -> np.ndarray:
    """Column ``name`` as float64; NaN or text values are named with their line."""
    import pandas as pd

    col = table.frame[name]
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        pos = int(np.argmax(bad))
        raw = col.iloc[pos]
        kind = "a missing value" if pd.isna(raw) else f"the value {raw!r}"
        raise UsageError(
            f"{what}: column {name!r} has {kind} at {table.where(pos)}"
            f"{'' if bad.sum() == 1 else f' ({int(bad.sum())} such rows)'}; "
            "expected finite numbers (drop or fill those rows)"
        )
    return values


def _is_text(col) -> bool:
    import pandas as pd

    return not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))


def encode(table: Table, X, levels: dict | None = None):
    """``(float DataFrame, levels)``: numbers checked, text columns one-hot encoded.

    ``levels`` (``{column: [level, ...]}``) from an earlier fit encodes new data the
    same way; a level not seen then is refused by name.
    """
    import pandas as pd

    fitting = levels is None
    levels = {} if fitting else levels
    parts = {}
    for name in X.columns:
        col = X[name]
        if fitting and _is_text(col):
            numbers = pd.to_numeric(col, errors="coerce")
            text = col.notna() & numbers.isna()
            if numbers.notna().sum() > text.sum():
                pos = int(np.argmax(text.to_numpy()))
                raise UsageError(
                    f"column {name!r} of {table.name} holds numbers but also the text "
                    f"{col.iloc[pos]!r} at {table.where(pos)}; fix that value, or "
                    f"--exclude {name}"
                )
            found = sorted(map(str, col.dropna().unique()))
            if len(found) > MAX_LEVELS:
                raise UsageError(
                    f"column {name!r} of {table.name} is text with {len(found)} distinct "
                    f"values (more than {MAX_LEVELS} to one-hot encode); --exclude {name}"
                )
            levels[name] = found
        if name in levels:
            parts.update(_one_hot(table, name, col, levels[name]))
        else:
            parts[name] = _numeric(table, name, "feature")
    frame = pd.DataFrame(parts, index=X.index)
    for name in levels:
        if fitting and name in X.columns:
            table.notes.append(
                f"text column {name!r} one-hot encoded: {len(levels[name])} levels, "
                f"{levels[name][0]!r} the reference"
            )
    return frame, levels


def _one_hot(table: Table, name: str, col, found: list[str]) -> dict:
    if col.isna().any():
        pos = int(np.argmax(col.isna().to_numpy()))
        raise UsageError(
            f"feature: column {name!r} has a missing value at {table.where(pos)}; "
            "expected a value (drop or fill those rows)"
        )
    text = col.astype(str)
    unknown = ~text.isin(found)
    if unknown.any():
        pos = int(np.argmax(unknown.to_numpy()))
        raise UsageError(
            f"column {name!r} has the level {text.iloc[pos]!r} at {table.where(pos)}, "
            f"not seen in fitting (levels: {', '.join(found)})"
        )
    # One level only: no column at all (it would be constant, the intercept's twin).
    return {f"{name}={lv}": (text == lv).to_numpy(dtype=np.float64) for lv in found[1:]}
