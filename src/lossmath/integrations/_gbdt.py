r"""What the three boosting adapters share: curvature policy, validation, weights.

Design note
-----------
A second-order booster (XGBoost, LightGBM, CatBoost) grows each tree from the
per-sample gradient ``gᵢ = sᵢ ∂ℓ/∂z`` and a curvature ``hᵢ > 0`` and sets a
leaf to the Newton step

.. math::

    w^\star = -\frac{\sum_{i \in \text{leaf}} g_i}{\sum_{i \in \text{leaf}} h_i + λ}.

Everything that can go wrong with a hand-written objective is decided here,
once, so that the adapters only translate calling conventions:

* derivatives are taken w.r.t. the raw score ``z`` (the booster's margin),
  never w.r.t. the probability or mean ``ŷ``;
* the sample weights ``sᵢ`` multiply ``g`` and ``h`` exactly once (none of the
  three libraries applies them to a custom objective);
* ``h`` follows an explicit, documented policy (:class:`CurvaturePolicy`) and is
  never clipped: a loss whose exact Hessian is zero or negative somewhere gets
  a positive surrogate by design, or the request is refused before training;
* labels and shapes are checked the first time a training set is seen (an
  error before the first tree), then the per-round hot path runs with
  ``check_input=False``;
* the starting score is ``loss.baseline(y, sample_weight)``.

Curvature policies
------------------
:class:`~lossmath.integrations.CurvaturePolicy` (``lossmath.integrations._curvature``)
decides ``h`` from what the loss declares of its curvature
(:attr:`~lossmath.losses.Loss.curvature`), never from its name.

Built-in multiclass objectives inflate the diagonal softmax Hessian to account
for the coupling the diagonal ignores: XGBoost uses ``2 p (1 − p)`` and
LightGBM ``K/(K − 1) · p (1 − p)`` (Friedman et al. 2000). lossmath hands the
exact diagonal ``p (1 − p)``; the difference is a per-class rescaling of the
step, i.e. of the learning rate.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from lossmath.integrations._curvature import HESSIAN_POLICIES, CurvaturePolicy, resolve_hessian

__all__ = [
    "HESSIAN_POLICIES",
    "CurvaturePolicy",
    "GradientHessian",
    "import_library",
    "resolve_hessian",
    "resolve_loss",
    "starting_score",
    "weighted_mean_loss",
]


def import_library(module: str, extra: str) -> Any:
    """Import a boosting library on first use, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"lossmath.integrations.{extra} needs the {module!r} package; install it with "
            f"`pip install 'lossmath[{extra}]'`"
        ) from exc


def resolve_loss(loss: Any) -> Any:
    """A lossmath loss object from an instance or a registered name."""
    from lossmath.losses import Loss, get_loss

    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str):
        return get_loss(loss)
    raise TypeError(f"expected a lossmath loss or its name; got {type(loss).__name__}: {loss!r}")


def starting_score(loss: Any, y: Any, sample_weight: Any = None) -> float | np.ndarray:
    """``loss.baseline(y, sample_weight)``: a float, or a ``(K,)`` array (multinomial).

    Labels are validated first, so a bad label fails here, before training.
    """
    y = np.asarray(y)
    if loss.n_outputs == 1 and y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    loss.check_target(y)
    c = loss.baseline(y, sample_weight)
    return float(c) if np.ndim(c) == 0 else np.asarray(c, dtype=np.float64)


