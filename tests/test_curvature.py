"""lossmath.curvature: every operator against dense references built with torch.func.

The references: ``J`` by ``torch.func.jacrev`` of the model's outputs with respect
to the flattened parameters, the loss's output-space Hessian / Fisher / gradient
from lossmath's NumPy methods, and ``torch.func.hessian`` of the total loss for the
parameter Hessian. Each element is compared relative to the sum of the absolute
values of the terms that make it (``|J|ᵀ |M| |J|`` element-wise), at 1e-10, so that
elements that cancel to ~0 are judged by the size of what cancelled.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lossmath  # noqa: E402
import lossmath.torch as lmt  # noqa: E402
from lossmath.curvature import (  # noqa: E402
    GGN,
    Fisher,
    Hessian,
    hessian_decomposition,
    loss_hessian_sqrt,
)
from lossmath.losses import available, get_loss  # noqa: E402

RTOL = 1e-10
N_SAMPLES = 6
ACTIVATIONS = (torch.nn.Tanh, torch.nn.GELU, torch.nn.Softplus)
MULTINOMIAL_PARAMS = {"class_weight": [1.0, 2.0, 0.5], "label_smoothing": 0.1}
CASES = [(name, {}) for name in available()] + [("multinomial", MULTINOMIAL_PARAMS)]


def _id(case):
    name, params = case
    return name + ("+weights+smoothing+ignore" if params else "")


# ----------------------------------------------------------------------- fixtures
def _mlp(n_out, activation, seed):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 4), activation(), torch.nn.Linear(4, n_out)
    ).double()


def _problem(name, params, seed=0, activation=None, weighted=True):
    """A small MLP, its loss and two batches ``(X, y, w)`` of 3 samples each."""
    lm = get_loss(name, **params)
    rng = np.random.default_rng(seed)
    multinomial = lm.n_outputs != 1
    k = 3 if multinomial else 2
    act = activation or ACTIVATIONS[sorted(available()).index(name) % 3]
    model = _mlp(k, act, seed)
    X = torch.tensor(rng.normal(size=(N_SAMPLES, 3)))
    if multinomial:
        y = torch.tensor(rng.integers(0, k, N_SAMPLES))
        if params:
            y[2] = -100  # ignore_index
    else:
        y = torch.tensor(lm.example_targets(rng, N_SAMPLES * k, np.float64).reshape(N_SAMPLES, k))
    w = torch.tensor(rng.uniform(0.5, 2.0, N_SAMPLES))
    batches = [
        (X[i : i + 3], y[i : i + 3], w[i : i + 3]) if weighted else (X[i : i + 3], y[i : i + 3])
        for i in (0, 3)
    ]
    return model, lm, batches


def _theta(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _functional(model):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [p.numel() for p in model.parameters()]

    def f(theta, X):
        parts = torch.split(theta, sizes)
        state = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes, strict=True)}
        # Copies made inside the transform: a train-mode batch norm updates these.
        state.update({n: b.clone() for n, b in model.named_buffers()})
        return torch.func.functional_call(model, state, (X,))

    return f


def _numpy_rows(lm, y, w):
    """The NumPy loss's view of a batch: ignored multinomial rows get weight 0."""
    y = y.numpy()
    w = np.ones(len(y)) if w is None else w.numpy().copy()
    if lm.n_outputs != 1:
        ignored = y == -100
        w[ignored] = 0.0
        y = np.where(ignored, 0, y)
    return y, w


def _output_blocks(lm, kind, z, y, w):
    """Per-sample output-space matrices ``Mₙ`` ``(N, D, D)`` from lossmath's NumPy methods."""
    y, w = _numpy_rows(lm, y, w)
    z = z.detach().numpy()
    n, d = z.shape
    if kind == "empirical":
        if lm.n_outputs != 1:
            g = lm.gradient(y, z)
        else:
            g = lm.gradient(y.reshape(-1), z.reshape(-1)).reshape(n, d)
        return w[:, None, None] * g[:, :, None] * g[:, None, :]
    if lm.n_outputs != 1:
        return lm.hessian(y, z, w)
    wf = np.repeat(w, d)
    f = lm.hessian if kind == "hessian" else lm.fisher_diagonal
    h = f(y.reshape(-1), z.reshape(-1), wf).reshape(n, d)
    return np.einsum("nd,de->nde", h, np.eye(d))


