r"""Curvature of networks for every lossmath loss (PyTorch).

``import lossmath.curvature`` imports PyTorch (like :mod:`lossmath.torch`).

- :class:`GGN`, :class:`Hessian`, :class:`Fisher`: SciPy ``LinearOperator`` s
  over the flattened trainable parameters of a ``torch.nn.Module``, for a
  lossmath loss over a data set of batches, with ``.diagonal()`` (exact),
  ``.trace()``, ``.to_dense()`` and the torch-native ``.mv``.
- :func:`hessian_decomposition`: ``H = G + R`` for a small function.
- :func:`loss_hessian_sqrt`: the factor ``S`` of the loss Hessian in BackPACK's
  and curvlinops' layouts.
- :mod:`lossmath.curvature.jacobians`: closed-form Jacobian products (``jvp``,
  ``vjp``, ``jacobian``) of ``nn.Linear``, activations, batch norm and
  ``nn.Sequential``; ``torch.func`` for any other module.

See ``docs/curvature.md``.
"""

from lossmath.curvature._decomposition import hessian_decomposition
from lossmath.curvature._fisher import Fisher
from lossmath.curvature._ggn import GGN
from lossmath.curvature._hessian import Hessian
from lossmath.curvature._operator import CurvatureOperator
from lossmath.curvature._sqrt import loss_hessian_sqrt

__all__ = [
    "GGN",
    "CurvatureOperator",
    "Fisher",
    "Hessian",
    "hessian_decomposition",
    "loss_hessian_sqrt",
]
