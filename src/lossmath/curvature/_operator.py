"""The base of the curvature operators: a SciPy ``LinearOperator`` over the parameters."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from lossmath.curvature import _data
from lossmath.curvature._autodiff import linearize


class CurvatureOperator(LinearOperator):
    """A symmetric ``P × P`` curvature matrix of ``c Σₙ (loss of sample n)`` over a data set.

    ``P`` is the number of trainable parameters (flattened in the order of
    ``model.named_parameters()``); ``c = 1/T`` for ``reduction="mean"``, ``T`` the
    number of loss terms in the whole data set (the elements of the targets for
    a scalar loss, the rows for the multinomial: torch.nn's unweighted mean),
    and ``c = 1`` for ``"sum"``. ``data`` is iterated once per product, in its
    own order. NumPy vectors in and out are float64; :meth:`mv` works on the
    model's own tensors.
    """

    #: Whether the matrix is positive semi-definite for every model and data set.
    is_psd: bool = True

    def __init__(self, where, model, loss, data, *, reduction, params, loss_params):
        self._where = where
        _data.check_reduction(where, reduction)
        self.loss, self.ignore_index = _data.resolve_loss(where, loss, loss_params)
        self.model = model
        self._names, self._tensors, self._fixed = _data.trainable(where, model, params)
        self._shapes = [p.shape for p in self._tensors]
        self._sizes = [p.numel() for p in self._tensors]
        self._tdtype = self._tensors[0].dtype
        self._device = self._tensors[0].device
        if iter(data) is data:
            # A generator or iterator would be empty on the second pass.
            raise TypeError(
                f"{where}: data must be re-iterable (a list, a DataLoader); got a one-shot "
                f"{type(data).__name__}"
            )
        self.data = data
        self.reduction = reduction
        # The data set's size, counted once (curvlinops does the same).
        self.n_terms = 0
        for batch in data:
            _X, y, _w = _data.unpack(where, batch, self._tdtype, self._device)
            self.n_terms += _data.count_terms(self.loss, y)
        if self.n_terms == 0:
            raise ValueError(f"{where}: data holds no samples")
        self.scale = 1.0 / self.n_terms if reduction == "mean" else 1.0
        n = sum(self._sizes)
        super().__init__(dtype=np.float64, shape=(n, n))

    # ----------------------------------------------------------- parameters
    def _split(self, M: torch.Tensor) -> list:
        """``(P, k)`` → per-parameter stacks ``(k, *p.shape)``."""
        parts = torch.split(M, self._sizes, dim=0)
        return [p.T.reshape(M.shape[1], *s) for p, s in zip(parts, self._shapes, strict=False)]

    def _join(self, parts: list) -> torch.Tensor:
        """Per-parameter stacks ``(k, *p.shape)`` → ``(P, k)``."""
        return torch.cat([p.reshape(p.shape[0], -1) for p in parts], dim=1).T

    def _batches(self):
        for batch in self.data:
            yield _data.unpack(self._where, batch, self._tdtype, self._device)

    # -------------------------------------------------------------- products
    def _matmat_torch(self, M: torch.Tensor) -> torch.Tensor:
        """``C M`` for ``M`` of shape ``(P, k)`` in the model's dtype and device."""
        raise NotImplementedError

    def mv(self, vec: list) -> list:
        """``C v`` on parameter lists: tensors shaped as the trainable parameters.

        Parameters
        ----------
        vec : list of torch.Tensor
            One tensor per trainable parameter, of its shape.

        Returns
        -------
        list of torch.Tensor
            ``C v`` in the same layout, dtype and device as the parameters.
        """
        if len(vec) != len(self._shapes) or any(
            tuple(v.shape) != tuple(s) for v, s in zip(vec, self._shapes, strict=False)
        ):
            raise ValueError(
                f"{self._where}.mv: expected tensors of shapes {[tuple(s) for s in self._shapes]}; "
                f"got {[tuple(getattr(v, 'shape', ())) for v in vec]}"
            )
        M = torch.cat([v.detach().reshape(-1).to(self._tdtype) for v in vec])[:, None]
        out = self._matmat_torch(M.to(self._device))[:, 0]
        parts = torch.split(out, self._sizes)
        return [p.reshape(s) for p, s in zip(parts, self._shapes, strict=True)]

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        M = torch.as_tensor(np.asarray(X, dtype=np.float64), device=self._device).to(self._tdtype)
        out = self._matmat_torch(M)
        return out.detach().to("cpu", torch.float64).numpy()

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self._matmat(np.reshape(x, (-1, 1)))[:, 0]

    def _rmatvec(self, x):  # symmetric
        return self._matvec(x)

    def _adjoint(self):
        return self

    # --------------------------------------------------------- dense views
    def _diagonal_torch(self) -> torch.Tensor:
        """The exact diagonal: by columns of the identity unless a subclass knows better."""
        n = self.shape[0]
        out = torch.empty(n, dtype=self._tdtype, device=self._device)
        step = 64
        for start in range(0, n, step):
            stop = min(n, start + step)
            E = torch.zeros((n, stop - start), dtype=self._tdtype, device=self._device)
            E[torch.arange(start, stop), torch.arange(stop - start)] = 1
            out[start:stop] = torch.diagonal(self._matmat_torch(E)[start:stop])
        return out

    def diagonal(self) -> np.ndarray:
        """The exact diagonal, float64 ``(P,)``."""
        return self._diagonal_torch().detach().to("cpu", torch.float64).numpy()

    def trace(self) -> float:
        """``tr C``: the sum of the exact diagonal."""
        return float(self._diagonal_torch().sum())

    def to_dense(self) -> np.ndarray:
        """The whole matrix, float64 ``(P, P)`` (``P`` products: for small models)."""
        return self._matmat(np.eye(self.shape[0]))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(loss={self.loss.name!r}, reduction={self.reduction!r}, "
            f"shape={self.shape})"
        )


class OutputSpaceOperator(CurvatureOperator):
    """``c Σₙ Jₙᵀ Mₙ Jₙ``, ``Mₙ`` from :meth:`_output_curvature` (see ``_outputs``)."""

    def _output_curvature(self, z, y, w, state):
        raise NotImplementedError

    def _start(self) -> Any:
        """State for one pass over the data (a random generator), or ``None``."""
        return None

    def _passes(self):
        state = self._start()
        for _i, (X, y, w) in enumerate(self._batches()):
            lin = linearize(self.model, self._names, self._tensors, self._fixed, X)
            yield lin, self._output_curvature(lin.output, y, w, state)

    def _matmat_torch(self, M):
        V = self._split(M)
        total = torch.zeros((M.shape[0], M.shape[1]), dtype=self._tdtype, device=self._device)
        for lin, curv in self._passes():
            U = curv.apply(lin.jvp(V))
            total += self._join(lin.vjp(U))
        return total * self.scale

    def _diagonal_torch(self):
        # diag(Σₙ Jₙᵀ Sₙ Σ Sₙᵀ Jₙ) = Σₙ Σᵥ σᵥₙ (Jₙᵀ sᵥₙ)²: one batched backward per
        # column v of the factor (BackPACK's DiagGGNExact), per sample.
        total = [torch.zeros(s, dtype=self._tdtype, device=self._device) for s in self._shapes]
        for lin, curv in self._passes():
            S, sign = curv.factor()
            for v in range(S.shape[0]):
                sq = lin.per_sample_square_sum(S[v], None if sign is None else sign[v])
                for t, g in zip(total, sq, strict=False):
                    t += g
        return torch.cat([t.reshape(-1) for t in total]) * self.scale
