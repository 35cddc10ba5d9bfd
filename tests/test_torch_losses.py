"""lossmath.torch: values and closed-form derivatives of every loss through PyTorch.

Each loss's value, gradient (backward) and Hessian (double backward) are checked
against the NumPy methods, at the sample points of ``lossmath check`` (extreme
scores included); the comparison with exact mpmath results is ``-m slow``. The
mapping onto torch.nn's losses (docs/torch-jax.md) is pinned numerically.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lossmath.torch as lmt  # noqa: E402
from lossmath.checking._checks import (  # noqa: E402
    ULP_TOLERANCE,
    _flat_exact,
    loss_cases,
    sample_points,
)
from lossmath.checking._ulp import ulp_error  # noqa: E402
from lossmath.losses import available, get_loss  # noqa: E402

F = torch.nn.functional
INF = math.inf
DEFAULT_CASES = [get_loss(name) for name in available()]
DIFFERENTIABLE_IN_Y = {
    "squared_error",
    "absolute_error",
    "huber",
    "pseudo_huber",
    "log_cosh",
    "quantile",
    "logistic",
    "poisson",
    "gamma",
    "tweedie",
}


def _ids(loss):
    return repr(loss)


def torch_vgh(loss, y, z):
    """Value, gradient (backward) and Hessian (double backward) through lossmath.torch.

    Scalar losses: the Hessian diagonal; multinomial: each row's ``K × K``
    Hessian, one ``H v`` per class.
    """
    zt = torch.tensor(z, requires_grad=True)
    yt = torch.tensor(y)
    if loss.n_outputs != 1 and y.ndim == 1:
        yt = yt.long()
    v = lmt.loss(loss, zt, yt, reduction="none")
    (g,) = torch.autograd.grad(v.sum(), zt, create_graph=True)
    if zt.ndim == 1:
        (h,) = torch.autograd.grad(g.sum(), zt)
    else:
        cols = []
        for j in range(z.shape[1]):
            e = torch.zeros_like(zt)
            e[:, j] = 1
            cols.append(torch.autograd.grad(g, zt, e, retain_graph=True)[0])
        h = torch.stack(cols, dim=2)
    return v.detach().numpy(), g.detach().numpy(), h.numpy()


def _close_in_ulps(a, b, n_ulps, floor):
    """``|a − b| ≤ n ulp(max(|a|, |b|))``, or ``≤ floor`` (cancellation, near 0)."""
    a, b = np.ravel(a), np.ravel(b)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    scale = np.maximum(np.abs(a), np.abs(b))
    ok = same | (np.abs(a - b) <= n_ulps * np.spacing(scale)) | (np.abs(a - b) <= floor)
    return bool(np.all(ok)), a[~ok][:3], b[~ok][:3]


# ------------------------------------------------------------------- import
def test_import_lossmath_does_not_import_torch():
    code = "import sys, lossmath, lossmath.losses; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------- value, gradient, Hessian
@pytest.mark.parametrize("loss", DEFAULT_CASES, ids=_ids)
def test_matches_numpy_methods(loss):
    """Backward is the NumPy gradient, double backward the NumPy Hessian (float64)."""
    for y, z in sample_points(loss, n_random=20):
        v, g, h = torch_vgh(loss, y, z)
        vn, gn, _ = loss.value_gradient_hessian(y, z)
        hn = loss.hessian(y, z)
        for name, a, b in (("value", v, vn), ("gradient", g, gn), ("hessian", h, hn)):
            # Both are within 16 ulp of the exact result (mpmath, -m slow); the
            # floor covers terms that cancel (a gradient crossing 0).
            floor = 1e-15 * max(1.0, float(np.max(np.abs(b[np.isfinite(b)]), initial=0)))
            ok, got, want = _close_in_ulps(a, b, 2 * ULP_TOLERANCE, floor)
            assert ok, f"{loss!r} {name}: torch {got} vs NumPy {want}"


@pytest.mark.slow
@pytest.mark.parametrize("loss", loss_cases(), ids=_ids)
def test_ulps_against_mpmath(loss):
    """Every parameter case within DESIGN's 16 ulp of mpmath, through PyTorch."""
    for y, z in sample_points(loss):
        computed = dict(zip(("value", "gradient", "hessian"), torch_vgh(loss, y, z), strict=True))
        for q, (ref, scale) in _flat_exact(loss, y, z).items():
            err = float(np.max(ulp_error(np.ravel(computed[q]), ref, np.float64, scale)))
            assert err <= ULP_TOLERANCE, f"{loss!r} {q}: {err} ulp"


