r"""Likelihood inference for fitted GLMs: dispersion, covariance, deviance, AIC/BIC.

For a loss that is the negative log-likelihood of an exponential-dispersion family
with mean ``μ = ŷ`` and weights ``s`` (frequency weights: a weight of 2 is a
duplicated row), the fitted coefficients have the asymptotic covariance

.. math::

    \operatorname{Cov}(\hat w) = φ\,\bigl(\tilde X^\top \operatorname{diag}(s ⊙ f)\,
    \tilde X\bigr)^{-1},

with ``X̃ = [X 1]``, ``f`` the Fisher weights of the loss (``(dμ/dz)² / V(μ)``)
and ``φ`` the dispersion: 1 for Bernoulli and Poisson, Pearson's
``χ² / (Σ s − rank)`` otherwise — statsmodels' ``GLM`` conventions, so the
numbers match it one-to-one. With an L2 penalty the covariance is that of the
Laplace approximation to the posterior: the prior precision ``S α`` is added to
the information matrix (``S = Σ s``; the objective is a per-unit-weight mean).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from lossmath.linear_model._objective import weighted_gram
from lossmath.special import softplus

__all__ = [
    "FAMILIES",
    "Family",
    "GLMInference",
    "MultinomialInference",
    "coef_table_data",
    "glm_inference",
    "multinomial_inference",
]


@dataclass(frozen=True)
class Family:
    """What inference needs of a distribution: variance, deviance, log-likelihood."""

    name: str
    fixed_scale: bool

    def variance(self, mu: np.ndarray, power: float = 0.0) -> np.ndarray:
        return {
            "gaussian": lambda: np.ones_like(mu),
            "bernoulli": lambda: mu * (1 - mu),
            "poisson": lambda: mu,
            "gamma": lambda: mu * mu,
            "tweedie": lambda: mu**power,
        }[self.name]()

    @staticmethod
    def _bernoulli_nll(y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``−log p(y | z)`` in the logit ``z``, not in ``μ``: finite and accurate where
        ``μ`` rounds to 0 or 1 (nearly separable data)."""
        return (1 - y) * softplus(z) + y * softplus(-z)

    def unit_deviance(self, y, mu, z, power: float = 0.0) -> np.ndarray:
        if self.name == "gaussian":
            return (y - mu) ** 2
        if self.name == "bernoulli":
            saturated = -(special.xlogy(y, y) + special.xlogy(1 - y, 1 - y))
            return 2 * (self._bernoulli_nll(y, z) - saturated)
        if self.name == "poisson":
            return 2 * (special.xlogy(y, y / mu) - (y - mu))
        if self.name == "gamma":
            return 2 * (-np.log(y / mu) + (y - mu) / mu)
        p = power  # Tweedie, 1 < p < 2
        return 2 * (
            np.maximum(y, 0) ** (2 - p) / ((1 - p) * (2 - p))
            - y * mu ** (1 - p) / (1 - p)
            + mu ** (2 - p) / (2 - p)
        )

    def log_likelihood(self, y, mu, z, s, scale: float) -> float:
        if self.name == "gaussian":
            ll = stats.norm.logpdf(y, mu, math.sqrt(scale))
        elif self.name == "bernoulli":
            ll = -self._bernoulli_nll(y, z)
        elif self.name == "poisson":
            ll = special.xlogy(y, mu) - mu - special.gammaln(y + 1)
        elif self.name == "gamma":
            ll = stats.gamma.logpdf(y, a=1 / scale, scale=mu * scale)
        else:
            raise NotImplementedError(f"no closed-form log-likelihood for {self.name}")
        return float(np.sum(s * ll))


FAMILIES = {
    name: Family(name, fixed)
    for name, fixed in [
        ("gaussian", False),
        ("bernoulli", True),
        ("poisson", True),
        ("gamma", False),
        ("tweedie", False),
    ]
}


@dataclass(frozen=True)
class GLMInference:
    """Inference results; see :func:`glm_inference`."""

    covariance: np.ndarray
    std_errors: np.ndarray
    scale: float
    deviance: float
    log_likelihood: float | None
    aic: float | None
    bic: float | None
    df_resid: float


