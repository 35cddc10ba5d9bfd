r"""Every lossmath loss as a JAX function with exact derivatives at every order.

>>> import jax.numpy as jnp
>>> import lossmath.jax as lmj
>>> v = lmj.loss("logistic", jnp.array([0.0, jnp.inf]), jnp.array([1.0, 1.0]))
>>> [round(float(x), 6) for x in v]  # log 2, and the limit 0 (optax: NaN)
[0.693147, 0.0]

``loss(loss, logits, labels, weight=None, reduction="none", **params)`` follows
optax's conventions: scalar losses act elementwise on ``logits`` of any shape,
the multinomial takes the class axis last (integer labels of shape
``logits.shape[:-1]`` or probability rows of ``logits.shape``), and the default
reduction is ``"none"``.

Derivatives
-----------
Each loss is two ``jax.custom_jvp`` functions of the logits ``z``:

* the value ``ℓ(z)``, whose JVP is ``g(z) · ż`` with ``g`` the loss's closed-form
  gradient — itself the second function;
* the gradient ``g(z)``, whose JVP is ``H(z) ż`` with the closed-form Hessian:
  the diagonal for scalar losses, the softmax's ``ā (p ⊙ ż − p (pᵀ ż))`` for the
  multinomial.

So ``jax.grad`` gives the closed-form gradient, and ``jax.hessian``, ``jacfwd``
of ``grad`` or a JVP of the gradient give the closed-form Hessian — the same
formulas (the losses' ``_kernel``) as the NumPy methods, not autodiff through the
value's formula, which loses all relative accuracy in the tails. Third and higher
derivatives are autodiff of the Hessian's formula. Derivatives in ``labels``
(soft labels, probability rows) are autodiff of the formulas.

Infinite logits
---------------
A logit of ``±inf`` is evaluated at ``±C`` with ``C = √(largest float)``
(``1.3e154`` in float64, ``1.8e19`` in float32), where every loss has saturated:
the result is the limit where the limit is finite (``0`` for a confident correct
logistic prediction, where ``0 · inf`` would be NaN). A result at an infinite
logit larger in magnitude than ``√C`` is an infinite limit and is returned as
``±inf``: a finite limit of the catalogue's losses is of the order of their
parameters, an infinite one grows at least like a multiple of ``C``.

Input checks
------------
Shapes, dtypes and the reduction are checked on every call (they are static under
``jit``). The values — NaN logits, labels outside the loss's domain, negative or
non-finite weights — are checked for each input that is concrete (eager calls;
labels closed over by a traced function; the data under an eager ``jax.grad``),
with the NumPy methods' ``ValueError``; tracers (arguments under ``jit``)
cannot be read, and they are not checked: a NaN logit gives a NaN loss, and an integer
label outside ``[0, K)`` a zero one-hot row (``jax.nn.one_hot``'s behaviour),
hence a zero loss. Check a batch eagerly with :func:`check` where that matters.

Precision: float64 (with ``jax_enable_x64``) and float32 are computed in their
own dtype; float16 and bfloat16 in float32, the result rounded once.
"""

from __future__ import annotations

import functools
import math
from typing import Any

# Absolute imports: this module is ``lossmath.jax``, these are JAX itself.
try:
    import jax
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError("lossmath.jax needs JAX: pip install 'lossmath[jax]'") from error
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero

from lossmath._validation import Interval, check_finite
from lossmath.losses._base import Loss
from lossmath.losses._registry import get_loss
from lossmath.losses.multiclass import Multinomial, _softmax_parts

__all__ = ["check", "loss"]

_REDUCTIONS = ("none", "mean", "sum")
_NON_NEGATIVE = Interval(0.0, low_inclusive=True)


# ---------------------------------------------------------------- infinite logits
def _saturation(dtype: Any) -> tuple[float, float]:
    """``(C, T)``: an infinite logit is evaluated at ``±C``, a result beyond ``T`` is
    an infinite limit (see the module notes)."""
    c = math.sqrt(float(jnp.finfo(dtype).max))
    return c, math.sqrt(c)


def _finite_logits(z: Any) -> Any:
    c, _ = _saturation(z.dtype)
    return jnp.where(jnp.isinf(z), jnp.copysign(jnp.asarray(c, z.dtype), z), z)


