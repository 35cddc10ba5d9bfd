"""lossmath.batchnorm: the same numbers as torch.nn.BatchNorm1d/2d at every order.

Accuracy is compared element by element. Where the element is a sum whose terms
cancel (``y = γx̂ + β``, ``dx = (γ/σ)(dy − mean(dy) − x̂ mean(dy x̂))``, ``H v``), two
correct float64 implementations differ by a few ulps of the *terms*, not of the
result, so the bound is ``rtol·(|want| + s)`` with ``s`` that element's own sum of
the terms' magnitudes — never a scale taken from the whole array.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lossmath.batchnorm import batch_norm, batch_norm_backward, batch_norm_jvp

torch = pytest.importorskip("torch")
from torch.func import functional_call, hessian, jacfwd, jacrev, jvp, vmap  # noqa: E402

from lossmath.batchnorm import BatchNorm  # noqa: E402
from lossmath.batchnorm.torch import batch_norm as torch_batch_norm  # noqa: E402

F64 = torch.float64
SHAPES = [(6, 3), (5, 3, 4), (4, 3, 5, 2)]  # BatchNorm1d (N, C), (N, C, L); BatchNorm2d


def _np(a):
    return np.asarray(a.detach() if hasattr(a, "detach") else a, dtype=np.float64)


def assert_close(got, want, rtol=1e-12, scale=None, what=""):
    """``|got − want| ≤ rtol·(|want| + scale)`` element by element."""
    got, want = _np(got), _np(want)
    assert got.shape == want.shape, what
    bound = np.abs(want) if scale is None else np.abs(want) + _np(scale)
    bad = np.abs(got - want) > rtol * bound
    assert not bad.any(), (
        f"{what}: {int(bad.sum())} of {bad.size} elements off; first got {got[bad][0]!r}, "
        f"want {want[bad][0]!r}"
    )


def _torch_module(shape, **kw):
    cls = torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d
    return cls(shape[1], dtype=F64, **kw)


def _pair(shape, seed=0, **kw):
    """torch's module with random affine parameters, and lossmath's with its state."""
    gen = torch.Generator().manual_seed(seed)
    ref = _torch_module(shape, **kw)
    if ref.affine:
        with torch.no_grad():
            ref.weight.copy_(torch.randn(shape[1], generator=gen, dtype=F64))
            ref.bias.copy_(torch.randn(shape[1], generator=gen, dtype=F64))
    ours = BatchNorm(shape[1], dtype=F64, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _randn(shape, seed, scale=1.0, shift=0.0):
    gen = torch.Generator().manual_seed(seed)
    return shift + scale * torch.randn(*shape, generator=gen, dtype=F64)


def _view(t, shape):
    """A per-channel tensor ``(C,)`` in the broadcast shape of ``shape``."""
    return t.reshape((1, -1) + (1,) * (len(shape) - 2))


def _normalised(x, ref):
    """``x̂``, ``1/σ`` of torch's module in train mode (the batch's statistics)."""
    red = [i for i in range(x.dim()) if i != 1]
    mean = x.mean(red, keepdim=True)
    inv_std = 1 / torch.sqrt(((x - mean) ** 2).mean(red, keepdim=True) + ref.eps)
    return (x - mean) * inv_std, inv_std


def _tensor(a):
    return torch.as_tensor(_np(a))


def _fused_terms(x, weight=None, bias=None, eps=1e-5, stats=None, axis=1):
    """Per element, the sizes of the two terms torch's fused ``x·α + (β − μα)``
    (``α = γ/σ``) adds: its rounding error is a few ulps of their sum."""
    x = _tensor(x).movedim(axis, 1)
    red = [i for i in range(x.dim()) if i != 1]
    shape = tuple(x.shape)
    if stats is None:
        mean = x.mean(red, keepdim=True)
        var = ((x - mean) ** 2).mean(red, keepdim=True)
    else:
        mean, var = (_view(_tensor(s), shape) for s in stats)
    gamma = 1.0 if weight is None else _view(_tensor(weight), shape)
    beta = 0.0 if bias is None else _view(_tensor(bias), shape)
    alpha = gamma / torch.sqrt(var + eps)
    return ((x * alpha).abs() + (beta - mean * alpha).abs()).movedim(1, axis)


def _gamma(module, shape):
    return _view(module.weight, shape) if module.affine else torch.ones(1, dtype=F64)


# ------------------------------------------------------------------ vs torch.nn
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_forward_and_backward_match_torch(shape, affine):
    ref, ours = _pair(shape, affine=affine, eps=1e-3 if affine else 1e-5)
    x = _randn(shape, 1, scale=2.0, shift=0.5).requires_grad_()
    dy = _randn(shape, 2)
    want, got = ref(x), ours(x)
    xhat, inv_std = _normalised(x.detach(), ref)
    gamma = _gamma(ref, shape).detach()
    beta = _view(ref.bias, shape).detach() if affine else 0.0
    assert_close(got, want, scale=(gamma * xhat).abs() + abs(beta), what="y")
    for name in ("running_mean", "running_var"):
        assert_close(getattr(ours, name), getattr(ref, name), what=name)
    params = [x, ref.weight, ref.bias] if affine else [x]
    mine = [x, ours.weight, ours.bias] if affine else [x]
    want_g = torch.autograd.grad(want, params, dy)
    got_g = torch.autograd.grad(got, mine, dy)
    red = [i for i in range(len(shape)) if i != 1]
    mean_dy = dy.mean(red, keepdim=True)
    mean_dy_xhat = (dy * xhat).mean(red, keepdim=True)
    terms = (gamma * inv_std).abs() * (dy.abs() + mean_dy.abs() + (xhat * mean_dy_xhat).abs())
    assert_close(got_g[0], want_g[0], scale=terms, what="dx")
    if affine:
        assert_close(got_g[1], want_g[1], scale=(dy * xhat).abs().sum(red), what="dweight")
        assert_close(got_g[2], want_g[2], scale=dy.abs().sum(red), what="dbias")


@pytest.mark.parametrize("shape", SHAPES)
def test_hessian_vector_product_matches_torch(shape):
    """Double backward: ``H v`` of a scalar loss through the module, in x and γ."""
    ref, ours = _pair(shape, eps=1e-2)
    x = _randn(shape, 3).requires_grad_()
    v = _randn(shape, 4)
    u = torch.randn(shape[1], generator=torch.Generator().manual_seed(5), dtype=F64)
    c = _randn(shape, 6)

    def hvp(module):
        y = module(x)
        loss = (c * y + y**3 / 3).sum()
        gx, gw = torch.autograd.grad(loss, [x, module.weight], create_graph=True)
        return torch.autograd.grad((gx * v).sum() + (gw * u).sum(), [x, module.weight])

    want, got = hvp(ref), hvp(ours)

    def dense(x_, w_):
        y = torch.nn.functional.batch_norm(x_, None, None, w_, ref.bias.detach(), True, 0.1, 1e-2)
        return (c * y + y**3 / 3).sum()

    (hxx, hxw), (hwx, hww) = hessian(dense, argnums=(0, 1))(x.detach(), ref.weight.detach())
    hxx, hxw = hxx.reshape(x.numel(), -1), hxw.reshape(x.numel(), -1)
    hwx, hww = hwx.reshape(shape[1], -1), hww.reshape(shape[1], -1)
    # |H| |t| per element: the size of the terms each entry of H t sums.
    scale_x = (hxx.abs() @ v.reshape(-1).abs() + hxw.abs() @ u.abs()).reshape(shape)
    scale_w = hwx.abs() @ v.reshape(-1).abs() + hww.abs() @ u.abs()
    assert_close(got[0], want[0], rtol=1e-11, scale=scale_x, what="(H v)_x")
    assert_close(got[1], want[1], rtol=1e-11, scale=scale_w, what="(H v)_weight")


@pytest.mark.parametrize("shape", SHAPES)
def test_jvp_matches_torch_func_jvp(shape):
    ref, ours = _pair(shape, eps=1e-2)
    x, v = _randn(shape, 7), _randn(shape, 8)
    dw, db = (
        torch.randn(shape[1], generator=torch.Generator().manual_seed(s), dtype=F64)
        for s in (9, 10)
    )
    params = {"weight": ref.weight.detach(), "bias": ref.bias.detach()}
    tangents = {"weight": dw, "bias": db}

    def through(module):
        def f(x_, p):
            # Fresh buffers inside the transform: train mode updates them in place.
            buffers = {k: b.clone() for k, b in module.named_buffers()}
            return functional_call(module, (p, buffers), (x_,))

        return f

    _, want = jvp(through(ref), (x, params), (v, tangents))
    _, got = jvp(through(ours), (x, params), (v, tangents))
    xhat, inv_std = _normalised(x, ref)
    red = [i for i in range(len(shape)) if i != 1]
    terms = (
        (_view(params["weight"], shape) * inv_std).abs()
        * (
            v.abs()
            + v.mean(red, keepdim=True).abs()
            + (xhat * (v * xhat).mean(red, keepdim=True)).abs()
        )
        + (_view(dw, shape) * xhat).abs()
        + _view(db, shape).abs()
    )
    assert_close(got, want, scale=terms, what="jvp")
    # The closed form on NumPy arrays gives the same tangent.
    np_got = batch_norm_jvp(
        v.numpy(),
        x.numpy(),
        params["weight"].numpy(),
        dweight=dw.numpy(),
        dbias=db.numpy(),
        eps=1e-2,
    )
    assert_close(np_got, want, scale=terms, what="batch_norm_jvp")
    # jacfwd (vmap over the jvp rule) and jacrev agree with torch's Jacobian.
    f_ref, f_ours = through(ref), through(ours)
    j_want = jacfwd(lambda x_: f_ref(x_, params))(x)
    assert_close(jacfwd(lambda x_: f_ours(x_, params))(x), j_want, scale=1e-4, what="jacfwd")
    assert_close(jacrev(lambda x_: f_ours(x_, params))(x), j_want, scale=1e-4, what="jacrev")


def test_running_statistics_over_several_steps_then_eval():
    shape = (5, 3, 4)
    for momentum in (0.1, 0.7, None):
        ref, ours = _pair(shape, momentum=momentum)
        assert list(ours.state_dict()) == list(ref.state_dict())
        for step in range(4):
            x = _randn(shape, 20 + step, scale=1 + step, shift=step - 1.5)
            terms = _fused_terms(x, ref.weight, ref.bias)
            assert_close(ours(x), ref(x), scale=terms, what=f"train step {step}")
        for name in ("running_mean", "running_var"):
            assert_close(getattr(ours, name), getattr(ref, name), what=f"{name} {momentum}")
        assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 4
        ref.eval(), ours.eval()
        x = _randn(shape, 30, scale=3.0)
        terms = _fused_terms(x, ref.weight, ref.bias, stats=(ref.running_mean, ref.running_var))
        assert_close(ours(x), ref(x), scale=terms, what=f"eval {momentum}")
        # Inference leaves the statistics alone, as torch's.
        assert_close(ours.running_var, ref.running_var)
        assert int(ours.num_batches_tracked) == 4


def test_no_running_statistics_normalise_with_the_batch_in_eval_too():
    shape = (6, 3)
    ref, ours = _pair(shape, track_running_stats=False)
    assert list(ours.state_dict()) == ["weight", "bias"] == list(ref.state_dict())
    ref.eval(), ours.eval()
    x = _randn(shape, 40)
    assert_close(ours(x), ref(x), scale=_fused_terms(x, ref.weight, ref.bias))


def test_gradcheck_and_gradgradcheck_of_the_module():
    x = _randn((4, 3, 2), 50).requires_grad_()
    for training in (True, False):
        m = BatchNorm(3, dtype=F64, eps=0.1)
        with torch.no_grad():
            m.weight.uniform_(0.5, 2.0), m.bias.normal_()
            m.running_var.uniform_(0.5, 2.0), m.running_mean.normal_()
        m.train(training)

        def f(x_, w, b, m=m):
            return functional_call(m, {"weight": w, "bias": b}, (x_,))

        args = (x, m.weight, m.bias)
        assert torch.autograd.gradcheck(
            f,
            args,
            check_forward_ad=True,
            check_batched_grad=True,
            check_batched_forward_grad=True,
        )
        assert torch.autograd.gradgradcheck(f, args, check_fwd_over_rev=True)


def test_every_composition_of_transforms_gives_torch_hessian():
    """Reverse over forward uses the jvp rule's own derivative (μ, σ recomputed from x
    there too); forward over reverse and reverse over reverse the backward's."""
    x = _randn((5, 2, 3), 56)
    w = torch.tensor([0.7, -1.3], dtype=F64)
    c = _randn((5, 2, 3), 57)

    def loss(f):
        return lambda x_: (c * f(x_) + f(x_) ** 3 / 3).sum()

    ours = loss(lambda x_: torch_batch_norm(x_, w)[0])
    ref = loss(lambda x_: torch.nn.functional.batch_norm(x_, None, None, w, None, True))
    want = hessian(ref)(x)
    for name, transform in [
        ("jacrev∘jacfwd", jacrev(jacfwd(ours))),
        ("hessian", hessian(ours)),
        ("jacrev∘jacrev", jacrev(jacrev(ours))),
    ]:
        assert_close(transform(x), want, rtol=1e-11, what=name)


