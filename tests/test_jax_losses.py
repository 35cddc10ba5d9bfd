"""lossmath.jax: every loss under JAX, exact at every derivative order.

Values, gradients (``jax.grad``) and Hessians (a JVP of the gradient; the full
softmax Hessian by ``jax.hessian``) against the exact ``mpmath`` results with the
NumPy methods' bar, under the transforms, at infinite logits, and the mapping
onto optax's losses. Shapes are reused so that JAX compiles little.
"""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)  # float64 arrays, as NumPy's (tests only)

import jax.numpy as jnp  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

import lossmath.jax as lmj  # noqa: E402
from lossmath.checking import ULP_TOLERANCE, loss_cases, sample_points, ulp_error  # noqa: E402
from lossmath.checking._checks import _flat_exact  # noqa: E402
from lossmath.losses import available, get_loss  # noqa: E402

NAMES = available()
SCALAR_NAMES = [n for n in NAMES if n != "multinomial"]
#: Exact results below this are not held to the ulp bar: XLA on CPU flushes
#: subnormal intermediates to zero (the softmax's ``e (1 + δ)`` correction of a
#: probability near 1e-305 is one), see docs/jax.md.
FLUSH_FLOOR = 2.0**-1022 * 2.0**60


@functools.cache
def _compiled_results(loss):
    def results(y, z):
        def total(zz):
            return lmj.loss(loss, zz, y, reduction="sum")

        value = lmj.loss(loss, z, y)
        grad = jax.grad(total)(z)
        if loss.name == "multinomial":
            hess = jax.vmap(jax.hessian(lambda zr, yr: lmj.loss(loss, zr, yr)))(z, y)
        else:
            hess = jax.jvp(jax.grad(total), (z,), (jnp.ones_like(z),))[1]
        return {"value": value, "gradient": grad, "hessian": hess}

    return jax.jit(results)


def jax_results(loss, y, z) -> dict:
    """Value, ``jax.grad`` and the Hessian (diagonal, or full ``(n, K, K)``) via JAX,
    under ``jit`` (one compilation per loss and shape)."""
    return _compiled_results(loss)(jnp.asarray(y), jnp.asarray(z))


def worst_ulps(loss, n_random: int) -> dict:
    """Largest error in ulps against ``mpmath`` over ``sample_points``."""
    worst = {"value": 0.0, "gradient": 0.0, "hessian": 0.0}
    for y, z in sample_points(loss, np.float64, n_random, seed=0):
        computed = jax_results(loss, y, z)
        for q, (ref, scale) in _flat_exact(loss, y, z).items():
            keep = [abs(r) >= FLUSH_FLOOR or r == 0 for r in ref]
            got = np.ravel(np.asarray(computed[q]))[keep]
            ref = [r for r, k in zip(ref, keep, strict=True) if k]
            scale = [s for s, k in zip(scale, keep, strict=True) if k]
            worst[q] = max(worst[q], float(np.max(ulp_error(got, ref, np.float64, scale))))
    return worst


# --------------------------------------------------------------------- accuracy
#: The default run's losses for the slower checks; the rest run with ``-m slow``.
QUICK = ("logistic", "focal", "poisson", "multinomial")


def _marks(names):
    return [n if n in QUICK else pytest.param(n, marks=pytest.mark.slow) for n in names]


@pytest.mark.parametrize("name", _marks(NAMES))
def test_value_gradient_hessian_within_the_ulp_bar_and_as_numpy(name):
    loss = get_loss(name, n_classes=3) if name == "multinomial" else get_loss(name)
    worst = worst_ulps(loss, n_random=8)
    assert max(worst.values()) <= ULP_TOLERANCE, worst
    # The same batch against the NumPy methods: equal up to the elementary
    # functions' last bits, amplified where the data cancel (eᶻ ≈ y, r ≈ 0).
    y, z = sample_points(loss, np.float64, 8, seed=0)[0]
    keep = np.abs(z).max(axis=-1) <= 100 if z.ndim == 2 else np.abs(z) <= 100
    y, z = y[keep], z[keep]
    got = jax_results(loss, y, z)
    want = dict(zip(("value", "gradient"), loss.value_gradient(y, z), strict=True))
    want["hessian"] = loss.hessian(y, z)
    eps = np.finfo(np.float64).eps
    terms = 1 + np.abs(y) + (np.exp(z) if z.ndim == 1 else 0)
    for q in want:
        atol = 0 if q == "hessian" else 16 * eps * terms.max()
        np.testing.assert_allclose(got[q], want[q], rtol=16 * eps, atol=atol, err_msg=q)


