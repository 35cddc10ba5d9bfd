"""Inference numbers match statsmodels' GLM on the same model (at its optimum)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from lossmath import get_loss
from lossmath.linear_model._inference import coef_table_data, glm_inference

sm = pytest.importorskip("statsmodels.api")

rng = np.random.default_rng(0)
N, P = 300, 3
X = rng.normal(0, 0.5, (N, P))
ETA = X @ np.array([0.5, -0.3, 0.2]) + 0.3

CASES = {
    "squared_error": (sm.families.Gaussian(), rng.normal(ETA, 1.0)),
    "logistic": (sm.families.Binomial(), rng.binomial(1, 1 / (1 + np.exp(-ETA))).astype(float)),
    "poisson": (sm.families.Poisson(), rng.poisson(np.exp(ETA)).astype(float)),
    "gamma": (
        sm.families.Gamma(sm.families.links.Log()),
        rng.gamma(2.0, np.exp(ETA) / 2.0),
    ),
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "freq_weights"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_statsmodels(name, weighted):
    family, y = CASES[name]
    w = rng.integers(1, 4, N).astype(float) if weighted else None
    res = sm.GLM(y, sm.add_constant(X, prepend=False), family=family, freq_weights=w).fit(tol=1e-12)
    z = sm.add_constant(X, prepend=False) @ res.params
    inf = glm_inference(get_loss(name), X, y, z, w)
    assert_allclose(inf.covariance, res.cov_params(), rtol=1e-6)
    assert_allclose(inf.std_errors, res.bse, rtol=1e-6)
    assert np.isclose(inf.scale, res.scale, rtol=1e-8)
    assert np.isclose(inf.deviance, res.deviance, rtol=1e-8)
    assert np.isclose(inf.log_likelihood, res.llf, rtol=1e-8)
    assert np.isclose(inf.aic, res.aic, rtol=1e-8)
    assert np.isclose(inf.bic, res.bic_llf, rtol=1e-8)
    table = coef_table_data(res.params, inf.std_errors)
    assert_allclose(table["p_value"], res.pvalues, rtol=1e-5)
    ci = res.conf_int()
    assert_allclose(table["ci_0.025"], ci[:, 0], rtol=1e-5)


def test_non_likelihood_losses_are_refused():
    with pytest.raises(ValueError, match="hinge: inference needs a likelihood"):
        glm_inference(get_loss("hinge"), X, np.ones(N), np.zeros(N))