def test_forward_over_forward_is_refused():
    x = _randn((4, 2), 51)
    with pytest.raises(NotImplementedError, match="batch_norm: forward-over-forward"):
        jacfwd(jacfwd(lambda x_: torch_batch_norm(x_)[0].sum()))(x)


def test_vmap_over_batches_of_batches():
    xs = _randn((3, 4, 2, 5), 52)
    w = torch.randn(2, generator=torch.Generator().manual_seed(53), dtype=F64)
    got = vmap(lambda x_: torch_batch_norm(x_, w)[0])(xs)
    for i in range(3):
        assert_close(got[i], torch_batch_norm(xs[i], w)[0], rtol=1e-15)


def test_per_sample_gradients_in_inference_mode():
    """In eval() the map is affine per sample: vmap(grad) gives each sample's gradient."""
    m = BatchNorm(3, dtype=F64)
    with torch.no_grad():
        m.running_mean.normal_(), m.running_var.uniform_(0.5, 2.0), m.weight.normal_()
    m.eval()
    params = {k: p.detach() for k, p in m.named_parameters()}
    xs = _randn((5, 1, 3, 4), 58)

    def loss(p, x_):
        return (functional_call(m, p, (x_,)) ** 2).sum()

    per_sample = vmap(torch.func.grad(loss), in_dims=(None, 0))(params, xs)
    for i in range(5):
        want = torch.func.grad(loss)(params, xs[i])
        for k in params:
            assert_close(per_sample[k][i], want[k], rtol=1e-14, what=k)


