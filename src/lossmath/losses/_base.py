"""The loss contract (docs/contract.md §4): one base class, one kernel per loss.

Design note
-----------
Each loss implements a single private kernel ``_kernel(xp, y, z, value, gradient,
hessian)`` that computes the shared intermediates once (``e^{-|z|}``, ``σ(z)``,
the residual, ...) and returns the requested subset of the per-sample value, the
gradient ``g = ∂ℓ/∂z`` and the Hessian diagonal ``H = ∂²ℓ/∂z²``. Every public
method — separate or fused — goes through that kernel, so there is ONE source of
truth per formula: the fused methods agree with the separate ones bit for bit and
accuracy cannot drift between code paths. The link is merged into the loss (the
formulas are in the raw score ``z``, never in the probability ``ŷ``) because that
is what keeps them finite and accurate at extreme scores.

This module is the contract only: what a loss declares (its kernel, target
domain, shapes, properties) and what its methods promise (their docstrings).
How a method is evaluated — inputs to one normalised batch, the route, the
compiled loops, the threads — is the engine's (:mod:`lossmath.engine`; see
``docs/architecture.md``). Validation (shapes, dtypes, finiteness, target domain)
happens once per call there; ``check_input=False`` skips the per-element checks
for hot loops.

Precision: NumPy float32 (and float16) inputs are evaluated in float64 and the
results rounded once to the input's dtype, as scikit-learn's compiled losses do;
every float32 result is then within about half an ulp of the exact one. Other
array namespaces (PyTorch, JAX, CuPy) evaluate natively, where float64 may be slow
or absent on the device; the formulas are stable in float32 as well.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from lossmath._array import get_namespace, numpy_errstate
from lossmath._validation import Interval, check_finite, to_float
from lossmath.engine import batch, methods, overflow
from lossmath.engine.methods import MethodSpec, public_method
from lossmath.engine.requests import Request
from lossmath.losses._capabilities import LossCapabilities
from lossmath.losses._sampling import Sampling

__all__ = ["Loss", "ScalarLoss"]

_PARAMETERS = """
    Parameters
    ----------
    y : array-like
        Targets, shape ``(n,)`` (multiclass: labels ``(n,)`` or rows ``(n, K)``).
        NumPy arrays, lists, pandas Series / DataFrames, PyTorch, JAX or CuPy arrays.
    z : array-like
        Raw scores, shape ``(n,)`` (multiclass: ``(n, K)``).
    sample_weight : array-like of shape (n,), optional
        Non-negative weights ``sᵢ`` multiplying each sample's results; a sample of
        weight 0 contributes exactly 0, also where its loss overflows.
    check_input : bool, default True
        Check finiteness and the target's domain; ``False`` skips the checks.
    out : array, optional
        Buffer to write the result into (a tuple of buffers, ``None`` entries
        allowed, for the fused methods).
    n_threads : int, optional
        Threads evaluating a large NumPy input (all available CPUs by default).
        The results do not depend on it, bit for bit; small inputs and other
        array namespaces are evaluated in the calling thread.

    Raises
    ------
    ValueError
        For invalid input (see the loss contract) or ``n_threads`` not a
        positive integer.
    TypeError
        For an argument that is not an array of numbers, or arrays of
        different libraries.
