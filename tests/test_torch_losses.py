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


@pytest.fixture(params=["numpy", "tensor"])
def route(request, monkeypatch):
    """CPU tensors take the NumPy methods' compiled loops, or (as on CUDA) the kernel
    as tensor operations."""
    import lossmath.torch._api as api

    monkeypatch.setattr(api, "NUMPY_ROUTE", request.param == "numpy")
    return request.param


# ------------------------------------------------------------------- import
def test_import_lossmath_does_not_import_torch():
    code = "import sys, lossmath, lossmath.losses; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------- value, gradient, Hessian
@pytest.mark.parametrize("loss", DEFAULT_CASES, ids=_ids)
def test_matches_numpy_methods(loss, route):
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
def test_ulps_against_mpmath(loss, route):
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
def test_infinite_scores_give_no_nan(loss, route):
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
        assert np.allclose(hess.numpy(), np.diag(h), rtol=1e-14, atol=0)
    batched = torch.func.vmap(torch.func.grad(f))(torch.stack([zt, 2 * zt]))
    assert np.allclose(batched[1].numpy(), loss.gradient(y, 2 * z), rtol=1e-14)
    with pytest.raises(NotImplementedError, match="forward-over-forward"):
        torch.func.jacfwd(torch.func.jacfwd(f))(zt)


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
    with pytest.raises(NotImplementedError, match="forward-over-forward"):
        torch.func.jacfwd(torch.func.jacfwd(f))(zt)


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
def test_low_precision_is_rounded_once(dtype, route):
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


# ------------------------------------------- the mapping onto torch.nn (docs)
REDUCTIONS = ("none", "mean", "sum")


