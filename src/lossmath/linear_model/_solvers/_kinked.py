r"""Losses with a kink and no curvature: absolute_error, quantile, hinge.

Such a loss is piecewise linear in ``z`` with one kink ``κᵢ`` per sample,

.. math::

    ℓ(y_i, z) = ℓ(y_i, κ_i) + \max_{a \in [a^-_i, a^+_i]} a\,(z − κ_i),

(``a^∓`` the slopes left and right of the kink), so gradient methods cannot stop on
a gradient test and Newton has nothing to work with. Two exact routes instead:

* **no L2 part** (none, L1): the problem is a linear programme. It is solved
  by the Frisch–Newton interior-point method of :mod:`._frisch_newton` (memory
  ``O(n p)``, time ``O(n p²)`` per iteration, 20–40 iterations), then *crossed
  over* to the exact vertex: the ``p (+1)`` samples (and zero ``wⱼ``) nearest their
  kink are put on it by one square solve. If the certificate below then fails (a
  degenerate optimum), the primal LP
  :math:`\min \sum_i s_i (a^+_i u_i − a^-_i v_i) + S αρ \sum_j (w^+_j + w^-_j)` subject
  to :math:`X w + b − u + v = κ − \text{offset}` is solved by HiGHS
  (``scipy.optimize.linprog``, sparse constraints — scikit-learn's
  ``QuantileRegressor`` formulation), whose solution is a vertex, hence exact.
* **an L2 part** (ridge, elastic net): a QP. Smoothing continuation: the Moreau
  envelope :math:`ℓ_μ(z) = ℓ(κ) + \max_a [a t − \tfrac{μ}{2} a²]`, ``t = z − κ``, is
  C¹ with curvature ``1/μ`` on the elbow ``μa^- < t < μa^+``; it is minimised by
  Newton on the elbow rows (:mod:`._smoothed_newton`, L2) or ``cd`` (elastic net)
  for ``μ = 1, 10⁻¹, …``. After each stage
  the optimum of the *unsmoothed* problem is computed exactly from the smoothed
  one's pattern (which samples sit on the kink, which ``wⱼ`` are zero) by one linear
  solve of the KKT conditions — the continuation only has to find the pattern.

Only ``solver="auto"`` is accepted: a gradient or proximal solver has no stopping
test on a loss without curvature, and an explicit one is refused with a message.
HiGHS runs in a worker thread that the caller polls, so Ctrl-C (``KeyboardInterrupt``)
stops a fit within a fraction of a second; the interior-point and smoothing loops
are Python loops over NumPy calls and stop as promptly.

Either way ``kkt`` is an explicit certificate: the max-norm of the smallest
subgradient of ``F`` found by bounded least squares (``scipy.optimize.lsq_linear``)
over the kink slopes ``aᵢ ∈ [a^-_i, a^+_i]`` of the samples within ``10⁻⁹(1+|κᵢ|)``
of their kink and the L1 subgradients of the zero ``wⱼ``.
"""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog, lsq_linear

from lossmath.linear_model._objective import GLMObjective
from lossmath.linear_model._solvers._common import SolverResult, initial_coef, l1_l2
from lossmath.linear_model._solvers._frisch_newton import frisch_newton

__all__ = ["is_kinked", "solve_kinked"]

#: The interior-point route needs X dense: up to this many entries (else HiGHS).
MAX_DENSE_ENTRIES = 200_000_000
#: Levels ``τ ∈ {0, 1}`` (hinge) are moved this far inside for the interior start.
_TAU_MARGIN = 1e-6


def is_kinked(loss) -> bool:
    """Whether ``loss`` is piecewise linear (not smooth, zero curvature)."""
    return (not loss.is_smooth) and loss.hessian_bound == 0 and loss.n_outputs == 1


def _kinks(obj):
    """``(κ, a⁻, a⁺, ℓ(κ))`` per sample, slopes read off the loss's gradient."""
    loss, y = obj.loss, np.asarray(obj.y, float)
    kinks = loss.kinks(y)  # declared by the loss, as functions of y
    if len(kinks) != 1:
        raise NotImplementedError(
            f"solve: no exact method for the non-smooth loss {loss.name!r}, which declares "
            f"{len(kinks)} kinks per sample (one is needed)"
        )
    kappa = np.asarray(kinks[0], float)
    lo = loss.gradient(y, kappa - 1.0, check_input=False)
    hi = loss.gradient(y, kappa + 1.0, check_input=False)
    v0 = loss.value(y, kappa, check_input=False)
    return kappa, np.asarray(lo, float), np.asarray(hi, float), np.asarray(v0, float)


