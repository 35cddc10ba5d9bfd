r"""Any lossmath loss as a LightGBM (≥ 4.0) custom objective and evaluation metric.

Usage::

    import lossmath.integrations.lightgbm as ll

    booster = lgb.train({"objective": ll.objective("focal"), "metric": "None"},
                        lgb.Dataset(X, y, init_score=ll.init_score("focal", y)),
                        feval=ll.metric("focal"))
    z = booster.predict(X_new) + ll.baseline("focal", y)  # add the start back

Conventions (each one a classic source of wrong boosting models)
----------------------------------------------------------------
* **Raw scores.** With a callable objective LightGBM applies no link: the
  objective sees raw scores ``z`` and ``predict`` returns raw scores
  (``LGBMClassifier.predict_proba`` warns and returns them too); map them
  with ``loss.predict(z)``.
* **Sample weights.** LightGBM does *not* apply the Dataset weights to a custom
  objective's ``g`` and ``h``. The objective takes them from the Dataset
  (native API) or as the ``weight`` argument (scikit-learn API: the objective
  has the four-argument signature ``(y_true, y_pred, weight, group)``) and
  applies them once.
* **Multiclass.** Set ``num_class=K`` (native) or use ``LGBMClassifier`` on K
  classes; scores, ``g`` and ``h`` are ``(n, K)`` arrays (LightGBM ≥ 4).
* **Starting score.** ``boost_from_average`` does nothing for a custom
  objective, so boosting starts at 0 unless the Dataset (or ``fit``) gets an
  ``init_score``: pass :func:`init_score`. LightGBM does **not** store it in
  the model: add :func:`baseline` to ``predict``'s raw scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossmath.integrations._gbdt import (
    GradientHessian,
    import_library,
    per_row,
    resolve_loss,
    starting_score,
    weighted_mean_loss,
)

__all__ = [
    "LightGBMMetric",
    "LightGBMObjective",
    "baseline",
    "init_score",
    "metric",
    "objective",
]


def _lgb() -> Any:
    return import_library("lightgbm", "lightgbm")


class LightGBMObjective:
    """Custom objective for ``lgb.train`` (``params["objective"]``) and the LGBM* wrappers.

    Called as ``obj(preds, train_data)`` by ``lgb.train`` and as
    ``obj(y_true, y_pred, weight, group)`` by ``LGBMRegressor`` /
    ``LGBMClassifier``; returns ``(g, h)`` of the shape of the scores, with
    ``g = sᵢ ∂ℓ/∂z`` and ``h`` the curvature chosen by ``hessian``.
    """

    def __init__(self, loss: Any, hessian: str = "auto", *, n_threads: int | None = None):
        self._gh = GradientHessian(loss, hessian, library="lightgbm", n_threads=n_threads)
        self.loss = self._gh.loss
        self.policy = self._gh.policy
        self.curvature = self._gh.curvature
        self.__name__ = self.loss.name

    # Four parameters: LightGBM's scikit-learn wrapper counts them and then
    # passes (y_true, y_pred, weight, group); two would drop the weights.
    def __call__(self, y_or_preds: Any, preds_or_data: Any, weight: Any = None, group: Any = None):
        lgb = _lgb()
        if isinstance(preds_or_data, lgb.Dataset):
            data = preds_or_data
            return self._gh(data.get_label(), y_or_preds, data.get_weight(), key=id(data))
        return self._gh(y_or_preds, preds_or_data, weight)

    def __repr__(self) -> str:
        return f"LightGBMObjective({self.loss!r}, hessian={self._gh.hessian!r})"


class LightGBMMetric:
    """Weighted mean loss of the raw scores, ``(name, value, is_higher_better=False)``.

    Called as ``feval(preds, eval_data)`` by ``lgb.train`` and as
    ``eval_metric(y_true, y_pred, weight, group)`` by the wrappers.
    """

    def __init__(self, loss: Any, *, n_threads: int | None = None):
        self.loss = resolve_loss(loss)
        self.n_threads = n_threads
        self.__name__ = self.loss.name

    def __call__(self, y_or_preds: Any, preds_or_data: Any, weight: Any = None, group: Any = None):
        lgb = _lgb()
        if isinstance(preds_or_data, lgb.Dataset):
            data = preds_or_data
            value = weighted_mean_loss(
                self.loss, data.get_label(), y_or_preds, data.get_weight(), n_threads=self.n_threads
            )
        else:
            value = weighted_mean_loss(
                self.loss, y_or_preds, preds_or_data, weight, n_threads=self.n_threads
            )
        return self.__name__, value, False


def objective(
    loss: Any, *, hessian: str = "auto", n_threads: int | None = None
) -> LightGBMObjective:
    """Any lossmath loss as a LightGBM custom objective.

    Parameters
    ----------
    loss : Loss or str
        A lossmath loss, or its registered name.
    hessian : {"auto", "exact", "fisher", "surrogate"}, default "auto"
        Curvature handed to LightGBM: the exact ``∂²ℓ/∂z²`` where it is
        positive, else the Fisher weight, else a documented positive surrogate;
        an unsafe explicit request raises ``ValueError`` (never a silent clip).
        See :mod:`lossmath.integrations._gbdt`.

    Returns
    -------
    LightGBMObjective
        Use as ``params["objective"]`` in ``lgb.train`` or ``objective=`` in
        the scikit-learn wrappers. Labels are checked on the first round.
    """
    return LightGBMObjective(loss, hessian, n_threads=n_threads)


def metric(loss: Any, *, n_threads: int | None = None) -> LightGBMMetric:
    """The weighted mean loss as ``feval=`` / ``eval_metric=``; lower is better.

    ``n_threads``: threads evaluating the loss (all available CPUs by default).
    """
    return LightGBMMetric(loss, n_threads=n_threads)


def baseline(loss: Any, y: Any, sample_weight: Any = None) -> float | np.ndarray:
    """``loss.baseline(y, w)``: a float, or ``(K,)`` for the multinomial loss."""
    return starting_score(resolve_loss(loss), y, sample_weight)


def init_score(loss: Any, y: Any, sample_weight: Any = None) -> np.ndarray:
    """Per-row starting scores for ``lgb.Dataset(init_score=...)`` / ``fit(init_score=...)``.

    Returns
    -------
    ndarray of shape (n,) or (n, K)
        :func:`baseline` repeated for each of the ``n`` rows of ``y``.
    """
    return per_row(baseline(loss, y, sample_weight), np.shape(y)[0])