def test_channels_last_axis():
    x = _randn((4, 5, 3), 54)  # (N, L, C)
    w = torch.randn(3, generator=torch.Generator().manual_seed(55), dtype=F64)
    got, _, _ = batch_norm(x, w, axis=-1)
    want = torch.nn.functional.batch_norm(x.transpose(1, 2), None, None, w, None, True)
    assert_close(got, want.transpose(1, 2), scale=_fused_terms(x, w, axis=-1))
    m = BatchNorm(3, dtype=F64, axis=2)
    assert "axis=2" in repr(m)
    want = torch.nn.BatchNorm1d(3, dtype=F64)(x.transpose(1, 2)).transpose(1, 2)
    assert_close(m(x), want, scale=_fused_terms(x, axis=-1))


# --------------------------------------------------------- array API namespaces
def _np_case(shape, seed):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return (
        rng.normal(0.5, 2.0, shape),
        rng.normal(size=c),
        rng.normal(size=c),
        rng.normal(size=c),
        rng.uniform(0.5, 2.0, c),
        rng.normal(size=shape),
    )


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize("training", [True, False])
def test_namespaces_give_torch_numbers(backend, training):
    """NumPy and JAX arrays in, their own namespace out, torch's numbers (1e-12 relative
    per element: the same formulas, only the order of the sums differs)."""
    shape = (5, 3, 4)
    x, w, b, rm, rv, dy = _np_case(shape, 60)
    if backend == "jax":
        jnp = _jax().numpy
        conv, kind = jnp.asarray, type(jnp.zeros(1))
    else:
        conv, kind = np.asarray, np.ndarray
    kw = dict(training=training, momentum=0.3, eps=1e-3)
    t = {k: torch.from_numpy(a) for k, a in dict(x=x, w=w, b=b, rm=rm, rv=rv, dy=dy).items()}
    a = {k: conv(v.numpy()) for k, v in t.items()}
    want = batch_norm(t["x"], t["w"], t["b"], running_mean=t["rm"], running_var=t["rv"], **kw)
    got = batch_norm(a["x"], a["w"], a["b"], running_mean=a["rm"], running_var=a["rv"], **kw)
    for name, g, wnt in zip(("y", "running_mean", "running_var"), got, want, strict=True):
        assert isinstance(g, kind), name
        assert g.dtype == np.float64, name
        assert_close(g, wnt, what=f"{backend} {name}")
    kw.pop("momentum")
    stats = dict(running_mean=t["rm"], running_var=t["rv"])
    want = batch_norm_backward(t["dy"], t["x"], t["w"], **stats, **kw)
    got = batch_norm_backward(
        a["dy"], a["x"], a["w"], running_mean=a["rm"], running_var=a["rv"], **kw
    )
    for name, g, wnt in zip(("dx", "dweight", "dbias"), got, want, strict=True):
        assert isinstance(g, kind), name
        assert_close(g, wnt, what=f"{backend} {name}")
    want = batch_norm_jvp(t["dy"], t["x"], t["w"], dweight=t["b"], **stats, **kw)
    got = batch_norm_jvp(
        a["dy"], a["x"], a["w"], dweight=a["b"], running_mean=a["rm"], running_var=a["rv"], **kw
    )
    assert isinstance(got, kind)
    assert_close(got, want, what=f"{backend} jvp")