class _Smoothed:
    """The Moreau envelope of a kinked loss (module notes); enough of the loss API."""

    name = "smoothed"
    n_outputs = 1
    is_convex = True
    is_smooth = True
    canonical_link = False

    def __init__(self, kinks, mu):
        self.kappa, self.lo, self.hi, self.v0 = kinks
        self.mu = mu
        self.hessian_bound = 1.0 / mu

    def _parts(self, z):
        t = z - self.kappa
        a = np.clip(t / self.mu, self.lo, self.hi)
        h = ((t > self.mu * self.lo) & (t < self.mu * self.hi)) / self.mu
        return self.v0 + a * t - 0.5 * self.mu * a * a, a, h

    @staticmethod
    def _w(x, s):
        return x if s is None else x * s

    def value(self, y, z, sample_weight=None, **_):
        return self._w(self._parts(z)[0], sample_weight)

    def value_gradient(self, y, z, sample_weight=None, **_):
        v, a, _h = self._parts(z)
        return self._w(v, sample_weight), self._w(a, sample_weight)

    def hessian_diagonal(self, y, z, sample_weight=None, **_):
        return self._w(self._parts(z)[2], sample_weight)

    fisher_diagonal = hessian_diagonal
    hessian = hessian_diagonal

    def baseline(self, y, sample_weight=None):
        return 0.0


def certificate(obj, coef, kinks) -> float:
    """Max-norm of the smallest subgradient of ``F`` at ``coef`` (module notes)."""
    kappa, lo, hi, _ = kinks
    p, S, s = obj.n_features, obj.weight_sum, obj.sample_weight
    l1, l2 = l1_l2(obj)
    w = coef[:p]
    t = obj.raw_score(coef) - kappa
    on = np.abs(t) <= 1e-9 * (1.0 + np.abs(kappa))
    a = np.where(t > 0, hi, lo)
    a[on] = 0.0
    X = obj.X
    base_w = np.asarray(X.T @ (s * a)).ravel() / S + l2 * w + l1 * np.sign(w)
    rows = [base_w] + ([np.array([np.sum(s * a) / S])] if obj.fit_intercept else [])
    c = np.concatenate(rows)
    cols, lower, upper = [], [], []
    if on.any():
        XE = X[on]
        XE = XE.toarray() if sp.issparse(XE) else np.asarray(XE)
        blk = XE.T * (s[on] / S)
        if obj.fit_intercept:
            blk = np.vstack([blk, s[on] / S])
        cols.append(blk)
        lower.append(lo[on])
        upper.append(hi[on])
    zero = np.flatnonzero(w == 0) if l1 > 0 else np.array([], int)
    if zero.size:
        blk = np.zeros((c.size, zero.size))
        blk[zero, np.arange(zero.size)] = 1.0
        cols.append(blk)
        lower.append(np.full(zero.size, -l1))
        upper.append(np.full(zero.size, l1))
    if not cols:
        return float(np.max(np.abs(c), initial=0.0))
    M = np.hstack(cols)
    lb, ub = np.concatenate(lower), np.concatenate(upper)
    fixed = lb >= ub
    x = np.where(fixed, lb, 0.0)
    if (~fixed).any():
        res = lsq_linear(
            M[:, ~fixed],
            -(c + M[:, fixed] @ lb[fixed]),
            bounds=(lb[~fixed], ub[~fixed]),
            method="bvls",
            tol=1e-14,
        )
        x[~fixed] = res.x
    return float(np.max(np.abs(M @ x + c), initial=0.0))


def _linprog(obj, kinks):
    """The LP of the module notes; ``coef`` or None if HiGHS fails."""
    kappa, lo, hi, _ = kinks
    n, p = obj.n_samples, obj.n_features
    S, s = obj.weight_sum, obj.sample_weight
    l1, _ = l1_l2(obj)
    X = sp.csr_matrix(obj.X) if sp.issparse(obj.X) else obj.X
    rhs = kappa - (0.0 if obj.offset is None else obj.offset)
    eye = sp.identity(n, format="csr")
    blocks = [X, -X] if l1 > 0 else [X]
    if obj.fit_intercept:
        blocks.append(np.ones((n, 1)))
    A = sp.hstack([sp.csr_matrix(b) for b in blocks] + [-eye, eye], format="csr")
    nw = 2 * p if l1 > 0 else p
    cost = np.concatenate([np.full(nw, S * l1), np.zeros(int(obj.fit_intercept)), s * hi, -s * lo])
    wb = (0, None) if l1 > 0 else (None, None)
    bounds = [wb] * nw + [(None, None)] * int(obj.fit_intercept) + [(0, None)] * (2 * n)
    res = _interruptible(
        linprog,
        cost,
        A_eq=A,
        b_eq=rhs,
        bounds=bounds,
        method="highs",
        options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10},
    )
    if res.x is None:
        return None
    w = res.x[:p] - res.x[p : 2 * p] if l1 > 0 else res.x[:p]
    b = res.x[nw : nw + int(obj.fit_intercept)]
    return np.concatenate([w, b])


