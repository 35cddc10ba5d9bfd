r"""``loss.sample(z, rng)``: targets drawn from the law whose negative log the loss is.

A loss with a ``distribution`` is, up to terms in ``y`` alone, the negative
log-likelihood of a law of ``y`` given the raw score ``z``:
``p(y | z) ∝ h(y) e^{−ℓ(y, z)}`` (``h = 1`` for the continuous location laws,
``1/y!`` for the Poisson, ...). Drawing ``y`` from that law is what a Monte
Carlo Fisher needs: the score ``g = ∂ℓ/∂z`` then has

.. math::

    E_y[g] = 0,\qquad E_y[g^2] = E_y[∂^2ℓ/∂z^2] = \text{fisher\_diagonal}(z)

(the information identity), so that ``E_y[∇ℓ ∇ℓᵀ]`` is the loss's Fisher.

This module holds the public method and everything that does not depend on the
law: the argument checks, the random generator, the array library and dtypes.
Each loss's own law is a method ``_draw(self, z, rng)`` in its family module,
written once against :class:`Sampler` — standard variates (uniform,
exponential, normal, Poisson, Gamma) of one array library — so that the same
code draws on NumPy and on PyTorch (``docs/adding-a-loss.md``).

Precision: the draws are computed in float64 (PyTorch: on the tensor's device;
float32 on a device without float64) and rounded once to ``z``'s dtype. A draw
beyond that dtype's range is ``±inf``, its correctly rounded value (a Gamma draw
of mean near the largest float); a law whose mean is itself beyond the range
is refused with a ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from lossmath._array import get_namespace, is_numpy, numpy_errstate
from lossmath._validation import check_finite, to_float
from lossmath.engine import batch

__all__ = ["POISSON_EXACT_LIMIT", "Sampler", "Sampling", "checked_mean", "draw", "rejection"]

#: Poisson means above this are drawn as a rounded normal with the Poisson's
#: skewness (Cornish–Fisher: ``λ + √λ (N + (N² − 1)/(6√λ))``), whose distance
#: from the Poisson law is ``O(1/λ)``, below 10⁻¹⁰ here. NumPy's and PyTorch's
#: exact samplers drift beyond about 10¹³ (measured 2026-12 with NumPy 2.4 and
#: PyTorch 2.13, 2·10⁶ draws: a KS p-value of 10⁻⁵ at 10¹³, variances of
#: 1.4–1.7 μ at 10¹⁶–10¹⁸) and stop at 9.2·10¹⁸.
POISSON_EXACT_LIMIT = 1e10


class Sampler:
    """Standard variates of one array library, in the dtype of the computation.

    ``_draw`` methods use only these, the namespace :attr:`xp` and the limits of
    the result's dtype, so one law is one piece of code for every library.

    Attributes
    ----------
    xp : namespace
        The array API namespace (``array_api_compat``'s NumPy or PyTorch).
    dtype : dtype
        The dtype the draws are computed in (float64 where the device has it).
    max, tiny, smallest : float
        The largest, the smallest normal and the smallest positive number of
        the *result's* dtype (``z``'s): the range a law's mean must lie in.
    """

    def __init__(self, xp: Any, dtype: Any, device: Any, result_dtype: Any, finfo: Any):
        self.xp = xp
        self.dtype = dtype
        self.device = device
        self.result_dtype = result_dtype
        self.max = float(finfo.max)
        self.tiny = float(finfo.tiny)
        self.smallest = float(finfo.tiny) * float(finfo.eps)

    # Each library implements these five (shape: a tuple).
    def uniform(self, shape: tuple) -> Any:
        """Uniform on ``(0, 1]`` (never 0: ``−log u`` stays finite)."""
        raise NotImplementedError

    def exponential(self, shape: tuple) -> Any:
        """Standard exponential, mean 1."""
        raise NotImplementedError

    def normal(self, shape: tuple) -> Any:
        """Standard normal."""
        raise NotImplementedError

    def _poisson(self, lam: Any) -> Any:
        raise NotImplementedError

    def _gamma(self, shape: Any) -> Any:
        raise NotImplementedError

    def zeros(self, shape: tuple) -> Any:
        return self.xp.zeros(shape, dtype=self.dtype, device=self.device)

    def sign(self, shape: tuple) -> Any:
        """``±1`` with probability ½ each."""
        xp = self.xp
        one = xp.ones(shape, dtype=self.dtype, device=self.device)
        return xp.where(self.uniform(shape) <= 0.5, -one, one)

    def poisson(self, lam: Any) -> Any:
        """Poisson counts (as floats) of means ``lam`` (finite, ``≥ 0``): exact up
        to :data:`POISSON_EXACT_LIMIT`, a skewed normal, rounded, beyond."""
        xp = self.xp
        big = lam > POISSON_EXACT_LIMIT
        n = self._poisson(xp.where(big, xp.zeros_like(lam), lam))
        if bool(xp.any(big)):
            u = self.normal(tuple(lam.shape))
            root = xp.sqrt(lam)
            n = xp.where(big, xp.round(lam + root * (u + (u * u - 1) / (6 * root))), n)
        return n

    def gamma(self, shape: Any) -> Any:
        """Standard Gamma variates of shapes ``shape ≥ 0`` (0 where the shape is 0)."""
        xp = self.xp
        positive = shape > 0
        g = self._gamma(xp.where(positive, shape, xp.ones_like(shape)))
        return xp.where(positive, g, xp.zeros_like(g))


class _NumpySampler(Sampler):
    def __init__(self, generator: np.random.Generator, result_dtype: Any):
        super().__init__(
            array_api_compat.array_namespace(np.empty(0)),
            np.float64,
            "cpu",
            result_dtype,
            np.finfo(result_dtype),
        )
        self.generator = generator

    def uniform(self, shape):
        return 1.0 - self.generator.random(shape)

    def exponential(self, shape):
        return self.generator.standard_exponential(shape)

    def normal(self, shape):
        return self.generator.standard_normal(shape)

    def _poisson(self, lam):
        return self.generator.poisson(lam).astype(np.float64)

    def _gamma(self, shape):
        return self.generator.standard_gamma(shape)


class _TorchSampler(Sampler):
    def __init__(self, torch: Any, generator: Any, device: Any, result_dtype: Any):
        # float64 wherever the device has it (MPS has not): uniforms of 2⁻⁵³
        # resolution, and the laws' arithmetic as on NumPy.
        dtype = torch.float32 if device.type == "mps" else torch.float64
        super().__init__(
            array_api_compat.array_namespace(torch.empty(0)),
            dtype,
            device,
            result_dtype,
            torch.finfo(result_dtype),
        )
        self.torch = torch
        self.generator = generator

    def _options(self):
        return {"dtype": self.dtype, "device": self.device, "generator": self.generator}

    def uniform(self, shape):
        return 1.0 - self.torch.rand(shape, **self._options())

    def exponential(self, shape):
        return -self.torch.log(self.uniform(shape))

    def normal(self, shape):
        return self.torch.randn(shape, **self._options())

    def _poisson(self, lam):
        return self.torch.poisson(lam, generator=self.generator)

    def _gamma(self, shape):
        # The private sampler behind torch.distributions.Gamma, the one that takes
        # a generator (the distribution object does not).
        return self.torch._standard_gamma(shape, generator=self.generator)


def rejection(rng: Sampler, n: int, propose: Any) -> Any:
    """``n`` draws by rejection: ``propose(m)`` returns ``m`` candidates and
    whether each is accepted; rejected places are proposed again.

    Each round keeps a fixed expected fraction (the acceptance rate), so the
    rounds number about ``log(n) / log(1/(1 − rate))``.
    """
    xp = rng.xp
    out = rng.zeros((n,))
    pending = xp.arange(n, device=rng.device)
    while pending.shape[0]:
        x, accepted = propose(int(pending.shape[0]))
        out[pending[accepted]] = x[accepted]
        pending = pending[~accepted]
    return out


def checked_mean(loss: Any, rng: Sampler, z: Any, mean: Any, positive: bool = False) -> Any:
    """``mean``, after checking that it lies in the result dtype's range.

    Finite (at most the dtype's largest number) and, with ``positive``, at
    least its smallest normal number (a law of positive ``y`` whose mean
    underflows has no representable draws). Otherwise a ``ValueError`` naming
    ``<loss>.sample``, the first bad ``z`` and its mean.
    """
    xp = rng.xp
    low = rng.tiny if positive else 0.0
    bad = ~((mean <= rng.max) & (mean >= low))
    if bool(xp.any(bad)):
        name = str(rng.result_dtype).removeprefix("torch.")
        raise ValueError(
            f"{loss.name}.sample: z must give a mean predict(z) in [{low:g}, {rng.max:g}] "
            f"(the range of {name}) to be sampled; got z = {float(z[bad][0])!r} "
            f"(mean {float(mean[bad][0]):g}) at {int(xp.sum(xp.astype(bad, xp.int64)))} "
            f"sample(s)"
        )
    return mean


# --------------------------------------------------------------------------- rng
def _seed(owner: str, rng: Any, torch_z: bool) -> int:
    if isinstance(rng, bool) or not isinstance(rng, int | np.integer):
        kinds = "a numpy.random.Generator" + (" or a torch.Generator" if torch_z else "")
        raise TypeError(
            f"{owner}: rng must be None, a non-negative int seed or {kinds}; "
            f"got {type(rng).__name__}"
        )
    if rng < 0:
        raise ValueError(f"{owner}: rng must be a non-negative int seed; got {int(rng)}")
    return int(rng)


def _numpy_generator(owner: str, rng: Any) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if type(rng).__module__.startswith("torch"):
        raise TypeError(
            f"{owner}: rng is a {type(rng).__name__}, which draws for PyTorch z only; "
            f"z is a NumPy array: pass an int seed or a numpy.random.Generator"
        )
    return np.random.default_rng(_seed(owner, rng, False))


def _torch_generator(owner: str, torch: Any, rng: Any, device: Any) -> Any:
    """``None`` (torch's global generator, seeded by ``torch.manual_seed``), the
    given ``torch.Generator``, or a new one seeded from an int or a NumPy
    ``Generator``."""
    if rng is None:
        return None
    if isinstance(rng, torch.Generator):
        if rng.device.type != device.type:
            raise ValueError(
                f"{owner}: rng is a torch.Generator on {rng.device} but z is on {device}; "
                f"pass a generator of z's device or an int seed"
            )
        return rng
    if isinstance(rng, np.random.Generator):
        seed = int(rng.integers(0, 2**63))
    else:
        seed = _seed(owner, rng, True)
        if seed >= 2**64:  # beyond torch's seeds: hashed the way NumPy hashes them
            seed = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])
    return torch.Generator(device=device).manual_seed(seed)


# ------------------------------------------------------------------- the method
def _scores(loss: Any, owner: str, z: Any) -> tuple:
    """``(xp, z)``: ``z`` as a checked floating array (integers become float64)."""
    if z is None:
        raise TypeError(f"{owner}: z must be an array of raw scores; got None")
    z = batch.array_like(loss.name, "sample", "z", z)
    xp = get_namespace(z)
    z = to_float(owner, "z", xp, z)
    try:
        loss._check_z_shape(z)
    except ValueError as error:  # the loss's own message, for this method
        raise ValueError(f"{owner}: {str(error).removeprefix(loss.name + ': ')}") from None
    check_finite(owner, "z", xp, z)
    return xp, z


def draw(loss: Any, z: Any, rng: Any) -> Any:
    """:meth:`Sampling.sample` (see there)."""
    owner = f"{loss.name}.sample"
    if loss.distribution is None:
        raise NotImplementedError(
            f"{loss.name}: sample draws targets from the law whose negative log-likelihood "
            f"the loss is, and this loss is none (distribution is None: {loss!r})"
        )
    if type(loss)._draw is Sampling._draw:
        raise NotImplementedError(
            f"{loss.name}: sample has no sampler for its distribution "
            f"{loss.distribution!r}; a loss defines it as _draw(self, z, rng)"
        )
    xp, z = _scores(loss, owner, z)
    if is_numpy(xp):
        sampler = _NumpySampler(_numpy_generator(owner, rng), z.dtype)
        with numpy_errstate():
            y = loss._draw(xp.astype(z, xp.float64), sampler)
            return y.astype(z.dtype, copy=False)
    if array_api_compat.is_torch_array(z):
        import torch

        z = z.detach()
        generator = _torch_generator(owner, torch, rng, z.device)
        sampler = _TorchSampler(torch, generator, z.device, z.dtype)
        return loss._draw(z.to(sampler.dtype), sampler).to(z.dtype)
    # Another library (JAX, CuPy, ...): drawn by NumPy on the host, returned in
    # the library's own arrays.
    try:
        host = np.asarray(z)
    except (TypeError, ValueError):
        raise TypeError(
            f"{owner}: z must be a NumPy array or a PyTorch tensor, or an array NumPy can "
            f"read; got {type(z).__module__}.{type(z).__name__}"
        ) from None
    return xp.asarray(draw(loss, host, rng))


class Sampling:
    """The contract's ``sample`` (mixed into :class:`~lossmath.losses.Loss`)."""

    def sample(self, z: Any, rng: Any = None) -> Any:
        r"""Targets ``y`` drawn from the loss's ``distribution`` at raw scores ``z``.

        The law is the one whose negative log-likelihood the loss is:
        ``p(y | z) ∝ h(y) e^{−ℓ(y, z)}`` with the loss's own ``ℓ`` and
        hyper-parameters (``h`` a function of ``y`` alone). Hence the score
        ``g = ∂ℓ/∂z`` of a draw has ``E[g] = 0`` and ``E[g²] = E[∂²ℓ/∂z²]``,
        :meth:`fisher_diagonal` — what a Monte Carlo Fisher ``E[∇ℓ ∇ℓᵀ]``
        needs. One draw per sample.

        ===================================  ==========================================
        distribution                         law of ``y`` (``μ = eᶻ``; ``r = y − z``)
        ===================================  ==========================================
        ``gaussian``                         ``N(z, 1)``
        ``laplace``                          ``z + Laplace(0, 1)``: density ``½ e^{−|r|}``
        ``huber``                            density ``∝ e^{−ρ_δ(r)}``: a normal truncated
                                             to ``|r| ≤ δ``, exponential tails of rate ``δ``
        ``hyperbolic`` (pseudo-Huber)        density ``∝ e^{−δ²(√(1+(r/δ)²) − 1)}``
        ``hyperbolic_secant`` (log-cosh)     density ``sech(r)/π``
        ``asymmetric_laplace`` (quantile)    density ``q(1−q) e^{−ρ_q(r)}``: ``P(y < z) = q``
        ``bernoulli``                        ``y ∈ {0, 1}``, ``P(y = 1) = σ(z)``
        ``categorical``                      label ``k`` with probability ``softmax(z)_k``
        ``poisson``                          ``Poisson(μ)``
        ``gamma``                            exponential of mean ``μ`` (Gamma of shape 1)
        ``tweedie``                          compound Poisson–Gamma, mean ``μ``, variance
                                             ``μᵖ``: ``N ~ Poisson(μ^{2−p}/(2−p))`` Gamma
                                             variates of shape ``(2−p)/(p−1)``, scale
                                             ``(p−1)μ^{p−1}``, summed
        ===================================  ==========================================

        Parameters
        ----------
        z : array-like
            Finite raw scores, shape ``(n,)`` (multinomial: ``(n, K)``). NumPy
            arrays, lists, pandas objects, PyTorch tensors (drawn on their
            device with torch's generators); other libraries' arrays (JAX,
            CuPy) are drawn on the host by NumPy.
        rng : None, int, numpy.random.Generator or torch.Generator, optional
            The random source. An int seeds a new generator (the same seed
            gives the same draws); a generator is advanced. ``None``: a fresh
            NumPy generator, or PyTorch's global one (``torch.manual_seed``).
            For a tensor ``z``, a ``torch.Generator`` must be on its device, and
            a NumPy generator seeds a torch one.

        Returns
        -------
        array
            ``y`` of ``z``'s shape, library, device and floating dtype (integer
            ``z``: float64); multinomial: class labels ``(n,)`` as whole numbers
            in that dtype. Laws of positive ``y`` (gamma) give positive draws: a
            draw below the dtype's smallest positive number is that number.

        Raises
        ------
        NotImplementedError
            For a loss that is no negative log-likelihood (``distribution`` is
            ``None``: exponential, focal, hinge, squared hinge, the multinomial
            with label smoothing or class weights), naming it.
        ValueError
            For a ``z`` of the wrong shape or not finite, a negative seed, or a
            score whose mean ``predict(z)`` lies beyond ``z``'s dtype (Poisson,
            Gamma, Tweedie at ``eᶻ`` overflowing; gamma also where ``eᶻ`` is
            below the smallest normal number).
        TypeError
            For a ``z`` that is no numeric array, or an ``rng`` of another type.

        Examples
        --------
        >>> import numpy as np
        >>> from lossmath.losses import Poisson
        >>> y = Poisson().sample(np.log(np.full(100_000, 3.0)), rng=0)
        >>> bool(abs(y.mean() - 3.0) < 0.03), bool(abs(y.var() - 3.0) < 0.1)
        (True, True)
        """
        return draw(self, z, rng)

    def _draw(self, z: Any, rng: Sampler) -> Any:
        """``y`` from the loss's law at the checked scores ``z`` (of ``rng.dtype``),
        by ``rng``'s variates and ``rng.xp``; see :class:`Sampler`."""
        raise NotImplementedError
