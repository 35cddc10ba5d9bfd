"""lossmath.curvature.jacobians: closed-form Jacobian products against torch.func.

References are ``torch.func.jvp`` / ``vjp`` / ``jacrev`` of ``functional_call`` over
the module's parameters (buffers copied, so train-mode batch norm leaves the module
as it was), and mpmath for the activations' derivatives. Comparisons are element by
element, relative 1e-12; an element that is 0 in the reference (a ReLU's dead unit)
must be 0 here too. The one absolute floor is for elements that are 0 by
construction but computed as round-off on both sides: the gradient of a bias that
train-mode batch norm follows.
"""

from __future__ import annotations

import mpmath as mp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.func import functional_call, jacrev  # noqa: E402

from lossmath.activations import available, get_activation  # noqa: E402
from lossmath.batchnorm import BatchNorm  # noqa: E402
from lossmath.curvature.jacobians import (  # noqa: E402
    ActivationModule,
    flat_params,
    jacobian,
    jvp,
    trainable_parameters,
    unflatten,
    vjp,
)

F64 = torch.float64


def assert_rel(got, want, rtol=1e-12, what=""):
    """``|got − want| ≤ rtol·|want|`` per element (so ``got == 0`` where ``want == 0``)."""
    got, want = np.asarray(got.detach()), np.asarray(want.detach())
    assert got.shape == want.shape, (what, got.shape, want.shape)
    bad = np.abs(got - want) > rtol * np.abs(want)
    assert not bad.any(), (
        f"{what}: {bad.sum()} of {bad.size} elements off; worst relative error "
        f"{np.max(np.abs(got - want)[bad] / np.abs(want[bad]))}"
    )


def assert_zero(got, want, what=""):
    """For elements that are exactly 0 by construction, which both sides compute as
    round-off: an absolute floor of 1e-12 (the data are of order 1)."""
    assert (got.abs() <= 1e-12).all(), (what, got)
    assert (want.abs() <= 1e-12).all(), (what, want)


def _reference(module):
    """``module`` as ``f(x, *trainable)`` for torch.func."""
    names = [n for n, p in module.named_parameters() if p.requires_grad]

    def f(x, *ps):
        state = {k: b.clone() for k, b in module.named_buffers()}
        state.update(zip(names, ps, strict=True))
        return functional_call(module, state, (x,))

    return f, [p.detach() for p in trainable_parameters(module)]


def _directions(module, x, seed):
    # A seed of its own: a direction drawn like x would lie in batch norm's null space.
    g = torch.Generator().manual_seed(1000 + seed)
    vp = [torch.randn(p.shape, generator=g, dtype=F64) for p in trainable_parameters(module)]
    return vp, torch.randn(x.shape, generator=g, dtype=F64)


def check_products(module, x, seed=0, what="", zero_grads=(), f=None):
    """jvp (parameters only, input only, both) and vjp against torch.func, and the
    adjoint identity ⟨u, J v⟩ = ⟨Jᵀu, v⟩. ``zero_grads``: the parameters whose
    gradient is 0 by construction (a bias before train-mode batch norm)."""
    if f is None:
        f, params = _reference(module)
    else:
        params = [p.detach() for p in trainable_parameters(module)]
    vp, vx = _directions(module, x, seed)
    out_ref = f(x, *params)
    if params:
        _, t_params = torch.func.jvp(lambda *ps: f(x, *ps), tuple(params), tuple(vp))
    _, t_input = torch.func.jvp(lambda x_: f(x_, *params), (x,), (vx,))
    _, t_both = torch.func.jvp(f, (x, *params), (vx, *vp))
    out, t = jvp(module, x, v_params=vp)
    assert_rel(out, out_ref, 1e-13, f"{what} output")
    if params:
        assert_rel(t, t_params, what=f"{what} J_θ v")
    assert_rel(jvp(module, x, v_input=vx)[1], t_input, what=f"{what} J_x v")
    t = jvp(module, x, v_params=vp, v_input=vx)[1]
    assert_rel(t, t_both, what=f"{what} J v")

    u = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed + 1), dtype=F64)
    _, pullback = torch.func.vjp(f, x, *params)
    want = pullback(u)
    gx, gp = vjp(module, x, u)
    assert_rel(gx, want[0], what=f"{what} J_xᵀ u")
    assert len(gp) == len(params)
    for i, (g, w) in enumerate(zip(gp, want[1:], strict=True)):
        if i in zero_grads:
            assert_zero(g, w, f"{what} J_θᵀ u [{i}]")
        else:
            assert_rel(g, w, what=f"{what} J_θᵀ u [{i}]")

    lhs = torch.sum(u * t)
    rhs = torch.sum(gx * vx) + sum(torch.sum(g * v) for g, v in zip(gp, vp, strict=True))
    assert abs(float(lhs - rhs)) <= 1e-12 * abs(float(lhs)), (what, float(lhs), float(rhs))


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)