def _limits(result: Any, infinite: Any) -> Any:
    """``result`` with the entries at infinite logits beyond ``T`` made ``±inf``."""
    _, t = _saturation(result.dtype)
    # A constant ±inf, not ``result · inf``: reverse mode would multiply a zero
    # cotangent by inf.
    signed_inf = jnp.where(result > 0, jnp.inf, -jnp.inf).astype(result.dtype)
    return jnp.where(infinite & (jnp.abs(result) > t), signed_inf, result)


# ------------------------------------------------------------------ scalar losses
def _scalar_kernel(lss: Loss, z: Any, y: Any, flags: tuple) -> tuple:
    """The loss's ``_kernel`` outputs asked in ``flags``, infinite logits resolved."""
    infinite = jnp.isinf(z)
    # Constants a kernel derives from its parameters (Tweedie's ``float(a_hi)``) are
    # evaluated now, not traced: the kernels are written for concrete arrays.
    with jax.ensure_compile_time_eval():
        outs = lss._kernel(jnp, y, _finite_logits(z), *flags)
    return tuple(_limits(o, infinite) for o in outs if o is not None)


def _label_tangent(fn: Any, y: Any, dy: Any) -> Any:
    """``∂fn/∂y · ẏ`` by autodiff of the formula, ``None`` for a zero tangent."""
    if isinstance(dy, SymbolicZero):
        return None
    return jax.jvp(fn, (y,), (dy,))[1]


def _add(*terms: Any) -> Any:
    present = [t for t in terms if t is not None]
    return functools.reduce(lambda a, b: a + b, present) if present else None


@functools.lru_cache(maxsize=256)
def _scalar_functions(lss: Loss) -> Any:
    """The value ``ℓ(z, y)`` of a scalar loss as a ``custom_jvp`` function."""

    def hessian(z, y):
        return _scalar_kernel(lss, z, y, (False, False, True))[0]

    @jax.custom_jvp
    def gradient(z, y):
        return _scalar_kernel(lss, z, y, (False, True, False))[0]

    @jax.custom_jvp
    def value(z, y):
        return _scalar_kernel(lss, z, y, (True, False, False))[0]

    def gradient_jvp(primals, tangents):
        z, y = primals
        dz, dy = tangents
        g = gradient(z, y)
        dg = _add(
            None if isinstance(dz, SymbolicZero) else hessian(z, y) * dz,
            _label_tangent(lambda yy: _scalar_kernel(lss, z, yy, (False, True, False))[0], y, dy),
        )
        return g, jnp.zeros_like(g) if dg is None else dg

    def value_jvp(primals, tangents):
        z, y = primals
        dz, dy = tangents
        v = value(z, y)
        dv = _add(
            None if isinstance(dz, SymbolicZero) else gradient(z, y) * dz,
            _label_tangent(lambda yy: _scalar_kernel(lss, z, yy, (True, False, False))[0], y, dy),
        )
        return v, jnp.zeros_like(v) if dv is None else dv

    gradient.defjvp(gradient_jvp, symbolic_zeros=True)
    value.defjvp(value_jvp, symbolic_zeros=True)
    return value


# ------------------------------------------------------------------- multinomial
def _rows(lss: Multinomial, z: Any) -> tuple:
    """``(z as (N, K) rows resolved at infinite logits, rows holding one)``."""
    infinite = jnp.any(jnp.isinf(z), axis=-1)
    return _finite_logits(z), infinite


