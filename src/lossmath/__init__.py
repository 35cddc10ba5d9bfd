"""lossmath: loss functions with exact, numerically stable derivatives.

Submodules and the top-level names are imported on first use (PEP 562), so
``import lossmath`` stays cheap.

>>> import numpy as np
>>> import lossmath
>>> loss = lossmath.get_loss("logistic")
>>> g, h = loss.gradient_hessian(np.array([1.0]), np.array([0.0]))
>>> float(g[0]), float(h[0])
(-0.5, 0.25)
"""

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "activations",
    "batchnorm",
    "checking",
    "integrations",
    "linear_model",
    "links",
    "losses",
    "penalties",
    "special",
)
#: Need an extra (``[torch]``, ``[jax]``; ``curvature`` needs torch): reachable as
#: attributes, left out of ``__all__`` so that ``from lossmath import *`` imports neither framework.
_FRAMEWORKS = ("torch", "jax", "curvature")
_FROM_LOSSES = ("Loss", "available", "get_loss")
_FROM_LINEAR_MODEL = ("GLMClassifier", "GLMRegressor")

__all__ = ["__version__", *_FROM_LOSSES, *_FROM_LINEAR_MODEL, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES or name in _FRAMEWORKS:
        return importlib.import_module(f"lossmath.{name}")
    if name in _FROM_LOSSES:
        return getattr(importlib.import_module("lossmath.losses"), name)
    if name in _FROM_LINEAR_MODEL:
        return getattr(importlib.import_module("lossmath.linear_model"), name)
    raise AttributeError(f"module 'lossmath' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