"""


def _spec(name: str, names: tuple, summary: str, kind: str = "kernel") -> MethodSpec:
    flags = tuple(n in names for n in ("value", "gradient", "hessian_diagonal"))
    return MethodSpec(name, Request(names, kind, flags), summary + "\n" + _PARAMETERS)


#: The public methods computed by the engine: name, results, docstring. Each row
#: becomes one method of :class:`Loss` (``lossmath.engine.methods.public_method``).
METHODS = {
    spec.name: spec
    for spec in (
        _spec("value", ("value",), "Per-sample losses ``sᵢ ℓ(yᵢ, zᵢ)``, shape ``(n,)``."),
        _spec("gradient", ("gradient",), "``g = sᵢ ∂ℓ/∂z``, same shape as ``z``."),
        _spec(
            "hessian_diagonal",
            ("hessian_diagonal",),
            "Diagonal of ``sᵢ ∂²ℓ/∂z²``, same shape as ``z``.",
        ),
        _spec(
            "value_gradient",
            ("value", "gradient"),
            "``(value, gradient)`` in one pass, equal bit for bit to the separate calls.\n\n"
            "    ``out`` is a tuple of two buffers.",
        ),
        _spec(
            "gradient_hessian",
            ("gradient", "hessian_diagonal"),
            "``(gradient, hessian_diagonal)`` in one pass — what boosting needs.\n\n"
            "    ``out`` is a tuple of two buffers.",
        ),
        _spec(
            "value_gradient_hessian",
            ("value", "gradient", "hessian_diagonal"),
            "``(value, gradient, hessian_diagonal)`` in one pass.\n\n"
            "    ``out`` is a tuple of three buffers.",
        ),
        _spec(
            "hessian_vector_product",
            ("hessian_vector_product",),
            "``H v`` per sample, same shape as ``z``.\n\n"
            "    ``v`` (after ``z``) has the shape of ``z`` and must be finite with\n"
            "    ``check_input``.",
            kind="hvp",
        ),
        _spec(
            "fisher_diagonal",
            ("fisher_diagonal",),
            "Expected Hessian (Fisher weight) ``≥ 0``, same shape as ``z``.\n\n"
            "    Equal to the exact Hessian for canonical links; what Newton/IRLS and\n"
            "    boosting consume where the exact Hessian can be zero or negative. Each\n"
            "    loss documents its choice.",
            kind="fisher",
        ),
    )
}


class Loss(Sampling, LossCapabilities, ABC):
    """Base class of every loss ``ℓ(y, z)`` with exact first and second derivatives.

    Subclasses are immutable (frozen dataclasses): hyper-parameters are set in
    ``__init__`` and never change. What a loss declares about itself (task,
    kinks, curvature, example targets) is defined by ``LossCapabilities``
    (``lossmath.losses._capabilities``).
    """

    name: ClassVar[str]
    #: The likelihood whose negative log this loss is (up to constants in ``y``).
    distribution: ClassVar[str | None] = None
    #: Domain of the target ``y``.
    y_interval: ClassVar[Interval] = Interval()

    # ----------------------------------------------------------------- properties
    # Each loss sets these class attributes; a property is overridden only where a
    # hyper-parameter decides (focal's γ, multinomial's class weights).
    _link: ClassVar[Any]
    _convex: ClassVar[bool]
    _smooth: ClassVar[bool]
    _canonical: ClassVar[bool] = False
    _hessian_bound: ClassVar[float]
    #: Whether a compiled per-sample loop exists (``lossmath.engine.compiled``): the kernel
    #: itself for scalar losses, a row loop around its parts for the softmax.
    _compilable: ClassVar[bool] = False

    def __getstate__(self) -> dict:
        # Pickles and copies hold the hyper-parameters only, not what this process
        # made of them (the compiled loops' arguments, kept by the engine).
        state = dict(self.__dict__)
        state.pop("_jit_arguments_", None)
        return state

    @property
    def link(self) -> Any:
        """The :class:`~lossmath.links.Link` mapping ``z`` to ``ŷ``."""
        return self._link

    @property
    def n_outputs(self) -> int | None:
        """Number of raw scores per sample (``z.shape[1]``; 1 for scalar losses)."""
        return 1

    @property
    def is_convex(self) -> bool:
        """Whether ``z ↦ ℓ(y, z)`` is convex for every valid ``y``."""
        return self._convex

    @property
    def is_smooth(self) -> bool:
        """Whether ``ℓ`` is twice continuously differentiable in ``z`` (C²)."""
        return self._smooth

    @property
    def canonical_link(self) -> bool:
        """Whether the link is canonical for the loss, i.e. ``g = ŷ − y``."""
        return self._canonical

    @property
    def hessian_bound(self) -> float:
        """``sup ∂²ℓ/∂z²`` over all valid ``y`` and ``z`` (``inf`` if unbounded)."""
        return self._hessian_bound

    # ------------------------------------------------------------- to implement
    @abstractmethod
    def _kernel(self, xp: Any, y: Any, z: Any, value: bool, gradient: bool, hessian: bool):
        """Return ``(value, gradient, hessian_diagonal)``, ``None`` where not asked."""

    def _fisher(self, xp: Any, y: Any, z: Any) -> Any:
        """Unweighted expected Hessian; the exact one for canonical links."""
        return self._kernel(xp, y, z, False, False, True)[2]

    def _fisher_is_hessian(self) -> bool:
        """Whether :meth:`_fisher` is the exact Hessian (then computed by its route)."""
        return type(self)._fisher is Loss._fisher or self.canonical_link

    def _hvp(self, xp: Any, y: Any, z: Any, v: Any) -> Any:
        """Unweighted ``H v`` per sample; the Hessian is diagonal for scalar losses.

        ``v = 0`` gives 0, also where ``H`` overflows (``inf · 0`` would be NaN).
        """
        hv = self._kernel(xp, y, z, False, False, True)[2] * v
        return xp.where((v == 0) & xp.isnan(hv), xp.zeros_like(hv), hv)

    @abstractmethod
    def _validate_y(
        self, xp: Any, y: Any, z: Any, check_input: bool, keep_labels: bool = False
    ) -> Any:
        """``y`` converted and checked against ``z`` (shape) and the domain.

        ``keep_labels``: class labels stay labels (the compiled softmax loop
        builds each row's targets itself) instead of becoming one-hot rows.
        """

    @abstractmethod
    def _check_z_shape(self, z: Any) -> None:
        """Raise ``ValueError`` unless ``z`` has this loss's shape."""

    @abstractmethod
    def baseline(self, y: Any, sample_weight: Any = None) -> Any:
        """The constant raw score minimising the weighted mean loss."""

    # ------------------------------------------------------------ validation
    def _validate(self, y, z, sample_weight, check_input, xp=None, keep_labels=False):
        """``(xp, y, z, sample_weight, result dtype)``, in the dtype of the computation
        (:func:`lossmath.engine.batch.validate`)."""
        return batch.validate(self, y, z, sample_weight, check_input, xp, keep_labels)

    @staticmethod
    def _apply_weight(xp: Any, w: Any, a: Any, dtype: Any = None) -> Any:
        """``a`` times the per-sample weights ``w``, rounded to ``dtype`` once
        (:func:`lossmath.engine.batch.apply_weight`)."""
        return batch.apply_weight(xp, w, a, dtype)

    def check_target(self, y: Any) -> None:
        """Raise ``ValueError`` naming this loss and the bad values unless ``y`` is valid.

        Parameters
        ----------
        y : array-like
            Targets.
        """
        xp = get_namespace(y)
        y = to_float(self.name, "y", xp, y)
        check_finite(self.name, "y", xp, y)
        self.y_interval.check(self.name, "y", xp, y)

    # ------------------------------------------------------------- the contract
    # The methods of the table ``METHODS``, evaluated by the engine (lossmath.engine).
    value = public_method(METHODS["value"])
    gradient = public_method(METHODS["gradient"])
    hessian_diagonal = public_method(METHODS["hessian_diagonal"])
    value_gradient = public_method(METHODS["value_gradient"])
    gradient_hessian = public_method(METHODS["gradient_hessian"])
    value_gradient_hessian = public_method(METHODS["value_gradient_hessian"])
    hessian_vector_product = public_method(METHODS["hessian_vector_product"])
    fisher_diagonal = public_method(METHODS["fisher_diagonal"])

    def hessian(self, y, z, sample_weight=None, *, check_input=True, n_threads=None):
        """Exact Hessian ``sᵢ ∂²ℓ/∂z²``: ``(n,)``, or ``(n, K, K)`` for multiclass.

        It may be zero or negative (absolute error, quantile, focal); optimisers
        that need a positive weight use :meth:`fisher_diagonal`. Parameters as
        :meth:`value`.
        """
        return self.hessian_diagonal(
            y, z, sample_weight, check_input=check_input, n_threads=n_threads
        )

    def sqrt_hessian(self, y, z, sample_weight=None, *, check_input=True, n_threads=None):
        """``S`` with ``H = S Sᵀ`` per sample: ``√H`` for scalar losses.

        Parameters as :meth:`value`.

        Raises
        ------
        NotImplementedError
            For a loss whose Hessian can be negative (no real square root).
        """
        self._require_psd()
        y, z, sample_weight, _ = batch.arrays(self.name, "sqrt_hessian", y, z, sample_weight, None)
        root = self._root_hessian(y, z, check_input, n_threads)
        w = None
        if sample_weight is not None:
            xp = get_namespace(root)
            # √sᵢ · √H rather than √(sᵢ H): finite wherever the result is, though sᵢ H
            # may overflow; a sample of weight 0 gives exactly 0.
            w = batch.weights(self.name, xp, sample_weight, root.shape[0], root.dtype, check_input)
            with numpy_errstate():
                root = xp.where(w == 0, xp.zeros_like(root), root * xp.sqrt(w))
        # √H is inf where H overflows, though √H (or √(sᵢ H)) may be finite
        # (engine.overflow recomputes those entries).
        return overflow.repair(self, ("sqrt_hessian",), y, z, w, None, (root,))[0]

    def _root_hessian(self, y: Any, z: Any, check_input: bool, n_threads: Any) -> Any:
        """Unweighted ``√H`` per sample (a loss with a form that overflows later
        overrides it)."""
        h = self.hessian_diagonal(y, z, check_input=check_input, n_threads=n_threads)
        return get_namespace(h).sqrt(h)

    def _require_psd(self) -> None:
        if not self.is_convex:
            raise NotImplementedError(
                f"{self.name}: sqrt_hessian needs a positive semi-definite Hessian, "
                f"but this loss's Hessian can be negative ({self!r})"
            )

    def predict(self, z, *, n_threads=None):
        """``ŷ = link.inverse(z)``; a large NumPy ``z`` in row blocks on ``n_threads``."""
        return methods.blockwise(self.link.inverse, z, n_threads, self.name)

    def __call__(self, y, z, sample_weight=None, *, check_input=True, n_threads=None):
        """Weighted mean loss ``Σ sᵢ ℓᵢ / Σ sᵢ``, a 0-d array of ``z``'s dtype.

        Parameters as :meth:`value`. It is finite, or the correctly signed
        infinity where a sample's loss overflows (a sample of weight 0 counts 0).

        Raises
        ------
        ValueError
            For invalid or empty input, or weights summing to 0.
        """
        return methods.weighted_mean(self, y, z, sample_weight, check_input, n_threads)


class ScalarLoss(Loss):
    """A loss of one raw score per sample: ``y`` and ``z`` of shape ``(n,)``."""

    _compilable = True

    def _check_z_shape(self, z: Any) -> None:
        if z.ndim != 1:
            raise ValueError(
                f"{self.name}: z must be a 1-D array of shape (n_samples,); "
                f"got shape {tuple(z.shape)}"
            )

    def _validate_y(self, xp, y, z, check_input, keep_labels=False):
        y = to_float(self.name, "y", xp, y, z.dtype)
        if tuple(y.shape) != tuple(z.shape):
            raise ValueError(
                f"{self.name}: y must have the shape of z, {tuple(z.shape)}; "
                f"got shape {tuple(y.shape)}"
            )
        if check_input:
            check_finite(self.name, "y", xp, y)
            self.y_interval.check(self.name, "y", xp, y)
        return y

    def _baseline_input(self, y, sample_weight):
        """``y`` and weights as float64 NumPy arrays, checked, for :meth:`baseline`."""
        import numpy as np

        y = batch.array_like(self.name, "baseline", "y", y)
        y = np.asarray(to_float(self.name, "y", get_namespace(y), y), dtype=np.float64)
        if y.ndim != 1 or y.shape[0] == 0:
            raise ValueError(f"{self.name}: y must be a non-empty 1-D array; got shape {y.shape}")
        self.check_target(y)
        if sample_weight is None:
            w = np.ones_like(y)
        else:
            w = batch.array_like(self.name, "baseline", "sample_weight", sample_weight)
            w = np.asarray(batch.weights(self.name, np, w, y.shape[0], np.float64, True))
            if not w.max() > 0:  # the sum may overflow; non-negative: the same test
                raise ValueError(f"{self.name}: sample_weight must have a positive sum")
        return y, w
