r"""Any lossmath loss as an XGBoost (≥ 2.1) custom objective and evaluation metric.

Usage::

    import lossmath.integrations.xgboost as lx

    booster = xgb.train(
        {"base_score": lx.base_score("log_cosh", y), "disable_default_eval_metric": 1},
        xgb.DMatrix(X, y), num_boost_round=100,
        obj=lx.objective("log_cosh"), custom_metric=lx.metric("log_cosh"))
    z = booster.predict(xgb.DMatrix(X_new), output_margin=True)

    XGBRegressor(objective=lx.objective("log_cosh"),
                 base_score=lx.base_score("log_cosh", y)).fit(X, y)

Conventions (each one a classic source of wrong boosting models)
----------------------------------------------------------------
* **Raw scores.** XGBoost hands a custom objective the margin ``z`` (``predt``),
  and predictions come back as margins too: use
  ``booster.predict(d, output_margin=True)`` and ``loss.predict(z)`` for ``ŷ``.
* **Sample weights.** XGBoost does *not* multiply a custom objective's ``g``
  and ``h`` by the DMatrix weights; the objective does it, once. The
  scikit-learn wrappers pass them as ``sample_weight=``, which is accepted.
* **Multiclass.** Set ``num_class=K`` (native) or use ``XGBClassifier`` on K
  classes; ``predt``, ``g`` and ``h`` are ``(n, K)`` arrays (XGBoost ≥ 2.1).
  Each class's trees use the diagonal of the softmax Hessian.
* **Starting score.** With a custom objective XGBoost starts from
  ``base_score = 0.5`` *in margin space* unless told otherwise — not from the
  loss's optimum. Pass :func:`base_score`, which is stored in the model. In
  ``XGBClassifier`` a callable objective runs under ``binary:logistic``, so a
  binary ``base_score`` is read as a probability: use ``classifier=True``.
  ``XGBClassifier.predict_proba`` applies the sigmoid (softmax for K classes) to
  the margin, which is right only for logit-link losses (logistic, focal,
  multinomial).
* **Curvature.** See ``hessian=`` in :func:`objective` and the policy in
  :mod:`lossmath.integrations._gbdt`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lossmath.integrations._gbdt import (
    GradientHessian,
    import_library,
    resolve_loss,
    starting_score,
    weighted_mean_loss,
)

__all__ = ["XGBoostMetric", "XGBoostObjective", "base_score", "metric", "objective"]


def _xgb() -> Any:
    return import_library("xgboost", "xgboost")


class XGBoostObjective:
    """Custom objective for ``xgb.train(obj=...)`` and the scikit-learn wrappers.

    Called as ``obj(predt, dtrain)`` by ``xgb.train`` and as
    ``obj(y_true, y_pred, sample_weight=...)`` by ``XGBRegressor`` /
    ``XGBClassifier``; returns ``(g, h)`` of the shape of the scores, with
    ``g = sᵢ ∂ℓ/∂z`` and ``h`` the curvature chosen by ``hessian``.

    Attributes
    ----------
    loss : Loss
        The loss.
    policy : str
        The resolved curvature policy (``"exact"``, ``"fisher"`` or ``"surrogate"``).
    curvature : CurvaturePolicy
        The resolved policy as an object (its kind and surrogate constant).
    """

    def __init__(self, loss: Any, hessian: str = "auto", *, n_threads: int | None = None):
        self._gh = GradientHessian(loss, hessian, library="xgboost", n_threads=n_threads)
        self.loss = self._gh.loss
        self.policy = self._gh.policy
        self.curvature = self._gh.curvature
        self.__name__ = self.loss.name

    def __call__(self, y_or_predt: Any, predt_or_dtrain: Any, *, sample_weight: Any = None):
        xgb = _xgb()
        if isinstance(predt_or_dtrain, xgb.DMatrix):
            dtrain = predt_or_dtrain
            return self._gh(dtrain.get_label(), y_or_predt, dtrain.get_weight(), key=id(dtrain))
        return self._gh(y_or_predt, predt_or_dtrain, sample_weight)

    def __repr__(self) -> str:
        return f"XGBoostObjective({self.loss!r}, hessian={self._gh.hessian!r})"


class XGBoostMetric:
    """Weighted mean loss ``Σ sᵢ ℓ(yᵢ, zᵢ) / Σ sᵢ`` of the margins, lower is better.

    Called as ``metric(predt, dmatrix) -> (name, value)`` by
    ``xgb.train(custom_metric=...)`` and as ``metric(y_true, y_pred,
    sample_weight=...) -> value`` by the scikit-learn wrappers
    (``eval_metric=``), which name it after ``__name__`` (the loss's name).
    """

    def __init__(self, loss: Any, *, n_threads: int | None = None):
        self.loss = resolve_loss(loss)
        self.n_threads = n_threads
        self.__name__ = self.loss.name

    def __call__(self, y_or_predt: Any, predt_or_dmatrix: Any, *, sample_weight: Any = None):
        xgb = _xgb()
        if isinstance(predt_or_dmatrix, xgb.DMatrix):
            d = predt_or_dmatrix
            value = weighted_mean_loss(
                self.loss, d.get_label(), y_or_predt, d.get_weight(), n_threads=self.n_threads
            )
            return self.__name__, value
        return weighted_mean_loss(
            self.loss, y_or_predt, predt_or_dmatrix, sample_weight, n_threads=self.n_threads
        )


def objective(
    loss: Any, *, hessian: str = "auto", n_threads: int | None = None
) -> XGBoostObjective:
    """Any lossmath loss as an XGBoost custom objective.

    Parameters
    ----------
    loss : Loss or str
        A lossmath loss, or its registered name.
    hessian : {"auto", "exact", "fisher", "surrogate"}, default "auto"
        Curvature handed to XGBoost as ``hess``: the exact ``∂²ℓ/∂z²`` where it
        is positive, else the Fisher weight, else a documented positive
        surrogate; an unsafe explicit request raises ``ValueError`` (never a
        silent clip). See :mod:`lossmath.integrations._gbdt`.

    Returns
    -------
    XGBoostObjective
        Pass it as ``obj=`` to ``xgb.train`` or ``objective=`` to the
        scikit-learn wrappers. Labels are checked on the first round.
    """
    return XGBoostObjective(loss, hessian, n_threads=n_threads)


def metric(loss: Any, *, n_threads: int | None = None) -> XGBoostMetric:
    """The weighted mean loss as ``custom_metric=`` / ``eval_metric=``; lower is better.

    Pair it with ``disable_default_eval_metric=1`` in native training.

    ``n_threads``: threads evaluating the loss (all available CPUs by default).
    """
    return XGBoostMetric(loss, n_threads=n_threads)


def base_score(
    loss: Any, y: Any, sample_weight: Any = None, *, classifier: bool = False
) -> float | list[float]:
    """The ``base_score`` parameter that starts boosting at ``loss.baseline(y, w)``.

    Parameters
    ----------
    loss : Loss or str
        The loss.
    y : array-like
        Training labels (validated here, before training).
    sample_weight : array-like of shape (n,), optional
        Training weights.
    classifier : bool, default False
        ``True`` for a binary ``XGBClassifier``, whose callable objective runs
        under ``binary:logistic``: XGBoost maps ``base_score`` through the logit
        there, so ``σ(c)`` is returned to land on the margin ``c``.

    Returns
    -------
    float or list of float
        A margin (``xgb.train``, ``XGBRegressor``, multiclass ``XGBClassifier``);
        a list of K margins for the multinomial loss (XGBoost ≥ 3.1 accepts a
        vector ``base_score``).
    """
    loss = resolve_loss(loss)
    c = starting_score(loss, y, sample_weight)
    if isinstance(c, np.ndarray):
        return [float(v) for v in c]
    if classifier:
        from lossmath.special import sigmoid

        return float(sigmoid(np.float64(c)))
    return c