# Linear.


@pytest.mark.parametrize("shape", [(5, 4), (3, 2, 4), (4,)], ids=["NxD", "batched", "1-D"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    layer = nn.Linear(4, 3, bias=bias, dtype=F64)
    check_products(layer, _x(*shape), what=f"Linear {shape}")


def test_linear_frozen_weight_is_not_a_direction():
    layer = nn.Linear(4, 3, dtype=F64)
    layer.weight.requires_grad_(False)
    assert trainable_parameters(layer) == [layer.bias]
    check_products(layer, _x(5, 4), what="Linear, frozen weight")


# Elementwise activations: J = diag(f'(x)), against f' from mpmath (torch's own
# derivatives lose accuracy where f' is small: 1 − tanh², GELU' near its zero).

mp.mp.dps = 50
_GELU_C = mp.sqrt(2 / mp.pi)


def _mp_sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def _mp_functions():
    return {
        "tanh": mp.tanh,
        "sigmoid": _mp_sigmoid,
        "relu": lambda x: max(x, 0),
        "leaky_relu": lambda x: x if x > 0 else mp.mpf("0.01") * x,
        "leaky_relu(0.2)": lambda x: x if x > 0 else mp.mpf(0.2) * x,
        "gelu": lambda x: x * mp.ncdf(x),
        "gelu_tanh": lambda x: x / 2 * (1 + mp.tanh(_GELU_C * (x + mp.mpf(0.044715) * x**3))),
        "softplus": lambda x: mp.log1p(mp.exp(x)),
        # torch's Softplus(beta=2, threshold=3): the identity where βx > 3.
        "softplus(2, 3)": lambda x: x if 2 * x > 3 else mp.log1p(mp.exp(2 * x)) / 2,
        "silu": lambda x: x * _mp_sigmoid(x),
        "swish": lambda x: x * _mp_sigmoid(x),
        "elu(0.7)": lambda x: x if x > 0 else mp.mpf(0.7) * mp.expm1(x),
    }


def _mp_map(fn, x, derivative=False):
    g = (lambda t: mp.diff(fn, t)) if derivative else fn
    vals = [float(g(mp.mpf(float(t)))) for t in x.reshape(-1)]
    return torch.tensor(vals, dtype=F64).reshape(x.shape)


TORCH_ACTIVATIONS = [
    (nn.Tanh(), "tanh"),
    (nn.Sigmoid(), "sigmoid"),
    (nn.ReLU(), "relu"),
    (nn.LeakyReLU(0.2), "leaky_relu(0.2)"),
    (nn.GELU(), "gelu"),
    (nn.GELU(approximate="tanh"), "gelu_tanh"),
    (nn.Softplus(beta=2.0, threshold=3.0), "softplus(2, 3)"),  # x on both sides
    (nn.SiLU(), "silu"),
    (nn.ELU(alpha=0.7), "elu(0.7)"),
    (nn.ReLU(inplace=True), "relu"),
]


def _check_elementwise(module, x, name, what):
    v, u = _x(*x.shape, seed=1), _x(*x.shape, seed=2)
    d = _mp_map(_mp_functions()[name], x, derivative=True)
    out, t = jvp(module, x, v_input=v)
    assert_rel(t, d * v, what=f"{what} J v")
    gx, gp = vjp(module, x, u)
    assert gp == []
    assert_rel(gx, d * u, what=f"{what} Jᵀ u")
    return out, d, v, u


@pytest.mark.parametrize(
    ("act", "name"), TORCH_ACTIVATIONS, ids=[repr(a[0]) for a in TORCH_ACTIVATIONS]
)
def test_torch_activations(act, name):
    x = 3.0 * _x(6, 5)
    out, *_ = _check_elementwise(act, x, name, repr(act))
    assert torch.equal(out, act(x.clone()))
    # The in-place ReLU changed nothing it was given.
    assert torch.equal(x, 3.0 * _x(6, 5))


@pytest.mark.parametrize("name", available())
def test_lossmath_activations(name):
    x = 3.0 * _x(6, 5)
    f = _mp_functions()[name]
    layer = ActivationModule(name)
    # The activation object itself, and as a module.
    for module in (get_activation(name), layer):
        out, d, v, u = _check_elementwise(module, x, name, name)
        assert_rel(out, _mp_map(f, x), 1e-13, f"{name} output")
    # The module's own autograd: forward-mode rule and backward.
    assert_rel(torch.func.jvp(layer, (x,), (v,))[1], d * v, what=f"{name} module's jvp rule")
    assert_rel(torch.func.vjp(layer, x)[1](u)[0], d * u, what=f"{name} module's backward")


def test_activation_module_double_backward_uses_second_derivative():
    layer, x = ActivationModule("tanh"), _x(7)
    h = torch.func.hessian(lambda x_: layer(x_).sum())(x)
    want = _mp_map(lambda t: mp.diff(mp.tanh, t, 2), x)
    assert_rel(torch.diagonal(h), want, 1e-13)
    assert (h - torch.diag(torch.diagonal(h)) == 0).all()


# Batch normalisation.

BATCH_NORMS = [
    ("BatchNorm1d (N, C)", lambda: nn.BatchNorm1d(3, dtype=F64), (8, 3)),
    ("BatchNorm1d (N, C, L)", lambda: nn.BatchNorm1d(3, dtype=F64), (5, 3, 4)),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3, dtype=F64), (4, 3, 3, 2)),
    ("BatchNorm2d affine=False", lambda: nn.BatchNorm2d(3, affine=False, dtype=F64), (4, 3, 3, 2)),
    ("lossmath BatchNorm", lambda: BatchNorm(3, dtype=F64), (4, 3, 3, 2)),
]


