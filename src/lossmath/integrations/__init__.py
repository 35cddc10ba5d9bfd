"""Adapters from lossmath losses to other libraries.

Gradient boosting (one module per library, each imported on first use so that
``import lossmath`` never imports a booster):

* :mod:`lossmath.integrations.xgboost` — ``objective``, ``metric``, ``base_score``;
* :mod:`lossmath.integrations.lightgbm` — ``objective``, ``metric``, ``init_score``,
  ``baseline``;
* :mod:`lossmath.integrations.catboost` — ``objective``, ``metric``, ``init_score``,
  ``baseline``.

All three share one curvature policy, ``hessian="auto" | "exact" | "fisher" |
"surrogate"``: :class:`CurvaturePolicy`, decided by what the loss declares of its
curvature (docs/gbdt.md).
"""

from lossmath.integrations._curvature import HESSIAN_POLICIES, CurvaturePolicy, resolve_hessian

__all__ = ["HESSIAN_POLICIES", "CurvaturePolicy", "resolve_hessian"]