def test_multinomial_hessian_is_exact_at_large_gaps():
    # Autograd through log_softmax loses the relative accuracy of p_k (1 − p_k) ≈ p_k
    # for a confident row; the closed form keeps it.
    z = torch.tensor([[0.0, -40.0, -700.0]], dtype=torch.float64)
    t = torch.tensor([0])
    h = torch.func.hessian(lambda z: lmt.loss("multinomial", z, t, reduction="sum"))(z)
    diag = torch.diagonal(h.reshape(3, 3))
    want = get_loss("multinomial").hessian_diagonal(np.array([0]), z.numpy())[0]
    assert np.allclose(diag.numpy(), want, rtol=1e-14, atol=0)
    assert diag[0].item() == pytest.approx(math.exp(-40), rel=1e-14)


# ------------------------------------------------------------ infinities
@pytest.mark.parametrize("loss", DEFAULT_CASES, ids=_ids)
def test_infinite_scores_give_no_nan(loss):
    if loss.n_outputs != 1:
        z = torch.tensor([[INF, 0.0, -INF], [-INF, 1.0, 2.0]], dtype=torch.float64)
        y = torch.tensor([0, 2])
    else:
        z = torch.tensor([INF, -INF, INF, -INF], dtype=torch.float64)
        dom = loss.y_interval
        labels = dom.binary or dom.high == 1
        y = torch.tensor([1.0, 0.0, 0.0, 1.0] if labels else [1.0, 1.0, 2.0, 0.5]).double()
    z.requires_grad_(True)
    v = lmt.loss(loss, z, y, reduction="none")
    (g,) = torch.autograd.grad(v.sum(), z, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), z)
    for name, a in (("value", v), ("gradient", g), ("hessian", h)):
        assert not torch.isnan(a).any(), f"{loss!r} {name}: {a}"


