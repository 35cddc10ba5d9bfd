"""scikit-learn estimators over any loss × any penalty (DESIGN.md §7).

:class:`GLMRegressor` and :class:`GLMClassifier` minimise DESIGN.md §6's objective

    (1 / Σᵢ sᵢ) Σᵢ sᵢ ℓ(yᵢ, zᵢ) + α (l1_ratio ‖w‖₁ + ½ (1 − l1_ratio) ‖w‖₂²),
    z = X w + b + offset,

with the solvers of :mod:`lossmath.linear_model._solvers`, and, for unpenalised and
ridge fits of a likelihood loss, report statsmodels-style inference.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from lossmath.linear_model._inference import FAMILIES, coef_table_data, glm_inference
from lossmath.linear_model._objective import GLMObjective
from lossmath.linear_model._solvers import SOLVERS, solve
from lossmath.losses import Loss, get_loss
from lossmath.penalties import get_penalty

__all__ = ["GLMClassifier", "GLMRegressor"]

#: Largest number of coefficients for which inference is computed during fit.
_MAX_INFERENCE_COEF = 2000


class _GLM(BaseEstimator):
    _parameter_constraints: dict = {  # noqa: RUF012 (scikit-learn's convention)
        "loss": [str, Loss],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "solver": [StrOptions({"auto", *SOLVERS})],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        loss: str | Loss = "squared_error",
        *,
        alpha: float = 0.0,
        l1_ratio: float = 0.0,
        solver: str = "auto",
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-8,
        warm_start: bool = False,
        verbose: int = 0,
    ):
        self.loss = loss
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.solver = solver
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.verbose = verbose

    # ------------------------------------------------------------------ pieces
    def _penalty(self):
        if self.l1_ratio == 0:
            return get_penalty("l2", alpha=self.alpha)
        if self.l1_ratio == 1:
            return get_penalty("l1", alpha=self.alpha)
        return get_penalty("elastic_net", alpha=self.alpha, l1_ratio=self.l1_ratio)

    def _fit(self, X, y, sample_weight, offset, loss):
        sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if offset is not None:
            offset = np.asarray(offset, dtype=np.float64)
        loss.check_target(y)
        objective = GLMObjective(
            loss, self._penalty(), X, y, sample_weight, self.fit_intercept, offset
        )
        coef0 = None
        if self.warm_start and hasattr(self, "coef_"):
            coef0 = self._pack(objective)
        result = solve(
            objective,
            self.solver,
            tol=self.tol,
            max_iter=self.max_iter,
            coef0=coef0,
            verbose=self.verbose,
        )
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__} did not converge: {result.message}",
                ConvergenceWarning,
                stacklevel=3,
            )
        w, b = objective.unpack(result.coef)
        self.coef_ = np.asarray(w, dtype=np.float64)
        self.intercept_ = b if np.ndim(b) else float(b)
        self.n_iter_ = int(result.n_iter)
        self.converged_ = bool(result.converged)
        self.objective_ = float(result.objective)
        self.kkt_ = float(result.kkt)
        self.solver_ = result.solver
        self._inference(objective, result.coef, loss)
        return self

    def _pack(self, objective) -> np.ndarray:
        parts = [np.ravel(self.coef_)]
        if objective.fit_intercept:
            parts.append(np.atleast_1d(self.intercept_))
        coef = np.concatenate(parts)
        return coef if coef.size == objective.n_coef else None

    def _inference(self, objective, coef, loss) -> None:
        """Covariance and likelihood statistics where they are defined."""
        for attr in (
            "covariance_matrix_",
            "std_errors_",
            "scale_",
            "deviance_",
            "log_likelihood_",
            "aic_",
            "bic_",
        ):
            self.__dict__.pop(attr, None)
        self._inference_note = None
        if loss.n_outputs != 1 or loss.distribution not in FAMILIES:
            self._inference_note = (
                f"inference needs a scalar likelihood loss; {loss.name!r} has "
                f"distribution {loss.distribution!r}"
            )
            return
        if self.alpha > 0 and self.l1_ratio > 0:
            self._inference_note = "inference is not defined for L1 / elastic-net fits"
            return
        if objective.n_coef > _MAX_INFERENCE_COEF:
            self._inference_note = (
                f"inference skipped: {objective.n_coef} coefficients > {_MAX_INFERENCE_COEF}"
            )
            return
        z = objective.raw_score(coef)
        try:
            inf = self._glm_inference(loss, objective, z)
        except np.linalg.LinAlgError as err:
            self._inference_note = f"inference not available: {err}"
            return
        self.covariance_matrix_ = inf.covariance
        self.std_errors_ = inf.std_errors
        self.scale_ = inf.scale
        self.deviance_ = inf.deviance
        if inf.log_likelihood is not None:
            self.log_likelihood_ = inf.log_likelihood
            self.aic_ = inf.aic
            self.bic_ = inf.bic

    def _glm_inference(self, loss, objective, z):
        return glm_inference(
            loss,
            objective.X,
            objective.y,
            z,
            objective.sample_weight,
            l2=self.alpha * (1 - self.l1_ratio),
            fit_intercept=self.fit_intercept,
        )

    def coef_table(self, level: float = 0.95):
        """Estimate, standard error, z, two-sided p-value and confidence interval.

        Returns
        -------
        pandas.DataFrame
            One row per coefficient (then the intercept), indexed by feature name.

        Raises
        ------
        AttributeError
            Where inference is not defined for the fit (the message says why).
        """
        check_is_fitted(self)
        if not hasattr(self, "std_errors_"):
            raise AttributeError(f"coef_table: {self._inference_note}")
        import pandas as pd

        coef = np.concatenate(
            [np.ravel(self.coef_)]
            + ([np.atleast_1d(self.intercept_)] if self.fit_intercept else [])
        )
        names = list(
            getattr(self, "feature_names_in_", [f"x{j}" for j in range(self.n_features_in_)])
        )
        if self.fit_intercept:
            names.append("intercept")
        return pd.DataFrame(coef_table_data(coef, self.std_errors_, level), index=names)

    def _raw_score(self, X, offset=None):
        """Raw scores ``z = X w + b (+ offset)``: ``(n,)``, or ``(n, K)`` for multiclass."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        coef = self.coef_
        z = X @ (coef.T if coef.ndim == 2 else coef)
        z = np.asarray(z) + self.intercept_
        return z if offset is None else z + np.asarray(offset, dtype=float)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class GLMRegressor(RegressorMixin, _GLM):
    """Generalized linear regression with any loss of the catalogue and any penalty.

    Parameters
    ----------
    loss : str or Loss, default "squared_error"
        A name from :func:`lossmath.losses.available` or a loss object (e.g.
        ``Huber(delta=2.0)``, ``Tweedie(power=1.3)``).
    alpha : float, default 0.0
        Penalty strength ``α``.
    l1_ratio : float, default 0.0
        ``0`` ridge, ``1`` lasso, in between the elastic net.
    solver : {"auto", "lstsq", "newton", "lbfgs", "gd", "cd", "fista"}, default "auto"
    fit_intercept : bool, default True
    max_iter : int, default 1000
    tol : float, default 1e-8
        Stop when the max-norm of the minimum-norm subgradient (KKT residual) is ≤ tol.
    warm_start : bool, default False
    verbose : int, default 0

    Attributes
    ----------
    coef_, intercept_, n_iter_, converged_, objective_, kkt_, solver_
        The fit and how it was reached.
    covariance_matrix_, std_errors_, scale_, deviance_, log_likelihood_, aic_, bic_
        For unpenalised and ridge fits of a likelihood loss (statsmodels' numbers).

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath import GLMRegressor
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]])
    >>> GLMRegressor().fit(X, [1.0, 3.0, 5.0, 7.0]).coef_.round(6)
    array([2.])
    """

    def _get_loss(self) -> Loss:
        loss = get_loss(self.loss) if isinstance(self.loss, str) else self.loss
        if loss.n_outputs != 1:
            raise ValueError(f"GLMRegressor: loss must be a scalar loss; got {loss!r}")
        return loss

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if isinstance(self.loss, str | Loss):
            interval = get_loss(self.loss).y_interval
            tags.target_tags.positive_only = interval.low >= 0
        return tags

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit the model. ``offset`` (n,) is added to the raw score (e.g. log exposure)."""
        self._validate_params()
        X, y = validate_data(
            self, X, y, accept_sparse=["csr", "csc"], dtype=np.float64, y_numeric=True
        )
        return self._fit(X, y, sample_weight, offset, self._get_loss())

    def predict(self, X, offset=None):
        """The mean ``ŷ = link.inverse(z)``."""
        return np.asarray(self._get_loss().predict(self._raw_score(X, offset)))


class GLMClassifier(ClassifierMixin, _GLM):
    """Linear classification with any classification loss and any penalty.

    Binary problems use ``loss`` (default ``"logistic"``); with more than two
    classes a ``"logistic"`` loss becomes the ``"multinomial"`` one.

    Parameters are those of :class:`GLMRegressor`, with ``loss="logistic"``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from lossmath import GLMClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = GLMClassifier(alpha=1e-3).fit(X, y)
    >>> clf.coef_.shape, round(clf.score(X, y), 2)
    ((3, 4), 0.99)
    """

    def __init__(
        self,
        loss: str | Loss = "logistic",
        *,
        alpha: float = 0.0,
        l1_ratio: float = 0.0,
        solver: str = "auto",
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float = 1e-8,
        warm_start: bool = False,
        verbose: int = 0,
    ):
        super().__init__(
            loss,
            alpha=alpha,
            l1_ratio=l1_ratio,
            solver=solver,
            fit_intercept=fit_intercept,
            max_iter=max_iter,
            tol=tol,
            warm_start=warm_start,
            verbose=verbose,
        )

    def _get_loss(self, n_classes: int) -> Loss:
        loss = get_loss(self.loss) if isinstance(self.loss, str) else self.loss
        if n_classes > 2:
            if loss.name == "logistic":
                return get_loss("multinomial", n_classes=n_classes)
            if loss.name != "multinomial":
                raise ValueError(
                    f"GLMClassifier: loss {loss.name!r} is binary but y has {n_classes} classes; "
                    "use loss='logistic' or 'multinomial'"
                )
        if loss.name == "multinomial":
            return type(loss)(loss.label_smoothing, loss.class_weight, n_classes)
        return loss

    def fit(self, X, y, sample_weight=None, offset=None):
        """Fit the model; ``y`` holds class labels of any type."""
        self._validate_params()
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], dtype=np.float64)
        check_classification_targets(y)
        self._encoder = LabelEncoder().fit(y)
        self.classes_ = self._encoder.classes_
        if self.classes_.size < 2:
            raise ValueError(
                f"GLMClassifier needs samples of at least 2 classes; got 1 class "
                f"({self.classes_[0]!r})"
            )
        y_enc = self._encoder.transform(y).astype(np.float64)
        return self._fit(X, y_enc, sample_weight, offset, self._get_loss(self.classes_.size))

    def decision_function(self, X, offset=None):
        """Raw scores ``z = X w + b (+ offset)``: ``(n,)``, or ``(n, K)`` for multiclass."""
        return self._raw_score(X, offset)

    def _has_proba(self) -> bool:
        loss = self._get_loss(len(getattr(self, "classes_", [0, 1])))
        return loss.link.name in ("logit", "half_logit", "softmax")

    @available_if(_has_proba)
    def predict_proba(self, X, offset=None):
        """Class probabilities, shape ``(n, n_classes)``."""
        z = self.decision_function(X, offset)
        p = np.asarray(self._get_loss(self.classes_.size).predict(z))
        return p if p.ndim == 2 else np.column_stack([1 - p, p])

    def predict(self, X, offset=None):
        """The most probable class (binary: ``z > 0``, the decision boundary of every loss)."""
        z = self.decision_function(X, offset)
        idx = np.argmax(z, axis=1) if z.ndim == 2 else (z > 0).astype(int)
        return self.classes_[idx]