def test_torch_functional_backward_is_the_closed_form():
    """On tensors, batch_norm's autograd gives batch_norm_backward's numbers."""
    x, w, b, _, _, dy = (torch.from_numpy(a) for a in _np_case((6, 3, 2), 61))
    x.requires_grad_(), w.requires_grad_()
    y, _, _ = batch_norm(x, w, b)
    assert type(y.grad_fn).__name__ == "BatchNormFunctionBackward"
    got = torch.autograd.grad(y, [x, w], dy)
    want = batch_norm_backward(dy, x.detach(), w.detach())
    assert_close(got[0], want[0], rtol=1e-15, scale=1e-16)
    assert_close(got[1], want[1], rtol=1e-15, scale=1e-16)


def test_jax_jit_and_grad():
    jax = _jax()
    jnp = jax.numpy
    x, w, b, _, _, dy = (jnp.asarray(a) for a in _np_case((6, 3, 2), 62))
    y = jax.jit(lambda x_: batch_norm(x_, w, b)[0])(x)
    assert_close(y, batch_norm(np.asarray(x), np.asarray(w), np.asarray(b))[0], rtol=1e-13)
    # JAX's autodiff through the formula agrees with the closed form.
    g = jax.grad(lambda x_, w_: jnp.sum(dy * batch_norm(x_, w_, b)[0]), argnums=(0, 1))(x, w)
    dx, dw, _ = batch_norm_backward(dy, x, w)
    assert_close(g[0], dx, rtol=1e-12, scale=1e-14)
    assert_close(g[1], dw, rtol=1e-12)


