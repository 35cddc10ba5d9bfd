"""Generalized linear models built on the loss catalogue (in progress: the objective).

The estimators of DESIGN.md §7 build on :class:`GLMObjective`, the data term every
solver shares.
"""

from lossmath.linear_model._objective import GLMObjective

__all__ = ["GLMObjective"]
