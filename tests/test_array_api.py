"""Losses run unchanged on other array namespaces (PyTorch here) and stay there."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import CASES, case_id, small_batch

torch = pytest.importorskip("torch")

METHODS = ["value", "gradient", "hessian_diagonal", "fisher_diagonal", "hessian"]


@pytest.mark.parametrize("loss", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_in_torch_out(loss, dtype):
    y, z, w = small_batch(loss, dtype)
    ty, tz, tw = (torch.asarray(a) for a in (y, z, w))
    for name in METHODS:
        got = getattr(loss, name)(ty, tz, tw)
        assert isinstance(got, torch.Tensor), name
        assert got.dtype == tz.dtype, name
        want = getattr(loss, name)(y, z, w)
        # Different libms: agreement to a few ulps, not bit for bit.
        rtol = 64 * np.finfo(dtype).eps
        assert_allclose(got.numpy(), want, rtol=rtol, atol=rtol * np.abs(want).max(), err_msg=name)
    assert isinstance(loss.predict(tz), torch.Tensor)


def test_torch_float32_extremes_stay_finite():
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
    from lossmath.checking import ULP_TOLERANCE, sample_points, ulp_error
    from lossmath.checking._checks import _flat_exact

    for y, z in sample_points(loss, dtype, n_random=20):
        ty, tz = torch.asarray(y), torch.asarray(z)
        v, g, _ = loss.value_gradient_hessian(ty, tz)
        computed = {"value": v, "gradient": g, "hessian": loss.hessian(ty, tz)}
        for q, (ref, scale) in _flat_exact(loss, y, z).items():
            err = ulp_error(computed[q].numpy().ravel(), ref, dtype, scale)
            assert err.max() <= ULP_TOLERANCE, (q, err.max())
