r"""What a loss declares about itself for the code around it (solvers, boosting
adapters, the derivative checker, inference, the CLI, the tests).

Each consumer reads one of these declarations instead of keeping a table of loss
names, so a new loss is known everywhere by what it says of itself:

``task``
    ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"counts"`` (counts and
    positive amounts with the log link): what a ``y`` means and which estimator
    (regressor or classifier) fits the loss.
``distribution``
    The likelihood whose negative log the loss is (``None`` if it is none):
    inference (standard errors, deviance, AIC) is available for the families it
    knows by this name.
:meth:`~LossCapabilities.kinks`
    The raw scores ``z`` where ``z ↦ ℓ(y, z)`` is not twice continuously
    differentiable, as functions of ``y``: finite differences stay away from
    them, and the exact solver of a piecewise-linear loss solves at them.
:attr:`~LossCapabilities.curvature`
    A :class:`Curvature`: whether the exact Hessian is positive semi-definite,
    positive, vanishes faster than the gradient, and whether the Fisher
    weight can be zero — what picks a boosting curvature policy.
:meth:`~LossCapabilities.example_targets` and :meth:`~LossCapabilities.example_scores`
    Valid example data for tests and checks, drawn from a NumPy ``Generator``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

__all__ = ["TASKS", "Curvature", "LossCapabilities"]

#: The tasks a loss can declare.
TASKS = ("regression", "binary", "multiclass", "counts")


@dataclass(frozen=True)
class Curvature:
    """Curvature properties of a loss, for every valid ``y`` and finite ``z``.

    Attributes
    ----------
    psd : bool
        The exact Hessian ``∂²ℓ/∂z²`` is positive semi-definite (the loss is convex).
    positive : bool
        The exact Hessian's diagonal is ``> 0`` (convex and C² with no flat part).
    vanishing : bool
        The exact Hessian tends to 0 faster than the gradient, so the Newton
        step ``|g|/H`` is unbounded (robust losses for outliers, the logistic
        loss for misclassified samples, Gamma for small ``y``, Poisson for
        ``eᶻ ≪ y``).
    fisher_positive : bool
        :meth:`~lossmath.losses.Loss.fisher_diagonal` is ``> 0`` everywhere
        (``False`` where it is the exact Hessian of a margin loss, zero beyond
        the margin).
    bound : float
        ``sup ∂²ℓ/∂z²`` (:attr:`~lossmath.losses.Loss.hessian_bound`; ``inf`` if
        unbounded, 0 for piecewise-linear losses).
    """

    psd: bool
    positive: bool
    vanishing: bool
    fisher_positive: bool
    bound: float

    @property
    def piecewise_linear(self) -> bool:
        """Whether the Hessian is 0 wherever it exists (``bound == 0``)."""
        return self.bound == 0


class LossCapabilities:
    """Declarations every loss makes (defaults here; a loss overrides what differs).

    A subclass sets the class attributes ``task``, ``distribution`` and, where
    they differ from the defaults, ``_hessian_vanishes`` and ``_fisher_vanishes``;
    a non-smooth loss overrides :meth:`_kinks`.
    """

    #: Set by ``@register(name)``; an unregistered subclass is named after its class.
    name: ClassVar[str]
    #: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"counts"``.
    task: ClassVar[str] = "regression"
    #: The likelihood whose negative log this loss is (up to constants in ``y``).
    distribution: ClassVar[str | None] = None
    #: ``|g|/H`` is unbounded: the Hessian vanishes faster than the gradient (:class:`Curvature`).
    _hessian_vanishes: ClassVar[bool] = False
    #: The Fisher weight is zero somewhere (see :class:`Curvature`).
    _fisher_vanishes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A subclass that is never registered (a user's own loss) still has a name
        # for its messages; ``register`` replaces it with the registered one.
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        if cls.task not in TASKS:
            raise TypeError(f"{cls.__name__}: task must be one of {TASKS}; got {cls.task!r}")

    # ------------------------------------------------------------------ kinks
    def kinks(self, y: Any) -> tuple:
        """Raw scores where ``z ↦ ℓ(y, z)`` is not C², as functions of ``y``.

        Parameters
        ----------
        y : float or ndarray
            Targets (scalar losses).

        Returns
        -------
        tuple
            One entry (float or array shaped like ``y``) per kink; empty for a
            smooth loss. Absolute error: ``(y,)``; Huber: ``(y − δ, y + δ)``;
            hinge: ``(2y − 1,)``.
        """
        return tuple(self._kinks(y))

    def _kinks(self, y: Any) -> tuple:
        return ()

    # -------------------------------------------------------------- curvature
    @property
    def curvature(self) -> Curvature:
        """The loss's :class:`Curvature` (what picks a boosting curvature policy)."""
        convex = bool(self.is_convex)
        return Curvature(
            psd=convex,
            positive=convex and bool(self.is_smooth) and float(self.hessian_bound) > 0,
            vanishing=bool(self._hessian_vanishes),
            fisher_positive=not self._fisher_vanishes,
            bound=float(self.hessian_bound),
        )

    # ---------------------------------------------------------- example data
    def example_targets(self, rng: np.random.Generator, n: int, dtype: Any = None) -> np.ndarray:
        """``n`` valid targets mixing the typical values of the loss's domain.

        Parameters
        ----------
        rng : numpy.random.Generator
        n : int
        dtype : dtype, optional
            Default float64 (multiclass: int64 labels).

        Returns
        -------
        ndarray of shape (n,)
            Binary labels; soft and hard labels in ``[0, 1]``; non-negative
            counts and lognormal amounts (strictly positive where 0 is not in the
            domain); otherwise normal values of scale 3.
        """
        dtype = np.float64 if dtype is None else dtype
        dom = self.y_interval
        if dom.binary:
            return rng.integers(0, 2, n).astype(dtype)
        if dom.low == 0 and dom.high == 1:
            y = rng.uniform(0, 1, n)
            y[: n // 2] = rng.integers(0, 2, n // 2)
            return y.astype(dtype)
        if dom.low == 0 and math.isinf(dom.high):
            y = rng.lognormal(0, 1.5, n)
            y[: n // 3] = rng.poisson(3.0, n // 3)
            if not dom.low_inclusive:
                y[y == 0] = 0.5
            return y.astype(dtype)
        if not (math.isinf(dom.low) and math.isinf(dom.high)):
            raise NotImplementedError(
                f"{self.name}: example_targets has no default for targets in {dom}; override it"
            )
        return rng.normal(0, 3, n).astype(dtype)

    #: Hyper-parameter cases the checks and tests run (``{}``: the defaults).
    example_params: ClassVar[tuple[dict, ...]] = ({},)

    #: Number of classes of the example data where the loss does not fix it.
    _example_classes: ClassVar[int] = 4

    def example_scores(
        self, rng: np.random.Generator, n: int, dtype: Any = np.float64, scale: float = 2.0
    ) -> np.ndarray:
        """``n`` raw scores ``N(0, scale²)``: shape ``(n,)``, or ``(n, K)`` for K outputs.

        ``K`` is :attr:`n_outputs`, or that of :meth:`example_targets` where the
        loss takes it from the data.
        """
        k = self.n_outputs
        if k is None:
            k = self._example_classes
        shape = (n,) if k == 1 else (n, k)
        return rng.normal(0, scale, shape).astype(dtype)
