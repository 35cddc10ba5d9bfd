"""Fisher information matrices of a network and any lossmath loss: exact, Monte Carlo, empirical."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lossmath.curvature import _outputs
from lossmath.curvature._operator import OutputSpaceOperator

_KINDS = ("exact", "mc", "empirical")


class Fisher(OutputSpaceOperator):
    r"""The Fisher ``c Σₙ Jₙᵀ Fₙ Jₙ`` of the loss's distribution, or its estimates.

    ``kind="exact"``
        ``Fₙ = sₙ E_ỹ[∇ℓ ∇ℓᵀ]``: ``fisher_diagonal`` for a scalar loss (the
        expected Hessian; ``≥ 0``, also where the exact Hessian is negative, e.g.
        focal); for the multinomial ``āₙ (diag(p) − p pᵀ)``, its Hessian.
    ``kind="mc"``
        ``Fₙ = sₙ/M Σₘ g̃ₘ g̃ₘᵀ`` with ``g̃ₘ = ∂ℓ(ỹₘ, zₙ)/∂zₙ`` and ``ỹₘ`` drawn by
        ``loss.sample(z)`` (``M = mc_samples``). An unbiased estimate of the
        exact Fisher for a loss with a ``distribution``; any other loss raises
        ``NotImplementedError`` naming it. The draws are made afresh from
        ``seed`` at every pass over the data, so the operator is one fixed
        matrix as long as the data come in the same order.
    ``kind="empirical"``
        ``Fₙ = sₙ gₙ gₙᵀ``, ``gₙ = ∂ℓ(yₙ, zₙ)/∂zₙ`` at the data's own targets.

    Every kind is PSD (:attr:`is_psd`). Other parameters are those of
    :class:`~lossmath.curvature.GGN`.

    Parameters
    ----------
    kind : {"exact", "mc", "empirical"}, default "exact"
    mc_samples : int, default 1
        Draws per sample for ``kind="mc"``.
    seed : int, optional
        Seed of the draws (``kind="mc"``); ``None`` picks one at construction.
    """

    is_psd = True

    def __init__(
        self,
        model,
        loss: Any,
        data,
        *,
        kind="exact",
        mc_samples=1,
        seed=None,
        reduction="mean",
        params=None,
        **loss_params,
    ):
        super().__init__(
            "Fisher",
            model,
            loss,
            data,
            reduction=reduction,
            params=params,
            loss_params=loss_params,
        )
        if kind not in _KINDS:
            raise ValueError(f"Fisher: kind must be one of {_KINDS}; got {kind!r}")
        self.kind = kind
        if kind == "mc":
            if self.loss.distribution is None:
                raise NotImplementedError(
                    f"Fisher: kind='mc' needs a loss with a distribution to sample; "
                    f"{self.loss.name} ({self.loss!r}) has none"
                )
            if (
                isinstance(mc_samples, bool)
                or not isinstance(mc_samples, (int, np.integer))
                or mc_samples < 1
            ):
                raise ValueError(
                    f"Fisher: mc_samples must be a positive integer; got {mc_samples!r}"
                )
            if seed is None:
                seed = int(np.random.default_rng().integers(2**62))
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
                raise ValueError(
                    f"Fisher: seed must be a non-negative integer or None; got {seed!r}"
                )
        self.mc_samples = int(mc_samples)
        self.seed = seed

    def _start(self):
        if self.kind != "mc":
            return None
        return torch.Generator(device=self._device).manual_seed(int(self.seed))

    def _output_curvature(self, z, y, w, state):
        lm, ii = self.loss, self.ignore_index
        if self.kind == "exact":
            return _outputs.fisher(self._where, lm, z, y, w, ii)
        if self.kind == "mc":
            return _outputs.sampled(self._where, lm, z, y, w, ii, self.mc_samples, state)
        return _outputs.empirical(self._where, lm, z, y, w, ii)