# ------------------------------------------------------------------- precision
def test_two_pass_variance_survives_a_large_mean():
    """float32 input of mean 1e4 and standard deviation 1: mean(x²) − mean(x)² keeps
    no digit of the variance; the two-pass formula, nearly all."""
    rng = np.random.default_rng(70)
    x = (1e4 + rng.normal(size=(1000, 2))).astype(np.float32)
    y, _, rv = batch_norm(
        x, running_mean=np.zeros(2, np.float32), running_var=np.ones(2, np.float32), momentum=1.0
    )
    x64 = x.astype(np.float64)
    exact = x64.var(axis=0, ddof=1)
    assert y.dtype == np.float32
    np.testing.assert_allclose(rv, exact, rtol=1e-4)
    naive = (x * x).mean(0) - x.mean(0) ** 2  # float32, the formula refused
    assert np.all(np.abs(naive - x64.var(0)) > 0.5 * x64.var(0))
    # y is centred as (x − μ₀) − c, not x − round(μ) (off by up to half an ulp of 1e4,
    # 2⁻¹¹ absolute): accurate to float32's precision, element by element.
    want = (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-5)
    assert_close(y, want, rtol=8 * 2.0**-24, what="y")


def _exact(x, dy, eps):
    """``y = x̂`` and ``dx`` (``γ = 1``) of a 2-D float64 batch, channel by channel, in
    60-digit decimal arithmetic from the exact rational mean and variance."""
    from decimal import Decimal, localcontext
    from fractions import Fraction

    y, dx = np.empty_like(x), np.empty_like(x)
    with localcontext() as ctx:
        ctx.prec = 60
        for j in range(x.shape[1]):
            col = [Fraction(float(v)) for v in x[:, j]]
            g = [Fraction(float(v)) for v in dy[:, j]]
            m = len(col)
            mean = sum(col) / m
            var = sum((v - mean) ** 2 for v in col) / m + Fraction(eps)
            inv = 1 / (Decimal(var.numerator) / Decimal(var.denominator)).sqrt()
            xhat = [
                Decimal((v - mean).numerator) / Decimal((v - mean).denominator) * inv for v in col
            ]
            gd = [Decimal(v.numerator) / Decimal(v.denominator) for v in g]
            mean_g = sum(gd) / m
            mean_gx = sum(a * b for a, b in zip(gd, xhat, strict=True)) / m
            for i in range(m):
                y[i, j] = float(xhat[i])
                dx[i, j] = float(inv * (gd[i] - mean_g - xhat[i] * mean_gx))
    return y, dx


