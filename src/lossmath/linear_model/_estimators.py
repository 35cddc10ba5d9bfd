"""scikit-learn estimators over any loss × any penalty (docs/contract.md §7).

:class:`GLMRegressor` and :class:`GLMClassifier` minimise docs/contract.md §6's objective

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

from lossmath.linear_model._inference import (
    FAMILIES,
    coef_table_data,
    glm_inference,
    multinomial_inference,
)
from lossmath.linear_model._objective import GLMObjective
from lossmath.linear_model._separation import check_separation
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
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
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
        n_threads: int | None = None,
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
        self.n_threads = n_threads

    # ------------------------------------------------------------------ pieces
    def _penalty(self):
        if self.l1_ratio == 0:
            return get_penalty("l2", alpha=self.alpha)
        if self.l1_ratio == 1:
            return get_penalty("l1", alpha=self.alpha)
        return get_penalty("elastic_net", alpha=self.alpha, l1_ratio=self.l1_ratio)

    def _solve(self, X, y, sample_weight, offset, loss, coef0, what=""):
        """``(objective, SolverResult)`` of one fit; warns when it did not converge."""
        loss.check_target(y)
        objective = GLMObjective(
            loss, self._penalty(), X, y, sample_weight, self.fit_intercept, offset, self.n_threads
        )
        if coef0 is not None and coef0.size != objective.n_coef:
            coef0 = None
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
                f"{type(self).__name__}{what} did not converge: {result.message}",
                ConvergenceWarning,
                stacklevel=4,
            )
        return objective, result

    def _weights(self, sample_weight, X) -> np.ndarray:
        """``sample_weight`` checked: finite and ``≥ 0`` (frequency weights)."""
        s = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if np.any(s < 0):
            i = int(np.flatnonzero(s < 0)[0])
            raise ValueError(
                f"{type(self).__name__}.fit: sample_weight must be >= 0; got "
                f"sample_weight[{i}] = {float(s[i])!r} ({int(np.sum(s < 0))} negative)"
            )
        if not s.sum() > 0:
            raise ValueError(
                f"{type(self).__name__}.fit: sample_weight must have a positive sum; "
                f"got sum {s.sum()!r}"
            )
        return s

    def _fit(self, X, y, sample_weight, offset, loss):
        sample_weight = self._weights(sample_weight, X)
        if offset is not None:
            offset = np.asarray(offset, dtype=np.float64)
        coef0 = self._pack() if self.warm_start and hasattr(self, "coef_") else None
        objective, result = self._solve(X, y, sample_weight, offset, loss, coef0)
        w, b = objective.unpack(result.coef)
        self.coef_ = np.asarray(w, dtype=np.float64)
        self.intercept_ = b if np.ndim(b) else float(b)
        self.n_iter_ = int(result.n_iter)
        self.converged_ = bool(result.converged)
        self.objective_ = float(result.objective)
        self.kkt_ = float(result.kkt)
        self.solver_ = result.solver
        if result.converged:
            self._inference(objective, result.coef, loss)
        else:
            # Standard errors at a point that is not the optimum would look valid
            # and are not: none are reported (coef_table says why).
            self._clear_inference(f"no inference: the fit did not converge ({result.message})")
        check_separation(self, objective)
        return self

    def _pack(self) -> np.ndarray:
        """The fitted ``coef_`` then ``intercept_`` as one vector (a warm start)."""
        parts = [np.ravel(self.coef_)]
        if self.fit_intercept:
            parts.append(np.atleast_1d(self.intercept_))
        return np.concatenate(parts)

    def _clear_inference(self, note: str | None) -> None:
        """Forget an earlier fit's inference; ``note`` says why there is none."""
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
        self._inference_note = note

    def _inference(self, objective, coef, loss) -> None:
        """Covariance and likelihood statistics where they are defined."""
        self._clear_inference(None)
        if loss.name == "multinomial":
            self._multinomial_inference(objective, coef, loss)
            return
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

    def _multinomial_inference(self, objective, coef, loss) -> None:
        """Standard errors of the contrasts to the first class (Stata's ``mlogit``)."""
        plain = (
            not getattr(loss, "label_smoothing", 0) and getattr(loss, "class_weight", None) is None
        )
        if self.alpha > 0 or not plain:
            self._inference_note = (
                "multinomial inference is defined for unpenalised fits of the plain "
                "likelihood only (alpha = 0, no label smoothing or class weights)"
            )
            return
        if objective.n_coef > _MAX_INFERENCE_COEF:
            self._inference_note = (
                f"inference skipped: {objective.n_coef} coefficients > {_MAX_INFERENCE_COEF}"
            )
            return
        try:
            inf = multinomial_inference(
                objective.X,
                objective.y,
                objective.raw_score(coef),
                objective.sample_weight,
                fit_intercept=self.fit_intercept,
            )
        except np.linalg.LinAlgError as err:
            self._inference_note = f"inference not available: {err}"
            return
        self.covariance_matrix_ = inf.covariance
        self.std_errors_ = inf.std_errors
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

        names = list(
            getattr(self, "feature_names_in_", [f"x{j}" for j in range(self.n_features_in_)])
        )
        if self.fit_intercept:
            names.append("intercept")
        if np.ndim(self.coef_) == 2:
            # Multinomial: the identified contrasts to the first class, as Stata's
            # mlogit reports them (rows "class:feature").
            W = np.column_stack(
                [self.coef_] + ([np.atleast_1d(self.intercept_)] if self.fit_intercept else [])
            )
            contrasts = (W[1:] - W[0]).ravel()
            labels = [
                f"{c}-{self.classes_[0]}:{f}" for c in self.classes_[1:].tolist() for f in names
            ]
            table = coef_table_data(contrasts, np.ravel(self.std_errors_), level)
            return pd.DataFrame(table, index=labels)
        coef = np.concatenate(
            [np.ravel(self.coef_)]
            + ([np.atleast_1d(self.intercept_)] if self.fit_intercept else [])
        )
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
        Relative: stop when the relative KKT residual ``kkt_`` is ≤ tol — the
        max-norm of the minimum-norm subgradient of the objective, each entry
        divided by its column's root mean square and by the size of the
        per-sample gradient (at least 1), so that it does not depend on the units
        of ``X`` (see ``docs/glm-inference.md``).
    warm_start : bool, default False
    verbose : int, default 0
    n_threads : int, optional
        Threads for every loss evaluation of the fit (``None``: the library's
        default, see :mod:`lossmath`).

    Attributes
    ----------
    coef_, intercept_, n_iter_, converged_, objective_, kkt_, solver_
        The fit and how it was reached.
    covariance_matrix_, std_errors_, scale_, deviance_, log_likelihood_, aic_, bic_
        For converged unpenalised and ridge fits of a likelihood loss
        (statsmodels' numbers; conventions in ``docs/glm-inference.md``).

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

    Binary problems use ``loss`` (default ``"logistic"``). With more than two
    classes a ``"logistic"`` loss becomes the ``"multinomial"`` one, and the other
    binary losses (``"hinge"``, ``"squared_hinge"``, ``"exponential"``,
    ``"focal"``) are fitted one-vs-rest: ``K`` binary problems, class ``k``
    against the rest, stacked in ``coef_`` ``(K, p)``; ``predict`` takes the
    largest score.

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
        n_threads: int | None = None,
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
            n_threads=n_threads,
        )

    def _get_loss(self, n_classes: int) -> Loss:
        """The loss fitted: binary as given; the multinomial for a logistic loss
        with more than two classes (a binary loss then runs one-vs-rest)."""
        loss = get_loss(self.loss) if isinstance(self.loss, str) else self.loss
        if n_classes > 2 and loss.name == "logistic":
            return get_loss("multinomial", n_classes=n_classes)
        if loss.name == "multinomial":
            return type(loss)(loss.label_smoothing, loss.class_weight, n_classes)
        return loss

    def _one_vs_rest(self, n_classes: int) -> bool:
        return n_classes > 2 and self._get_loss(n_classes).n_outputs == 1

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
        if self._one_vs_rest(self.classes_.size):
            return self._fit_one_vs_rest(X, y_enc, sample_weight, offset)
        return self._fit(X, y_enc, sample_weight, offset, self._get_loss(self.classes_.size))

    def _fit_one_vs_rest(self, X, y, sample_weight, offset):
        """``K`` binary fits, class ``k`` (1) against the rest (0), for a binary loss.

        Each minimises docs/contract.md §6's objective on its own; ``coef_`` stacks them
        ``(K, p)``, ``objective_`` is their sum, ``n_iter_`` / ``kkt_`` the worst and
        ``converged_`` whether all did. ``offset`` is ``(n,)`` or ``(n, K)``.
        """
        k = self.classes_.size
        loss = self._get_loss(k)
        sample_weight = self._weights(sample_weight, X)
        if offset is not None:
            offset = np.asarray(offset, dtype=np.float64)
            if offset.shape not in ((X.shape[0],), (X.shape[0], k)):
                raise ValueError(
                    f"GLMClassifier: offset must have shape ({X.shape[0]},) or "
                    f"({X.shape[0]}, {k}) for {k} classes; got {offset.shape}"
                )
        warm = None
        if self.warm_start and getattr(self, "coef_", np.empty(0)).shape == (k, X.shape[1]):
            warm = np.column_stack([self.coef_, self.intercept_])
        fits = []
        for c in range(k):
            off = offset[:, c] if offset is not None and offset.ndim == 2 else offset
            coef0 = None
            if warm is not None:
                coef0 = warm[c] if self.fit_intercept else warm[c, :-1]
            target = (y == c).astype(np.float64)
            label = self.classes_[c : c + 1].tolist()[0]  # a Python scalar for the message
            what = f" (class {label!r} against the rest)"
            fits.append(self._solve(X, target, sample_weight, off, loss, coef0, what))
        parts = [objective.unpack(result.coef) for objective, result in fits]
        results = [result for _, result in fits]
        self.coef_ = np.vstack([np.asarray(w, dtype=np.float64) for w, _ in parts])
        self.intercept_ = np.array([float(b) for _, b in parts])
        self.n_iter_ = max(r.n_iter for r in results)
        self.converged_ = all(r.converged for r in results)
        self.objective_ = float(sum(r.objective for r in results))
        self.kkt_ = max(float(r.kkt) for r in results)
        self.solver_ = results[0].solver
        self._clear_inference("inference is not defined for one-vs-rest fits")
        found = [check_separation(self, o, f" (class {c!r} against the rest)")
                 for c, (o, _) in zip(self.classes_.tolist(), fits, strict=True)]  # fmt: skip
        self.separated_ = any(found)
        return self

    def decision_function(self, X, offset=None):
        """Raw scores ``z = X w + b (+ offset)``: ``(n,)``, or ``(n, K)`` for multiclass."""
        return self._raw_score(X, offset)

    def _has_proba(self) -> bool:
        loss = self._get_loss(len(getattr(self, "classes_", [0, 1])))
        return loss.link.name in ("logit", "half_logit", "softmax")

    @available_if(_has_proba)
    def predict_proba(self, X, offset=None):
        """Class probabilities, shape ``(n, n_classes)``.

        One-vs-rest: each class's binary probability, the rows normalised to sum
        to one (as scikit-learn's ``OneVsRestClassifier``).
        """
        z = self.decision_function(X, offset)
        loss = self._get_loss(self.classes_.size)
        if self._one_vs_rest(self.classes_.size):
            p = np.column_stack([np.asarray(loss.predict(z[:, c])) for c in range(z.shape[1])])
            return p / p.sum(axis=1, keepdims=True)
        p = np.asarray(loss.predict(z))
        return p if p.ndim == 2 else np.column_stack([1 - p, p])

    def predict(self, X, offset=None):
        """The most probable class (binary: ``z > 0``, the decision boundary of every loss)."""
        z = self.decision_function(X, offset)
        idx = np.argmax(z, axis=1) if z.ndim == 2 else (z > 0).astype(int)
        return self.classes_[idx]
