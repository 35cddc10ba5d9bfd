"""Every lossmath loss as a PyTorch loss, exact at every derivative order.

``import lossmath`` does not import PyTorch; this package does. See
``docs/torch-jax.md`` for the mapping onto torch.nn's losses.

>>> import torch
>>> import lossmath.torch as lmt
>>> criterion = lmt.Loss("logistic")
>>> float(criterion(torch.tensor([40.0]), torch.tensor([1.0])))  # ≈ e⁻⁴⁰, not 0
4.248354255291589e-18
"""

from lossmath.torch._api import Loss, loss

__all__ = ["Loss", "loss"]
