"""``loss.sample(z, rng)``: targets drawn from the law whose negative log the loss is.

Every loss with a ``distribution`` (each of its parameter cases, and a few more)
is checked against its law, with fixed seeds, so that each statistical test
either always passes or always fails:

* the score of a draw, ``g = ∂ℓ/∂z`` as the loss computes it, has ``E[g] = 0``
  and ``E[g²] = fisher_diagonal(z)`` (the information identity, which holds only
  for the law ``∝ e^{−ℓ}``);
* the draws' mean and variance (and for counts the third central moment) are
  the law's: ``predict(z)`` (quantile: ``P(y < z) = q``), ``μ``, ``μ²``, ``μᵖ``,
  ``σ(1 − σ)``, softmax frequencies; the location laws' moments by numerical
  integration of ``e^{−ℓ}`` written from ``loss.value``;
* the draws' distribution: a Kolmogorov–Smirnov test against the CDF obtained
  by integrating ``e^{−ℓ}`` (continuous laws), Tweedie's compound-Poisson
  series, a chi-square test against the Poisson law.

Tolerance: 5 standard errors, each computed from the draws themselves
(``std(·)/√n``); a test statistic's p-value above 10⁻³.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import cumulative_trapezoid, trapezoid
from scipy.special import expit, softmax

from lossmath.checking import loss_cases
from lossmath.losses import SquaredError, get_loss
from lossmath.losses._sampling import POISSON_EXACT_LIMIT, Sampling

#: Every loss × its parameter cases, and the non-default parameters named for sampling.
CASES = [
    *loss_cases(),
    get_loss("huber", delta=0.3),
    get_loss("quantile", quantile=0.2),
    get_loss("pseudo_huber", delta=2.0),
]
SAMPLED = [c for c in CASES if c.distribution is not None]
UNSAMPLED = [c for c in CASES if c.distribution is None]

N = 200_000
#: Draws per statistical test: a fast version in the default run, 200,000 with ``-m slow``.
SIZES = [
    pytest.param(20_000, id="n=20000"),
    pytest.param(N, id=f"n={N}", marks=pytest.mark.slow),
]
#: Standard errors allowed between a sample moment and the law's.
K_SE = 5.0
P_MIN = 1e-3

#: Raw scores per task: moderate and large ones whose moments the draws resolve
#: (counts: z = 40 gives means near 2e17; Poisson's 50 is beyond its exact sampler).
Z_VALUES = {
    "regression": (0.0, -3.7, 1e6),
    "binary": (0.0, 2.5, -6.0),
    "counts": (0.0, -4.0, 3.0, 40.0),
    "multiclass": ((0.0, 0.0, 0.0), (2.0, -1.0, 0.5), (300.0, 297.0, -1e6)),
}


def _ids(c) -> str:
    return repr(c)


def _cases_with_scores():
    params = []
    for c in SAMPLED:
        zs = Z_VALUES[c.task] + ((50.0,) if c.distribution == "poisson" else ())
        params += [pytest.param(c, z0, id=f"{c!r}-z={z0}") for z0 in zs]
    return params


def _scores(loss, z0, n, dtype=np.float64):
    if loss.n_outputs != 1:
        return np.tile(np.asarray(z0, dtype=dtype), (n, 1))
    return np.full(n, z0, dtype=dtype)


def _within(sample, expected, se, what):
    """``|sample − expected| ≤ K_SE · se`` (element-wise for arrays)."""
    sample, expected, se = np.broadcast_arrays(*map(np.asarray, (sample, expected, se)))
    bad = ~(np.abs(sample - expected) <= K_SE * se)
    assert not bad.any(), (
        f"{what}: sample {sample[bad]} vs expected {expected[bad]}, "
        f"{K_SE} standard errors = {K_SE * se[bad]}"
    )


def _mean_se(x, axis=0):
    return x.mean(axis=axis), x.std(axis=axis) / math.sqrt(x.shape[axis])


# ---------------------------------------------------------------- reference laws
@functools.cache
def _location_law(loss):
    """``(t, F, mean, var)`` of the density ``∝ e^{−ℓ(z + t, z)}`` of ``t = y − z``
    (any ``z``: these losses are functions of ``y − z``), by the trapezoidal rule on
    a grid wide enough for the density to fall below 10⁻²⁰ of its maximum."""

    def nll(t):
        return loss.value(t, np.zeros_like(t))

    lim = 4.0
    while min(nll(np.array([-lim, lim]))) < 46:
        lim *= 2
    t = np.linspace(-lim, lim, 2**21 + 1)
    f = np.exp(-nll(t))
    z = trapezoid(f, t)
    cdf = np.concatenate([[0.0], cumulative_trapezoid(f, t)]) / z
    mean = trapezoid(t * f, t) / z
    var = trapezoid((t - mean) ** 2 * f, t) / z
    return t, cdf, mean, var


def _count_moments(loss, z0):
    """Mean, variance and third central moment of the counts / amounts laws."""
    mu = math.exp(z0)
    p = {"poisson": 1.0, "gamma": 2.0}.get(loss.distribution, getattr(loss, "power", None))
    # Exponential dispersion family of dispersion 1: κ₂ = μᵖ, κ₃ = p μ^{2p−1};
    # the gamma loss is the exponential law (shape 1), whose κ₃ is 2μ³.
    return mu, mu**p, p * mu ** (2 * p - 1)


def _tweedie_positive_cdf(loss, z0, y):
    """CDF of a Tweedie draw given ``y > 0``: ``Σ_{N≥1} P(N) Gamma(Nα, γ).cdf(y)``."""
    p, mu = loss.power, math.exp(z0)
    lam = mu ** (2 - p) / (2 - p)
    alpha, scale = (2 - p) / (p - 1), (p - 1) * mu ** (p - 1)
    n = np.arange(1, int(lam + 12 * math.sqrt(lam) + 40))
    weights = stats.poisson.pmf(n, lam) / -math.expm1(-lam)
    return stats.gamma.cdf(y[:, None], n[None, :] * alpha, scale=scale) @ weights


# ------------------------------------------------------------- information identity
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(("loss", "z0"), _cases_with_scores())
def test_score_has_mean_zero_and_the_fisher_weight_as_variance(loss, z0, n):
    z = _scores(loss, z0, n)
    y = loss.sample(z, rng=1)
    g = loss.gradient(y, z)
    fisher = loss.fisher_diagonal(y, z)
    # The Fisher weight depends on z only: one value (per class) for the batch.
    assert np.all(fisher == fisher[0]), "fisher_diagonal varies with y"
    scale = math.sqrt(float(np.max(fisher[0])))  # g's size, for the mean's SE floor
    mean, se = _mean_se(g)
    _within(mean, 0.0, np.maximum(se, 1e-15 * scale), f"{loss!r} E[g] at z = {z0}")
    second, se2 = _mean_se(g * g)
    _within(second, fisher[0], se2, f"{loss!r} E[g²] vs fisher_diagonal at z = {z0}")


# -------------------------------------------------------------------- moments
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize(("loss", "z0"), _cases_with_scores())
def test_draws_have_the_mean_and_variance_of_the_law(loss, z0, n):
    z = _scores(loss, z0, n)
    y = loss.sample(z, rng=2)
    loss.check_target(y)  # every draw in the loss's domain
    if loss.task == "multiclass":
        probs = softmax(np.asarray(z0))
        onehot = y[:, None] == np.arange(len(z0))[None, :]
        freq, se = _mean_se(onehot.astype(float))
        _within(freq, probs, np.sqrt(probs * (1 - probs) / n), f"{loss!r} class frequencies")
        return
    mean, se = _mean_se(y)
    centred = y - mean
    var, var_se = _mean_se(centred**2)
    if loss.task == "regression":
        _, _, law_mean, law_var = _location_law(loss)
        law_mean = z0 + law_mean
        if loss.distribution != "asymmetric_laplace":  # symmetric: centred at predict(z)
            assert abs(law_mean - loss.predict(np.array([z0]))[0]) <= 1e-9 * max(1, abs(z0))
    elif loss.task == "binary":
        law_mean = expit(z0)
        law_var = law_mean * (1 - law_mean)
        se = math.sqrt(law_var / n)  # the Bernoulli's, also where few draws are 1
        var_se = max(var_se, se)
    else:
        law_mean, law_var, law_third = _count_moments(loss, z0)
        assert law_mean == pytest.approx(float(loss.predict(np.array([z0]))[0]), rel=1e-14)
        if abs(z0) < 10:  # the third moment's SE is resolved at moderate means
            third, third_se = _mean_se(centred**3)
            _within(third, law_third, third_se, f"{loss!r} third central moment at z = {z0}")
    _within(mean, law_mean, se, f"{loss!r} mean at z = {z0}")
    _within(var, law_var, var_se, f"{loss!r} variance at z = {z0}")


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("loss", [c for c in SAMPLED if c.task == "regression"], ids=_ids)
def test_the_fraction_below_z_is_the_quantile(loss, n):
    """``predict(z) = z`` is the law's median, the quantile loss's ``q``-quantile."""
    z0 = 1.25
    y = loss.sample(_scores(loss, z0, n), rng=3)
    q = getattr(loss, "quantile", 0.5)
    _within(np.mean(y < z0), q, math.sqrt(q * (1 - q) / n), f"{loss!r} P(y < z)")


# ------------------------------------------------------------------ distribution
def _kolmogorov_smirnov(loss, n, seed):
    if loss.task == "regression":
        z0 = -2.5
        t, cdf, _, _ = _location_law(loss)
        draws = loss.sample(_scores(loss, z0, n), rng=seed) - z0
        return stats.kstest(draws, lambda x: np.interp(x, t, cdf)).pvalue
    if loss.distribution == "gamma":
        z0 = 1.7
        draws = loss.sample(_scores(loss, z0, n), rng=seed)
        return stats.kstest(draws, stats.expon(scale=math.exp(z0)).cdf).pvalue
    if loss.distribution == "tweedie":
        z0 = 0.4
        draws = loss.sample(_scores(loss, z0, n), rng=seed)
        lam = math.exp((2 - loss.power) * z0) / (2 - loss.power)
        zero = np.mean(draws == 0)
        p0 = math.exp(-lam)
        _within(zero, p0, math.sqrt(p0 * (1 - p0) / n), f"{loss!r} P(y = 0)")
        positive = draws[draws > 0]
        return stats.kstest(positive, lambda y: _tweedie_positive_cdf(loss, z0, y)).pvalue
    if loss.distribution == "poisson":
        z0 = math.log(4.5)
        draws = loss.sample(_scores(loss, z0, n), rng=seed)
        assert np.all(draws == np.round(draws))
        top = 14  # counts ≥ 14 pooled: every bin expects ≥ 5 draws
        observed = np.bincount(np.minimum(draws.astype(int), top), minlength=top + 1)
        pmf = stats.poisson.pmf(np.arange(top), 4.5)
        expected = n * np.append(pmf, 1 - pmf.sum())
        return stats.chisquare(observed, expected).pvalue
    pytest.skip(f"{loss.distribution}: a law fixed by its means, tested by them")


DISTRIBUTION_CASES = [c for c in SAMPLED if c.task in ("regression", "counts")]


@pytest.mark.parametrize("loss", DISTRIBUTION_CASES, ids=_ids)
def test_draws_follow_the_law(loss):
    assert _kolmogorov_smirnov(loss, 20_000, seed=4) > P_MIN


@pytest.mark.slow
@pytest.mark.parametrize("loss", DISTRIBUTION_CASES, ids=_ids)
def test_draws_follow_the_law_closely(loss):
    assert _kolmogorov_smirnov(loss, N, seed=5) > P_MIN


def test_the_reference_integration_knows_the_laws_in_closed_form():
    """The numerical reference itself: Gaussian, Laplace, hyperbolic secant moments."""
    for name, var in (("squared_error", 1.0), ("absolute_error", 2.0), ("log_cosh", np.pi**2 / 4)):
        t, cdf, mean, law_var = _location_law(get_loss(name))
        assert abs(mean) < 1e-12
        assert law_var == pytest.approx(var, rel=1e-6)
    t, cdf, _, _ = _location_law(get_loss("squared_error"))
    np.testing.assert_allclose(cdf[::1000], stats.norm.cdf(t[::1000]), atol=1e-7)


# --------------------------------------------------------------- extreme scores
EXTREME = {
    "regression": (-1e300, 1e300, -7e15),
    "binary": (-1e300, -745.0, 745.0, 1e300),
    "counts": (-700.0, 700.0),
}


@pytest.mark.parametrize("loss", [c for c in SAMPLED if c.task != "multiclass"], ids=_ids)
def test_extreme_scores_give_valid_draws(loss):
    z = np.repeat(np.array(EXTREME[loss.task]), 1000)
    y = loss.sample(z, rng=6)
    assert np.all(np.isfinite(y))
    loss.check_target(y)
    if loss.task == "binary":
        np.testing.assert_array_equal(y, (z > 0).astype(float))  # P(y ≠ sign) < e^{−745}
    if loss.task == "counts":
        high = y[z > 0] / math.exp(700.0)
        if loss.distribution == "gamma":  # exponential: mean μ, standard deviation μ
            _within(high.mean(), 1.0, 1 / math.sqrt(high.size), "mean / μ")
        else:  # relative spread √(μ^{p−2}) ≪ 1: every draw near μ
            np.testing.assert_allclose(high, 1.0, rtol=1e-3)
        low = y[z < 0]
        assert np.all(low == 0) if loss.distribution != "gamma" else np.all(low > 0)


def test_extreme_multinomial_scores_give_the_dominant_class():
    loss = get_loss("multinomial")
    z = np.array([[-1e300, 1e300, 0.0], [1.7e308, -1.7e308, 1.0]] * 500)
    y = loss.sample(z, rng=7)
    np.testing.assert_array_equal(y, np.tile([1.0, 0.0], 500))


def test_poisson_means_beyond_the_exact_sampler_are_skewed_normal_counts(monkeypatch):
    """Beyond its limit the Poisson is a rounded normal with the Poisson's skewness
    ``1/√λ``: checked at λ = 400 with the limit lowered (there the skewness is 13
    standard errors from the plain normal's 0), and at a mean of 5·10¹¹."""
    import lossmath.losses._sampling as sampling

    loss = get_loss("poisson")
    monkeypatch.setattr(sampling, "POISSON_EXACT_LIMIT", 100.0)
    lam, n = 400.0, 1_000_000
    y = loss.sample(np.full(n, math.log(lam)), rng=8)
    assert np.all(y == np.round(y))
    u = (y - lam) / math.sqrt(lam)
    _within(u.mean(), 0.0, 1 / math.sqrt(n), "standardised mean")
    _within(u.var(), 1.0, math.sqrt(2 / n), "standardised variance")
    _within(np.mean(u**3), 1 / math.sqrt(lam), math.sqrt(15 / n), "standardised skewness")
    monkeypatch.undo()
    z0 = math.log(POISSON_EXACT_LIMIT) + 4
    y = loss.sample(np.full(N, z0), rng=8)
    assert np.all(y == np.round(y))
    mu = math.exp(z0)
    _within(y.mean(), mu, math.sqrt(mu / N), "mean")
    _within(np.var(y) / mu, 1.0, math.sqrt(2 / N), "variance / mean")


@pytest.mark.parametrize(
    ("name", "z", "dtype"),
    [
        ("poisson", 710.0, np.float64),
        ("poisson", 89.0, np.float32),
        ("tweedie", 720.0, np.float64),
        ("gamma", 710.0, np.float64),
        ("gamma", -709.0, np.float64),
        ("gamma", -88.0, np.float32),
    ],
)
def test_a_mean_beyond_the_dtype_is_refused(name, z, dtype):
    loss = get_loss(name)
    with pytest.raises(ValueError, match=rf"{name}\.sample: z must give a mean predict\(z\)"):
        loss.sample(np.array([0.0, z], dtype=dtype), rng=0)


def test_gamma_draws_stay_positive_in_float32():
    """Means just above float32's smallest normal: draws below its smallest
    positive number are that number, never 0 (outside gamma's domain)."""
    loss = get_loss("gamma")
    y = loss.sample(np.full(N, -87.0, dtype=np.float32), rng=9)
    assert y.dtype == np.float32
    assert np.all(y > 0)
    loss.check_target(y)


# ------------------------------------------------------- contract: types, seeds
@pytest.mark.parametrize("loss", SAMPLED, ids=_ids)
def test_draws_keep_the_shape_and_dtype_of_z(loss):
    for dtype in (np.float32, np.float64):
        z = _scores(loss, Z_VALUES[loss.task][1], n=50, dtype=dtype)
        y = loss.sample(z, rng=0)
        assert type(y) is np.ndarray
        assert y.dtype == dtype
        assert y.shape == z.shape[:1] if loss.task == "multiclass" else y.shape == z.shape
        loss.check_target(y)
    z_int = _scores(loss, Z_VALUES[loss.task][0], n=5).astype(np.int64)
    assert loss.sample(z_int, rng=0).dtype == np.float64
    assert loss.sample(z_int.tolist(), rng=0).dtype == np.float64
    assert loss.sample(_scores(loss, Z_VALUES[loss.task][0], n=0), rng=0).shape == (0,)


@pytest.mark.parametrize("loss", SAMPLED, ids=_ids)
def test_seeds_reproduce_and_generators_advance(loss):
    z = _scores(loss, Z_VALUES[loss.task][1], n=500)
    a = loss.sample(z, rng=11)
    np.testing.assert_array_equal(a, loss.sample(z, rng=11))
    np.testing.assert_array_equal(a, loss.sample(z, rng=np.random.default_rng(11)))
    assert not np.array_equal(a, loss.sample(z, rng=12))
    gen = np.random.default_rng(11)
    first, second = loss.sample(z, rng=gen), loss.sample(z, rng=gen)
    assert not np.array_equal(first, second)
    assert loss.sample(z).shape == a.shape  # rng=None: fresh entropy


# -------------------------------------------------------------------- refusals
@pytest.mark.parametrize("loss", UNSAMPLED, ids=_ids)
def test_a_loss_with_no_distribution_cannot_sample(loss):
    z = _scores(loss, (0.0, 0.0, 0.0) if loss.task == "multiclass" else 0.0, n=3)
    with pytest.raises(NotImplementedError, match=rf"^{loss.name}: sample .*distribution is None"):
        loss.sample(z, rng=0)


def test_a_distribution_without_a_sampler_says_so():
    no_sampler = type("NoSampler", (SquaredError,), {"_draw": Sampling._draw})()
    with pytest.raises(NotImplementedError, match="no sampler for its distribution 'gaussian'"):
        no_sampler.sample(np.zeros(3))


@pytest.mark.parametrize("loss", [get_loss("poisson"), get_loss("multinomial")], ids=_ids)
def test_bad_scores_are_refused_naming_the_method(loss):
    owner = rf"{loss.name}\.sample"
    good = _scores(loss, Z_VALUES[loss.task][0], n=4)
    bad_shape = np.zeros(4) if loss.task == "multiclass" else np.zeros((4, 2))
    with pytest.raises(ValueError, match=rf"^{owner}: z must .*shape"):
        loss.sample(bad_shape, rng=0)
    nan = good.copy()
    nan[1] = np.nan
    with pytest.raises(ValueError, match=rf"^{owner}: z must be finite"):
        loss.sample(nan, rng=0)
    with pytest.raises(ValueError, match=rf"^{owner}: z must be finite"):
        loss.sample(np.where(np.isnan(nan), np.inf, good), rng=0)
    with pytest.raises(TypeError, match=rf"{loss.name}: z must be an array .* in {owner}"):
        loss.sample("0.5", rng=0)
    with pytest.raises(TypeError, match=rf"^{owner}: z must be an array of raw scores; got None"):
        loss.sample(None, rng=0)
    with pytest.raises(TypeError, match=rf"^{owner}: z must be a real numeric array"):
        loss.sample(np.array(["a", "b"]), rng=0)


@pytest.mark.parametrize(
    "rng",
    ["7", 1.5, True, np.random.RandomState(0), np.random.default_rng],
    # Not repr: the last two hold addresses, and every worker of pytest -n must
    # collect the same ids.
    ids=["str", "float", "bool", "RandomState", "default_rng-function"],
)
def test_bad_random_sources_are_refused(rng):
    with pytest.raises(
        TypeError, match=r"^squared_error\.sample: rng must be None, a non-negative int seed or"
    ):
        get_loss("squared_error").sample(np.zeros(3), rng=rng)


def test_a_negative_seed_is_refused():
    with pytest.raises(ValueError, match=r"^poisson\.sample: rng must be a non-negative int seed"):
        get_loss("poisson").sample(np.zeros(3), rng=-1)


def test_large_seeds_are_accepted():
    y = get_loss("poisson").sample(np.zeros(3), rng=2**70)
    np.testing.assert_array_equal(y, get_loss("poisson").sample(np.zeros(3), rng=2**70))


# ---------------------------------------------------------------------- PyTorch
@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("loss", SAMPLED, ids=_ids)
def test_torch_draws_on_the_tensor_with_its_dtype(torch, loss):
    n = 10_000  # the identity is judged in standard errors of these draws
    for dtype in (torch.float32, torch.float64):
        z = torch.as_tensor(_scores(loss, Z_VALUES[loss.task][1], n=n), dtype=dtype)
        y = loss.sample(z, rng=0)
        assert isinstance(y, torch.Tensor)
        assert y.dtype == dtype
        assert y.device == z.device
        assert tuple(y.shape) == (tuple(z.shape[:1]) if loss.task == "multiclass" else z.shape)
        assert torch.equal(y, loss.sample(z, rng=0))
        gen = torch.Generator().manual_seed(5)
        a = loss.sample(z, rng=gen)
        assert torch.equal(loss.sample(z, rng=torch.Generator().manual_seed(5)), a)
        assert not torch.equal(loss.sample(z, rng=gen), a)
        loss.check_target(y)
    # The information identity on the torch draws (float64, the loss's torch route).
    g = loss.gradient(y, z).numpy()
    fisher = loss.fisher_diagonal(y, z).numpy()[0]
    mean, se = _mean_se(g)
    _within(mean, 0.0, np.maximum(se, 1e-15), f"{loss!r} torch E[g]")
    second, se2 = _mean_se(g * g)
    _within(second, fisher, se2, f"{loss!r} torch E[g²]")


def test_torch_random_sources(torch):
    loss = get_loss("poisson")
    z = torch.zeros(100, requires_grad=True)
    torch.manual_seed(3)
    a = loss.sample(z)  # rng=None: torch's global generator
    torch.manual_seed(3)
    assert torch.equal(a, loss.sample(z))
    assert not a.requires_grad
    b = loss.sample(z, rng=np.random.default_rng(1))  # a NumPy generator seeds a torch one
    assert torch.equal(b, loss.sample(z, rng=np.random.default_rng(1)))
    with pytest.raises(TypeError, match=r"^poisson\.sample: rng is a Generator, .*PyTorch z only"):
        loss.sample(np.zeros(3), rng=torch.Generator())
    with pytest.raises(ValueError, match=r"^poisson\.sample: z must give a mean"):
        loss.sample(torch.tensor([0.0, 89.0]), rng=0)  # e^89 overflows float32
    with pytest.raises(ValueError, match=r"^poisson\.sample: z must be finite"):
        loss.sample(torch.tensor([0.0, float("nan")]), rng=0)