@pytest.mark.slow
@pytest.mark.parametrize("loss", loss_cases(), ids=repr)
def test_every_parameter_case_within_the_ulp_bar(loss):
    worst = worst_ulps(loss, n_random=40)
    assert max(worst.values()) <= ULP_TOLERANCE, worst


# ------------------------------------------------------------------ transforms
def _scalar_batch(name):
    loss = get_loss(name)
    rng = np.random.default_rng(5)
    dom = loss.y_interval
    if dom.binary or dom.high == 1:
        y = rng.integers(0, 2, 6).astype(float)
    elif dom.low == 0:
        y = rng.uniform(0.5, 3.0, 6)
    else:
        y = rng.normal(0, 2, 6)
    z = y + rng.choice([-1, 1], 6) * rng.uniform(0.4, 2.0, 6)  # away from the kinks
    if dom.binary or dom.high == 1:
        z = (2 * y - 1) * rng.uniform(-0.6, 0.6, 6)  # margins away from 1
    return jnp.asarray(y), jnp.asarray(z)


@pytest.mark.parametrize("name", _marks(SCALAR_NAMES))
def test_check_grads_second_order(name):
    y, z = _scalar_batch(name)
    f = jax.jit(lambda zz: lmj.loss(name, zz, y))
    check_grads(f, (z,), order=2, modes=["fwd", "rev"])


@pytest.mark.slow
def test_check_grads_multinomial_logits_and_rows():
    rng = np.random.default_rng(2)
    z = jnp.asarray(rng.normal(0, 2, (4, 3)))
    rows = jnp.asarray(rng.dirichlet(np.ones(3), 4))
    labels = jnp.asarray([0, 2, 1, 1])
    for params in ({"label_smoothing": 0.1, "class_weight": [1.0, 2.0, 0.5]},):

        @jax.jit
        def f(zz, params=params):
            return lmj.loss("multinomial", zz, labels, reduction="mean", **params)

        check_grads(f, (z,), order=2, modes=["fwd", "rev"])
    # Under jit: the finite differences leave rows that do not sum to 1 exactly.
    f = jax.jit(lambda zz, rr: lmj.loss("multinomial", zz, rr))
    check_grads(f, (z, rows), order=2, modes=["fwd", "rev"])


def test_transforms_agree_scalar():
    y, z = _scalar_batch("focal")
    loss = get_loss("focal")

    def total(zz):
        return lmj.loss(loss, zz, y, reduction="sum")

    h = loss.hessian_diagonal(np.asarray(y), np.asarray(z))
    g = loss.gradient(np.asarray(y), np.asarray(z))
    np.testing.assert_allclose(jax.jit(jax.grad(total))(z), g, rtol=1e-14)
    np.testing.assert_allclose(jax.jit(jax.hessian(total))(z), np.diag(h), rtol=1e-14, atol=1e-300)
    per_sample = jax.vmap(jax.grad(lambda zi, yi: lmj.loss(loss, zi, yi)))(z, y)
    np.testing.assert_allclose(per_sample, g, rtol=1e-14)
    np.testing.assert_allclose(jax.jit(lambda zz: lmj.loss(loss, zz, y))(z), loss.value(y, z))


def test_transforms_agree_multinomial():
    rng = np.random.default_rng(4)
    z = jnp.asarray(rng.normal(0, 3, (5, 4)))
    labels = jnp.asarray([0, 3, 1, 2, 2])
    loss = get_loss("multinomial", label_smoothing=0.05)
    full = loss.hessian(np.asarray(labels), np.asarray(z))

    def row(zr, yr):
        return lmj.loss(loss, zr, yr)

    np.testing.assert_allclose(jax.jit(jax.vmap(jax.hessian(row)))(z, labels), full, rtol=1e-13)
    g = jax.jit(jax.grad(lambda zz: lmj.loss(loss, zz, labels, reduction="sum")))(z)
    np.testing.assert_allclose(g, loss.gradient(np.asarray(labels), np.asarray(z)), rtol=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["focal", "multinomial"])