@pytest.mark.parametrize("shift", [0.0, 1e4, 1e8])
def test_float64_forward_and_backward_are_accurate_per_element(shift):
    """Against exact arithmetic, a few ulps of each element even where the channel's
    mean is 1e8 standard deviations (torch's fused form loses |μ|/σ ulps there)."""
    rng = np.random.default_rng(74)
    x = shift + rng.normal(size=(300, 2)) * [1.0, 3.0]
    dy = rng.normal(size=x.shape)
    want_y, want_dx = _exact(x, dy, 1e-5)
    y, _, _ = batch_norm(x)
    dx, _, _ = batch_norm_backward(dy, x)
    # The mean itself is known to ε·σ at best, so x̂ to ε absolute: a few ulps of
    # |x̂| + 1 per element (the fused x·(1/σ) − μ/σ is off by |μ|/σ ulps of 1).
    assert_close(y, want_y, rtol=16 * 2.0**-53, scale=1.0, what="y")
    # dx sums three terms that cancel: a few ulps of their sizes, per element.
    mean_gx = np.abs((dy * want_y).mean(0))
    terms = np.abs(dy) + np.abs(dy.mean(0)) + (np.abs(want_y) + 1) * mean_gx
    assert_close(dx, want_dx, rtol=16 * 2.0**-53, scale=terms / x.std(0), what="dx")


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_float32_statistics_accumulate_in_float64(backend):
    """Channel sums over the outer axes (which NumPy adds naively) in float64: the
    batch mean of float32 input is the exact mean rounded once (half an ulp)."""
    rng = np.random.default_rng(73)
    x = (1e3 + rng.normal(size=(256, 8, 16))).astype(np.float32)
    zeros, ones = np.zeros(8, np.float32), np.ones(8, np.float32)
    args = [x, None, None, zeros, ones]
    if backend == "torch":
        args = [None if a is None else torch.from_numpy(a) for a in args]
    x_, w, b, rm, rv = args
    _, mean, _ = batch_norm(x_, w, b, running_mean=rm, running_var=rv, momentum=1.0)
    exact = x.astype(np.float64).mean(axis=(0, 2))
    assert_close(mean, exact, rtol=2.0**-24, what="batch mean")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_is_computed_in_float32_and_rounded_once(dtype):
    dt = getattr(torch, dtype)
    x = _randn((8, 3, 4), 71).to(dt)
    w = torch.randn(3, generator=torch.Generator().manual_seed(72), dtype=F64).to(dt)
    y, _, _ = batch_norm(x, w)
    assert y.dtype == dt
    want = batch_norm(x.to(torch.float32), w.to(torch.float32))[0].to(dt)
    assert torch.equal(y, want)
    m = BatchNorm(3).to(dt)
    assert m(x).dtype == dt
    if dtype == "float16":
        got = batch_norm(x.numpy(), w.numpy())[0]
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, want.numpy())


def test_integer_input_becomes_float64():
    y, _, _ = batch_norm(np.arange(12).reshape(4, 3))
    assert y.dtype == np.float64