def glm_inference(
    loss, X, y, z, sample_weight=None, *, l2: float = 0.0, fit_intercept: bool = True
) -> GLMInference:
    """Covariance and likelihood statistics at a fitted raw score ``z``.

    Parameters
    ----------
    loss : Loss
        A scalar loss whose ``distribution`` is in :data:`FAMILIES`.
    X : ndarray or sparse matrix of shape (n, p)
    y : ndarray of shape (n,)
    z : ndarray of shape (n,)
        Fitted raw scores ``X w + b (+ offset)``.
    sample_weight : ndarray of shape (n,), optional
        Frequency weights.
    l2 : float, default 0.0
        The L2 strength ``α (1 − ρ)`` of the fit (0 for an unpenalised fit).
    fit_intercept : bool, default True

    Returns
    -------
    GLMInference
        Coefficient order: ``w`` then the intercept.

    Raises
    ------
    ValueError
        If the loss is not the likelihood of a supported family.
    """
    family = FAMILIES.get(loss.distribution)
    if family is None:
        raise ValueError(
            f"{loss.name}: inference needs a likelihood of one of {sorted(FAMILIES)}; "
            f"this loss's distribution is {loss.distribution!r}"
        )
    power = getattr(loss, "power", 0.0)
    y = np.asarray(y, dtype=float)
    s = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    mu = np.asarray(loss.predict(z), dtype=float)
    f = loss.fisher_diagonal(y, z, s, check_input=False)
    info = weighted_gram(X, f, fit_intercept)
    n_eff = float(s.sum())
    # The rank of the (p+1)² information matrix, not an SVD of the n × (p+1) design:
    # the same answer where the Fisher weights are positive, at a fraction of the cost.
    # Decided on the equilibrated matrix E I E (E = diag(I)^{-1/2}, unit diagonal), so
    # that the units of the columns do not matter: only duplicated or collinear
    # columns make it rank-deficient (NIST's Longley, condition number 2e19 as given,
    # is 5e8 equilibrated and has full rank).
    diag = np.diag(info).copy()
    e = np.where(diag > 0, 1.0 / np.sqrt(np.where(diag > 0, diag, 1.0)), 1.0)
    info_eq = info * e[:, None] * e[None, :]
    eig = np.linalg.eigvalsh(info_eq)
    rank = int(np.sum(eig > eig.max() * info.shape[0] * np.finfo(float).eps))
    df_resid = n_eff - rank
    if rank < info.shape[0] and not l2:
        raise np.linalg.LinAlgError(
            f"the design has rank {rank} < {info.shape[0]} coefficients: they are not identified"
        )
    if df_resid <= 0 and not family.fixed_scale:
        raise np.linalg.LinAlgError(
            f"no residual degrees of freedom ({n_eff:g} weighted samples, rank {rank}) "
            "to estimate the dispersion"
        )
    if family.fixed_scale:
        scale = 1.0
    else:
        pearson = float(np.sum(s * (y - mu) ** 2 / family.variance(mu, power)))
        scale = pearson / df_resid
        if not scale > 0:
            raise np.linalg.LinAlgError("zero dispersion: the model fits the data exactly")
    precision = info / scale
    if l2:
        p = info.shape[0] - int(fit_intercept)
        precision[np.arange(p), np.arange(p)] += n_eff * l2
    # Inverted equilibrated for the same reason: (E P E)⁻¹ = E⁻¹ P⁻¹ E⁻¹.
    cov = np.linalg.inv(precision * e[:, None] * e[None, :]) * e[:, None] * e[None, :]
    deviance = float(np.sum(s * family.unit_deviance(y, mu, z, power)))
    if family.name == "tweedie":
        llf = aic = bic = None
    else:
        # statsmodels: the Gaussian log-likelihood uses the MLE scale SSR / n.
        ll_scale = float(np.sum(s * (y - mu) ** 2)) / n_eff if family.name == "gaussian" else scale
        llf = family.log_likelihood(y, mu, z, s, ll_scale)
        k = rank  # df_model + 1, statsmodels' count (the scale is not counted)
        aic = -2 * llf + 2 * k
        bic = -2 * llf + k * math.log(n_eff)
    return GLMInference(
        covariance=cov,
        std_errors=np.sqrt(np.diag(cov)),
        scale=scale,
        deviance=deviance,
        log_likelihood=llf,
        aic=aic,
        bic=bic,
        df_resid=df_resid,
    )