@functools.lru_cache(maxsize=64)
def _multinomial_functions(lss: Multinomial) -> Any:
    """The value ``ℓ(z, a)`` of the softmax cross-entropy as a ``custom_jvp``
    function of rows ``z`` ``(N, K)`` and target weights ``a`` ``(N, K)``."""

    def hvp(z, a, v):
        zf, _ = _rows(lss, z)
        return lss._hvp(jnp, a, zf, v)

    @jax.custom_jvp
    def gradient(z, a):
        zf, _ = _rows(lss, z)
        return lss._kernel(jnp, a, zf, False, True, False)[1]

    def log_loss_terms(z):
        """``lse(z) − z_k = −log p_k`` per class."""
        zf, infinite = _rows(lss, z)
        m, _, _, rest, _, _ = _softmax_parts(jnp, zf)
        return _limits((m[:, None] - zf) + jnp.log1p(rest)[:, None], infinite[:, None])

    @jax.custom_jvp
    def value(z, a):
        zf, infinite = _rows(lss, z)
        return _limits(lss._kernel(jnp, a, zf, True, False, False)[0], infinite)

    def gradient_jvp(primals, tangents):
        z, a = primals
        dz, da = tangents
        g = gradient(z, a)
        terms = [None if isinstance(dz, SymbolicZero) else hvp(z, a, dz)]
        if not isinstance(da, SymbolicZero):
            zf, _ = _rows(lss, z)
            _, e, _, _, s, _ = _softmax_parts(jnp, zf)
            terms.append(jnp.sum(da, axis=1)[:, None] * (e / s[:, None]) - da)
        dg = _add(*terms)
        return g, jnp.zeros_like(g) if dg is None else dg

    def value_jvp(primals, tangents):
        z, a = primals
        dz, da = tangents
        v = value(z, a)
        terms = [None if isinstance(dz, SymbolicZero) else jnp.sum(gradient(z, a) * dz, axis=1)]
        if not isinstance(da, SymbolicZero):
            terms.append(jnp.sum(da * log_loss_terms(z), axis=1))
        dv = _add(*terms)
        return v, jnp.zeros_like(v) if dv is None else dv

    gradient.defjvp(gradient_jvp, symbolic_zeros=True)
    value.defjvp(value_jvp, symbolic_zeros=True)
    return value


# ------------------------------------------------------------------------ inputs
def _is_concrete(*arrays: Any) -> bool:
    return not any(isinstance(a, jax.core.Tracer) for a in arrays if a is not None)


def _as_array(owner: str, name: str, a: Any) -> Any:
    if a is None or isinstance(a, str | bytes | dict | set):
        raise TypeError(f"{owner}: {name} must be an array of numbers; got {type(a).__name__}")
    try:
        a = jnp.asarray(a)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{owner}: {name} must be an array of numbers; got {error}") from None
    if not (jnp.issubdtype(a.dtype, jnp.number) or a.dtype == jnp.bool_):
        raise TypeError(f"{owner}: {name} must be an array of numbers; got dtype {a.dtype}")
    if jnp.issubdtype(a.dtype, jnp.complexfloating):
        raise TypeError(f"{owner}: {name} must be real; got dtype {a.dtype}")
    return a


def _dtypes(logits: Any) -> tuple:
    """``(compute dtype, result dtype)``: float16/bfloat16 computed in float32."""
    dtype = logits.dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    compute = jnp.float32 if jnp.finfo(dtype).bits < 32 else dtype
    return compute, dtype


def _is_labels(lss: Loss, logits: Any, labels: Any) -> bool:
    """Multinomial: class indices (shape ``logits.shape[:-1]``) rather than rows."""
    return tuple(labels.shape) == tuple(logits.shape[:-1])


def _check_shapes(owner: str, lss: Loss, logits: Any, labels: Any, weight: Any) -> tuple:
    """Shape of the per-sample losses; ``ValueError`` on any mismatch."""
    if isinstance(lss, Multinomial):
        k = lss.n_outputs
        if logits.ndim < 1 or logits.shape[-1] < 2 or (k is not None and logits.shape[-1] != k):
            want = f"(..., {k})" if k is not None else "(..., K) with K >= 2 (classes last)"
            raise ValueError(f"{owner}: logits must have shape {want}; got {tuple(logits.shape)}")
        shape = tuple(logits.shape[:-1])
        if not (_is_labels(lss, logits, labels) or tuple(labels.shape) == tuple(logits.shape)):
            raise ValueError(
                f"{owner}: labels must be class indices of shape {shape} or probability "
                f"rows of shape {tuple(logits.shape)}; got shape {tuple(labels.shape)}"
            )
    else:
        shape = tuple(logits.shape)
        if tuple(labels.shape) != shape:
            raise ValueError(
                f"{owner}: labels must have the shape of logits, {shape}; "
                f"got shape {tuple(labels.shape)}"
            )
    if weight is not None:
        try:
            fits = np.broadcast_shapes(tuple(weight.shape), shape) == shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"{owner}: weight must be broadcastable to the losses' shape {shape}; "
                f"got shape {tuple(weight.shape)}"
            )
    return shape


