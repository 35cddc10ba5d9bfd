"""Derivative checks: ulp errors against ``mpmath`` and finite differences.

The ulp helpers load at once; the loss checks (which import the catalogue)
load on first use.
"""

import importlib
from typing import Any

from lossmath.checking._ulp import REFERENCE_DPS, exact, ulp_error, ulp_of

_LAZY = {
    "FD_TOLERANCE": "_checks",
    "PARAMETER_CASES": "_checks",
    "ULP_TOLERANCE": "_checks",
    "CheckResult": "_checks",
    "check_loss": "_checks",
    "fd_errors": "_checks",
    "loss_cases": "_checks",
    "sample_points": "_checks",
    "ulp_errors": "_checks",
    "REFERENCES": "_reference",
    "Exact": "_reference",
    "evaluate": "_reference",
}

__all__ = ["REFERENCE_DPS", "exact", "ulp_error", "ulp_of", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"lossmath.checking.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'lossmath.checking' has no attribute {name!r}")
