"""Parity of lossmath.curvature with curvlinops and BackPACK on the losses they share.

The anchors support three losses: ``MSELoss`` (lossmath's ``squared_error`` is
``½ r²``, so torch's is 2× it, and its curvature 2×), ``CrossEntropyLoss``
(``multinomial``) and ``BCEWithLogitsLoss`` (``logistic``), each with
``reduction="mean"`` and ``"sum"``. Compared: the GGN mat-vec and matrix
(curvlinops' ``GGNLinearOperator``), the exact diagonal (BackPACK's
``DiagGGNExact``), the per-datum factor of the loss Hessian (curvlinops'
``loss_hessian_matrix_sqrt``) and BackPACK's ``[V, N, C]`` factor through
``SqrtGGNExact`` (``Jₙᵀ S[v, n]``), element-wise at 1e-10 relative to each
element's terms. Neither anchor installs beside the project's torch build in
every environment: these tests skip without them.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
curvlinops = pytest.importorskip("curvlinops")
backpack = pytest.importorskip("backpack")

from backpack import backpack as backpack_context  # noqa: E402
from backpack import extend  # noqa: E402
from backpack.extensions import DiagGGNExact, SqrtGGNExact  # noqa: E402
from curvlinops import GGNLinearOperator  # noqa: E402
from curvlinops.kfac_utils import loss_hessian_matrix_sqrt  # noqa: E402

from lossmath.curvature import GGN, loss_hessian_sqrt  # noqa: E402
from lossmath.losses import get_loss  # noqa: E402

RTOL = 1e-10
N, D_IN, HIDDEN, C = 6, 3, 4, 3

# (lossmath name, torch loss class, factor: torch's loss / lossmath's)
PAIRS = [
    ("squared_error", torch.nn.MSELoss, 2.0),
    ("multinomial", torch.nn.CrossEntropyLoss, 1.0),
    ("logistic", torch.nn.BCEWithLogitsLoss, 1.0),
]
IDS = [p[0] for p in PAIRS]


def _setup(name, seed=0, c=C):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(D_IN, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, c)
    ).double()
    X = torch.randn(N, D_IN, dtype=torch.float64)
    if name == "multinomial":
        y = torch.randint(0, c, (N,))
    elif name == "logistic":
        y = torch.randint(0, 2, (N, c)).double()
    else:
        y = torch.randn(N, c, dtype=torch.float64)
    return model, X, y


def _abs_loss_hessian(name, z, y):
    """``|Hₙ|`` ``(N, C, C)`` from lossmath's NumPy ``hessian``."""
    lm = get_loss(name)
    z, y = z.detach().numpy(), y.numpy()
    if name == "multinomial":
        return np.abs(lm.hessian(y, z))
    h = lm.hessian(y.reshape(-1), z.reshape(-1)).reshape(z.shape)
    return np.einsum("nc,cd->ncd", np.abs(h), np.eye(z.shape[1]))


