r"""The curvature ``h`` a second-order booster gets for a loss.

A booster sets each leaf to the Newton step ``−Σg / (Σh + λ)``, so ``h`` must be
positive, and where the exact Hessian is positive but tends to 0 while the
gradient does not (an outlier under a robust loss) the step runs away. The policy
is decided from what the loss declares of its curvature
(:attr:`lossmath.losses.Loss.curvature`, a
:class:`~lossmath.losses._capabilities.Curvature`), never from its name, so a
new loss gets a safe policy from its declarations.

Policies
--------
``"exact"``
    ``H = ∂²ℓ/∂z²``. Allowed only where the loss declares ``curvature.positive``
    (convex and C², ``H > 0`` everywhere: squared error, logistic,
    pseudo-Huber, log-cosh, exponential, multinomial, Poisson, Gamma, Tweedie).
``"fisher"``
    The expected Hessian ``loss.fisher_diagonal`` (equal to ``H`` for canonical
    links). Refused where ``curvature.fisher_positive`` is false (hinge and
    squared hinge: the Fisher weight is the exact Hessian, zero on the correctly
    classified side of the margin).
``"surrogate"``
    A positive curvature chosen so that the Newton leaf step is safe:

    - bounded Hessian, ``B = curvature.bound`` with ``0 < B < ∞``: the constant
      ``B``. Then ``ℓ(z + δ) ≤ ℓ(z) + g δ + ½ B δ²`` for every ``δ``, so each
      leaf step minimises a majoriser and can never increase the training loss
      (majorisation–minimisation);
    - piecewise-linear losses (``B = 0``: absolute error, quantile, hinge): no
      quadratic majorises a kink, so the curvature is the constant 1 and the leaf
      value is the weighted mean of ``−g`` — Friedman's first-order gradient
      boosting, with the learning rate as the step size in units of ``z``;
    - unbounded Hessian (``B = ∞``: exponential, Poisson, Gamma, Tweedie): no
      constant bound exists; the (positive) Fisher weight is used.
``"auto"`` (default)
    Chosen in this order:

    1. canonical link (squared error, logistic, Poisson, multinomial):
       ``"exact"``, which equals the Fisher weight and is what the built-in
       objectives use;
    2. bounded curvature, ``0 < B < ∞`` (Huber, pseudo-Huber, log-cosh, squared
       hinge, focal, smoothed / class-weighted multinomial): ``"surrogate"``, the
       constant ``B``. The robust losses make this necessary, not just safe: for
       an outlier ``|g| → δ`` while the exact Hessian → 0 (pseudo-Huber
       ``(1 + r²/δ²)^{-3/2}``, log-cosh ``sech² r``), so a leaf of outliers gets
       a Newton step orders of magnitude too large and training diverges;
    3. ``curvature.positive`` and not ``curvature.vanishing`` (exponential,
       Tweedie): ``"exact"``;
    4. otherwise ``"fisher"`` where ``curvature.fisher_positive`` (Gamma → 1,
       Fisher scoring as in IRLS, because ``y e^{−z}`` → 0 for small ``y`` while
       ``g`` → 1; absolute error → 1; quantile → ``q(1 − q)``), else
       ``"surrogate"`` (hinge → 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["HESSIAN_POLICIES", "CurvaturePolicy", "resolve_hessian"]

#: The policies a caller may request (``"auto"`` resolves to one of the others).
HESSIAN_POLICIES = ("auto", "exact", "fisher", "surrogate")


@dataclass(frozen=True)
class CurvaturePolicy:
    """The curvature ``h > 0`` handed to a booster for one loss (see the module notes).

    Build it with :meth:`resolve`; it is what every boosting adapter of
    :mod:`lossmath.integrations` uses.

    Attributes
    ----------
    kind : {"exact", "fisher", "surrogate"}
        The resolved policy.
    constant : float or None
        The surrogate's constant curvature (``None``: the Fisher weight, for a
        surrogate of unbounded curvature, and for the other kinds).

    Examples
    --------
    >>> import lossmath
    >>> from lossmath.integrations import CurvaturePolicy
    >>> CurvaturePolicy.resolve(lossmath.get_loss("huber"))
    CurvaturePolicy(kind='surrogate', constant=1.0)
    >>> CurvaturePolicy.resolve(lossmath.get_loss("gamma")).kind
    'fisher'
    """

    kind: str
    constant: float | None = None

    @classmethod
    def resolve(cls, loss: Any, requested: str = "auto") -> CurvaturePolicy:
        """The policy used for ``loss`` when ``requested``; refuses unsafe requests.

        Parameters
        ----------
        loss : Loss
            The loss; its ``curvature`` and ``canonical_link`` decide.
        requested : {"auto", "exact", "fisher", "surrogate"}, default "auto"

        Raises
        ------
        ValueError
            For an unknown policy, ``"exact"`` on a loss whose exact Hessian can
            be zero or negative, or ``"fisher"`` on a loss whose Fisher weight
            can be zero.
        """
        if not isinstance(requested, str) or requested not in HESSIAN_POLICIES:
            raise ValueError(
                f"{loss.name}: hessian must be one of {HESSIAN_POLICIES}; got {requested!r}"
            )
        curvature = loss.curvature
        kind = requested
        if kind == "auto":
            kind = _auto(loss, curvature)
        elif kind == "exact" and not curvature.positive:
            raise ValueError(
                f"{loss.name}: hessian='exact' is refused because the exact Hessian of this "
                "loss can be zero or negative (it is not convex and twice differentiable), "
                "which stalls or reverses tree growth; use hessian='fisher' or 'surrogate' "
                "(or 'auto')"
            )
        elif kind == "fisher" and not curvature.fisher_positive:
            raise ValueError(
                f"{loss.name}: hessian='fisher' is refused because this loss's Fisher weight "
                "is zero beyond the margin; use hessian='surrogate' (or 'auto')"
            )
        constant = None
        if kind == "surrogate" and not math.isinf(curvature.bound):
            constant = curvature.bound if curvature.bound > 0 else 1.0
        return cls(kind, constant)

    def gradient_hessian(
        self,
        loss: Any,
        y: Any,
        z: Any,
        sample_weight: Any = None,
        *,
        check_input: bool = True,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(g, h)`` with ``g = sᵢ ∂ℓ/∂z`` and this policy's ``h``, weights applied once.

        Parameters
        ----------
        loss : Loss
        y, z, sample_weight : array-like
            As for :meth:`~lossmath.losses.Loss.gradient`.
        check_input : bool, default True
        n_threads : int, optional
            Threads of the loss's methods (all available CPUs by default).
        """
        kw = {"check_input": check_input, "n_threads": n_threads}
        if self.kind == "exact":
            return loss.gradient_hessian(y, z, sample_weight, **kw)
        g = loss.gradient(y, z, sample_weight, **kw)
        if self.constant is None:
            h = loss.fisher_diagonal(y, z, sample_weight, check_input=False, n_threads=n_threads)
            return g, h
        w = 1.0
        if sample_weight is not None:
            w = np.asarray(sample_weight).astype(g.dtype, copy=False)
            if g.ndim == 2:
                w = w[:, None]
        # A real, writable array: the libraries hand it to C as a buffer.
        h = np.empty_like(g)
        h[...] = self.constant * w
        return g, h


def _auto(loss: Any, curvature: Any) -> str:
    if loss.canonical_link:
        return "exact"
    if 0 < curvature.bound < math.inf:
        return "surrogate"
    if curvature.positive and not curvature.vanishing:
        return "exact"
    return "fisher" if curvature.fisher_positive else "surrogate"


def resolve_hessian(loss: Any, hessian: str) -> str:
    """``CurvaturePolicy.resolve(loss, hessian).kind``: ``"exact"``, ``"fisher"`` or
    ``"surrogate"``; raises ``ValueError`` for an unsafe request (see
    :meth:`CurvaturePolicy.resolve`)."""
    return CurvaturePolicy.resolve(loss, hessian).kind