def _n_terms(lm, batches):
    return sum(b[1].numel() if lm.n_outputs == 1 else b[1].shape[0] for b in batches)


def _reference(model, lm, batches, kind, reduction="mean"):
    """``(C, A)``: ``C = c Σₙ Jₙᵀ Mₙ Jₙ`` and its element-wise absolute terms ``A``."""
    f = _functional(model)
    theta = _theta(model)
    c = 1.0 / _n_terms(lm, batches) if reduction == "mean" else 1.0
    C = np.zeros((theta.numel(), theta.numel()))
    A = np.zeros_like(C)
    for b in batches:
        X, y = b[0], b[1]
        w = b[2] if len(b) == 3 else None
        z = f(theta, X)
        J = torch.func.jacrev(f)(theta, X).numpy()  # (N, D, P)
        M = _output_blocks(lm, kind, z, y, w)
        C += c * np.einsum("ndp,nde,neq->pq", J, M, J)
        A += c * np.einsum("ndp,nde,neq->pq", abs(J), abs(M), abs(J))
    return C, A


def _assert_close(actual, expected, terms, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    bad = np.abs(actual - expected) > RTOL * terms
    assert not bad.any(), (
        f"{what}: {bad.sum()} of {bad.size} elements beyond {RTOL} of their terms; "
        f"worst {np.max(np.abs(actual - expected)[bad])}"
    )


def _check_operator(op, C, A, seed=1):
    """``to_dense``, ``@``, ``matmat``, ``mv``, ``diagonal``, ``trace`` against ``(C, A)``."""
    _assert_close(op.to_dense(), C, A, "to_dense")
    rng = np.random.default_rng(seed)
    v = rng.normal(size=C.shape[0])
    _assert_close(op @ v, C @ v, A @ np.abs(v), "matvec")
    V = rng.normal(size=(C.shape[0], 2))
    _assert_close(op.matmat(V), C @ V, A @ np.abs(V), "matmat")
    _assert_close(op.diagonal(), np.diag(C), np.diag(A), "diagonal")
    _assert_close(op.trace(), np.trace(C), np.trace(A), "trace")
    # torch-native mv on parameter lists: the same numbers, the parameters' layout.
    params = list(op.model.parameters())
    parts = torch.split(torch.tensor(v), [p.numel() for p in params])
    out = op.mv([t.reshape(p.shape) for t, p in zip(parts, params, strict=True)])
    assert [o.shape for o in out] == [p.shape for p in params]
    assert all(o.dtype == torch.float64 for o in out)
    np.testing.assert_array_equal(torch.cat([o.reshape(-1) for o in out]).numpy(), op @ v)


# ------------------------------------------------------------------ operators
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_ggn_against_dense_reference(case):
    name, params = case
    model, lm, batches = _problem(name, params)
    op = GGN(model, name, batches, **params)
    C, A = _reference(model, lm, batches, "hessian")
    _check_operator(op, C, A)
    assert op.is_psd == lm.curvature.psd


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_exact_fisher_against_dense_reference(case):
    name, params = case
    model, lm, batches = _problem(name, params, seed=2)
    C, A = _reference(model, lm, batches, "fisher")
    _check_operator(Fisher(model, lm, batches, kind="exact"), C, A)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_empirical_fisher_against_its_definition(case):
    name, params = case
    model, lm, batches = _problem(name, params, seed=3)
    C, A = _reference(model, lm, batches, "empirical")
    _check_operator(Fisher(model, name, batches, kind="empirical", **params), C, A)


def _hessian_reference(model, lm, batches, ignore_index=-100):
    """``torch.func.hessian`` of the mean loss and its absolute terms ``|G| + Σ|g||∇²z|``."""
    f = _functional(model)
    theta = _theta(model)
    c = 1.0 / _n_terms(lm, batches)

    def total(t):
        out = 0.0
        for X, y, w in batches:
            z = f(t, X)
            weight = w if lm.n_outputs != 1 else w[:, None]
            out = out + lmt.loss(
                lm, z, y, weight=weight, reduction="sum", ignore_index=ignore_index
            )
        return c * out

    H = torch.func.hessian(total)(theta).numpy()
    _, A = _reference(model, lm, batches, "hessian")
    for X, y, w in batches:
        z = f(theta, X).detach().requires_grad_(True)
        weight = w if lm.n_outputs != 1 else w[:, None]
        (g,) = torch.autograd.grad(lmt.loss(lm, z, y, weight=weight, reduction="sum"), z)
        d2z = torch.func.jacrev(torch.func.jacrev(f))(theta, X)  # (N, D, P, P)
        A += c * np.einsum("nd,ndpq->pq", abs(g.numpy()), abs(d2z.numpy()))
    return H, A


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_hessian_against_torch_func_hessian(case):
    name, params = case
    model, lm, batches = _problem(name, params, seed=4)
    H, A = _hessian_reference(model, lm, batches)
    op = Hessian(model, name, batches, **params)
    assert not op.is_psd
    _check_operator(op, H, A)


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_decomposition_h_equals_g_plus_r(case):
    name, params = case
    model, lm, batches = _problem(name, params, seed=5)
    X, y, w = batches[0]
    f = _functional(model)
    H, G, R = hessian_decomposition(
        lambda t: f(t, X), name, _theta(model), y, sample_weight=w, **params
    )
    assert H.dtype == G.dtype == R.dtype == torch.float64
    Gref, A = _reference(model, lm, [batches[0]], "hessian", reduction="sum")
    _assert_close(G.numpy(), Gref, A, "G")
    # H = G + R to round-off: relative to |G| + |R| element-wise.
    terms = np.abs(G.numpy()) + np.abs(R.numpy()) + np.abs(H.numpy())
    _assert_close(H.numpy(), (G + R).numpy(), terms, "H = G + R")
    # The operators agree with the decomposition on the same batch.
    Hop = Hessian(model, name, [batches[0]], reduction="sum", **params).to_dense()
    _assert_close(Hop, H.numpy(), terms + A, "Hessian operator vs decomposition")


# ------------------------------------------------------------------ PSD-ness
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_ggn_and_fisher_psd_where_the_loss_is_convex(case):
    name, params = case
    model, lm, batches = _problem(name, params, seed=6)
    F = np.linalg.eigvalsh(Fisher(model, name, batches, **params).to_dense())
    assert F[0] >= -1e-12 * F[-1]
    G = GGN(model, name, batches, **params)
    if lm.curvature.psd:
        e = np.linalg.eigvalsh(G.to_dense())
        assert G.is_psd
        assert e[0] >= -1e-12 * e[-1]
    else:
        assert not G.is_psd


def test_focal_ggn_is_indefinite_where_its_hessian_is_negative():
    lm = get_loss("focal")
    z = np.linspace(-6, 6, 241)
    h = lm.hessian(np.ones_like(z), z)
    z_neg = float(z[np.argmin(h)])
    assert h.min() < 0
    # A one-parameter model z = θ x: G = h(z) x², the loss's negative curvature, kept.
    model = torch.nn.Linear(1, 1, bias=False).double()
    with torch.no_grad():
        model.weight.fill_(1.0)
    data = [
        (torch.tensor([[z_neg], [2.0]], dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64))
    ]
    G = GGN(model, "focal", data, reduction="sum")
    expected = lm.hessian(np.array([1.0, 1.0]), np.array([z_neg, 2.0])) @ np.array([z_neg**2, 4.0])
    assert not G.is_psd
    assert G.to_dense()[0, 0] < 0
    np.testing.assert_allclose(G.to_dense()[0, 0], expected, rtol=1e-12)
    # The exact Fisher is the PSD choice there.
    assert Fisher(model, "focal", data, reduction="sum").to_dense()[0, 0] > 0


# ------------------------------------------------------- reduction and batching
@pytest.mark.parametrize("operator", [GGN, Hessian, Fisher])
@pytest.mark.parametrize("name", ["squared_error", "poisson", "multinomial"])
def test_reduction_and_batching(operator, name):
    model, lm, batches = _problem(name, {}, seed=7)
    mean = operator(model, name, batches).to_dense()
    op_sum = operator(model, name, batches, reduction="sum")
    assert op_sum.n_terms == _n_terms(lm, batches)
    np.testing.assert_allclose(op_sum.to_dense(), mean * op_sum.n_terms, rtol=1e-12, atol=1e-15)
    one = [tuple(torch.cat(parts) for parts in zip(*batches, strict=True))]
    np.testing.assert_allclose(operator(model, name, one).to_dense(), mean, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------- Monte Carlo
MC_FAST = ["squared_error", "logistic", "poisson", "multinomial"]
WITH_LAW = [n for n in available() if get_loss(n).distribution is not None]


def _mc_check(name, mc_samples):
    """The MC Fisher within 5 standard errors of the exact one, element-wise.

    The standard error of each element is estimated from independent draws of
    the same estimator with ``mc_samples = 1`` (by ``loss.sample`` in the test,
    in output space).
    """
    model, lm, batches = _problem(name, {}, seed=8)
    batches = batches[:1]
    exact, terms = _reference(model, lm, batches, "fisher")
    mc = Fisher(model, name, batches, kind="mc", mc_samples=mc_samples, seed=1234).to_dense()
    f = _functional(model)
    theta = _theta(model)
    X, _y, w = batches[0]
    z = f(theta, X).detach()
    J = torch.func.jacrev(f)(theta, X).numpy()
    c = 1.0 / _n_terms(lm, batches)
    gen = np.random.default_rng(99)
    draws = []
    for _ in range(200):
        if lm.n_outputs != 1:
            yt = lm.sample(z.numpy(), gen)
            g = lm.gradient(yt, z.numpy())
        else:
            yt = lm.sample(z.numpy().reshape(-1), gen)
            g = lm.gradient(yt, z.numpy().reshape(-1)).reshape(z.shape)
        jg = np.einsum("ndp,nd->np", J, g)
        draws.append(c * np.einsum("n,np,nq->pq", w.numpy(), jg, jg))
    se = np.std(draws, axis=0) / np.sqrt(mc_samples)
    bad = np.abs(mc - exact) > 5 * se + RTOL * terms
    assert not bad.any(), f"{bad.sum()} elements beyond 5 standard errors"
    # And the MC Fisher is a fixed matrix: the same seed, the same numbers.
    again = Fisher(model, name, batches, kind="mc", mc_samples=mc_samples, seed=1234)
    np.testing.assert_array_equal(again.to_dense(), mc)


@pytest.mark.parametrize("name", MC_FAST)
def test_mc_fisher_converges_to_exact(name):
    _mc_check(name, 200)


@pytest.mark.slow
@pytest.mark.parametrize("name", WITH_LAW)
def test_mc_fisher_converges_to_exact_every_law(name):
    _mc_check(name, 4000)


@pytest.mark.parametrize(
    "case",
    [(n, {}) for n in available() if get_loss(n).distribution is None]
    + [("multinomial", {"label_smoothing": 0.1})],
    ids=_id,
)
def test_mc_fisher_refuses_a_loss_without_distribution(case):
    name, params = case
    model, _, batches = _problem(name, params)
    with pytest.raises(NotImplementedError, match=name):
        Fisher(model, name, batches, kind="mc", **params)


# ---------------------------------------------------------------- batch norm
def _bn_model(seed, n_out):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        # No bias before batch norm: in train mode it would have a zero Jacobian
        # (the batch mean removes it), all round-off.
        torch.nn.Linear(3, 4, bias=False),
        torch.nn.BatchNorm1d(4),
        torch.nn.Tanh(),
        torch.nn.Linear(4, n_out),
    ).double()
    with torch.no_grad():  # running statistics away from their initial values
        model[1].running_mean.uniform_(-0.5, 0.5)
        model[1].running_var.uniform_(0.5, 2.0)
    return model


@pytest.mark.parametrize("name", ["multinomial", "poisson"])
def test_batchnorm_eval_mode(name):
    _, lm, batches = _problem(name, {}, seed=9)
    model = _bn_model(9, 3 if lm.n_outputs != 1 else 2).eval()
    C, A = _reference(model, lm, batches, "hessian")
    _check_operator(GGN(model, name, batches), C, A)
    H, A = _hessian_reference(model, lm, batches)
    np.testing.assert_array_less(
        np.abs(Hessian(model, name, batches).to_dense() - H), RTOL * A + 1e-300
    )


def test_batchnorm_train_mode_differentiates_through_the_batch():
    """In train mode the batch couples the samples: Jₙ is ∂zₙ/∂θ through the batch's
    statistics; the operators differentiate that coupling exactly and leave the
    model's running statistics as they were."""
    model = _bn_model(10, 3).train()
    _, lm, batches = _problem("multinomial", {}, seed=10)
    before = [b.clone() for b in model.buffers()]
    G = GGN(model, "multinomial", batches)
    dense = G.to_dense()
    # The reference: jacrev of the batch's outputs, in train mode, on copies of the buffers.
    f = _functional(model)
    theta = _theta(model)
    C = np.zeros_like(dense)
    A = np.zeros_like(dense)
    for X, y, w in batches:
        J = torch.func.jacrev(lambda t, X=X: f(t, X))(theta).numpy()
        M = _output_blocks(lm, "hessian", f(theta, X), y, w)
        C += np.einsum("ndp,nde,neq->pq", J, M, J) / 6
        A += np.einsum("ndp,nde,neq->pq", abs(J), abs(M), abs(J)) / 6
    _assert_close(dense, C, A, "train-mode GGN")
    _assert_close(G.diagonal(), np.diag(C), np.diag(A), "train-mode diagonal")
    for b, b0 in zip(model.buffers(), before, strict=True):
        assert torch.equal(b, b0)


# ----------------------------------------------------------- the factor S
@pytest.mark.parametrize("case", CASES, ids=_id)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_loss_hessian_sqrt_layouts(case, reduction):
    name, params = case
    _, lm, batches = _problem(name, params, seed=11)
    _, y, w = batches[0]
    rng = np.random.default_rng(11)
    z = torch.tensor(rng.normal(size=(3, 3 if lm.n_outputs != 1 else 2)))
    if not lm.curvature.psd:
        with pytest.raises(NotImplementedError, match=name):
            loss_hessian_sqrt(name, z, y, **params)
        return
    M = _output_blocks(lm, "hessian", z, y, w)
    bp = loss_hessian_sqrt(name, z, y, sample_weight=w, reduction=reduction, **params)
    cl = loss_hessian_sqrt(
        name, z, y, sample_weight=w, reduction=reduction, layout="curvlinops", **params
    )
    n, d = z.shape
    assert bp.shape == (d, n, d)
    assert cl.shape == (n, d, d)
    from_bp = torch.einsum("vnc,vne->nce", bp, bp).numpy()
    from_cl = torch.einsum("ncv,nev->nce", cl, cl).numpy()
    scalar = lm.n_outputs == 1
    bp_terms = (n * d if scalar else n) if reduction == "mean" else 1
    cl_terms = (d if scalar else 1) if reduction == "mean" else 1
    terms = np.abs(M) + 1e-300
    _assert_close(from_bp * bp_terms, M, terms, "backpack layout")
    _assert_close(from_cl * cl_terms, M, terms, "curvlinops layout")


# --------------------------------------------------------------- the API
def test_lazy_attribute_and_errors():
    import lossmath.curvature as lc

    assert lossmath.curvature is lc
    assert "curvature" not in lossmath.__all__
    model, _, batches = _problem("squared_error", {})
    with pytest.raises(ValueError, match="reduction"):
        GGN(model, "squared_error", batches, reduction="average")
    with pytest.raises(ValueError, match="kind"):
        Fisher(model, "squared_error", batches, kind="sampled")
    with pytest.raises(ValueError, match="batch"):
        GGN(model, "squared_error", [(batches[0][0],)])
    with pytest.raises(ValueError, match="mv"):
        GGN(model, "squared_error", batches).mv([torch.zeros(2)])
    with pytest.raises(TypeError, match="loss"):
        GGN(model, 3.0, batches)
    with pytest.raises(ValueError, match="mc_samples"):
        Fisher(model, "squared_error", batches, kind="mc", mc_samples=0)
    with pytest.raises(TypeError, match="re-iterable"):
        GGN(model, "squared_error", iter(batches))
    X, y, w = batches[0]
    with pytest.raises(ValueError, match="GGN: sample_weight has 2 entries"):
        GGN(model, "squared_error", [(X, y, w[:2])]).diagonal()


def test_params_subset_and_unweighted_batches():
    model, _lm, batches = _problem("logistic", {}, weighted=False)
    full = GGN(model, "logistic", batches).to_dense()
    last = list(model.parameters())[-2:]
    sub = GGN(model, "logistic", batches, params=last)
    k = sum(p.numel() for p in last)
    np.testing.assert_allclose(sub.to_dense(), full[-k:, -k:], rtol=1e-13, atol=1e-16)