def test_import_does_not_import_torch():
    code = (
        "import sys, numpy as np; import lossmath.batchnorm as b; "
        "b.batch_norm(np.ones((2, 3)) * [[1], [2]]); assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------- bad input
X = np.random.default_rng(80).normal(size=(4, 3, 2))
STATS = dict(running_mean=np.zeros(3), running_var=np.ones(3))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: batch_norm(X, np.ones(2)),
            ValueError,
            r"batch_norm: weight must have shape \(3,\), one entry per channel .*got shape \(2,\)",
        ),
        (lambda: batch_norm(X, None, np.ones(4)), ValueError, r"batch_norm: bias must have shape"),
        (
            lambda: batch_norm(X, axis=3),
            ValueError,
            r"batch_norm: axis must lie in \[-3, 3\) for x of shape \(4, 3, 2\); got axis=3",
        ),
        (lambda: batch_norm(X, axis=1.0), TypeError, "batch_norm: axis must be an int"),
        (
            lambda: batch_norm(X[:1, :, :1]),
            ValueError,
            "batch_norm: x must have more than 1 value per channel when training",
        ),
        (
            lambda: batch_norm(np.where(X > 1, np.nan, X)),
            ValueError,
            r"batch_norm: x must be finite; got \d+ non-finite",
        ),
        (
            lambda: batch_norm(np.full((4, 3), 1e308) * [[1], [-1], [1], [-1]]),
            ValueError,
            r"batch_norm: x must be small enough for its channel variance to be finite",
        ),
        (
            lambda: batch_norm(X, running_mean=np.zeros(2), running_var=np.ones(3)),
            ValueError,
            r"batch_norm: running_mean must have shape \(3,\)",
        ),
        (
            lambda: batch_norm(X, running_mean=np.zeros(3), running_var=np.ones((3, 1))),
            ValueError,
            r"batch_norm: running_var must have shape \(3,\)",
        ),
        (
            lambda: batch_norm(X, running_mean=np.zeros(3), running_var=-np.ones(3)),
            ValueError,
            "batch_norm: running_var must be >= 0",
        ),
        (
            lambda: batch_norm(X, running_mean=np.zeros(3)),
            ValueError,
            "batch_norm: running_var must be given with running_mean",
        ),
        (
            lambda: batch_norm(X, training=False),
            ValueError,
            "batch_norm: running_mean and running_var are required when training=False",
        ),
        (lambda: batch_norm(X, training=1), TypeError, "batch_norm: training must be a bool"),
        (lambda: batch_norm(X, eps=0.0), ValueError, "batch_norm: eps must be > 0"),
        (lambda: batch_norm(X, momentum=1.5), ValueError, "batch_norm: momentum must lie in"),
        (lambda: batch_norm(X[0, 0]), ValueError, "batch_norm: x must have at least 2 dim"),
        (lambda: batch_norm("x"), TypeError, "batch_norm: x must be a real numeric array"),
        (
            lambda: batch_norm_backward(X[:2], X),
            ValueError,
            r"batch_norm_backward: dy must have the shape of x, \(4, 3, 2\)",
        ),
        (
            lambda: batch_norm_backward(X, X, training=False),
            ValueError,
            "batch_norm_backward: running_mean and running_var are required",
        ),
        (
            lambda: batch_norm_jvp(X, X, dweight=np.ones(4)),
            ValueError,
            r"batch_norm_jvp: dweight must have shape \(3,\)",
        ),
        (lambda: batch_norm_jvp(X * np.inf, X), ValueError, "batch_norm_jvp: dx must be finite"),
    ],
)
def test_bad_input_names_the_function_and_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_bad_input_on_tensors_and_the_module():
    x = torch.from_numpy(X)
    with pytest.raises(ValueError, match="batch_norm: x must have more than 1 value per channel"):
        BatchNorm(3, dtype=F64)(x[:1, :, :1])
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\)"):
        BatchNorm(2, dtype=F64)(x)
    with pytest.raises(ValueError, match="batch_norm: x must be finite"):
        batch_norm(x * np.inf, **{k: torch.from_numpy(v) for k, v in STATS.items()})
    with pytest.raises(ValueError, match="batch_norm: weight must be on the device of x, cpu"):
        batch_norm(x, torch.ones(3, device="meta"))
    with pytest.raises(ValueError, match="BatchNorm: input must have at least 2 dimensions"):
        BatchNorm(3)(torch.ones(3))
    m = BatchNorm(3, dtype=F64)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        m(x[:1, :, :1])
    assert int(m.num_batches_tracked) == 0  # a refused batch is not counted
