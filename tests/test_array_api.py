"""Losses run unchanged on other array namespaces (PyTorch, JAX) and stay there.

PyTorch and JAX come with the ``[test]`` extra; each backend's tests skip where
it is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import CASES, assert_within_ulps, case_id, one_fast_case_per_loss, small_batch
from lossmath.checking import ULP_TOLERANCE

METHODS = ["value", "gradient", "hessian_diagonal", "fisher_diagonal", "hessian"]


def _torch():
    torch = pytest.importorskip("torch")
    return torch.asarray, torch.Tensor


def _jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)  # float64 arrays, as NumPy's
    return jax.numpy.asarray, jax.Array


@pytest.fixture(params=[_torch, _jax], ids=["torch", "jax"])
def backend(request):
    """``(asarray, array type)`` of an array namespace other than NumPy."""
    return request.param()


@pytest.mark.parametrize("loss", one_fast_case_per_loss(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_namespace_in_namespace_out(loss, dtype, backend):
    asarray, array_type = backend
    y, z, w = small_batch(loss, dtype)
    ty, tz, tw = (asarray(a) for a in (y, z, w))
    for name in METHODS:
        got = getattr(loss, name)(ty, tz, tw)
        assert isinstance(got, array_type), name
        assert got.dtype == tz.dtype, name
        want = getattr(loss, name)(y, z, w)
        # Different libms (and float32 evaluated natively): each side within
        # ULP_TOLERANCE of the exact result, so within twice that of each other,
        # element by element in ulps of the element itself.
        assert_within_ulps(np.asarray(got), want, 2 * ULP_TOLERANCE, err_msg=name)
    assert isinstance(loss.predict(tz), array_type)


def test_bad_input_names_the_argument_on_every_namespace(backend):
    from lossmath import get_loss

    asarray, _ = backend
    with pytest.raises(ValueError, match=r"poisson: y must be >= 0; got min\(y\) = -3.0"):
        get_loss("poisson").value(asarray([1.0, -3.0]), asarray([0.0, 0.0]))


def test_torch_float32_extremes_stay_finite():
    torch = pytest.importorskip("torch")
    from lossmath import get_loss

    z = torch.tensor([-80.0, 80.0], dtype=torch.float32)
    y = torch.tensor([1.0, 0.0], dtype=torch.float32)
    v, g, h = get_loss("logistic").value_gradient_hessian(y, z)
    assert torch.all(torch.isfinite(v))
    assert torch.all(g.abs() > 0)
    assert torch.all(h > 0)


@pytest.mark.parametrize("loss", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_native_torch_evaluation_is_within_16_ulp(loss, dtype):
    """PyTorch tensors are evaluated natively (float32 in float32): same accuracy bar."""
    torch = pytest.importorskip("torch")
    from lossmath.checking import sample_points, ulp_error
    from lossmath.checking._checks import _flat_exact

    for y, z in sample_points(loss, dtype, n_random=20):
        ty, tz = torch.asarray(y), torch.asarray(z)
        v, g, _ = loss.value_gradient_hessian(ty, tz)
        computed = {"value": v, "gradient": g, "hessian": loss.hessian(ty, tz)}
        for q, (ref, scale) in _flat_exact(loss, y, z).items():
            err = ulp_error(computed[q].numpy().ravel(), ref, dtype, scale)
            assert err.max() <= ULP_TOLERANCE, (q, err.max())