def _pair(n=40, seed=5, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z = 4 * torch.randn(n, generator=g, dtype=dtype)
    y = torch.rand(n, generator=g, dtype=dtype)
    w = torch.rand(n, generator=g, dtype=dtype)
    return z, y, w


def _assert_close(a, b, rtol=1e-13):
    assert torch.allclose(a, b, rtol=rtol, atol=1e-300), f"{a} vs {b}"


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_logistic_is_bce_with_logits(reduction):
    z, y, w = _pair()
    _assert_close(
        lmt.loss("logistic", z, y, reduction=reduction),
        F.binary_cross_entropy_with_logits(z, y, reduction=reduction),
    )
    # SoftMarginLoss with labels ±1 is the logistic loss of hard labels.
    hard = torch.round(y)
    _assert_close(
        lmt.loss("logistic", z, hard, reduction=reduction),
        F.soft_margin_loss(z, 2 * hard - 1, reduction=reduction),
    )
    if reduction != "mean":
        _assert_close(
            lmt.loss("logistic", z, y, w, reduction=reduction),
            F.binary_cross_entropy_with_logits(z, y, weight=w, reduction=reduction),
        )


def test_weighted_mean_differs_from_torch_bce():
    # lossmath: Σ wℓ / Σ w; torch.nn's BCE: Σ wℓ / N.
    z, y, w = _pair()
    ours = lmt.loss("logistic", z, y, w)
    ours_sum = lmt.loss("logistic", z, y, w, reduction="sum")
    _assert_close(ours, ours_sum / w.sum())
    _assert_close(
        ours_sum / z.numel(), F.binary_cross_entropy_with_logits(z, y, weight=w, reduction="mean")
    )


def test_zero_weight_counts_zero_where_the_loss_is_infinite():
    z = torch.tensor([INF, 0.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 1.0], dtype=torch.float64)
    out = lmt.loss("logistic", z, y, torch.tensor([0.0, 2.0], dtype=torch.float64))
    assert out.item() == pytest.approx(math.log(2), rel=1e-15)
    out.backward()
    assert z.grad.tolist() == [0.0, -0.5]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_factors(reduction):
    z, y, _ = _pair()
    y = 3 * y
    _assert_close(
        2 * lmt.loss("squared_error", z, y, reduction=reduction),
        F.mse_loss(z, y, reduction=reduction),
    )
    _assert_close(
        lmt.loss("absolute_error", z, y, reduction=reduction), F.l1_loss(z, y, reduction=reduction)
    )
    for delta in (0.5, 1.0, 2.5):
        huber = lmt.loss("huber", z, y, reduction=reduction, delta=delta)
        _assert_close(huber, F.huber_loss(z, y, reduction=reduction, delta=delta))
        # SmoothL1Loss(β) = Huber(δ = β) / β.
        _assert_close(huber / delta, F.smooth_l1_loss(z, y, reduction=reduction, beta=delta))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_is_poisson_nll_with_log_input(reduction):
    z, y, _ = _pair()
    counts = torch.round(5 * y)
    _assert_close(
        lmt.loss("poisson", z, counts, reduction=reduction),
        F.poisson_nll_loss(z, counts, log_input=True, full=False, reduction=reduction),
    )


def _torchvision_focal(inputs, targets, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss, as torchvision 0.20 writes it."""
    p = torch.sigmoid(inputs)
    ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return loss


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (-1, 2.0), (0.75, 0.5)])
def test_focal_is_torchvision_sigmoid_focal_loss(alpha, gamma):
    z, y, _ = _pair()
    y = torch.round(y)
    ours = lmt.loss(
        "focal", z, y, reduction="none", gamma=gamma, alpha=None if alpha < 0 else alpha
    )
    _assert_close(ours, _torchvision_focal(z, y, alpha, gamma), rtol=1e-12)


def test_focal_at_large_logits_is_finite():
    z = torch.tensor([200.0, -200.0, INF], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
    v = lmt.loss("focal", z, y, reduction="none")
    assert v[:2].tolist() == [200.0, 200.0]
    assert v[2].item() == 0.0
    v.sum().backward()
    assert torch.isfinite(z.grad).all()


def _ce_case(seed=6, spatial=(3, 2)):
    g = torch.Generator().manual_seed(seed)
    z = 3 * torch.randn(4, 5, *spatial, generator=g, dtype=torch.float64)
    t = torch.randint(0, 5, (4, *spatial), generator=g)
    t[0, 0, 0] = t[2, 1, 1] = -100
    cw = torch.rand(5, generator=g, dtype=torch.float64) + 0.5
    probs = torch.softmax(torch.randn(4, 5, *spatial, generator=g, dtype=torch.float64), 1)
    return z, t, cw, probs


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("class_weight", [False, True])
def test_multinomial_is_cross_entropy(reduction, smoothing, class_weight, route):
    """Spatial dimensions, ignore_index, class weights and label smoothing together."""
    z, t, cw, probs = _ce_case()
    params = {"label_smoothing": smoothing}
    if class_weight:
        params["class_weight"] = cw.tolist()
    want = F.cross_entropy(
        z,
        t,
        weight=cw if class_weight else None,
        reduction=reduction,
        label_smoothing=smoothing,
    )
    _assert_close(lmt.loss("multinomial", z, t, reduction=reduction, **params), want)
    # Probability targets: torch.nn's mean divides by the number of positions.
    want = F.cross_entropy(
        z,
        probs,
        weight=cw if class_weight else None,
        reduction=reduction,
        label_smoothing=smoothing,
    )
    _assert_close(lmt.loss("multinomial", z, probs, reduction=reduction, **params), want)


def test_multinomial_gradients_match_cross_entropy():
    z, t, cw, _ = _ce_case()
    params = {"label_smoothing": 0.1, "class_weight": cw.tolist()}
    za = z.clone().requires_grad_(True)
    zb = z.clone().requires_grad_(True)
    lmt.loss("multinomial", za, t, **params).backward()
    F.cross_entropy(zb, t, weight=cw, label_smoothing=0.1).backward()
    _assert_close(za.grad, zb.grad, rtol=1e-12)


def test_multinomial_sample_weight_mean():
    z, t, cw, _ = _ce_case()
    s = torch.rand(4, 3, 2, dtype=torch.float64)
    per = lmt.loss("multinomial", z, t, reduction="none", class_weight=cw.tolist())
    den = torch.where(t == -100, 0.0, cw[t.clamp(min=0)])
    want = (s * per).sum() / (s * den).sum()
    _assert_close(lmt.loss("multinomial", z, t, s, class_weight=cw.tolist()), want)
    # Every target ignored: 0, not torch.nn's 0/0.
    all_ignored = torch.full_like(t, -100)
    assert lmt.loss("multinomial", z, all_ignored).item() == 0.0


def test_soft_labels_get_their_gradient():
    z, y, _ = _pair(8)
    y = y.clone().requires_grad_(True)
    lmt.loss("logistic", z, y, reduction="sum").backward()
    _assert_close(y.grad, -z)  # ∂/∂y [softplus(z) − y z]
    z2, _, _, probs = _ce_case()
    probs = probs.clone().requires_grad_(True)
    lmt.loss("multinomial", z2, probs, reduction="sum").backward()
    _assert_close(probs.grad, -torch.log_softmax(z2, 1))