def _check_values(owner: str, lss: Loss, logits: Any, labels: Any, weight: Any) -> None:
    """The value checks of the concrete inputs (each one that is no tracer), with
    the NumPy methods' messages: labels closed over by a traced function, or the
    data of an eager ``jax.grad``, are checked though the logits are traced."""
    if _is_concrete(logits):
        z = np.asarray(logits)
        if np.isnan(z).any():
            raise ValueError(
                f"{owner}: logits must not be NaN; got {int(np.isnan(z).sum())} NaN value(s)"
            )
    if weight is not None and _is_concrete(weight):
        w = np.asarray(weight, dtype=np.float64)
        check_finite(owner, "weight", np, w)
        _NON_NEGATIVE.check(owner, "weight", np, w)
    if not _is_concrete(labels):
        return
    y = np.asarray(labels, dtype=np.float64)
    check_finite(owner, "labels", np, y)
    if isinstance(lss, Multinomial):
        k = logits.shape[-1]
        if _is_labels(lss, logits, labels):
            whole = y == np.round(y)
            if not whole.all():
                raise ValueError(
                    f"{owner}: class labels must be whole numbers; got {float(y[~whole][0])!r}"
                )
            Interval(0.0, k - 1.0, True, True).check(owner, "labels (class indices)", np, y)
        else:
            _NON_NEGATIVE.check(owner, "labels (probability rows)", np, y)
            sums = y.sum(axis=-1)
            off = np.abs(sums - 1) > lss._row_tolerance(np.dtype(str(labels.dtype)), k)
            if off.any():
                raise ValueError(
                    f"{owner}: probability rows must sum to 1; got a row summing to "
                    f"{float(sums[off][0])!r}"
                )
    else:
        lss.y_interval.check(owner, "labels", np, y)


def check(loss: Any, logits: Any, labels: Any, weight: Any = None, **params: Any) -> None:
    """Raise the ``ValueError`` :func:`loss` raises eagerly, also for traced code's data.

    Call it outside ``jit`` on a batch whose values matter (labels in the loss's
    domain, no NaN logits, non-negative weights); :func:`loss` checks values only
    where its inputs are concrete. Parameters as :func:`loss`.
    """
    lss = get_loss(loss, **params)
    owner = f"lossmath.jax.check({lss.name!r})"
    logits, labels = _as_array(owner, "logits", logits), _as_array(owner, "labels", labels)
    weight = None if weight is None else _as_array(owner, "weight", weight)
    _check_shapes(owner, lss, logits, labels, weight)
    _check_values(owner, lss, logits, labels, weight)


