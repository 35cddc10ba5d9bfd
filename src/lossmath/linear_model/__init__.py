"""Generalized linear models: any loss of the catalogue × any penalty (docs/contract.md §7).

:class:`GLMRegressor` and :class:`GLMClassifier` are scikit-learn estimators over
:class:`GLMObjective` (the one data term every solver shares) and the solvers of
:func:`solve`.
"""

from lossmath.linear_model._estimators import GLMClassifier, GLMRegressor
from lossmath.linear_model._objective import GLMObjective
from lossmath.linear_model._solvers import SOLVERS, SolverResult, solve

__all__ = ["SOLVERS", "GLMClassifier", "GLMObjective", "GLMRegressor", "SolverResult", "solve"]