def _close(actual, expected, terms, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    diff = np.abs(actual - expected)
    bad = diff > RTOL * terms
    assert not bad.any(), f"{what}: worst {diff.max()} ({bad.sum()} elements)"
    return float(np.max(diff / np.where(terms > 0, terms, 1)))


def _terms(model, X, y, name):
    """``Σₙ |Jₙ|ᵀ |Hₙ| |Jₙ|`` element-wise, the scale each GGN element is judged by.

    Computed before BackPACK's ``extend`` (its hooks refuse ``torch.func``).
    """
    theta = [p.detach() for p in model.parameters()]
    names = [n for n, _ in model.named_parameters()]

    def f(*ps):
        return torch.func.functional_call(model, dict(zip(names, ps, strict=True)), (X,))

    J = torch.func.jacrev(f, argnums=tuple(range(len(theta))))(*theta)
    z = f(*theta)
    c = z.shape[1]
    J = torch.cat([j.reshape(N, c, -1) for j in J], dim=2).numpy()
    return np.einsum("ncp,ncd,ndq->pq", abs(J), _abs_loss_hessian(name, z, y), abs(J))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_ggn_matches_curvlinops(pair, reduction):
    name, cls, factor = pair
    model, X, y = _setup(name)
    data = [(X[:3], y[:3]), (X[3:], y[3:])]
    ours = GGN(model, name, data, reduction=reduction)
    theirs = GGNLinearOperator(model, cls(reduction=reduction), list(model.parameters()), data)
    dense = theirs @ torch.eye(ours.shape[0], dtype=torch.float64)
    scale = ours.n_terms if reduction == "mean" else 1
    terms = factor * _terms(model, X, y, name) / scale
    _close(ours.to_dense() * factor, dense.numpy(), terms, "GGN matrix")
    v = np.random.default_rng(0).normal(size=ours.shape[0])
    _close(ours @ v * factor, (theirs @ torch.tensor(v)).numpy(), terms @ abs(v), "GGN matvec")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_diagonal_matches_backpack_diag_ggn_exact(pair, reduction):
    name, cls, factor = pair
    # BackPACK's BCEWithLogitsLoss takes one output per sample.
    c = 1 if name == "logistic" else C
    model, X, y = _setup(name, seed=1, c=c)
    ours = GGN(model, name, [(X, y)], reduction=reduction).diagonal()
    scale = (N * c if name != "multinomial" else N) if reduction == "mean" else 1
    terms = factor * np.diag(_terms(model, X, y, name)) / scale
    bp_model = extend(model)
    lossfunc = extend(cls(reduction=reduction))
    loss = lossfunc(bp_model(X), y)
    with backpack_context(DiagGGNExact()):
        loss.backward()
    theirs = torch.cat([p.diag_ggn_exact.reshape(-1) for p in model.parameters()]).numpy()
    _close(ours * factor, theirs, terms, "DiagGGNExact")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_factor_matches_curvlinops_per_datum(pair, reduction):
    name, cls, factor = pair
    model, X, y = _setup(name, seed=2)
    z = model(X).detach()
    ours = loss_hessian_sqrt(name, z, y, reduction=reduction, layout="curvlinops")
    for n in range(N):
        theirs = loss_hessian_matrix_sqrt(z[n : n + 1], y[n : n + 1], cls(reduction=reduction))
        terms = np.abs(theirs.numpy()) + 1e-300
        _close(ours[n].numpy() * np.sqrt(factor), theirs.numpy(), terms, "per-datum S")


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("pair", PAIRS, ids=IDS)
def test_factor_matches_backpack_sqrt_ggn_exact(pair, reduction):
    """BackPACK's ``sqrt_ggn_exact`` is ``Jₙᵀ S[v, n]`` with its ``[V, N, C]`` factor."""
    name, cls, factor = pair
    c = 1 if name == "logistic" else C
    model, X, y = _setup(name, seed=3, c=c)
    z = model(X).detach()
    S = loss_hessian_sqrt(name, z, y, reduction=reduction, layout="backpack")
    names = [n for n, _ in model.named_parameters()]
    theta = [p.detach() for p in model.parameters()]

    def f(*ps):
        return torch.func.functional_call(model, dict(zip(names, ps, strict=True)), (X,))

    J = torch.func.jacrev(f, argnums=tuple(range(len(theta))))(*theta)
    bp_model = extend(model)
    lossfunc = extend(cls(reduction=reduction))
    loss = lossfunc(bp_model(X), y)
    with backpack_context(SqrtGGNExact()):
        loss.backward()
    for p, j in zip(model.parameters(), J, strict=True):
        j = j.reshape(N, c, -1)
        ours = torch.einsum("vnc,ncp->vnp", S, j).numpy() * np.sqrt(factor)
        theirs = p.sqrt_ggn_exact.reshape(c, N, -1).numpy()
        terms = np.sqrt(factor) * torch.einsum("vnc,ncp->vnp", S.abs(), j.abs()).numpy() + 1e-300
        _close(ours, theirs, terms, "SqrtGGNExact")
