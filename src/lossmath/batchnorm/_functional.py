"""``batch_norm``, ``batch_norm_backward``, ``batch_norm_jvp`` on any array namespace."""

from __future__ import annotations

from typing import Any

import array_api_compat

from lossmath._array import numpy_errstate
from lossmath.batchnorm import _formulas as formulas
from lossmath.batchnorm._checks import Prepared, check_statistics, prepare, prepare_forward

__all__ = ["batch_norm", "batch_norm_backward", "batch_norm_jvp"]


def batch_norm(
    x: Any,
    weight: Any = None,
    bias: Any = None,
    *,
    running_mean: Any = None,
    running_var: Any = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    axis: int = 1,
) -> tuple[Any, Any, Any]:
    r"""Batch normalisation: ``y = γ (x − μ)/√(σ² + ε) + β`` per channel.

    Parameters
    ----------
    x : array, at least 2-D
        The input; ``axis`` is its channel axis (torch's layout ``(N, C, …)`` by
        default). Any namespace array_api_compat knows (NumPy, PyTorch, JAX, …).
    weight, bias : array of shape ``(C,)`` or None
        ``γ`` and ``β``; None is ``γ = 1``, ``β = 0`` (torch's ``affine=False``).
    running_mean, running_var : array of shape ``(C,)`` or None
        The running statistics. Required when ``training=False``; in train mode,
        updated (and returned) where given.
    training : bool
        True: normalise with the batch's statistics ``μ = mean(x)``,
        ``σ² = mean((x − μ)²)`` (biased), means over every axis but ``axis``.
        False: with the running statistics (the map is then affine per channel).
    momentum : float in [0, 1]
        torch's convention: ``new = (1 − momentum)·old + momentum·batch``, the
        batch's variance unbiased (``σ² m/(m − 1)``, ``m`` entries per channel) for
        the running variance. (The cumulative average, torch's ``momentum=None``, is
        :class:`lossmath.batchnorm.BatchNorm`'s, which counts the batches.)
    eps : float > 0
        Added to the variance.
    axis : int
        The channel axis.

    Returns
    -------
    y : array
        The shape, namespace, device and dtype of ``x`` (float16 / bfloat16 are
        computed in float32 and rounded once; integers become float64).
    running_mean, running_var : array or None
        In train mode the updated statistics (their own dtype), or None where none
        were given; in inference mode the ones given.

    Notes
    -----
    The statistics are computed by the corrected two-pass algorithm, the sums in
    float64 for float32 input: ``μ₀ = mean(x)``, ``d = x − μ₀``, ``c = mean(d)``,
    ``σ² = mean(d²) − c²``, and ``x`` is centred as ``d − c``. Not as
    ``mean(x²) − μ²``, which cancels catastrophically where ``|μ| ≫ σ`` (it loses
    ``(μ/σ)²`` ulps and may even come out negative, making ``√(σ² + ε)`` NaN); and
    ``y`` is not torch's fused ``x·(γ/σ) + (β − μγ/σ)``, which loses ``|μ|/σ`` ulps.
    ``x̂`` is accurate to a few ulps of ``|x̂| + 1`` whatever the mean.

    On PyTorch tensors the result is differentiable with the closed-form derivatives
    of :func:`batch_norm_backward` / :func:`batch_norm_jvp` at every order (an
    ``autograd.Function``, see :mod:`lossmath.batchnorm.torch`); on other namespaces
    the library's own autodiff differentiates the formula.

    Examples
    --------
    >>> import numpy as np
    >>> from lossmath.batchnorm import batch_norm
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> y, rm, rv = batch_norm(x, running_mean=np.zeros(2), running_var=np.ones(2))
    >>> np.round(y, 4)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> rm, rv  # 0.9·old + 0.1·batch; the unbiased variances are 2 and 200
    (array([0.2, 2. ]), array([ 1.1, 20.9]))
    """
    if array_api_compat.is_torch_array(x):
        from lossmath.batchnorm.torch import batch_norm as torch_batch_norm

        return torch_batch_norm(
            x,
            weight,
            bias,
            running_mean=running_mean,
            running_var=running_var,
            training=training,
            momentum=momentum,
            eps=eps,
            axis=axis,
        )
    p = prepare_forward(
        x,
        weight,
        bias,
        running_mean,
        running_var,
        training=training,
        momentum=momentum,
        eps=eps,
        axis=axis,
    )
    xp, c = p.xp, p.per_channel
    with numpy_errstate():
        mean, var = _statistics(p, "batch_norm")
        y = _cast(xp, formulas.forward(xp, p.x, mean, var, c["weight"], c["bias"], p.eps), p.out)
        if p.training and c["running_mean"] is not None:
            new_mean, new_var = formulas.running_update(
                xp, c["running_mean"], c["running_var"], mean, var, float(momentum), p.m
            )
            return y, _channel(p, new_mean, "running_mean"), _channel(p, new_var, "running_var")
    if p.training:
        return y, None, None
    return (
        y,
        _channel(p, c["running_mean"], "running_mean"),
        _channel(p, c["running_var"], "running_var"),
    )


