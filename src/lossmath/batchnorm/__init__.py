r"""Batch normalisation with closed-form derivatives, on any array namespace.

:func:`batch_norm` (forward, train or inference mode, running statistics),
:func:`batch_norm_backward` (``(dx, dweight, dbias)``) and :func:`batch_norm_jvp`
(the forward-mode product) work on NumPy, PyTorch and JAX arrays
(array_api_compat) and return the input's namespace and dtype. :class:`BatchNorm`,
a drop-in for ``torch.nn.BatchNorm1d`` / ``2d`` with these derivatives in its
autograd, is imported with PyTorch on first use (:mod:`lossmath.batchnorm.torch`).

In train mode the mean and variance are the batch's, so every output of a channel
depends on every input of that channel: the Jacobian couples the samples, and
``dx = (γ/σ)(dy − mean(dy) − x̂ mean(dy x̂))`` carries the coupling in its two
subtracted terms.

>>> import numpy as np
>>> from lossmath.batchnorm import batch_norm, batch_norm_backward
>>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
>>> y, _, _ = batch_norm(x)
>>> np.round(y.ravel(), 4)
array([-1.3416, -0.4472,  0.4472,  1.3416])
>>> dx, dw, db = batch_norm_backward(np.ones_like(x), x)
>>> dx.ravel(), dw, db  # a constant cotangent moves nothing: y has mean 0 whatever x
(array([0., 0., 0., 0.]), array([0.]), array([4.]))
"""

from typing import Any

from lossmath.batchnorm._functional import batch_norm, batch_norm_backward, batch_norm_jvp

__all__ = ["BatchNorm", "batch_norm", "batch_norm_backward", "batch_norm_jvp"]


def __getattr__(name: str) -> Any:
    # PyTorch is imported only when the module is asked for.
    if name == "BatchNorm":
        from lossmath.batchnorm.torch import BatchNorm

        return BatchNorm
    raise AttributeError(f"module 'lossmath.batchnorm' has no attribute {name!r}")
