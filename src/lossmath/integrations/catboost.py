r"""Any lossmath loss as a CatBoost (≥ 1.2) custom objective and evaluation metric.

Usage::

    import lossmath.integrations.catboost as lc

    model = CatBoostRegressor(loss_function=lc.objective("log_cosh"),
                              eval_metric=lc.metric("log_cosh"))
    model.fit(X, y, baseline=lc.init_score("log_cosh", y))
    model.set_scale_and_bias(1.0, lc.baseline("log_cosh", y))  # store the start

Conventions (each one a classic source of wrong boosting models)
----------------------------------------------------------------
* **Sign.** CatBoost *maximises* its objective: ``calc_ders_range`` returns the
  derivatives of ``−ℓ``, i.e. ``(−g, −h)``, with ``der2 < 0``. Returning
  ``(g, h)`` trains towards the worst model.
* **Sample weights.** CatBoost passes ``weights`` (``None`` when there are none)
  and does not apply them to a custom objective's derivatives; the objective
  multiplies them in, once.
* **Multiclass.** For K classes CatBoost calls ``calc_ders_multi(approx,
  target, weight)`` once per sample with the K raw scores and expects the
  gradient (K,) and a K×K Hessian matrix, both of ``−ℓ``. With
  ``hessian="exact"`` (the default for the multinomial loss) the full softmax
  Hessian ``ā (diag(p) − p pᵀ)`` is returned, otherwise a diagonal. Pass
  ``classes_count=K`` (``CatBoostClassifier``). This path runs Python once per
  sample and round: fine for thousands of rows, slow for millions.
* **Raw scores.** Predictions of a model trained with a custom objective are
  raw scores: ``model.predict(X, prediction_type="RawFormulaVal")`` and
  ``loss.predict(z)``.
* **Starting score.** ``boost_from_average`` is unavailable for a custom
  objective: pass :func:`init_score` as ``fit(baseline=...)`` (or
  ``Pool(baseline=...)``). CatBoost does not store it; after fitting,
  ``model.set_scale_and_bias(1.0, baseline(loss, y))`` makes the model's own
  predictions include it (then do not pass a baseline to ``predict`` pools).
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
    "CatBoostMetric",
    "CatBoostObjective",
    "baseline",
    "init_score",
    "metric",
    "objective",
]


class CatBoostObjective:
    """A ``loss_function=`` object: ``calc_ders_range`` (one score) / ``calc_ders_multi`` (K).

    Both return derivatives of the function CatBoost maximises, ``−ℓ``.
    """

    def __init__(self, loss: Any, hessian: str = "auto", *, n_threads: int | None = None):
        import_library("catboost", "catboost")
        self._gh = GradientHessian(loss, hessian, library="catboost", n_threads=n_threads)
        # CatBoost gives no handle on the data set, and calls on chunks of
        # rows: check every call (cheap next to building CatBoost's result list).
        self._gh.always_check = True
        self.loss = self._gh.loss
        self.policy = self._gh.policy
        self.curvature = self._gh.curvature

    def calc_ders_range(self, approxes: Any, targets: Any, weights: Any) -> np.ndarray:
        """Rows ``(−gᵢ, −hᵢ)`` for a range of samples (weights applied), shape ``(n, 2)``.

        CatBoost reads ``result[i][0]``, ``result[i][1]``; an ``(n, 2)`` array
        serves that and is about 1.5× cheaper than a list of tuples.
        """
        g, h = self._gh(targets, approxes, weights)
        return np.column_stack((-g, -h))

    def calc_ders_multi(self, approx: Any, target: Any, weight: Any) -> tuple:
        """``(−g, −H)`` of one sample: a list of K and a K×K nested list."""
        z = np.asarray(approx, dtype=np.float64)[None, :]
        y = np.asarray([target], dtype=np.float64)
        w = None if weight is None else np.asarray([weight], dtype=np.float64)
        if self.policy == "exact" and self._gh.multiclass:
            self._gh._check_shapes(z)
            g = self.loss.gradient(y, z, w, n_threads=self._gh.n_threads)
            hess = self.loss.hessian(y, z, w, check_input=False)[0]
        else:
            g, h = self._gh(y, z, w)
            hess = np.diag(h[0]) if h.ndim == 2 else np.array([[h[0]]])
        return (-g[0]).tolist(), (-hess).tolist()

    def __repr__(self) -> str:
        return f"CatBoostObjective({self.loss!r}, hessian={self._gh.hessian!r})"


class CatBoostMetric:
    """An ``eval_metric=`` object: the weighted mean loss of the raw scores, minimised."""

    def __init__(self, loss: Any, *, n_threads: int | None = None):
        self.loss = resolve_loss(loss)
        self.n_threads = n_threads

    def is_max_optimal(self) -> bool:
        """Lower is better."""
        return False

    def evaluate(self, approxes: Any, target: Any, weight: Any) -> tuple[float, float]:
        """``(Σ sᵢ ℓᵢ, Σ sᵢ)``; ``approxes`` is a list of K score arrays."""
        z = np.column_stack([np.asarray(a, dtype=np.float64) for a in approxes])
        y = np.asarray(target, dtype=np.float64)
        w = np.ones(y.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64)
        total = float(np.sum(w))
        return weighted_mean_loss(self.loss, y, z, w, n_threads=self.n_threads) * total, total

    def get_final_error(self, error: float, weight: float) -> float:
        """The weighted mean from the sums of :meth:`evaluate`."""
        return error / weight if weight > 0 else 0.0


def objective(
    loss: Any, *, hessian: str = "auto", n_threads: int | None = None
) -> CatBoostObjective:
    """Any lossmath loss as a CatBoost ``loss_function`` object.

    Parameters
    ----------
    loss : Loss or str
        A lossmath loss, or its registered name.
    hessian : {"auto", "exact", "fisher", "surrogate"}, default "auto"
        Curvature policy: the exact ``∂²ℓ/∂z²`` where it is positive, else the
        Fisher weight, else a documented positive surrogate; an unsafe explicit
        request raises ``ValueError`` (never a silent clip). See
        :class:`lossmath.integrations.CurvaturePolicy`.
    n_threads : int, optional
        Threads computing ``g`` and ``h`` each round (all available CPUs by
        default; the results do not depend on it).

    Returns
    -------
    CatBoostObjective
        Returns derivatives of ``−ℓ`` (CatBoost maximises), weights applied.
    """
    return CatBoostObjective(loss, hessian, n_threads=n_threads)


def metric(loss: Any, *, n_threads: int | None = None) -> CatBoostMetric:
    """The weighted mean loss as a CatBoost ``eval_metric`` object; lower is better.

    ``n_threads``: threads evaluating the loss (all available CPUs by default).
    """
    return CatBoostMetric(loss, n_threads=n_threads)


def baseline(loss: Any, y: Any, sample_weight: Any = None) -> float | list[float]:
    """``loss.baseline(y, w)``: a float, or K floats (multinomial), for ``set_scale_and_bias``."""
    c = starting_score(resolve_loss(loss), y, sample_weight)
    return [float(v) for v in c] if isinstance(c, np.ndarray) else c


def init_score(loss: Any, y: Any, sample_weight: Any = None) -> np.ndarray:
    """Per-row starting scores, (n,) or (n, K), for ``fit(baseline=...)`` / ``Pool(...)``."""
    return per_row(baseline(loss, y, sample_weight), np.shape(y)[0])
