"""The loss catalogue (docs/contract.md §4); every loss is registered by name.

>>> import lossmath
>>> lossmath.losses.available()[:3]
['absolute_error', 'exponential', 'focal']
"""

from lossmath.losses._base import Loss, ScalarLoss
from lossmath.losses._registry import available, get_loss, register
from lossmath.losses.binary import Exponential, Focal, Hinge, Logistic, SquaredHinge
from lossmath.losses.counts import Gamma, Poisson, Tweedie
from lossmath.losses.multiclass import Multinomial
from lossmath.losses.regression import (
    AbsoluteError,
    Huber,
    LogCosh,
    PseudoHuber,
    Quantile,
    SquaredError,
)

__all__ = [
    "AbsoluteError",
    "Exponential",
    "Focal",
    "Gamma",
    "Hinge",
    "Huber",
    "LogCosh",
    "Logistic",
    "Loss",
    "Multinomial",
    "Poisson",
    "PseudoHuber",
    "Quantile",
    "ScalarLoss",
    "SquaredError",
    "SquaredHinge",
    "Tweedie",
    "available",
    "get_loss",
    "register",
]