def batch_norm_backward(
    dy: Any,
    x: Any,
    weight: Any = None,
    *,
    running_mean: Any = None,
    running_var: Any = None,
    training: bool = True,
    eps: float = 1e-5,
    axis: int = 1,
) -> tuple[Any, Any, Any]:
    r"""The closed-form gradient of :func:`batch_norm`: ``(dx, dweight, dbias)``.

    For the cotangent ``dy`` of ``y`` (e.g. ``∂L/∂y``), with ``x̂ = (x − μ)/σ``,
    ``σ = √(σ² + ε)`` and means over the ``m`` entries of a channel:

    .. math::

        dβ = Σ dy, \qquad dγ = Σ dy\,x̂, \qquad
        dx = \frac{γ}{σ}\bigl(dy − \operatorname{mean}(dy)
              − x̂ \operatorname{mean}(dy\,x̂)\bigr)

    in train mode, where ``μ`` and ``σ`` depend on every sample of the batch (the
    two subtracted terms are their derivatives: the Jacobian couples the samples).
    In inference mode (``training=False``) the statistics are the running ones,
    constants, and ``dx = (γ/σ) dy``.

    Parameters
    ----------
    dy : array
        The cotangent of ``y``, the shape of ``x``.
    x, weight, running_mean, running_var, training, eps, axis
        As given to :func:`batch_norm` (the statistics are recomputed from ``x``).

    Returns
    -------
    dx : array
        The shape, namespace and dtype of ``x``.
    dweight, dbias : array of shape ``(C,)``
        In ``weight``'s dtype (``x``'s where None). Returned also when ``weight``
        or ``bias`` is None: they are the gradients an affine ``γ = 1``, ``β = 0``
        would get (neither depends on ``β``), to be dropped when affine is off.
    """
    p, shaped = prepare(
        "batch_norm_backward",
        x,
        axis=axis,
        training=training,
        eps=eps,
        channel={"weight": weight, "running_mean": running_mean, "running_var": running_var},
        like_x={"dy": dy},
    )
    xp, c = p.xp, p.per_channel
    with numpy_errstate():
        mean, var = _statistics(p, "batch_norm_backward")
        dx, dw, db = formulas.backward(
            xp, shaped["dy"], p.x, mean, var, c["weight"], p.eps, p.red, p.training
        )
        return _cast(xp, dx, p.out), _channel(p, dw, "weight"), _channel(p, db, "weight")


def batch_norm_jvp(
    dx: Any,
    x: Any,
    weight: Any = None,
    *,
    dweight: Any = None,
    dbias: Any = None,
    running_mean: Any = None,
    running_var: Any = None,
    training: bool = True,
    eps: float = 1e-5,
    axis: int = 1,
) -> Any:
    r"""The forward-mode product of :func:`batch_norm`: the tangent ``dy`` of ``y``.

    Along the tangents ``dx`` (of ``x``), ``dweight`` (``dγ``) and ``dbias``
    (``dβ``), each None for no change, with ``x̂ = (x − μ)/σ``:

    .. math::

        dy = \frac{γ}{σ}\bigl(dx − \operatorname{mean}(dx) − x̂
             \operatorname{mean}(dx\,x̂)\bigr) + dγ\,x̂ + dβ

    in train mode (``dμ = mean(dx)``, ``dσ = mean(x̂ dx)``: every sample's tangent
    moves every output of its channel), and ``(γ/σ) dx + dγ x̂ + dβ`` in inference
    mode. The running statistics are buffers, not differentiated (as in torch).

    Parameters
    ----------
    dx : array or None
        The tangent of ``x``, the shape of ``x``.
    x, weight, running_mean, running_var, training, eps, axis
        As given to :func:`batch_norm`.
    dweight, dbias : array of shape ``(C,)`` or None
        The tangents of ``weight`` and ``bias``.

    Returns
    -------
    dy : array
        The shape, namespace and dtype of ``x`` (zeros where every tangent is None).
    """
    p, shaped = prepare(
        "batch_norm_jvp",
        x,
        axis=axis,
        training=training,
        eps=eps,
        channel={
            "weight": weight,
            "dweight": dweight,
            "dbias": dbias,
            "running_mean": running_mean,
            "running_var": running_var,
        },
        like_x={"dx": dx},
    )
    xp, c = p.xp, p.per_channel
    with numpy_errstate():
        mean, var = _statistics(p, "batch_norm_jvp")
        dy = formulas.jvp(
            xp,
            shaped["dx"],
            c["dweight"],
            c["dbias"],
            p.x,
            mean,
            var,
            c["weight"],
            p.eps,
            p.red,
            p.training,
        )
        return _cast(xp, xp.zeros_like(p.x) if dy is None else dy, p.out)


def _statistics(p: Prepared, owner: str) -> tuple[Any, Any]:
    """The batch's mean and variance in train mode (checked), else the running ones."""
    if p.training:
        mean, var = formulas.moments(p.xp, p.x, p.red)
        check_statistics(owner, p, formulas.full_mean(p.xp, mean), var)
        return mean, var
    return p.per_channel["running_mean"], p.per_channel["running_var"]


def _cast(xp: Any, a: Any, dtype: Any) -> Any:
    return a if a.dtype == dtype else xp.astype(a, dtype)


def _channel(p: Prepared, a: Any, like: str) -> Any:
    """A per-channel result as shape ``(C,)``, in the dtype of the argument ``like``
    (``x``'s where that is None)."""
    dtype = p.dtypes.get(like)
    dtype = p.out if dtype is None else dtype
    return _cast(p.xp, p.xp.reshape(a, (-1,)), dtype)