def test_logistic_at_infinite_logits_is_its_limit():
    z = torch.tensor([INF, -INF, INF, -INF], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    v = lmt.loss("logistic", z, y, reduction="none")
    assert v.tolist() == [0.0, 0.0, INF, INF]
    # torch.nn's BCE is NaN at the first two (pytorch#49844).
    (g,) = torch.autograd.grad(v.sum(), z, create_graph=True)
    assert g.tolist() == [0.0, 0.0, 1.0, -1.0]
    (h,) = torch.autograd.grad(g.sum(), z)
    assert h.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_multinomial_masked_logits():
    # −inf logits (masked classes) are the limit: softmax 0 there.
    z = torch.tensor([[2.0, -INF, 0.5], [-INF, -INF, 1.0]], dtype=torch.float64)
    z.requires_grad_(True)
    t = torch.tensor([0, 2])
    v = lmt.loss("multinomial", z, t, reduction="none")
    finite = torch.tensor([[2.0, 0.5], [1.0, 1.0]], dtype=torch.float64)
    want0 = F.cross_entropy(finite[:1], torch.tensor([0]), reduction="none")
    assert v[0].item() == pytest.approx(want0.item(), rel=1e-15)
    assert v[1].item() == 0.0
    (g,) = torch.autograd.grad(v.sum(), z)
    p = torch.softmax(finite[0], 0)
    assert torch.allclose(g[0], torch.stack([p[0] - 1, torch.zeros(()).double(), p[1]]))
    assert g[1].tolist() == [0.0, 0.0, 0.0]
    # A target on a masked class: an infinite loss, not NaN.
    v = lmt.loss("multinomial", z.detach(), torch.tensor([1, 0]), reduction="none")
    assert v.tolist() == [INF, INF]


def test_large_finite_logits_match_numpy():
    z = torch.tensor([1e300, -1e300, 700.0, -700.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    v = lmt.loss("logistic", z, y, reduction="none")
    want = get_loss("logistic").value(y.numpy(), z.numpy())
    assert v.numpy().tolist() == want.tolist()


# -------------------------------------------------------------- transforms
def _scalar_fn(name, y, **kw):
    return lambda z: lmt.loss(name, z, y, reduction="sum", **kw)


@pytest.mark.parametrize("name", ["logistic", "poisson", "pseudo_huber", "focal"])
def test_torch_func_transforms(name):
    rng = np.random.default_rng(0)
    loss = get_loss(name)
    binary = loss.y_interval.binary or loss.y_interval.high == 1
    y = np.round(rng.uniform(0, 1, 5)) if binary else rng.uniform(0, 3, 5)
    z = rng.normal(0, 2, 5)
    yt, zt = torch.tensor(y), torch.tensor(z)
    f = _scalar_fn(name, yt)
    g, h = loss.gradient(y, z), loss.hessian_diagonal(y, z)
    assert np.allclose(torch.func.grad(f)(zt).numpy(), g, rtol=1e-14)
    assert np.allclose(torch.func.jacrev(f)(zt).numpy(), g, rtol=1e-14)
    assert np.allclose(torch.func.jacfwd(f)(zt).numpy(), g, rtol=1e-14)
    for hess in (
        torch.func.hessian(f)(zt),
        torch.func.jacrev(torch.func.jacrev(f))(zt),
        torch.func.jacrev(torch.func.jacfwd(f))(zt),
    ):
        # (jacfwd ∘ jacfwd is not supported: PyTorch does not differentiate a custom
        # Function's jvp rule in forward mode again; see docs/torch-jax.md.)
        assert np.allclose(hess.numpy(), np.diag(h), rtol=1e-14, atol=0)
    batched = torch.func.vmap(torch.func.grad(f))(torch.stack([zt, 2 * zt]))
    assert np.allclose(batched[1].numpy(), loss.gradient(y, 2 * z), rtol=1e-14)


def test_torch_func_multinomial():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (4, 3))
    y = np.array([0, 2, 1, 1])
    zt, yt = torch.tensor(z), torch.tensor(y)
    loss = get_loss("multinomial")

    def f(z):
        return lmt.loss("multinomial", z, yt, reduction="sum")

    assert np.allclose(torch.func.grad(f)(zt).numpy(), loss.gradient(y, z), rtol=1e-14)
    assert np.allclose(torch.func.jacfwd(f)(zt).numpy(), loss.gradient(y, z), rtol=1e-14)
    full = torch.func.hessian(f)(zt).numpy()  # (4, 3, 4, 3), block diagonal
    blocks = np.stack([full[i, :, i, :] for i in range(4)])
    assert np.allclose(blocks, loss.hessian(y, z), rtol=1e-13, atol=1e-300)
    v = rng.normal(size=(4, 3))
    _, hv = torch.func.jvp(torch.func.grad(f), (zt,), (torch.tensor(v),))
    assert np.allclose(hv.numpy(), loss.hessian_vector_product(y, z, v), rtol=1e-13)
    batched = torch.func.vmap(torch.func.grad(f))(torch.stack([zt, -zt]))
    assert np.allclose(batched[1].numpy(), loss.gradient(y, -z), rtol=1e-14)


def _gradcheck_point(loss, rng, n=5):
    """A float64 point away from kinks; ``y`` requires grad where the loss allows."""
    name = loss.name
    if name == "multinomial":
        z = rng.normal(0, 1, (n, 3))
        y = torch.softmax(torch.tensor(rng.normal(0, 1, (n, 3))), 1)
    else:
        z = rng.normal(0, 1, n)
        dom = loss.y_interval
        if dom.binary:
            y = torch.tensor(np.round(rng.uniform(0, 1, n)))
        elif dom.high == 1:
            y = torch.tensor(rng.uniform(0.1, 0.9, n))
        elif dom.low == 0:
            y = torch.tensor(rng.uniform(0.5, 3, n))
        else:
            y = torch.tensor(z + rng.choice([-1, 1], n) * rng.uniform(0.3, 0.6, n))
    zt = torch.tensor(z, requires_grad=True)
    y = y.detach().requires_grad_(name in DIFFERENTIABLE_IN_Y or name == "multinomial")
    return zt, y


@pytest.mark.parametrize("loss", DEFAULT_CASES, ids=_ids)
def test_gradcheck_and_gradgradcheck(loss):
    zt, y = _gradcheck_point(loss, np.random.default_rng(3))
    inputs = (zt, y) if y.requires_grad else (zt,)

    def f(z, y=y):
        return lmt.loss(loss, z, y, reduction="none", check_input=False)

    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def test_target_not_differentiable_says_so():
    z = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="hinge loss is not differentiable in its target"):
        lmt.loss("hinge", z, y)


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("name", "z", "y", "match"),
    [
        ("logistic", [0.0, 1.0], [0.0, 1.0, 1.0], "logistic: target must have the shape"),
        ("logistic", [0.0, 1.0], [0.0, 2.0], r"logistic: y must lie in \[0, 1\]"),
        ("logistic", [0.0, math.nan], [0.0, 1.0], "logistic: input must not be NaN"),
        ("logistic", [0.0, 1.0], [0.0, math.nan], "logistic: y must be finite"),
        ("poisson", [0.0, 1.0], [-1.0, 1.0], "poisson: y must be >= 0"),
        ("hinge", [0.0, 1.0], [0.5, 1.0], "hinge: y must be 0 or 1"),
    ],
)
def test_bad_input_raises_before_backward(name, z, y, match):
    zt = torch.tensor(z, requires_grad=True)
    with pytest.raises(ValueError, match=match):
        lmt.loss(name, zt, torch.tensor(y))
    assert zt.grad is None


