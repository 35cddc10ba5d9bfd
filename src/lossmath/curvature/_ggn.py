"""The generalized Gauss-Newton matrix of a network and any lossmath loss."""

from __future__ import annotations

from typing import Any

from lossmath.curvature import _outputs
from lossmath.curvature._operator import OutputSpaceOperator


class GGN(OutputSpaceOperator):
    r"""The generalized Gauss-Newton matrix ``G = c Σₙ Jₙᵀ Hₙ Jₙ``.

    ``Jₙ = ∂zₙ/∂θ`` is the Jacobian of sample ``n``'s outputs with respect to the
    trainable parameters and ``Hₙ = ∂²(sₙ ℓ(yₙ, zₙ))/∂zₙ²`` the loss's *exact*
    Hessian with respect to those outputs, sample weight ``sₙ`` included: the
    diagonal ``∂²ℓ/∂z²`` of a scalar loss (element-wise over the outputs); for the
    multinomial ``āₙ (diag(p) − p pᵀ)``, ``p = softmax(zₙ)``, ``āₙ = Σₖ wₖ y'ₖ``
    with the class weights ``w`` and the label-smoothed target ``y'`` (0 for a
    row whose label is ``ignore_index``), applied as ``ā (p ⊙ v − p (pᵀ v))``.

    Where the loss's Hessian can be negative (``loss.curvature.psd`` is False:
    focal), ``G`` is still ``Jᵀ H J`` — indefinite, never clipped — and
    :attr:`is_psd` is False; :class:`~lossmath.curvature.Fisher` is the PSD
    choice there.

    Parameters
    ----------
    model : torch.nn.Module
        ``X ↦ z`` (raw scores: ``(N, …)`` for scalar losses, ``(N, C)`` for the
        multinomial). Evaluated as given (``train()`` or ``eval()``).
    loss : str or lossmath.Loss
        A registered loss name or a loss object.
    data : iterable
        Batches ``(X, y)`` or ``(X, y, sample_weight)`` (a DataLoader, a list),
        iterated once per product in a fixed order.
    reduction : {"mean", "sum"}, default "mean"
        ``"mean"``: divided by the number of loss terms of the whole data set.
    params : list of torch.nn.Parameter, optional
        The parameters to differentiate (default: every one with ``requires_grad``).
    **loss_params
        The loss's hyper-parameters (``class_weight=``, ``label_smoothing=``,
        ``delta=``, ...) and the multinomial's ``ignore_index`` (default −100).

    Attributes
    ----------
    is_psd : bool
        ``loss.curvature.psd``: whether ``G`` is PSD for every model and data.
    n_terms : int
        The number of loss terms in the data set.

    Examples
    --------
    >>> import torch
    >>> from lossmath.curvature import GGN
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> model = torch.nn.Linear(3, 1).double()
    >>> X = torch.randn(8, 3, dtype=torch.float64)
    >>> y = torch.poisson(torch.ones(8, 1, dtype=torch.float64))
    >>> G = GGN(model, "poisson", [(X, y)])
    >>> G.shape
    (4, 4)
    >>> bool(abs(G.trace() - G.diagonal().sum()) < 1e-12)
    True
    """

    def __init__(self, model, loss: Any, data, *, reduction="mean", params=None, **loss_params):
        super().__init__(
            "GGN", model, loss, data, reduction=reduction, params=params, loss_params=loss_params
        )
        self.is_psd = bool(self.loss.curvature.psd)

    def _output_curvature(self, z, y, w, state):
        return _outputs.hessian(self._where, self.loss, z, y, w, self.ignore_index)