# -------------------------------------------------------------------------- loss
def loss(
    loss: Any,
    logits: Any,
    labels: Any,
    weight: Any = None,
    reduction: str = "none",
    **params: Any,
) -> Any:
    r"""The loss ``ℓ(labels, logits)`` with closed-form derivatives at every order.

    Parameters
    ----------
    loss : str or Loss
        A registered loss name (``lossmath.losses.available()``) or a loss object.
    logits : array
        Raw scores ``z``. Scalar losses: any shape, elementwise. Multinomial: the
        class axis last, ``(..., K)``.
    labels : array
        Targets ``y``. Scalar losses: the shape of ``logits``. Multinomial: class
        indices of shape ``logits.shape[:-1]``, or probability rows of
        ``logits.shape``.
    weight : array, optional
        Non-negative weights ``s`` broadcastable to the per-sample losses' shape
        (``logits.shape``, multinomial ``logits.shape[:-1]``); a weight of 0
        contributes exactly 0, also where the loss is infinite.
    reduction : {"none", "mean", "sum"}, default "none"
        ``"none"``: the per-sample losses ``sᵢ ℓᵢ``. ``"sum"``: ``Σ sᵢ ℓᵢ``.
        ``"mean"``: ``Σ sᵢ ℓᵢ / Σ sᵢ`` (the plain mean without weights); for the
        multinomial with ``class_weight`` and class indices,
        ``Σ sᵢ w_{yᵢ} ℓᵢ / Σ sᵢ w_{yᵢ}``, as ``torch.nn.CrossEntropyLoss``.
    **params
        The loss's hyper-parameters (``delta=``, ``gamma=``, ``label_smoothing=``,
        ``class_weight=``, ...), with a loss name only.

    Returns
    -------
    jax.Array
        Per-sample losses (``"none"``) or a 0-d array, in the dtype of ``logits``
        (float16 and bfloat16 computed in float32 and rounded once).

    Raises
    ------
    ValueError
        For an unknown loss or reduction, mismatched shapes, and — where the
        inputs are concrete — NaN logits, labels outside the loss's domain,
        negative or non-finite weights, or weights summing to 0 for ``"mean"``.
    TypeError
        For inputs that are not arrays of real numbers.

    Notes
    -----
    ``jax.grad`` gives the loss's closed-form gradient and ``jax.hessian`` its
    closed-form Hessian (``custom_jvp`` at each order; see the module notes). It
    works under ``jit``, ``vmap``, ``grad``, ``jacfwd``, ``jacrev`` and
    ``hessian``; values are checked only outside ``jit``.
    """
    lss = get_loss(loss, **params)
    owner = f"lossmath.jax.loss({lss.name!r})"
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{owner}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    logits = _as_array(owner, "logits", logits)
    labels = _as_array(owner, "labels", labels)
    weight = None if weight is None else _as_array(owner, "weight", weight)
    shape = _check_shapes(owner, lss, logits, labels, weight)
    _check_values(owner, lss, logits, labels, weight)
    concrete_weight = weight is not None and _is_concrete(weight)
    if reduction == "mean" and concrete_weight and not float(jnp.sum(weight)) > 0:
        raise ValueError(f"{owner}: weight must have a positive sum for 'mean'")
    if reduction == "mean" and math.prod(shape) == 0:
        raise ValueError(f"{owner}: the mean of no losses is undefined; got shape {shape}")
    indices = isinstance(lss, Multinomial) and _is_labels(lss, logits, labels)
    return _evaluate(lss, logits, labels, weight, reduction=reduction, indices=indices)


@functools.partial(jax.jit, static_argnames=("lss", "reduction", "indices"))
def _evaluate(lss: Loss, logits: Any, labels: Any, weight: Any, reduction: str, indices: bool):
    """The checked call, compiled: one XLA executable per loss, shape and reduction,
    so that eager calls do not dispatch operation by operation."""
    compute, dtype = _dtypes(logits)
    z = logits.astype(compute)
    shape = tuple(z.shape[:-1]) if isinstance(lss, Multinomial) else tuple(z.shape)
    denominator = None
    if isinstance(lss, Multinomial):
        k = z.shape[-1]
        rows = z.reshape(-1, k)
        if indices:
            index = labels.reshape(-1)
            if not jnp.issubdtype(index.dtype, jnp.integer):
                index = index.astype(jnp.int32)  # whole numbers (checked where concrete)
            y = jax.nn.one_hot(index, k, dtype=compute)
            if lss.class_weight is not None and reduction == "mean":
                cw = jnp.asarray(lss.class_weight, dtype=compute)
                denominator = jnp.take(cw, jnp.clip(index, 0, k - 1))
                denominator = denominator.reshape(shape)
        else:
            y = labels.astype(compute).reshape(-1, k)
        a = lss._target_weights(jnp, y)
        per_sample = _multinomial_functions(lss)(rows, a).reshape(shape)
    else:
        per_sample = _scalar_functions(lss)(z, labels.astype(compute))
    return _reduce(per_sample, weight, denominator, reduction, compute).astype(dtype)


def _reduce(values: Any, weight: Any, denominator: Any, reduction: str, dtype: Any) -> Any:
    """Weights applied (a weight of 0 gives exactly 0) and the reduction."""
    if weight is not None:
        w = jnp.broadcast_to(weight.astype(dtype), values.shape)
        values = jnp.where(w == 0, jnp.zeros_like(values), w * values)
        denominator = w if denominator is None else w * denominator
    if reduction == "none":
        return values
    total = jnp.sum(values)
    if reduction == "sum":
        return total
    if denominator is None:
        return total / values.size
    return total / jnp.sum(denominator)