def test_jacfwd_and_jacrev_of_the_gradient(name):
    rng = np.random.default_rng(8)
    if name == "multinomial":
        z, y = jnp.asarray(rng.normal(0, 2, (3, 4))), jnp.asarray([0, 3, 1])
    else:
        y, z = _scalar_batch(name)

    def total(zz):
        return lmj.loss(name, zz, y, reduction="sum")

    want = jax.jit(jax.hessian(total))(z)
    for hess in (jax.jacfwd(jax.grad(total)), jax.jacrev(jax.grad(total))):
        np.testing.assert_allclose(jax.jit(hess)(z), want, rtol=1e-14, atol=1e-300)


def test_third_derivative_is_autodiff_of_the_hessian():
    z = jnp.asarray([-2.0, 0.3, 4.0])
    y = jnp.asarray([1.0, 0.0, 1.0])

    def total(zz):
        return lmj.loss("logistic", zz, y, reduction="sum")

    hessian_diagonal = jax.grad(lambda zz: jnp.vdot(jax.grad(total)(zz), jnp.ones(3)))
    third = jax.jit(jax.jacfwd(hessian_diagonal))(z)
    s = 1 / (1 + np.exp(-np.asarray(z)))
    np.testing.assert_allclose(np.diag(third), s * (1 - s) * (1 - 2 * s), rtol=1e-12)


def test_derivative_in_soft_labels():
    z = jnp.asarray([-3.0, 0.5, 2.0])
    y = jnp.asarray([0.2, 0.5, 0.9])
    dy = jax.grad(lambda yy: lmj.loss("logistic", z, yy, reduction="sum"))(y)
    np.testing.assert_allclose(dy, -z, rtol=1e-14)  # ℓ = softplus(z) − y z
    rows = jnp.asarray([[0.2, 0.3, 0.5]])
    zz = jnp.asarray([[1.0, -2.0, 0.5]])
    d_rows = jax.grad(lambda r: lmj.loss("multinomial", zz, r, reduction="sum"))(rows)
    lse = np.log(np.sum(np.exp(np.asarray(zz))))
    np.testing.assert_allclose(d_rows, lse - np.asarray(zz), rtol=1e-14)


# ------------------------------------------------------------ infinite logits
INF = float("inf")


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_infinite_logits_give_the_limits(dtype):
    z = jnp.asarray([-INF, INF, -INF, INF], dtype=dtype)
    y = jnp.asarray([0.0, 1.0, 1.0, 0.0], dtype=dtype)
    for name in ("logistic", "focal"):
        total = lambda zz, name=name: lmj.loss(name, zz, y, reduction="sum")  # noqa: E731
        v = lmj.loss(name, z, y)
        g = jax.grad(total)(z)
        h = jax.jvp(jax.grad(total), (z,), (jnp.ones_like(z),))[1]
        np.testing.assert_array_equal(v, [0, 0, INF, INF])
        np.testing.assert_array_equal(g, [0, 0, -1, 1])
        np.testing.assert_array_equal(h, [0, 0, 0, 0])
        assert g.dtype == h.dtype == dtype
    poisson = lmj.loss("poisson", jnp.asarray([-INF, INF], dtype), jnp.asarray([0.0, 2.0], dtype))
    np.testing.assert_array_equal(poisson, [0, INF])
    rows = jnp.asarray([[INF, 0.0, 1.0], [-INF, 3.0, 1.0], [-INF, -INF, 2.0]], dtype)
    labels = jnp.asarray([0, 0, 2])
    v = lmj.loss("multinomial", rows, labels)
    g = jax.grad(lambda zz: lmj.loss("multinomial", zz, labels, reduction="sum"))(rows)
    np.testing.assert_array_equal(v, [0, INF, 0])
    assert np.all(np.isfinite(np.asarray(g)))
    np.testing.assert_allclose(g[0], [0, 0, 0])
    np.testing.assert_allclose(g[1, 0], -1)


