"""The model's Jacobian products by autograd: the one place the operators get them.

:func:`linearize` evaluates the model once on a batch and returns a
:class:`Linearization`: the outputs ``z`` and the products ``J v`` (tangents of
the parameters), ``Jᵀ u`` (cotangents of the outputs) and the per-sample squares
``Σₙ (Jₙᵀ uₙ)²``. Closed-form providers for known layers can replace this
function; nothing else in the package differentiates the model.

The model is called through :func:`torch.func.functional_call` on copies of its
buffers, so that a module in train mode (batch norm) computes with the batch's
statistics — the batch couples the samples and every product here differentiates
through that coupling exactly — while the model's own running statistics are
left as they were.
"""

from __future__ import annotations

import torch

# Elements of one batched backward's result (chunk × parameters) kept below this.
_CHUNK_ELEMENTS = 1 << 24


class Linearization:
    """The model at fixed parameters on one batch: ``z = f(θ, X)`` and ``J``'s products."""

    def __init__(self, z: torch.Tensor, leaves: list):
        self.z = z
        self._leaves = leaves
        self._u = None
        self._g = None

    @property
    def output(self) -> torch.Tensor:
        """``z``, detached."""
        return self.z.detach()

    def _grad(self, outputs: list, inputs: list, cotangents: list) -> list:
        """Batched ``autograd.grad`` (cotangents stacked on a leading axis of size ``k``)."""
        k = cotangents[0].shape[0]
        try:
            out = torch.autograd.grad(
                outputs,
                inputs,
                cotangents,
                retain_graph=True,
                allow_unused=True,
                is_grads_batched=True,
            )
        except RuntimeError:
            # An operation without a batching rule: one backward per cotangent.
            cols = [
                torch.autograd.grad(
                    outputs,
                    inputs,
                    [c[i] for c in cotangents],
                    retain_graph=True,
                    allow_unused=True,
                )
                for i in range(k)
            ]
            out = [None if col[0] is None else torch.stack(col) for col in zip(*cols, strict=False)]
        return [
            torch.zeros((k, *p.shape), dtype=p.dtype, device=p.device) if g is None else g
            for p, g in zip(inputs, out, strict=False)
        ]

    def vjp(self, U: torch.Tensor) -> list:
        """``Jᵀ uᵢ`` for stacked cotangents ``U`` ``(k, *z.shape)``: ``(k, *p.shape)`` each."""
        return self._grad([self.z], self._leaves, [U])

    def jvp(self, V: list) -> torch.Tensor:
        """``J vᵢ`` for stacked parameter tangents (``(k, *p.shape)`` each): ``(k, *z.shape)``.

        By two reverse passes: ``u ↦ Jᵀ u`` is linear in ``u``, and its own
        vector-Jacobian product with ``v`` is ``J v`` (every module with a double
        backward, also those without forward-mode rules).
        """
        if self._u is None:
            self._u = torch.zeros_like(self.z, requires_grad=True)
            g = torch.autograd.grad(
                self.z, self._leaves, self._u, create_graph=True, allow_unused=True
            )
            # Parameters z does not depend on (or only linearly through u) drop out.
            self._g = [(i, gi) for i, gi in enumerate(g) if gi is not None and gi.requires_grad]
        if not self._g:
            return torch.zeros(
                (V[0].shape[0], *self.z.shape), dtype=self.z.dtype, device=self.z.device
            )
        (jv,) = self._grad([gi for _, gi in self._g], [self._u], [V[i] for i, _ in self._g])
        return jv

    def per_sample_square_sum(self, U: torch.Tensor, sign: torch.Tensor | None) -> list:
        """``Σₙ σₙ (Jₙᵀ uₙ)²`` (element-wise), ``Jₙ`` the rows of sample ``n`` of ``J``.

        ``U`` has ``z``'s shape; sample ``n``'s cotangent is ``U[n]`` alone (zero
        elsewhere), so that cross terms between samples never enter — also where
        the batch couples them. Samples whose cotangent is zero are skipped.
        """
        n = U.shape[0]
        flat = U.reshape(n, -1)
        rows = torch.nonzero(torch.any(flat != 0, dim=1)).flatten().tolist()
        total = [torch.zeros_like(p) for p in self._leaves]
        if not rows:
            return total
        n_params = sum(p.numel() for p in self._leaves)
        chunk = max(1, min(len(rows), _CHUNK_ELEMENTS // max(n_params + U.numel(), 1)))
        for start in range(0, len(rows), chunk):
            idx = torch.tensor(rows[start : start + chunk], device=U.device)
            E = torch.zeros((len(idx), *U.shape), dtype=U.dtype, device=U.device)
            E[torch.arange(len(idx), device=U.device), idx] = U[idx]
            grads = self.vjp(E)
            s = None if sign is None else sign[idx]
            for t, g in zip(total, grads, strict=False):
                sq = g * g
                if s is not None:
                    sq = sq * s.reshape(-1, *([1] * (g.ndim - 1)))
                t.add_(sq.sum(0))
        return total


def linearize(model, names: list, tensors: list, fixed: dict, X: torch.Tensor) -> Linearization:
    """Evaluate ``model`` at ``X`` with graph-carrying copies of the trainable parameters."""
    leaves = [p.detach().requires_grad_(True) for p in tensors]
    state = dict(zip(names, leaves, strict=False))
    state.update({k: p.detach() for k, p in fixed.items()})
    # Copies: train-mode modules update running statistics on these, not on the model.
    state.update({k: b.clone() for k, b in model.named_buffers()})
    with torch.enable_grad():
        z = torch.func.functional_call(model, state, (X,))
    return Linearization(z, leaves)
