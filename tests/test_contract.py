"""The loss contract of docs/contract.md §4, checked for every registered loss.

The truth of each loss's declarations (``is_convex``, ``is_smooth``,
``canonical_link``, ``hessian_bound``, ``distribution``, ``predict``) is checked
in ``test_loss_properties.py``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import minimize, minimize_scalar

import lossmath
from conftest import CASES, MULTI_CASES, case_id, small_batch
from elementwise import assert_agree

#: ``H v`` against ``H`` times ``v`` in NumPy, ``S Sᵀ`` against ``H``: a few
#: roundings per side (a product, a square root, a sum of K products), measured at
#: most 3 ulps of each element where the result does not cancel.
CONTRACT_ULPS = 4

FUSED = {
    "value_gradient": ("value", "gradient"),
    "gradient_hessian": ("gradient", "hessian_diagonal"),
    "value_gradient_hessian": ("value", "gradient", "hessian_diagonal"),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shapes_and_dtypes(loss, dtype):
    y, z, _ = small_batch(loss, dtype)
    n = z.shape[0]
    assert loss.value(y, z).shape == (n,)
    for name in ("gradient", "hessian_diagonal", "fisher_diagonal", "predict"):
        out = loss.predict(z) if name == "predict" else getattr(loss, name)(y, z)
        assert out.shape == z.shape, name
        assert out.dtype == dtype, name
    assert loss.value(y, z).dtype == dtype
    h = loss.hessian(y, z)
    assert h.shape == ((n,) if z.ndim == 1 else (n, z.shape[1], z.shape[1]))
    assert h.dtype == dtype
    assert np.asarray(loss(y, z)).dtype == dtype
    assert np.asarray(loss(y, z)).shape == ()


def test_integer_scores_give_float64(loss):
    y, z, _ = small_batch(loss)
    zi = np.round(z).astype(np.int64)
    assert loss.gradient(y, zi).dtype == np.float64
    assert_array_equal(loss.gradient(y, zi), loss.gradient(y, zi.astype(float)))


def test_lists_are_accepted(loss):
    y, z, _ = small_batch(loss)
    assert_array_equal(loss.value(y.tolist(), z.tolist()), loss.value(y, z))


@pytest.mark.parametrize("fused", sorted(FUSED))
def test_fused_equal_separate_bit_for_bit(loss, fused):
    y, z, w = small_batch(loss)
    for sw in (None, w):
        together = getattr(loss, fused)(y, z, sw)
        for part, name in zip(together, FUSED[fused], strict=True):
            assert_array_equal(part, getattr(loss, name)(y, z, sw), err_msg=name)


@pytest.mark.parametrize("fused", sorted(FUSED))
def test_out_buffers(loss, fused):
    y, z, w = small_batch(loss)
    expected = getattr(loss, fused)(y, z, w)
    bufs = tuple(np.empty_like(e) for e in expected)
    got = getattr(loss, fused)(y, z, w, out=bufs)
    for b, g, e in zip(bufs, got, expected, strict=True):
        assert g is b
        assert_array_equal(b, e)
    single = np.empty_like(expected[0])
    name = FUSED[fused][0]
    assert getattr(loss, name)(y, z, w, out=single) is single


def test_out_buffer_of_wrong_shape_is_rejected(loss):
    y, z, _ = small_batch(loss)
    with pytest.raises(ValueError, match=r"out \(gradient\) must have shape"):
        loss.gradient_hessian(y, z, out=(np.empty(1), None))


def test_sample_weight_multiplies(loss):
    y, z, w = small_batch(loss)
    wz = w[:, None] if z.ndim == 2 else w
    assert_allclose(loss.value(y, z, w), w * loss.value(y, z), rtol=1e-15)
    assert_allclose(loss.gradient(y, z, w), wz * loss.gradient(y, z), rtol=1e-15)
    assert_allclose(loss.hessian_diagonal(y, z, w), wz * loss.hessian_diagonal(y, z), rtol=1e-15)
    assert_allclose(loss.fisher_diagonal(y, z, w), wz * loss.fisher_diagonal(y, z), rtol=1e-15)
    h = loss.hessian(y, z)
    wh = w.reshape((-1,) + (1,) * (h.ndim - 1))
    assert_allclose(loss.hessian(y, z, w), wh * h, rtol=1e-15)
    mean = np.sum(w * loss.value(y, z)) / np.sum(w)
    assert_allclose(loss(y, z, w), mean, rtol=1e-14)
    assert_allclose(loss(y, z), np.mean(loss.value(y, z)), rtol=1e-14)


def test_hessian_vector_product(loss):
    y, z, w = small_batch(loss)
    v = np.random.default_rng(5).normal(size=z.shape)
    h = loss.hessian(y, z, w)
    expected = np.einsum("nij,nj->ni", h, v) if h.ndim == 3 else h * v
    got = loss.hessian_vector_product(y, z, v, w)
    # Where the sum Σ_j H_kj v_j cancels, NumPy's sum of rounded products is no
    # referee: there the exact result is, and only H v is held to it.
    hvp = "hessian_vector_product"
    assert_agree(loss, hvp, got, expected, CONTRACT_ULPS, y=y, z=z, w=w, v=v, referee=(0,))


def test_sqrt_hessian(loss):
    y, z, w = small_batch(loss)
    if not loss.is_convex:
        with pytest.raises(NotImplementedError, match=loss.name):
            loss.sqrt_hessian(y, z)
        return
    s = loss.sqrt_hessian(y, z, w)
    h = loss.hessian(y, z, w)
    ssT = np.einsum("nij,nkj->nik", s, s) if s.ndim == 3 else s * s
    assert_agree(loss, "hessian", ssT, h, CONTRACT_ULPS, y=y, z=z, w=w)


def test_fisher_is_nonnegative_and_exact_for_canonical_links(loss):
    y, z, w = small_batch(loss, n=40)
    f = loss.fisher_diagonal(y, z, w)
    assert np.all(f >= 0)
    if loss.canonical_link:
        assert_array_equal(f, loss.hessian_diagonal(y, z, w))


def _weighted_mean_loss(loss, y, w):
    return lambda c: float(loss(y, np.full(y.shape[0], c), w))


@pytest.mark.parametrize("weighted", [False, True])
def test_baseline_minimises_the_weighted_loss(loss, weighted):
    y, _, w = small_batch(loss, n=25, seed=8)
    w = w if weighted else None
    if loss.name == "multinomial":
        k = loss.n_outputs or 4
        c = loss.baseline(y, w)
        assert c.shape == (k,)
        f = lambda c: float(loss(y, np.tile(c, (y.shape[0], 1)), w))  # noqa: E731
        best = minimize(f, np.zeros(k), method="BFGS", options={"gtol": 1e-10})
        assert f(c) <= best.fun + 1e-10
        return
    c = loss.baseline(y, w)
    assert isinstance(c, float)
    f = _weighted_mean_loss(loss, y, w)
    lo, hi = float(np.min(y)) - 5, float(np.max(y)) + 5
    best = minimize_scalar(
        f, bounds=(min(lo, -40), max(hi, 40)), method="bounded", options={"xatol": 1e-10}
    )
    grid = np.linspace(min(lo, -10), max(hi, 10), 2001)
    best_grid = min(f(g) for g in grid)
    assert f(c) <= min(best.fun, best_grid) + 1e-10 * max(1.0, abs(best.fun))


def test_baseline_when_the_optimum_is_at_infinity():
    for name, y in [
        ("logistic", np.zeros(5)),
        ("poisson", np.zeros(5)),
        ("exponential", np.ones(5)),
    ]:
        loss = lossmath.get_loss(name)
        c = loss.baseline(y)
        assert np.isfinite(c)
        assert float(loss(y, np.full(5, c))) <= 1e-15


def test_check_input_false_gives_the_same_results(loss):
    y, z, w = small_batch(loss)
    assert_array_equal(
        loss.value_gradient_hessian(y, z, w, check_input=False)[1],
        loss.value_gradient_hessian(y, z, w)[1],
    )


def test_immutable_hashable_and_repr(loss):
    with pytest.raises(dataclasses.FrozenInstanceError):
        loss.foo = 1
    assert hash(loss) == hash(eval(repr(loss), vars(lossmath.losses)))
    assert loss == eval(repr(loss), vars(lossmath.losses))


def test_get_loss_round_trip(loss):
    params = {f.name: getattr(loss, f.name) for f in dataclasses.fields(loss)}
    assert lossmath.get_loss(loss.name, **params) == loss
    assert lossmath.get_loss(loss) is loss


@pytest.mark.parametrize("loss", MULTI_CASES, ids=case_id)
def test_one_hot_rows_equal_integer_labels(loss):
    y, z, w = small_batch(loss)
    rows = np.eye(z.shape[1])[y]
    for a, b in zip(
        loss.value_gradient_hessian(y, z, w), loss.value_gradient_hessian(rows, z, w), strict=True
    ):
        assert_array_equal(a, b)


def test_catalogue_is_complete():
    expected = {
        "squared_error",
        "absolute_error",
        "huber",
        "pseudo_huber",
        "log_cosh",
        "quantile",
        "logistic",
        "hinge",
        "squared_hinge",
        "exponential",
        "focal",
        "multinomial",
        "poisson",
        "gamma",
        "tweedie",
    }
    assert expected <= set(lossmath.losses.available())
    assert len(CASES) >= len(expected)
