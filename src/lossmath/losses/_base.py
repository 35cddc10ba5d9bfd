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

Validation (shapes, dtypes, finiteness, target domain) happens once per call in
``_validate``; ``check_input=False`` skips the per-element checks for hot loops.

Precision: NumPy float32 (and float16) inputs are evaluated in float64 and the
results rounded once to the input's dtype, as scikit-learn's compiled losses do;
every float32 result is then within about half an ulp of the exact one. Other
array namespaces (PyTorch, JAX, CuPy) evaluate natively, where float64 may be slow
or absent on the device; the formulas are stable in float32 as well.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from lossmath import _jit, _parallel
from lossmath._array import get_namespace, is_numpy, numpy_errstate
from lossmath._validation import Interval, check_finite, check_out, to_float
from lossmath.losses._capabilities import LossCapabilities

__all__ = ["Loss", "ScalarLoss"]

#: ``(type(loss), mode) -> (loop, output slots, check) | None``: ``Loss._one_block_plan``.
_one_block_plans: dict = {}


def _shares_memory(out: Any, arrays: tuple) -> bool:
    """Whether an ``out`` buffer may overlap an input: then blocks could read results."""
    if out is None:
        return False
    for b in out if isinstance(out, tuple | list) else (out,):
        if b is None:
            continue
        for a in arrays:
            if a is not None and np.may_share_memory(b, a):
                return True
    return False


def _sequences_as_arrays(owner: str, y: Any, z: Any, w: Any, v: Any) -> tuple:
    """Python sequences among ``(y, z, w, v)`` as NumPy arrays, converted as the
    validation converts them, so that a list takes the route — and gives the bits —
    of the array it holds. Left as they are next to another array type (PyTorch,
    JAX, ...), whose namespace then decides."""
    arrays = (y, z, w, v)
    if not any(isinstance(a, list | tuple) for a in arrays):
        return arrays
    if not all(a is None or isinstance(a, list | tuple | np.ndarray) for a in arrays):
        return arrays
    names = ("y", "z", "sample_weight", "v")
    return tuple(
        to_float(owner, name, np, a) if isinstance(a, list | tuple) else a
        for name, a in zip(names, arrays, strict=True)
    )


def _numpy_inputs(owner: str, y: Any, z: Any, w: Any, v: Any) -> tuple:
    """``(y, z, w, v)`` as the compiled loops read them: Python sequences as NumPy
    arrays, integer scores as float64 (both as the validation converts them), and
    native byte order (numba types no other) — so that each of these takes the
    route, and gives the bits, of the float array it holds. Other array types (and
    NumPy arrays already so) are returned as they are."""
    if not (
        type(z) is np.ndarray
        and type(y) is np.ndarray
        and (w is None or type(w) is np.ndarray)
        and (v is None or type(v) is np.ndarray)
    ):
        y, z, w, v = _sequences_as_arrays(owner, y, z, w, v)
        if type(z) is not np.ndarray:
            return y, z, w, v
    if z.dtype.kind in "iu":
        z = z.astype(np.float64)
    if not (
        z.dtype.isnative
        and (type(y) is not np.ndarray or y.dtype.isnative)
        and (w is None or type(w) is not np.ndarray or w.dtype.isnative)
        and (v is None or type(v) is not np.ndarray or v.dtype.isnative)
    ):
        y, z, w, v = (_native(a) for a in (y, z, w, v))
    return y, z, w, v


def _native(a: Any) -> Any:
    """A NumPy array in native byte order (a copy only where it is not); else ``a``."""
    if type(a) is np.ndarray and not a.dtype.isnative:
        return a.astype(a.dtype.newbyteorder("="))
    return a


def _as_tuple(results: Any) -> tuple:
    """A method's results as a tuple (a single array is returned bare)."""
    return results if isinstance(results, tuple) else (results,)


def _contiguous(a: Any) -> Any:
    """``a`` as a C-contiguous array (itself when it is one, or ``None``)."""
    if a is None or a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a)