def _with_statistics(bn):
    """Non-trivial parameters and running statistics."""
    with torch.no_grad():
        if bn.weight is not None:
            bn.weight.copy_(torch.tensor([0.5, 2.0, -1.5]))
            bn.bias.copy_(torch.tensor([0.1, -0.3, 0.7]))
        bn.running_mean.copy_(torch.tensor([0.2, -0.1, 0.4]))
        bn.running_var.copy_(torch.tensor([1.5, 0.7, 2.5]))
    return bn


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("name", "make", "shape"), BATCH_NORMS, ids=[b[0] for b in BATCH_NORMS])
def test_batch_norm(name, make, shape, train):
    bn = _with_statistics(make()).train(train)
    state = {k: b.clone() for k, b in bn.state_dict().items()}
    x = 2.0 * _x(*shape) + 1.0
    check_products(bn, x, what=f"{name} {'train' if train else 'eval'}")
    # No product updated the running statistics.
    for k, b in bn.state_dict().items():
        assert torch.equal(b, state[k]), k


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_batch_norm_train_mode_couples_the_samples(train):
    bn, n, c = _with_statistics(nn.BatchNorm1d(3, dtype=F64)).train(train), 5, 3
    x = _x(n, c)
    blocks = jacobian(bn, x, wrt="input").reshape(n, c, n, c)
    want = jacrev(_reference(bn)[0])(x, *trainable_parameters(bn)).reshape(n, c, n, c)
    assert_rel(blocks, want)
    off = [blocks[i, :, j, :] for i in range(n) for j in range(n) if i != j]
    if train:
        # Sample j's input moves sample i's output, within each channel only.
        assert all((torch.diagonal(b) != 0).all() for b in off)
    else:
        assert all((b == 0).all() for b in off)
    assert all((b - torch.diag(torch.diagonal(b)) == 0).all() for b in off)


# Shape-only layers.


@pytest.mark.parametrize(
    "module",
    [nn.Flatten(), nn.Flatten(0, 2), nn.Identity(), nn.Dropout(0.5).eval(), nn.Dropout2d().eval()],
    ids=repr,
)
def test_shape_only_layers(module):
    x = _x(3, 2, 4, 2)
    check_products(module, x, what=repr(module))
    assert torch.equal(jvp(module, x, v_input=x)[1], module(x))


# Sequential chains, the torch.func fallback.


def _mlp():
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).to(F64)


def _bn_mlp():
    return nn.Sequential(nn.Linear(4, 6), nn.GELU(), _train(nn.BatchNorm1d(6)), nn.Linear(6, 3)).to(
        F64
    )


def _cnn():
    return nn.Sequential(
        nn.Conv2d(2, 3, 3),  # no closed form: torch.func
        _train(nn.BatchNorm2d(3)),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, 2),
    ).to(F64)


def _train(bn):
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-0.5, 0.5)
    return bn.train()


CHAINS = [
    ("Linear-Tanh-Linear", _mlp, (5, 4), ()),
    ("Linear-GELU-BatchNorm1d(train)-Linear", _bn_mlp, (7, 4), ()),
    # The convolution's bias has gradient 0: train-mode batch norm removes any shift.
    ("Conv2d-BatchNorm2d(train)-ReLU-Flatten-Linear", _cnn, (4, 2, 4, 4), (1,)),
    ("nested Sequential", lambda: nn.Sequential(_mlp(), nn.Sigmoid(), nn.Identity()), (5, 4), ()),
]