def _interruptible(func, *args, **kwargs):
    """``func(*args, **kwargs)`` in a daemon thread, polled so that Ctrl-C is seen at once.

    HiGHS holds its thread in C for the whole solve; the main thread waits in
    0.1 s slices, where Python delivers ``KeyboardInterrupt``. The worker is then
    abandoned: a daemon thread, it ends with its solve or with the process (a
    ``ThreadPoolExecutor`` would be joined at exit, holding the process).
    """
    box = {}
    done = threading.Event()

    def work():
        try:
            box["result"] = func(*args, **kwargs)
        except BaseException as err:  # re-raised in the caller's thread
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=work, name="lossmath-highs", daemon=True).start()
    while not done.wait(0.1):
        pass
    if "error" in box:
        raise box["error"]
    return box["result"]


def _interior_point(obj, kinks, tol, max_iter):
    """The LP by Frisch–Newton, crossed over to a vertex; ``coef`` or None (module notes)."""
    kappa, lo, hi, _ = kinks
    p, S, s = obj.n_features, obj.weight_sum, obj.sample_weight
    l1, _ = l1_l2(obj)
    if obj.n_samples * (p + 1) > MAX_DENSE_ENTRIES:
        return None
    X = obj.X.toarray() if sp.issparse(obj.X) else np.asarray(obj.X, dtype=np.float64)
    keep = s > 0
    c = s[keep] * (hi[keep] - lo[keep])
    tau = np.clip(-lo[keep] / (hi[keep] - lo[keep]), _TAU_MARGIN, 1.0 - _TAU_MARGIN)
    u = kappa - (0.0 if obj.offset is None else obj.offset)
    # One scaled copy of X: the only n × p array the method makes.
    A = np.empty((c.size, p + int(obj.fit_intercept)))
    np.multiply(X if keep.all() else X[keep], c[:, None], out=A[:, :p])
    if obj.fit_intercept:
        A[:, p] = c
    target = u[keep] * c
    if l1 > 0:
        # λ|wⱼ| = 2λ ρ_{1/2}(0 − wⱼ): one row per coefficient (module notes).
        pen = np.zeros((p, A.shape[1]))
        pen[np.arange(p), np.arange(p)] = 2.0 * S * l1
        A = np.vstack([A, pen])
        target = np.concatenate([target, np.zeros(p)])
        tau = np.concatenate([tau, np.full(p, 0.5)])
    try:
        beta, _it, _ok = frisch_newton(A, target, tau, max_iter=max(max_iter, 50))
    except np.linalg.LinAlgError:
        return None
    # Crossover: the m rows nearest their kink (unscaled residuals) define the vertex.
    m = A.shape[1]
    row_scale = np.concatenate([c, np.full(A.shape[0] - c.size, 2.0 * S * l1)])
    resid = np.abs(target - A @ beta) / row_scale
    basis = np.argsort(resid, kind="stable")[:m]
    vertex = np.linalg.lstsq(A[basis], target[basis], rcond=None)[0]
    return vertex if np.all(np.isfinite(vertex)) else None


def _polish(obj, coef, kinks, mu):
    """The exact optimum for the kink / zero pattern of the smoothed solution ``coef``."""
    kappa, lo, hi, _ = kinks
    p, S, s = obj.n_features, obj.weight_sum, obj.sample_weight
    l1, l2 = l1_l2(obj)
    w = coef[:p]
    t = obj.raw_score(coef) - kappa
    E = (t > mu * lo) & (t < mu * hi) & (lo < hi)
    a = np.where(t > 0, hi, lo)
    A = np.flatnonzero(w != 0) if l1 > 0 else np.arange(p)
    if E.sum() > 2 * (A.size + 1) + 10:
        # Generically at most p + 1 samples sit on their kink at the optimum: a larger
        # elbow set means μ is still too large, and its KKT system would be n × n.
        return None
    X = obj.X
    XE = X[E][:, A]
    XE = XE.toarray() if sp.issparse(XE) else np.asarray(XE)
    XA = X[:, A]
    nA, nE, nb = A.size, int(E.sum()), int(obj.fit_intercept)
    size = nA + nb + nE
    K = np.zeros((size, size))
    r = np.zeros(size)
    sN = np.where(E, 0.0, s * a)
    K[:nA, :nA] = l2 * np.eye(nA)
    K[:nA, nA + nb :] = XE.T * (s[E] / S)
    r[:nA] = -np.asarray(XA.T @ sN).ravel() / S - l1 * np.sign(w[A])
    if nb:
        K[nA, nA + nb :] = s[E] / S
        r[nA] = -sN.sum() / S
        K[nA + nb :, nA] = 1.0
    K[nA + nb :, :nA] = XE
    off = 0.0 if obj.offset is None else obj.offset[E]
    r[nA + nb :] = kappa[E] - off
    sol = np.linalg.lstsq(K, r, rcond=None)[0]
    new = np.zeros_like(coef)
    new[A] = sol[:nA]
    if nb:
        new[p] = sol[nA]
    return new