def test_extreme_float32_logits_stay_accurate():
    z = jnp.asarray([-80.0, -20.0, 20.0, 80.0], jnp.float32)
    y = jnp.asarray([0.0, 0.0, 1.0, 1.0], jnp.float32)
    v = lmj.loss("logistic", z, y)
    g = jax.grad(lambda zz: lmj.loss("logistic", zz, y, reduction="sum"))(z)
    want = np.log1p(np.exp(-np.abs(np.asarray(z, np.float64))))
    np.testing.assert_allclose(v, want, rtol=4e-7)
    np.testing.assert_allclose(np.abs(g), np.exp(-np.abs(np.asarray(z, np.float64))), rtol=4e-6)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_half_precision_is_computed_in_float32_and_rounded_once(dtype):
    z = jnp.asarray(np.linspace(-30, 30, 13), dtype)
    y = jnp.asarray(np.arange(13) % 2, dtype)
    got = lmj.loss("logistic", z, y)
    assert got.dtype == dtype
    want = lmj.loss("logistic", z.astype(jnp.float32), y.astype(jnp.float32)).astype(dtype)
    np.testing.assert_array_equal(np.asarray(got, np.float32), np.asarray(want, np.float32))
    mean = lmj.loss("logistic", z, y, reduction="mean")
    want = lmj.loss("logistic", z.astype(jnp.float32), y, reduction="mean").astype(dtype)
    assert float(mean) == float(want)


# ------------------------------------------------------------ shapes, reductions
def test_scalar_losses_act_elementwise_on_any_shape():
    rng = np.random.default_rng(0)
    z = rng.normal(0, 2, (2, 3, 4))
    y = rng.integers(0, 2, (2, 3, 4)).astype(float)
    got = lmj.loss("logistic", z, y)
    assert got.shape == (2, 3, 4)
    want = get_loss("logistic").value(y.ravel(), z.ravel()).reshape(2, 3, 4)
    np.testing.assert_allclose(got, want, rtol=1e-15)


def test_multinomial_class_axis_last_any_leading_shape():
    rng = np.random.default_rng(1)
    z = rng.normal(0, 2, (2, 3, 5))
    labels = rng.integers(0, 5, (2, 3))
    got = lmj.loss("multinomial", z, labels)
    assert got.shape == (2, 3)
    want = get_loss("multinomial").value(labels.ravel(), z.reshape(6, 5)).reshape(2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-15)
    rows = np.eye(5)[labels]
    np.testing.assert_allclose(lmj.loss("multinomial", z, rows), want, rtol=1e-15)


def test_reductions_and_weights():
    rng = np.random.default_rng(3)
    z, y, w = rng.normal(0, 2, 8), rng.integers(0, 2, 8).astype(float), rng.uniform(0, 2, 8)
    per = np.asarray(lmj.loss("logistic", z, y))
    np.testing.assert_allclose(lmj.loss("logistic", z, y, reduction="sum"), per.sum())
    np.testing.assert_allclose(lmj.loss("logistic", z, y, reduction="mean"), per.mean())
    np.testing.assert_allclose(lmj.loss("logistic", z, y, w), w * per)
    mean = lmj.loss("logistic", z, y, w, reduction="mean")
    np.testing.assert_allclose(mean, (w * per).sum() / w.sum())
    # A weight of 0 contributes exactly 0, also where the loss is infinite.
    got = lmj.loss(
        "poisson", jnp.asarray([INF, 0.0]), jnp.asarray([1.0, 1.0]), jnp.asarray([0.0, 1.0])
    )
    np.testing.assert_array_equal(got, [0.0, 1.0])
    # Weights broadcast onto the per-sample losses' shape.
    zz = rng.normal(0, 1, (3, 4))
    yy = rng.integers(0, 2, (3, 4)).astype(float)
    row_w = np.asarray([1.0, 0.0, 2.0])[:, None]
    np.testing.assert_allclose(
        lmj.loss("logistic", zz, yy, row_w), row_w * lmj.loss("logistic", zz, yy)
    )


