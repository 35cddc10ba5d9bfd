"""Every lossmath loss as a PyTorch loss, exact at every derivative order.

``import lossmath`` does not import PyTorch; this package does. See
``docs/torch-jax.md`` for the mapping onto torch.nn's losses.

>>> import torch
>>> import lossmath.torch as lmt
>>> criterion = lmt.Loss("logistic")
>>> z = torch.tensor([40.0, float("inf")], dtype=torch.float64)
>>> criterion(z, torch.tensor([1.0, 1.0], dtype=torch.float64))  # (e⁻⁴⁰ + 0) / 2, not 0 or NaN
tensor(2.1242e-18, dtype=torch.float64)
"""

from lossmath.torch._api import Loss, loss

__all__ = ["Loss", "loss"]