def _c_contiguous(out: Any) -> bool:
    """Whether every ``out`` buffer given is C-contiguous."""
    outs = out if isinstance(out, tuple | list) else (out,)
    return all(b is None or (isinstance(b, np.ndarray) and b.flags.c_contiguous) for b in outs)


class Loss(LossCapabilities, ABC):
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
    #: Whether a compiled per-sample loop exists (``lossmath._jit``): the kernel
    #: itself for scalar losses, a row loop around its parts for the softmax.
    _compilable: ClassVar[bool] = False

    def __getstate__(self) -> dict:
        # Pickles and copies hold the hyper-parameters only, not what this process
        # made of them (the compiled loops' arguments: ``_jit_arguments``).
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
    def _validate(
        self,
        y: Any,
        z: Any,
        sample_weight: Any,
        check_input: bool,
        xp: Any = None,
        keep_labels: bool = False,
    ):
        """``(xp, y, z, sample_weight, result dtype)``, in the dtype of the computation."""
        if xp is None:
            xp = get_namespace(y, z, sample_weight)
        z = to_float(self.name, "z", xp, z)
        self._check_z_shape(z)
        result_dtype = z.dtype
        if is_numpy(xp) and z.dtype in (xp.float32, xp.float16):
            z = xp.astype(z, xp.float64)
        y = self._validate_y(xp, y, z, check_input, keep_labels)
        if check_input:
            check_finite(self.name, "z", xp, z)
        if sample_weight is not None:
            sample_weight = to_float(self.name, "sample_weight", xp, sample_weight, z.dtype)
            if tuple(sample_weight.shape) != (z.shape[0],):
                raise ValueError(
                    f"{self.name}: sample_weight must have shape ({z.shape[0]},) to match z; "
                    f"got shape {tuple(sample_weight.shape)}"
                )
            if check_input:
                check_finite(self.name, "sample_weight", xp, sample_weight)
                Interval(0.0, low_inclusive=True).check(
                    self.name, "sample_weight", xp, sample_weight
                )
        return xp, y, z, sample_weight, result_dtype

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

    # ------------------------------------------------------------ execution
    # Every method below evaluates ``compute(xp, y, z, v)`` — the kernel's requested
    # outputs, the Fisher weight, or ``H v`` — on validated input, weights the
    # results, and delivers them. A NumPy input from ``JIT_MIN_ELEMENTS`` on runs
    # through the compiled loop (``lossmath._jit``), a large one block by block on
    # several threads (``lossmath._parallel``): the same code on row slices, so
    # the results do not depend on the blocks and no full-size temporary is made.

    @staticmethod
    def _apply_weight(xp: Any, w: Any, a: Any, dtype: Any = None) -> Any:
        """``a`` times the per-sample weights ``w``, rounded to ``dtype`` once."""
        if a is None:
            return a
        if w is not None:
            a = a * xp.reshape(w, (w.shape[0],) + (1,) * (a.ndim - 1))
        return a if dtype is None or a.dtype == dtype else xp.astype(a, dtype)

    def _kernel_outputs(self, value: bool, gradient: bool, hessian: bool):
        """``compute`` returning the requested kernel outputs, in that order."""

        def compute(xp, y, z, v):
            return tuple(
                r for r in self._kernel(xp, y, z, value, gradient, hessian) if r is not None
            )

        compute.jit_mode = ("kernel", value, gradient, hessian)
        return compute

    def _hvp(self, xp: Any, y: Any, z: Any, v: Any) -> Any:
        """Unweighted ``H v`` per sample; the Hessian is diagonal for scalar losses."""
        return self._kernel(xp, y, z, False, False, True)[2] * v

    def _hvp_output(self):
        """``compute`` returning ``H v``."""

        def compute(xp, y, z, v):
            return (self._hvp(xp, y, z, v),)

        # The compiled loops compute the diagonal H v of this class for scalar
        # losses and the softmax's own; the tests compare them with ``_hvp``.
        compute.jit_mode = ("hvp",)
        return compute

    def _fisher_output(self):
        """``compute`` returning the Fisher weight."""

        def compute(xp, y, z, v):
            return (self._fisher(xp, y, z),)

        # With a canonical link the Fisher weight is the Hessian, by the Hessian's route.
        exact = type(self)._fisher is Loss._fisher or self.canonical_link
        compute.jit_mode = ("kernel", False, False, True) if exact else None
        return compute

    def _compiled_loop(self, compute, y: Any, z: Any) -> Any:
        """The compiled loop for ``compute`` on ``(y, z)``, or ``None`` where there is none."""
        mode = getattr(compute, "jit_mode", None)
        # dtype.char: "f" float32, "d" float64 (cheaper than comparing dtypes).
        if mode is None or not self._compilable or z.dtype.char not in "fd":
            return None
        if not _jit.available():
            return None
        from lossmath._jit._compile import compiled_loop

        return compiled_loop(self, mode, labels=self._takes_labels(y))

    def _takes_labels(self, y: Any) -> bool:
        """Whether ``y`` holds class labels that a compiled loop reads as they are."""
        return self.n_outputs != 1 and y.ndim == 1

    def _block(self, xp, compute, y, z, w, v, check_input):
        """Validated, weighted results of ``compute`` in the computation dtype, and the
        result dtype they are to be rounded to."""
        xp, y, z, w, dtype = self._validate(y, z, w, check_input, xp)
        if v is not None:
            v = self._validate_vector(xp, v, z)
        with numpy_errstate():
            results = compute(xp, y, z, v)
        return tuple(self._apply_weight(xp, w, r) for r in results), dtype

    def _evaluate(self, compute, names, y, z, sample_weight, check_input, n_threads, out, v=None):
        """Evaluate ``compute`` and deliver its results named ``names`` (into ``out``)."""
        if n_threads is not None:
            n_threads = _parallel.check_n_threads(self.name, n_threads)
        y, z, sample_weight, v = _numpy_inputs(self.name, y, z, sample_weight, v)
        if type(z) is np.ndarray and z.size >= _parallel.JIT_MIN_ELEMENTS:
            w = sample_weight
            done = self._evaluate_one_block(compute, names, y, z, w, check_input, out, v)
            if done is not None:
                return done
        arrays = (y, z, sample_weight, v)
        xp = get_namespace(*arrays)
        if _parallel.chunkable(xp, arrays):
            if _shares_memory(out, arrays) or (self.n_outputs != 1 and not _c_contiguous(out)):
                # Buffers the loops cannot write into (an input's memory: blocks would
                # read results; for the softmax's row loop, rows that are not flat
                # runs): the results are made in new ones and copied, so that they
                # are the values of the same input without ``out``.
                results = self._evaluate(
                    compute, names, y, z, sample_weight, check_input, n_threads, None, v
                )
                return self._deliver(xp, _as_tuple(results), out, names)
            try:
                loop = None
                if z.size >= _parallel.JIT_MIN_ELEMENTS:
                    loop = self._compiled_loop(compute, y, z)
                if loop is not None:
                    try:
                        return self._evaluate_compiled(
                            xp, loop, compute.jit_mode, names, arrays, check_input, n_threads, out
                        )
                    except Exception as error:
                        if not self._failed_to_compile(compute.jit_mode, error):
                            raise
                if z.size >= _parallel.MIN_ELEMENTS:
                    rows = _parallel.block_rows(z, _parallel.BLOCK_ELEMENTS)
                    return self._evaluate_blocks(
                        xp, compute, names, arrays, check_input, n_threads, out, rows
                    )
            except (TypeError, ValueError):
                # A block held bad input: the checks on the whole arrays raise the
                # message naming the first bad value and the array's min / max.
                self._validate(y, z, sample_weight, check_input, xp)
                raise
        results, dtype = self._block(xp, compute, y, z, sample_weight, v, check_input)
        results = tuple(xp.astype(r, dtype) if r.dtype != dtype else r for r in results)
        return self._deliver(xp, results, out, names)

    def _one_block_plan(self, mode: Any) -> tuple | None:
        """``(loop, output slots, compiled check)`` for ``mode``; ``None`` where there
        is no compiled loop (the general route decides). Kept per class and mode: a
        small input's call should not pay for looking them up one by one.
        """
        from lossmath._jit import _check, _compile

        plan = None
        if mode is not None and self._compilable:
            loop = _compile.compiled_loop(self, mode, labels=self.n_outputs != 1)
            check = _check.count_invalid_labels if self.n_outputs != 1 else _check.count_invalid
            # None once numba has failed to compile it (``_compile.failed_to_compile``).
            plan = None if loop is None else (loop, _compile.output_slots(mode), check)
        _one_block_plans[type(self), mode] = plan
        return plan

    def _jit_arguments(self) -> tuple:
        """``(hyper-parameter tuple, y's limits)``: what the compiled loop and check of
        this loss take, made once per loss object (it is immutable)."""
        arguments = self.__dict__.get("_jit_arguments_")
        if arguments is None:
            from lossmath._jit._compile import kernel_params

            arguments = (kernel_params(self), self.y_interval.limits)
            # Not a field: a frozen dataclass sets its own attributes this way too.
            object.__setattr__(self, "_jit_arguments_", arguments)
        return arguments

    def _read_as_they_are(self, y: Any, z: Any, w: Any, v: Any) -> bool:
        """Whether the compiled loop reads these NumPy arrays as they are.

        Float scores, weights and ``v``, real targets (class labels for the softmax,
        whose row loop also needs C-contiguous rows), in the contract's shapes: they
        skip the NumPy validation, and their values are checked by one compiled pass
        (``_jit._check``). Anything else is validated as the plain path does, which
        raises its messages. The softmax's probability rows (which the validation
        smooths and weights) are never read as they are.
        """
        # dtype.char: "f" float32, "d" float64; kind "iu": integers.
        raw = (y.dtype.char in "fd" or y.dtype.kind in "iu") and z.dtype.char in "fd"
        raw = raw and (w is None or w.dtype.char in "fd") and (v is None or v.dtype.char in "fd")
        if self.n_outputs != 1:
            classes = self.n_outputs
            raw = raw and y.ndim == 1 and z.ndim == 2 and z.shape[1] >= 2
            raw = raw and classes in (None, z.shape[1])
            raw = raw and z.flags.c_contiguous and (v is None or v.flags.c_contiguous)
        else:
            raw = raw and z.ndim == 1 and y.shape == z.shape
        return raw and (w is None or w.shape == y.shape) and (v is None or v.shape == z.shape)

    def _evaluate_one_block(self, compute, names, y, z, w, check_input, out, v):
        """:meth:`_evaluate` of an input of one compiled block, with the least Python
        around the loop: a solver's or a boosting round's call on thousands of rows
        otherwise spent most of its time deciding how to run (measured: squared
        error ``gradient_hessian`` on 10,000 scores, 15.6 µs a call of which the
        loop took 4.1; now 9.0).

        Only the usual case is taken — C-contiguous NumPy arrays the loop reads as
        they are (:meth:`_read_as_they_are`), ``out`` buffers of the result's shape
        and dtype that overlap no input — with the same checks as
        :meth:`_evaluate_compiled`'s. Anything else returns ``None``: the general
        route then runs, and raises the errors of malformed input.
        """
        if type(y) is not np.ndarray or not _jit.available():
            return None
        for a in (w, v):
            if a is not None and (type(a) is not np.ndarray or not a.flags.c_contiguous):
                return None
        if not (y.flags.c_contiguous and z.flags.c_contiguous):
            return None
        if not self._read_as_they_are(y, z, w, v) or y.shape[0] != z.shape[0]:
            return None
        n = z.shape[0]
        if z.size > _parallel.JIT_BLOCK_ELEMENTS and n > 1:
            return None  # several blocks (the general route shares them out)
        mode = getattr(compute, "jit_mode", None)
        plan = _one_block_plans.get((type(self), mode), False)
        if plan is False:
            plan = self._one_block_plan(mode)
        if plan is None:
            return None
        loop, slots, count_invalid = plan
        params, limits = self._jit_arguments()
        multi = self.n_outputs != 1
        given = (None,) * len(names) if out is None else self._out_buffers(out, len(names), names)
        bufs = []
        for name, b in zip(names, given, strict=True):
            shape = (n,) if name == "value" else z.shape
            if b is None:
                b = np.empty(shape, z.dtype)
            else:
                flags = b.flags if type(b) is np.ndarray else None
                if (
                    flags is None
                    or b.shape != shape
                    or b.dtype != z.dtype
                    or not (flags.c_contiguous and flags.writeable)
                ):
                    return None
                for a in (y, z, w, v):
                    if a is not None and np.may_share_memory(b, a):
                        return None
            bufs.append(b)
        if check_input and (count_invalid(y, z, w) if multi else count_invalid(y, z, w, *limits)):
            # The NumPy checks name the first bad value.
            self._validate(y, z, w, check_input, None, multi)
            raise ValueError(f"{self.name}: invalid input")
        try:
            loop(params, y, z, w, v, *[None if s is None else bufs[s] for s in slots])
        except Exception as error:
            if not self._failed_to_compile(mode, error):
                raise
            return None
        return tuple(bufs) if len(bufs) > 1 else bufs[0]

    def _failed_to_compile(self, mode: Any, error: BaseException) -> bool:
        """Whether ``error`` is numba failing to compile this class's loop for ``mode``
        (a user's kernel calling what numba does not support): then the class runs
        that method as NumPy expressions from now on, with a ``CompileWarning``."""
        from lossmath._jit import _compile

        if not _compile.failed_to_compile(self, mode, error):
            return False
        _one_block_plans[type(self), mode] = None
        return True

    def _evaluate_blocks(self, xp, compute, names, arrays, check_input, n_threads, out, rows):
        """:meth:`_evaluate` over blocks of ``rows`` rows, written straight into the outputs."""
        n = arrays[1].shape[0]

        def block(i):
            sl = slice(i * rows, (i + 1) * rows)
            y, z, w, v = (None if a is None else a[sl] for a in arrays)
            return sl, *self._block(xp, compute, y, z, w, v, check_input)

        # The first block tells the results' shapes and dtype; then the buffers exist.
        sl, first, dtype = block(0)
        bufs = self._out_buffers(out, len(first), names)
        bufs = tuple(
            np.empty((n, *r.shape[1:]), dtype) if b is None else b
            for b, r in zip(bufs, first, strict=True)
        )
        for name, buf, r in zip(names, bufs, first, strict=True):
            check_out(self.name, f"out ({name})", buf, (n, *r.shape[1:]), dtype)

        def work(i):
            sl, results, _ = block(i)
            for buf, r in zip(bufs, results, strict=True):
                buf[sl] = r  # rounds to the result dtype once, as astype does

        for buf, r in zip(bufs, first, strict=True):
            buf[sl] = r
        _parallel.run_blocks(lambda i: work(i + 1), -(-n // rows) - 1, n_threads)
        return bufs if len(bufs) > 1 else bufs[0]

    def _evaluate_compiled(self, xp, loop, mode, names, arrays, check_input, n_threads, out):
        """:meth:`_evaluate` by the compiled kernel loop, block by block, on threads.

        Where the loop can read the arrays as they are (float scores and weights,
        real targets or class labels, the contract's shapes; for the softmax,
        C-contiguous rows) no block is converted: the checks run as one compiled
        pass per block (``_jit._check``; none with ``check_input=False``).
        Otherwise each block is validated (and float32 upcast) as the plain path
        does, which raises the plain path's errors for malformed input. Then one
        compiled pass computes, weights and stores every output, with streaming
        stores where the outputs outgrow the cache and the kernel calls no
        elementary function (``_jit._stream``, ``_compile.bound_by_arithmetic``),
        chunk by chunk into strided outputs. An input of one block is evaluated in the
        calling thread with a few microseconds of Python around the loop.
        """
        from lossmath._jit import _check, _compile, _stream

        y, z, w, v = arrays
        n = z.shape[0]
        multi = self.n_outputs != 1
        bufs = list(self._out_buffers(out, len(names), names))
        for k, name in enumerate(names):
            # Per-sample values are (n,); everything else has the shape of z.
            shape = (n,) if name == "value" else z.shape
            if bufs[k] is None:
                bufs[k] = np.empty(shape, z.dtype)
            else:
                check_out(self.name, f"out ({name})", bufs[k], shape, z.dtype)
        bufs = tuple(bufs)
        # The buffer each of the loop's three output slots writes to.
        outs = [None if k is None else bufs[k] for k in _compile.output_slots(mode)]
        params, limits = self._jit_arguments()
        labels = self._takes_labels(y)
        if not multi and not all([b.flags.c_contiguous for b in bufs]):
            loop = _compile.compiled_loop(self, mode, labels, store="strided")
        elif (
            not multi and _stream.worthwhile(bufs) and not _compile.bound_by_arithmetic(type(self))
        ):
            loop = _compile.compiled_loop(self, mode, labels, store="stream")
        raw = self._read_as_they_are(y, z, w, v)

        def block(yb, zb, wb, vb, outs):
            if not raw:
                _, yb, zb, wb, _ = self._validate(yb, zb, wb, check_input, xp, labels)
                vb = None if vb is None else self._validate_vector(xp, vb, zb)
            elif check_input and (
                _check.count_invalid_labels(yb, zb, wb)
                if multi
                else _check.count_invalid(yb, zb, wb, *limits)
            ):
                raise ValueError(f"{self.name}: invalid input")  # named by _evaluate
            # A strided block (a column of a 2-D array) is copied to a contiguous one,
            # which stays in cache: strided loads stop the loop from vectorising
            # (measured: logistic on a strided z 4-6x slower). Strided outputs are
            # written by the loop chunk by chunk (store="strided"). The softmax's
            # row loop reads and writes rows as flat runs.
            loop(params, _contiguous(yb), _contiguous(zb), _contiguous(wb), _contiguous(vb), *outs)

        if n <= _parallel.block_rows(z, _parallel.JIT_BLOCK_ELEMENTS):
            block(y, z, w, v, outs)  # one block, in this thread: no slicing
        else:
            rows = _parallel.shared_block_rows(z, n_threads, scalar=not multi)

            def work(i):
                sl = slice(i * rows, (i + 1) * rows)
                views = [None if a is None else a[sl] for a in (y, z, w, v, *outs)]
                block(*views[:4], views[4:])

            work(0)
            _parallel.run_blocks(lambda i: work(i + 1), -(-n // rows) - 1, n_threads)
        return bufs if len(bufs) > 1 else bufs[0]

    def _out_buffers(self, out, count: int, names) -> tuple:
        """``out`` as a tuple of ``count`` buffers (``None`` where not given)."""
        if out is None:
            return (None,) * count
        outs = (out,) if count == 1 else tuple(out)
        if len(outs) != count:
            raise ValueError(
                f"{self.name}: out must be a tuple of {count} arrays ({', '.join(names)}); "
                f"got {len(outs)}"
            )
        return outs

    def _deliver(self, xp, results, out, names):
        """Return ``results`` (a tuple), copied into ``out`` buffers when given."""
        outs = self._out_buffers(out, len(results), names)
        for name, buf, r in zip(names, outs, results, strict=True):
            if buf is None:
                continue
            check_out(self.name, f"out ({name})", buf, r.shape, r.dtype)
            buf[...] = r
        delivered = tuple(r if b is None else b for b, r in zip(outs, results, strict=True))
        return delivered if len(delivered) > 1 else delivered[0]

    # ------------------------------------------------------------- the contract
    def value(self, y, z, sample_weight=None, *, check_input=True, out=None, n_threads=None):
        """Per-sample losses ``sᵢ ℓ(yᵢ, zᵢ)``, shape ``(n,)``.

        Parameters
        ----------
        y : array-like
            Targets, shape ``(n,)`` (multiclass: labels ``(n,)`` or rows ``(n, K)``).
        z : array-like
            Raw scores, shape ``(n,)`` (multiclass: ``(n, K)``).
        sample_weight : array-like of shape (n,), optional
            Non-negative weights ``sᵢ`` multiplying each sample's loss.
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
        """
        return self._evaluate(
            self._kernel_outputs(True, False, False),
            ("value",),
            y,
            z,
            sample_weight,
            check_input,
            n_threads,
            out,
        )

    def gradient(self, y, z, sample_weight=None, *, check_input=True, out=None, n_threads=None):
        """``g = sᵢ ∂ℓ/∂z``, same shape as ``z``. Parameters as :meth:`value`."""
        return self._evaluate(
            self._kernel_outputs(False, True, False),
            ("gradient",),
            y,
            z,
            sample_weight,
            check_input,
            n_threads,
            out,
        )

    def hessian_diagonal(
        self, y, z, sample_weight=None, *, check_input=True, out=None, n_threads=None
    ):
        """Diagonal of ``sᵢ ∂²ℓ/∂z²``, same shape as ``z``. Parameters as :meth:`value`."""
        return self._evaluate(
            self._kernel_outputs(False, False, True),
            ("hessian_diagonal",),
            y,
            z,
            sample_weight,
            check_input,
            n_threads,
            out,
        )

    def hessian(self, y, z, sample_weight=None, *, check_input=True):
        """Exact Hessian ``sᵢ ∂²ℓ/∂z²``: ``(n,)``, or ``(n, K, K)`` for multiclass.

        It may be zero or negative (absolute error, quantile, focal); optimisers
        that need a positive weight use :meth:`fisher_diagonal`.
        """
        return self.hessian_diagonal(y, z, sample_weight, check_input=check_input)

    def value_gradient(
        self, y, z, sample_weight=None, *, check_input=True, out=None, n_threads=None
    ):
        """``(value, gradient)`` in one pass, equal bit for bit to the separate calls.

        Parameters as :meth:`value`; ``out`` is a tuple of two buffers.
        """
        return self._evaluate(
            self._kernel_outputs(True, True, False),
            ("value", "gradient"),
            y,
            z,
            sample_weight,
            check_input,
            n_threads,
            out,
        )

    def gradient_hessian(
        self, y, z, sample_weight=None, *, check_input=True, out=None, n_threads=None
    ):
        """``(gradient, hessian_diagonal)`` in one pass — what boosting needs.

        Parameters as :meth:`value`; ``out`` is a tuple of two buffers.
        """
        return self._evaluate(
            self._kernel_outputs(False, True, True),
            ("gradient", "hessian_diagonal"),
            y,
            z,
            sample_weight,
            check_input,
            n_threads,
            out,
        )

    def value_gradient_hessian(
        self, y, z, sample_weight=None, *, check_input=True, out=None, n_threads=None
    ):
        """``(value, gradient, hessian_diagonal)`` in one pass.

        Parameters as :meth:`value`; ``out`` is a tuple of three buffers.
        """
        return self._evaluate(
            self._kernel_outputs(True, True, True),
            ("value", "gradient", "hessian_diagonal"),
            y,
            z,
            sample_weight,
            check_input,
            n_threads,
            out,
        )

    def hessian_vector_product(
        self, y, z, v, sample_weight=None, *, check_input=True, out=None, n_threads=None
    ):
        """``H v`` per sample, same shape as ``z``.

        Parameters as :meth:`value`, with ``v`` of the shape of ``z``.
        """
        return self._evaluate(
            self._hvp_output(),
            ("hessian_vector_product",),
            y,
            z,
            sample_weight,
            check_input,
            n_threads,
            out,
            v,
        )

    def _validate_vector(self, xp, v, like):
        v = to_float(self.name, "v", xp, v, like.dtype)
        if tuple(v.shape) != tuple(like.shape):
            raise ValueError(
                f"{self.name}: v must have the shape of z, {tuple(like.shape)}; "
                f"got {tuple(v.shape)}"
            )
        return v

    def sqrt_hessian(self, y, z, sample_weight=None, *, check_input=True):
        """``S`` with ``H = S Sᵀ`` per sample: ``√H`` for scalar losses.

        Raises
        ------
        NotImplementedError
            For a loss whose Hessian can be negative (no real square root).
        """
        self._require_psd()
        h = self.hessian_diagonal(y, z, sample_weight, check_input=check_input)
        return get_namespace(h).sqrt(h)

    def _require_psd(self) -> None:
        if not self.is_convex:
            raise NotImplementedError(
                f"{self.name}: sqrt_hessian needs a positive semi-definite Hessian, "
                f"but this loss's Hessian can be negative ({self!r})"
            )

    def fisher_diagonal(
        self, y, z, sample_weight=None, *, check_input=True, out=None, n_threads=None
    ):
        """Expected Hessian (Fisher weight) ``≥ 0``, same shape as ``z``.

        Equal to the exact Hessian for canonical links; what Newton/IRLS and
        boosting consume where the exact Hessian can be zero or negative. Each
        loss documents its choice. Parameters as :meth:`value`.
        """
        return self._evaluate(
            self._fisher_output(),
            ("fisher_diagonal",),
            y,
            z,
            sample_weight,
            check_input,
            n_threads,
            out,
        )

    def predict(self, z):
        """``ŷ = link.inverse(z)``."""
        return self.link.inverse(z)

    def __call__(self, y, z, sample_weight=None, *, check_input=True):
        """Weighted mean loss ``Σ sᵢ ℓᵢ / Σ sᵢ``, a 0-d array."""
        xp, y, z, w, dtype = self._validate(y, z, sample_weight, check_input)
        with numpy_errstate():
            v = self._kernel(xp, y, z, True, False, False)[0]
        if w is None:
            return xp.astype(xp.mean(v), dtype)
        total = xp.sum(w)
        if float(total) <= 0:
            raise ValueError(f"{self.name}: sample_weight must have a positive sum; got {total}")
        return xp.astype(xp.sum(v * w) / total, dtype)


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

        y = np.asarray(to_float(self.name, "y", get_namespace(y), y), dtype=np.float64)
        if y.ndim != 1 or y.shape[0] == 0:
            raise ValueError(f"{self.name}: y must be a non-empty 1-D array; got shape {y.shape}")
        self.check_target(y)
        if sample_weight is None:
            w = np.ones_like(y)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != y.shape:
                raise ValueError(
                    f"{self.name}: sample_weight must have shape {y.shape}; got {w.shape}"
                )
            check_finite(self.name, "sample_weight", np, w)
            Interval(0.0, low_inclusive=True).check(self.name, "sample_weight", np, w)
            if not w.max() > 0:  # the sum may overflow; non-negative: the same test
                raise ValueError(f"{self.name}: sample_weight must have a positive sum")
        return y, w

    def _baseline_root(self, y, w, lo: float, hi: float) -> float:
        """Root of the weighted mean gradient in ``[lo, hi]`` (convex losses).

        The mean gradient of a convex loss is non-decreasing in the constant
        score, so its sign change brackets the minimiser; Brent's method then
        finds it to full float64 precision.
        """
        import numpy as np
        from scipy.optimize import brentq

        def mean_gradient(c: float) -> float:
            g = self.gradient(y, np.full_like(y, c), w, check_input=False)
            return float(np.sum(g)) / float(np.sum(w))

        g_lo, g_hi = mean_gradient(lo), mean_gradient(hi)
        if g_lo >= 0:
            return lo
        if g_hi <= 0:
            return hi
        return float(brentq(mean_gradient, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps))
