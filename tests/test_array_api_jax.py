"""Losses run unchanged on JAX arrays (the ``[jax]`` extra) and stay there."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from conftest import CASES, case_id, small_batch

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)  # float64 arrays, as NumPy's
jnp = jax.numpy

METHODS = ["value", "gradient", "hessian_diagonal", "fisher_diagonal", "hessian"]


@pytest.mark.parametrize("loss", CASES, ids=case_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_jax_in_jax_out(loss, dtype):
    y, z, w = small_batch(loss, dtype)
    jy, jz, jw = (jnp.asarray(a) for a in (y, z, w))
    for name in METHODS:
        got = getattr(loss, name)(jy, jz, jw)
        assert isinstance(got, jax.Array), name
        assert got.dtype == jz.dtype, name
        want = getattr(loss, name)(y, z, w)
        # Native float32 on JAX, float64-then-rounded on NumPy: a few ulps apart.
        rtol = 64 * np.finfo(dtype).eps
        got = np.asarray(got)
        assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max(), err_msg=name)
    assert isinstance(loss.predict(jz), jax.Array)


def test_jax_bad_input_names_the_argument():
    from lossmath import get_loss

    with pytest.raises(ValueError, match=r"poisson: y must be >= 0; got min\(y\) = -3.0"):
        get_loss("poisson").value(jnp.asarray([1.0, -3.0]), jnp.zeros(2))