def coef_table_data(
    coef: np.ndarray, std_errors: np.ndarray, level: float = 0.95
) -> dict[str, Any]:
    """Columns of a coefficient table: estimate, std error, z, two-sided p, CI."""
    zval = coef / std_errors
    q = stats.norm.ppf(0.5 + level / 2)
    return {
        "estimate": coef,
        "std_error": std_errors,
        "z": zval,
        "p_value": 2 * stats.norm.sf(np.abs(zval)),
        f"ci_{(1 - level) / 2:.3g}": coef - q * std_errors,
        f"ci_{(1 + level) / 2:.3g}": coef + q * std_errors,
    }


@dataclass(frozen=True)
class MultinomialInference:
    """Inference for an unpenalised multinomial fit; see :func:`multinomial_inference`."""

    covariance: np.ndarray
    std_errors: np.ndarray
    log_likelihood: float
    aic: float
    bic: float


def multinomial_inference(X, y, z, sample_weight=None, *, fit_intercept: bool = True):
    r"""Standard errors of an unpenalised multinomial fit, in contrasts to class 0.

    lossmath's multinomial has ``K`` coefficient vectors; only their differences are
    identified. The parameters reported are Stata's ``mlogit`` / statsmodels'
    ``MNLogit`` ones: :math:`θ_c = (w_c − w_0, b_c − b_0)` for ``c = 1 … K−1``.
    Their observed (= expected: canonical link) information is

    .. math::

        I = \sum_i s_i\, (\operatorname{diag}(p_i) − p_i p_iᵀ) ⊗ \tilde x_i \tilde x_iᵀ,
        \qquad \tilde x_i = (x_i, 1),

    with :math:`p_i` the probabilities of classes ``1 … K−1``; the covariance is
    :math:`I^{-1}`, inverted after equilibration (unit diagonal).

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n, p)
    y : ndarray of shape (n,)
        Class indices ``0 … K−1``.
    z : ndarray of shape (n, K)
        Fitted raw scores.
    sample_weight : ndarray of shape (n,), optional
        Frequency weights.
    fit_intercept : bool, default True

    Returns
    -------
    MultinomialInference
        ``std_errors`` of shape ``(K − 1, p (+ 1))`` (the intercept last), those
        of ``θ_c``; ``covariance`` over their row-major flattening;
        ``aic`` / ``bic`` count the ``(K − 1)(p + 1)`` identified parameters.

    Raises
    ------
    numpy.linalg.LinAlgError
        If the information matrix is singular (collinear columns).
    """
    import scipy.sparse as sp

    z = np.asarray(z, dtype=float)
    n, k = z.shape
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    Xt = np.column_stack([Xd, np.ones(n)]) if fit_intercept else Xd
    q = Xt.shape[1]
    logp = z - special.logsumexp(z, axis=1, keepdims=True)
    P = np.exp(logp)[:, 1:]
    info = np.empty((k - 1, q, k - 1, q))
    for a in range(k - 1):
        for c in range(a, k - 1):
            h = s * ((a == c) * P[:, a] - P[:, a] * P[:, c])
            block = (Xt * h[:, None]).T @ Xt
            info[a, :, c, :] = block
            info[c, :, a, :] = block.T
    info = info.reshape((k - 1) * q, (k - 1) * q)
    diag = np.diag(info).copy()
    if not np.all(diag > 0):
        raise np.linalg.LinAlgError("a column or a class has zero information")
    e = 1.0 / np.sqrt(diag)
    eq = info * e[:, None] * e[None, :]
    eig = np.linalg.eigvalsh(eq)
    if eig.min() <= eig.max() * eq.shape[0] * np.finfo(float).eps:
        raise np.linalg.LinAlgError("the information matrix is singular: collinear columns")
    cov = np.linalg.inv(eq) * e[:, None] * e[None, :]
    llf = float(np.sum(s * logp[np.arange(n), np.asarray(y, dtype=int)]))
    n_par = (k - 1) * q
    return MultinomialInference(
        covariance=cov,
        std_errors=np.sqrt(np.diag(cov)).reshape(k - 1, q),
        log_likelihood=llf,
        aic=-2 * llf + 2 * n_par,
        bic=-2 * llf + n_par * math.log(float(s.sum())),
    )
