"""Adapters from lossmath losses to other libraries.

Gradient boosting (one module per library, each imported on first use so that
``import lossmath`` never imports a booster):

* :mod:`lossmath.integrations.xgboost` — ``objective``, ``metric``, ``base_score``;
* :mod:`lossmath.integrations.lightgbm` — ``objective``, ``metric``, ``init_score``,
  ``baseline``;
* :mod:`lossmath.integrations.catboost` — ``objective``, ``metric``, ``init_score``,
  ``baseline``.

All three share one curvature policy, ``hessian="auto" | "exact" | "fisher" |
"surrogate"``, described in :mod:`lossmath.integrations._gbdt` and docs/gbdt.md.
"""

from lossmath.integrations._gbdt import HESSIAN_POLICIES, resolve_hessian

__all__ = ["HESSIAN_POLICIES", "resolve_hessian"]