@pytest.mark.parametrize(("name", "make", "shape", "zero"), CHAINS, ids=[c[0] for c in CHAINS])
def test_chains(name, make, shape, zero):
    check_products(make(), _x(*shape), what=name, zero_grads=zero)


@pytest.mark.parametrize(
    ("name", "make", "shape", "zero"), CHAINS[:3], ids=[c[0] for c in CHAINS[:3]]
)
@pytest.mark.parametrize("wrt", ["params", "input"])
def test_dense_jacobian(name, make, shape, zero, wrt):
    model, x = make(), _x(*shape)
    f, params = _reference(model)
    full = jacrev(f, argnums=tuple(range(len(params) + 1)))(x, *params)
    m = f(x, *params).numel()
    got = jacobian(model, x, wrt=wrt)
    if wrt == "input":
        assert_rel(got, full[0].reshape(m, -1), what=f"{name} input")
        return
    start = 0
    for i, (p, j) in enumerate(zip(params, full[1:], strict=True)):
        cols, want = got[:, start : start + p.numel()], j.reshape(m, -1)
        start += p.numel()
        if i in zero:
            assert_zero(cols, want, f"{name} parameter {i}")
        else:
            assert_rel(cols, want, what=f"{name} parameter {i}")
    assert start == got.shape[1]


def test_shared_parameters_get_one_direction_and_summed_gradients():
    shared = nn.Linear(4, 4, dtype=F64)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(trainable_parameters(model)) == 2

    def f(x, w, b):
        return nn.functional.linear(torch.tanh(nn.functional.linear(x, w, b)), w, b)

    check_products(model, _x(5, 4), what="shared Linear", f=f)
    assert len(trainable_parameters(model)) == 2  # the torch.func path left them in place


def test_torch_func_path_keeps_shared_parameters():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4, dtype=F64)
            self.b = self.a  # the same layer under two names

        def forward(self, x):
            return self.b(torch.tanh(self.a(x)))

    model = Twice()
    params = list(model.parameters())

    def f(x, w, b):
        return nn.functional.linear(torch.tanh(nn.functional.linear(x, w, b)), w, b)

    check_products(model, _x(5, 4), what="shared, torch.func", f=f)
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))
    assert all(isinstance(p, nn.Parameter) for p in model.parameters())


def test_hooked_and_overriding_modules_take_torch_func():
    class Doubled(nn.Linear):
        def forward(self, x):
            return 2.0 * super().forward(x)

    hooked = nn.Linear(4, 3, dtype=F64)
    hooked.register_forward_hook(lambda m, i, o: o**2)
    for module in (Doubled(4, 3, dtype=F64), hooked):
        check_products(module, _x(5, 4), what=type(module).__name__)


# Parameter vectors and bad input.


def test_flat_params_and_unflatten():
    model = _bn_mlp()
    vec = flat_params(model)
    assert vec.numel() == sum(p.numel() for p in model.parameters())
    parts = unflatten(vec, model)
    assert all(torch.equal(a, b) for a, b in zip(parts, model.parameters(), strict=True))
    with pytest.raises(ValueError, match="unflatten: vec must be a 1-D tensor of"):
        unflatten(vec[:-1], model)


def test_bad_arguments():
    layer, x = nn.Linear(4, 3, dtype=F64), _x(5, 4)
    with pytest.raises(TypeError, match=r"jvp: module must be a torch\.nn\.Module"):
        jvp(lambda x: x, x)
    with pytest.raises(TypeError, match=r"vjp: x must be a torch\.Tensor"):
        vjp(layer, np.ones((5, 4)), x)
    with pytest.raises(ValueError, match="one tensor per trainable parameter, 2; got 1"):
        jvp(layer, x, v_params=[torch.ones(3, 4, dtype=F64)])
    with pytest.raises(ValueError, match=r"v_params\[1\] must have its parameter's shape"):
        jvp(layer, x, v_params=[None, torch.ones(4, dtype=F64)])
    with pytest.raises(ValueError, match="jvp: v_input must have the shape of x"):
        jvp(layer, x, v_input=torch.ones(5, 3, dtype=F64))
    with pytest.raises(
        ValueError, match=r"vjp: u must have the shape of the module's output, \(5, 3\)"
    ):
        vjp(layer, x, torch.ones(5, 4, dtype=F64))
    with pytest.raises(ValueError, match="must have 4 features in its last dimension"):
        jvp(layer, _x(5, 3))
    with pytest.raises(ValueError, match="jacobian: wrt must be 'params' or 'input'"):
        jacobian(layer, x, wrt="x")