class GradientHessian:
    """``(g, h)`` of a loss for a booster: weighted once, with a positive curvature.

    Parameters
    ----------
    loss : Loss or str
        Any lossmath loss (or its registered name).
    hessian : {"auto", "exact", "fisher", "surrogate"}, default "auto"
        Curvature policy; see :class:`CurvaturePolicy`.
    library : str
        Name of the booster, for error messages.
    n_threads : int, optional
        Threads of the loss's methods (all available CPUs by default); the
        results do not depend on it.

    Notes
    -----
    The first call on a training set (and any call whose number of samples or
    data set differs from the last validated one) runs the loss with
    ``check_input=True``: labels outside the loss's domain, non-finite scores
    and a wrong number of raw scores per sample raise ``ValueError`` before the
    first tree is grown. Later rounds skip the per-element checks.
    """

    def __init__(
        self, loss: Any, hessian: str = "auto", *, library: str = "booster", n_threads=None
    ):
        self.loss = resolve_loss(loss)
        self.hessian = hessian
        #: The resolved :class:`CurvaturePolicy`.
        self.curvature = CurvaturePolicy.resolve(self.loss, hessian)
        #: Its kind: ``"exact"``, ``"fisher"`` or ``"surrogate"``.
        self.policy = self.curvature.kind
        self.library = library
        self.n_threads = n_threads
        self._validated: tuple | None = None
        #: Validate on every call (when the caller cannot identify the data set).
        self.always_check = False

    @property
    def multiclass(self) -> bool:
        return self.loss.n_outputs != 1

    def _check_shapes(self, z: np.ndarray) -> np.ndarray:
        if self.multiclass:
            if z.ndim != 2 or z.shape[1] < 2:
                raise ValueError(
                    f"{self.loss.name}: a multiclass objective needs K >= 2 raw scores per "
                    f"sample, but {self.library} passed scores of shape {z.shape}; configure "
                    f"a multiclass model ({_MULTICLASS_HINT.get(self.library, 'K outputs')})"
                )
            return z
        if z.ndim == 2 and z.shape[1] == 1:
            return z[:, 0]
        if z.ndim != 1:
            raise ValueError(
                f"{self.loss.name}: a single-output objective got raw scores of shape "
                f"{z.shape} from {self.library}; this loss has one score per sample, so the "
                "model must not be configured with several classes/outputs"
            )
        return z

    def __call__(self, y: Any, z: Any, sample_weight: Any = None, *, key: Any = None):
        """``(g, h)`` of the shape of ``z`` (``(n,)`` or ``(n, K)``), weights applied once.

        Parameters
        ----------
        y : array-like of shape (n,)
            Labels as the booster stores them.
        z : array-like of shape (n,) or (n, K)
            Raw scores (margins), including the starting score.
        sample_weight : array-like of shape (n,), optional
            ``None`` or an empty array for unit weights.
        key : hashable, optional
            Identifies the training set; a new key triggers validation. ``None``
            with ``always_check`` set validates on every call.
        """
        loss = self.loss
        z = self._check_shapes(np.asarray(z))
        y = np.asarray(y)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if sample_weight.size == 0:
                sample_weight = None
        stamp = (key, z.shape, sample_weight is None)
        check = self.always_check or self._validated != stamp
        g, h = self.curvature.gradient_hessian(
            loss, y, z, sample_weight, check_input=check, n_threads=self.n_threads
        )
        self._validated = stamp
        return g, h


_MULTICLASS_HINT = {
    "xgboost": "num_class=K in the parameters, or XGBClassifier on K classes",
    "lightgbm": "num_class=K in the parameters, or LGBMClassifier on K classes",
    "catboost": "CatBoostClassifier on K classes, or loss_function with classes_count=K",
}


def weighted_mean_loss(
    loss: Any, y: Any, z: Any, sample_weight: Any = None, *, n_threads: int | None = None
) -> float:
    """``Σ sᵢ ℓ(yᵢ, zᵢ) / Σ sᵢ`` as a float, for evaluation metrics.

    The per-sample losses are evaluated in float64 (as ``loss(y, z, w)`` does) by
    :meth:`~lossmath.losses.Loss.value` on ``n_threads`` threads.
    """
    z = np.asarray(z, dtype=np.float64)
    if loss.n_outputs == 1 and z.ndim == 2 and z.shape[1] == 1:
        z = z[:, 0]
    if sample_weight is not None and np.size(sample_weight) == 0:
        sample_weight = None
    v = loss.value(np.asarray(y), z, sample_weight, n_threads=n_threads)
    if sample_weight is None:
        return float(np.mean(v))
    total = float(np.sum(np.asarray(sample_weight, dtype=np.float64)))
    if not total > 0:
        raise ValueError(f"{loss.name}: sample_weight must have a positive sum; got {total}")
    return float(np.sum(v)) / total


def per_row(score: Any, n: int) -> np.ndarray:
    """A starting score repeated for ``n`` rows: ``(n,)``, or ``(n, K)`` for K scores."""
    if np.ndim(score):
        return np.tile(np.asarray(score, dtype=float), (n, 1))
    return np.full(n, float(score))