def test_multinomial_mean_with_class_weight_is_torchs():
    rng = np.random.default_rng(6)
    z = rng.normal(0, 2, (6, 3))
    labels = np.asarray([0, 1, 2, 2, 1, 0])
    cw = np.asarray([1.0, 2.0, 0.5])
    per = np.asarray(lmj.loss("multinomial", z, labels, class_weight=cw))
    mean = lmj.loss("multinomial", z, labels, reduction="mean", class_weight=cw)
    np.testing.assert_allclose(mean, per.sum() / cw[labels].sum(), rtol=1e-15)
    plain = get_loss("multinomial").value(labels, z)
    np.testing.assert_allclose(per, cw[labels] * plain, rtol=1e-15)


# -------------------------------------------------------------------- checks
def test_bad_input_raises_named_errors():
    z = jnp.zeros(3)
    with pytest.raises(
        ValueError, match=r"lossmath.jax.loss\('logistic'\): labels must have the shape"
    ):
        lmj.loss("logistic", z, jnp.zeros(4))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]; got max\(labels\) = 2.0"):
        lmj.loss("logistic", z, jnp.asarray([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="logits must not be NaN"):
        lmj.loss("logistic", jnp.asarray([0.0, jnp.nan, 1.0]), jnp.zeros(3))
    with pytest.raises(ValueError, match="weight must be >= 0"):
        lmj.loss("logistic", z, jnp.zeros(3), jnp.asarray([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="weight must be broadcastable"):
        lmj.loss("logistic", z, jnp.zeros(3), jnp.ones(2))
    with pytest.raises(ValueError, match="reduction must be one of"):
        lmj.loss("logistic", z, jnp.zeros(3), reduction="avg")
    with pytest.raises(ValueError, match="unknown loss"):
        lmj.loss("nope", z, z)
    with pytest.raises(TypeError, match="logits must be an array of numbers"):
        lmj.loss("logistic", "abc", z)
    with pytest.raises(TypeError, match="cannot be applied to the loss object"):
        lmj.loss(get_loss("huber"), z, z, delta=2.0)
    zz = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match=r"class indices\) must lie in \[0, 2\]"):
        lmj.loss("multinomial", zz, jnp.asarray([0, 3]))
    with pytest.raises(ValueError, match="probability rows must sum to 1"):
        lmj.loss("multinomial", zz, jnp.full((2, 3), 0.5))
    with pytest.raises(ValueError, match=r"logits must have shape \(\.\.\., K\)"):
        lmj.loss("multinomial", jnp.zeros((2, 1)), jnp.asarray([0, 0]))


def test_under_jit_shapes_are_checked_values_are_not():
    f = jax.jit(lambda z, y: lmj.loss("multinomial", z, y))
    with pytest.raises(ValueError, match="labels must be class indices of shape"):
        f(jnp.zeros((2, 3)), jnp.zeros(3, dtype=jnp.int32))
    # A label outside [0, K) is a zero one-hot row: a zero loss (documented).
    np.testing.assert_array_equal(f(jnp.zeros((2, 3)), jnp.asarray([0, 7])), [np.log(3), 0.0])
    with pytest.raises(ValueError, match=r"class indices\) must lie in"):
        lmj.check("multinomial", jnp.zeros((2, 3)), jnp.asarray([0, 7]))


def test_concrete_labels_are_checked_under_grad_and_when_closed_over():
    y = jnp.asarray([0.0, 2.0])
    with pytest.raises(ValueError, match="labels must lie in"):
        jax.grad(lambda z: lmj.loss("logistic", z, y, reduction="sum"))(jnp.zeros(2))
    with pytest.raises(ValueError, match="labels must lie in"):
        jax.jit(lambda z: lmj.loss("logistic", z, y))(jnp.zeros(2))


def test_import_lossmath_does_not_import_jax():
    code = "import sys, lossmath, lossmath.losses; lossmath.get_loss('logistic'); "
    code += "assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ optax mapping
def _optax():
    return pytest.importorskip("optax")


def _grad(f, z):
    return jax.grad(lambda t: jnp.sum(f(t)))(z)


def _same(ours, theirs, z, rtol=1e-13):
    """Equal values and gradients at moderate logits, where optax is accurate."""
    np.testing.assert_allclose(ours(z), theirs(z), rtol=rtol, atol=1e-15)
    np.testing.assert_allclose(_grad(ours, z), _grad(theirs, z), rtol=rtol, atol=1e-15)


def test_optax_binary_mappings():
    optax = _optax()
    rng = np.random.default_rng(11)
    z = jnp.asarray(rng.normal(0, 3, 16))
    y = jnp.asarray(rng.integers(0, 2, 16).astype(float))
    soft = jnp.asarray(rng.uniform(0, 1, 16))
    for labels in (y, soft):
        _same(
            lambda t, labels=labels: lmj.loss("logistic", t, labels),
            lambda t, labels=labels: optax.sigmoid_binary_cross_entropy(t, labels),
            z,
        )
    for params in ({"gamma": 2.0}, {"gamma": 0.5, "alpha": 0.25}):
        _same(
            lambda t, p=params: lmj.loss("focal", t, y, **p),
            lambda t, p=params: optax.sigmoid_focal_loss(t, y, **p),
            z,
            rtol=1e-12,
        )
    # optax's hinge takes targets in {-1, +1}: s = 2y − 1.
    _same(lambda t: lmj.loss("hinge", t, y), lambda t: optax.hinge_loss(t, 2 * y - 1), z)
    # At infinite logits optax is NaN where the limit is 0.
    inf = jnp.asarray([INF, -INF])
    assert np.isnan(optax.sigmoid_binary_cross_entropy(inf, jnp.asarray([1.0, 0.0]))).all()
    np.testing.assert_array_equal(lmj.loss("logistic", inf, jnp.asarray([1.0, 0.0])), [0, 0])


def test_optax_regression_mappings():
    optax = _optax()
    rng = np.random.default_rng(12)
    z, y = jnp.asarray(rng.normal(0, 3, 16)), jnp.asarray(rng.normal(0, 3, 16))
    _same(lambda t: lmj.loss("squared_error", t, y), lambda t: optax.l2_loss(t, y), z)
    _same(lambda t: 2 * lmj.loss("squared_error", t, y), lambda t: optax.squared_error(t, y), z)
    for delta in (0.5, 1.0, 3.0):
        _same(
            lambda t, d=delta: lmj.loss("huber", t, y, delta=d),
            lambda t, d=delta: optax.huber_loss(t, y, delta=d),
            z,
        )
    _same(lambda t: lmj.loss("log_cosh", t, y), lambda t: optax.log_cosh(t, y), z, rtol=1e-12)


def test_optax_softmax_mappings():
    optax = _optax()
    rng = np.random.default_rng(13)
    z = jnp.asarray(rng.normal(0, 3, (6, 4)))
    labels = jnp.asarray(rng.integers(0, 4, 6))
    one_hot = jax.nn.one_hot(labels, 4, dtype=z.dtype)
    rows = jnp.asarray(rng.dirichlet(np.ones(4), 6))
    _same(
        lambda t: lmj.loss("multinomial", t, labels),
        lambda t: optax.softmax_cross_entropy_with_integer_labels(t, labels),
        z,
    )
    _same(
        lambda t: lmj.loss("multinomial", t, rows),
        lambda t: optax.softmax_cross_entropy(t, rows),
        z,
    )
    # label_smoothing=ε is optax.smooth_labels(one_hot, ε) (and torch's definition).
    _same(
        lambda t: lmj.loss("multinomial", t, labels, label_smoothing=0.2),
        lambda t: optax.softmax_cross_entropy(t, optax.smooth_labels(one_hot, 0.2)),
        z,
    )
    # class_weight (no optax namesake) is a per-sample weight w_y on optax's loss.
    cw = jnp.asarray([1.0, 2.0, 0.5, 3.0])
    _same(
        lambda t: lmj.loss("multinomial", t, labels, class_weight=cw),
        lambda t: cw[labels] * optax.softmax_cross_entropy_with_integer_labels(t, labels),
        z,
    )