def test_bad_multinomial_input():
    z = torch.zeros(3, 4)
    with pytest.raises(ValueError, match=r"multinomial: y \(class labels\) must lie in \[0, 3\]"):
        lmt.loss("multinomial", z, torch.tensor([0, 4, 1]))
    with pytest.raises(ValueError, match=r"multinomial: y .class labels. must lie in \[0, 3\]"):
        lmt.loss("multinomial", z, torch.tensor([0, -1, 1]))
    with pytest.raises(ValueError, match="multinomial: target must be class indices"):
        lmt.loss("multinomial", z, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="multinomial: probability rows y must sum to 1"):
        lmt.loss("multinomial", z, torch.full((3, 4), 0.3))
    with pytest.raises(ValueError, match="multinomial: input must have shape"):
        lmt.loss("multinomial", torch.zeros(3), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="multinomial: sample_weight must be >= 0"):
        lmt.loss("multinomial", z, torch.tensor([0, 1, 1]), weight=torch.tensor([1.0, -1, 1]))
    with pytest.raises(ValueError, match="multinomial: weight must be broadcastable"):
        lmt.loss("multinomial", z, torch.tensor([0, 1, 1]), weight=torch.ones(4))
    with pytest.raises(ValueError, match="reduction must be one of"):
        lmt.Loss("multinomial", reduction="avg")
    with pytest.raises(TypeError, match="input must be a floating-point"):
        lmt.loss("logistic", torch.tensor([0, 1]), torch.tensor([0.0, 1.0]))


# ------------------------------------------------------- dtypes and devices
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_low_precision_is_rounded_once(dtype):
    dt = getattr(torch, dtype)
    z64 = torch.linspace(-30, 30, 101, dtype=torch.float64)
    z = z64.to(dt).requires_grad_(True)
    y = (torch.arange(101) % 2).to(dt)
    v = lmt.loss("logistic", z, y, reduction="none")
    assert v.dtype == dt
    exact = lmt.loss("logistic", z.detach().double(), y.double(), reduction="none")
    if dt is torch.float32:
        assert torch.allclose(v.double(), exact, rtol=4 * torch.finfo(dt).eps)
    else:  # computed in float32, rounded once: the float64 result rounded to dt
        assert torch.equal(v, exact.to(dt))
    v.sum().backward()
    assert z.grad.dtype == dt
    assert torch.isfinite(z.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["logistic", "poisson", "focal", "multinomial"])
def test_cuda_matches_cpu(name):
    rng = np.random.default_rng(4)
    if name == "multinomial":
        z = torch.tensor(rng.normal(0, 3, (64, 5)))
        y = torch.tensor(rng.integers(0, 5, 64))
    else:
        z = torch.tensor(rng.normal(0, 3, 64))
        y = torch.tensor(np.round(rng.uniform(0, 1, 64)))
    out = {}
    for device in ("cpu", "cuda"):
        zd = z.to(device).requires_grad_(True)
        v = lmt.loss(name, zd, y.to(device), reduction="sum")
        (g,) = torch.autograd.grad(v, zd, create_graph=True)
        (h,) = torch.autograd.grad(g.sum(), zd)
        assert v.device.type == device
        assert h.device.type == device
        out[device] = [t.detach().cpu() for t in (v, g, h)]
    for a, b in zip(out["cpu"], out["cuda"], strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-300)


# ------------------------------------------------------ module and compile
def test_module_in_a_training_step():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1).double()
    criterion = lmt.Loss("logistic")
    x = torch.randn(16, 3, dtype=torch.float64)
    y = (torch.rand(16) > 0.5).double()
    ref = torch.nn.BCEWithLogitsLoss()
    out = criterion(model(x).squeeze(1), y)
    want = ref(model(x).squeeze(1), y)
    assert out.item() == pytest.approx(want.item(), rel=1e-14)
    out.backward()
    g_ours = model.weight.grad.clone()
    model.zero_grad()
    want.backward()
    assert torch.allclose(g_ours, model.weight.grad, rtol=1e-13)
    assert "Logistic()" in repr(criterion)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["logistic", "multinomial"])
def test_torch_compile_one_graph(name):
    torch._dynamo.reset()
    model = torch.nn.Linear(4, 3)
    criterion = lmt.Loss(name)
    x = torch.randn(8, 4)
    y = (torch.rand(8) > 0.5).float() if name == "logistic" else torch.randint(0, 3, (8,))

    def step(x, y):
        out = model(x)
        return criterion(out[:, 0] if name == "logistic" else out, y)

    explained = torch._dynamo.explain(step)(x, y)
    assert explained.graph_break_count == 0
    compiled = torch.compile(step)
    out = compiled(x, y)
    out.backward()
    assert out.item() == pytest.approx(step(x, y).item(), rel=1e-6)