def solve_kinked(obj, requested, tol, max_iter, coef0, verbose):
    """Exact fit for a kinked loss (module notes); only ``requested="auto"`` is accepted."""
    if requested not in ("auto", None):
        raise ValueError(
            f"solve: solver={requested!r} cannot minimise the kinked loss "
            f"{obj.loss.name!r} (piecewise linear: no curvature, a kink per sample); use "
            "solver='auto', the exact method (interior point / linear programming, or "
            "smoothing with an exact polish when there is an L2 part)"
        )
    kinks = _kinks(obj)
    _l1, l2 = l1_l2(obj)
    coef = initial_coef(obj, coef0)
    k = certificate(obj, coef, kinks) if coef0 is not None else np.inf
    it, name = 0, "interior_point" if l2 == 0 else "smoothing"
    if k > tol and max_iter > 0:
        if l2 == 0:
            new = _interior_point(obj, kinks, tol, max_iter)
            it = 1
            if new is not None:
                coef, k = new, certificate(obj, new, kinks)
            if k > tol:
                if verbose:
                    print(f"[interior_point] crossover kkt = {k:.3e}: HiGHS linear programme")
                name = "linprog"
                new = _linprog(obj, kinks)
                if new is not None:
                    coef, k = new, certificate(obj, new, kinks)
        else:
            coef, k, it = _continuation(obj, coef, kinks, tol, max_iter, verbose)
    ok = k <= tol
    F = obj.value(coef)
    if ok:
        msg = f"{name} converged: KKT residual {k:.3g} <= tol={tol:.3g}"
    else:
        msg = (
            f"{name} did not reach KKT residual <= tol={tol:.3g} (got {k:.3g}) for the "
            f"kinked loss {obj.loss.name!r}; increase max_iter, scale the features, "
            f"or loosen tol"
        )
    return SolverResult(coef, it, ok, float(F), float(k), name, msg)


def _continuation(obj, coef, kinks, tol, max_iter, verbose):
    from lossmath.linear_model._solvers._proximal import cd
    from lossmath.linear_model._solvers._smoothed_newton import smoothed_newton

    l1, _ = l1_l2(obj)
    scale = max(float(np.std(kinks[0])), 1e-3)
    best, best_k, it = coef, np.inf, 0
    for stage in range(12):
        mu = scale * 10.0**-stage
        budget = max(max_iter - it, 1)
        if l1 > 0:
            smooth = GLMObjective(
                _Smoothed(kinks, mu),
                obj.penalty,
                obj.X,
                obj.y,
                obj.sample_weight,
                obj.fit_intercept,
                obj.offset,
            )
            inner = cd(smooth, coef, 1e-3 * tol, budget, 0)
            coef, n_inner = inner.coef, inner.n_iter
        else:
            found = {}

            def certified(beta, mu=mu, found=found):
                # The exact optimum as soon as the pattern is right: no need to
                # converge the smoothed problem first.
                cand = _polish(obj, beta, kinks, mu)
                if cand is not None:
                    found["k"], found["coef"] = certificate(obj, cand, kinks), cand
                return found.get("k", np.inf) <= tol

            coef, n_inner = smoothed_newton(
                obj, coef, kinks, mu, 1e-3 * tol, budget, stop=certified
            )
        it += n_inner + 1
        if l1 == 0 and found.get("k", np.inf) <= tol:
            cand, k = found["coef"], found["k"]
        else:
            cand = _polish(obj, coef, kinks, mu)
            if cand is None:
                cand = coef
            k = certificate(obj, cand, kinks)
        if verbose:
            print(f"[smoothing] mu = {mu:.1e}  {n_inner} steps  polished kkt = {k:.3e}")
        if k < best_k:
            best, best_k = cand, k
        if best_k <= tol or it >= max_iter:
            break
    return best, best_k, min(it, max_iter)
