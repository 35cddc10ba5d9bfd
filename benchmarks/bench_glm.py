# Every closure below is called within the loop iteration that defines it.
# ruff: noqa: B023
r"""Time to solve the same penalised GLM with lossmath and the libraries a user would pick.

Every library minimises, after its parameters are translated, the one objective of
DESIGN.md §6,

.. math::

    F(w, b) = \frac{1}{n} \sum_i ℓ(y_i, x_i^\top w + b)
              + α \bigl(ρ \lVert w \rVert_1 + \tfrac12 (1 − ρ) \lVert w \rVert_2^2\bigr),

(unit sample weights, unpenalised intercept, ``ℓ`` the lossmath loss), and every
returned solution is scored by one oracle, :meth:`lossmath.linear_model.GLMObjective.value`.
The translations are written next to each library's runner below and checked by
``--check``: on small problems every peer's solution must come within ``1e-6``
(relative) of lossmath's optimum.

Problems (full size; ``--quick`` about a tenth)
-----------------------------------------------
``logistic_l2`` dense 200,000 × 100, α = 1e-4; ``poisson_l2`` dense 200,000 × 100,
α = 1e-4; ``lasso`` dense 20,000 × 2,000, α = α_max / 20 (5 % true support);
``logistic_enet_sparse`` binary CSR 100,000 × 10,000 (about 20 non-zeros a row),
ρ = 0.5, α = α_max / 20; ``multinomial_l2`` dense 100,000 × 100, K = 10, α = 1e-4.
Dense features are Gaussian with AR(1) correlation 0.5 between neighbouring columns.

Who can solve what: scikit-learn all five (LogisticRegression, PoissonRegressor,
Lasso); glum all but the multinomial; skglm all but the multinomial; statsmodels the
dense L2 problems (``GLM.fit_regularized`` ridge path) and the lasso (``OLS`` elastic-net
CD), not the sparse one (dense ``exog`` only) nor the multinomial (``MNLogit`` has L1
only). lossmath's time is its estimator's ``fit``, everything included (input
validation and, for ridge fits, the covariance it computes for inference).

Method
------
* Each (library, solver) pair is run at a sequence of *its own* tolerances, loose to
  tight (``1e-2 … 1e-12``), recording (time, F). ``F*`` is the lowest F any run of any
  library reaches (lossmath is also run at ``tol=1e-12``); a run's gap is
  ``(F − F*) / |F*|``. The reported *time to 1e-6* is the shortest time of a run with
  gap ≤ 1e-6. The sweep stops once a run is within 1e-9 of the provisional ``F*``
  (tighter settings cannot reach 1e-6 sooner), or when the pair has used its time cap
  (``--cap`` s; a running fit is interrupted at its next Python-level instruction, so
  the compiled loops of scikit-learn's CD and SAGA get a bounded ``max_iter`` instead).
* Also reported: the gap and time with the library's *default* settings (its own
  ``tol`` and ``max_iter``; only the penalty, and the solver named in the row, are set).
* One untimed warm-up fit on the first 2,000 rows first (JIT compilation, thread
  pools); then the median of ``--repeat`` fits for runs shorter than a second.
* Each library gets ``X`` in its preferred memory layout (Fortran / CSC for coordinate
  descent), converted before the clock starts; lossmath gets the problem's own
  layout (C-ordered dense, CSR sparse) — any conversion it makes is timed.
* Two threads everywhere (``BENCH_GLM_THREADS`` to change): the process is pinned
  to two CPUs and OpenMP, BLAS and numba are limited to two threads (the
  environment variables are set before NumPy is imported).

Usage::

    python benchmarks/bench_glm.py               # full sizes, cap 60 s per library
    python benchmarks/bench_glm.py --quick       # small sizes, about 2 minutes
    python benchmarks/bench_glm.py --check       # verify the translations (asserts)
    python benchmarks/bench_glm.py --problems lasso,multinomial_l2
    PYTHONPATH=<tree>/src python benchmarks/bench_glm.py --lossmath-only  # versions
"""

from __future__ import annotations

import os

# BENCH_GLM_THREADS=1 where the cores are shared: two BLAS threads on a loaded
# machine spin-wait for each other (a weighted Gram 10-20x slower than one thread).
THREADS = int(os.environ.get("BENCH_GLM_THREADS", "2"))
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMBA_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = str(THREADS)
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:THREADS])

import argparse  # noqa: E402 (the thread settings must precede NumPy)
import json  # noqa: E402
import platform  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

import lossmath  # noqa: E402
from lossmath.linear_model import GLMObjective  # noqa: E402
from lossmath.penalties import get_penalty  # noqa: E402

TARGET = 1e-6  # relative suboptimality that counts as solved
STOP_GAP = 1e-9  # a sweep stops once this close to the provisional optimum
TOLS = tuple(10.0**-k for k in range(2, 13))  # each library's own tolerance, 1e-2 … 1e-12
WARMUP_ROWS = 2000
PROBLEMS = ("logistic_l2", "poisson_l2", "lasso", "logistic_enet_sparse", "multinomial_l2")

console = Console(width=140)


# --------------------------------------------------------------------- problems
@dataclass
class Problem:
    """One instance of the objective: data, loss and penalty in lossmath's terms."""

    name: str
    loss: str  # lossmath loss name
    alpha: float
    l1_ratio: float
    X: np.ndarray | sp.csr_matrix
    y: np.ndarray  # 0/1 for logistic, 0..K-1 for multinomial
    n_classes: int = 0

    @property
    def shape(self) -> str:
        n, p = self.X.shape
        nnz = f", nnz={self.X.nnz:,}" if sp.issparse(self.X) else ""
        k = f", K={self.n_classes}" if self.n_classes else ""
        return f"n={n:,}, p={p:,}{k}{nnz}, α={self.alpha:.3g}, ρ={self.l1_ratio:g}"

    def objective(self, X=None, y=None) -> GLMObjective:
        """The oracle on the full data (or on ``X, y``, e.g. the warm-up slice)."""
        X = self.X if X is None else X
        y = self.y if y is None else y
        if self.loss == "multinomial":
            loss = lossmath.get_loss("multinomial", n_classes=self.n_classes)
        else:
            loss = lossmath.get_loss(self.loss)
        if self.l1_ratio == 0:
            pen = get_penalty("l2", alpha=self.alpha)
        elif self.l1_ratio == 1:
            pen = get_penalty("l1", alpha=self.alpha)
        else:
            pen = get_penalty("elastic_net", alpha=self.alpha, l1_ratio=self.l1_ratio)
        return GLMObjective(loss, pen, X, y, fit_intercept=True)


def _correlated(rng, n: int, p: int, rho: float = 0.5) -> np.ndarray:
    """Gaussian features with AR(1) correlation ``rho^|j−k|`` between columns."""
    Z = rng.standard_normal((n, p))
    for j in range(1, p):
        Z[:, j] = rho * Z[:, j - 1] + np.sqrt(1 - rho**2) * Z[:, j]
    return Z


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def make_problem(name: str, size: str, seed: int = 0) -> Problem:
    """``size``: "full", "quick" or "check" (tiny, for the translation check)."""
    rng = np.random.default_rng(seed)
    dims = {
        # name: {size: (n, p)}
        "logistic_l2": {"full": (200_000, 100), "quick": (20_000, 50), "check": (2000, 20)},
        "poisson_l2": {"full": (200_000, 100), "quick": (20_000, 50), "check": (2000, 20)},
        "lasso": {"full": (20_000, 2000), "quick": (4000, 400), "check": (1000, 50)},
        "logistic_enet_sparse": {
            "full": (100_000, 10_000),
            "quick": (10_000, 1000),
            "check": (2000, 200),
        },
        "multinomial_l2": {"full": (100_000, 100), "quick": (10_000, 20), "check": (2000, 10)},
    }[name][size]
    n, p = dims
    # The check uses a stronger ridge so that the peers' tightest settings are tight
    # (statsmodels exposes no tolerance for its ridge path).
    ridge = 1e-2 if size == "check" else 1e-4
    if name == "logistic_l2":
        X = _correlated(rng, n, p)
        z = X @ (rng.standard_normal(p) / np.sqrt(p)) + 0.3
        y = (rng.random(n) < _sigmoid(z)).astype(float)
        return Problem(name, "logistic", ridge, 0.0, X, y)
    if name == "poisson_l2":
        X = _correlated(rng, n, p)
        z = X @ (0.5 * rng.standard_normal(p) / np.sqrt(p)) + 0.5
        y = rng.poisson(np.exp(z)).astype(float)
        return Problem(name, "poisson", ridge, 0.0, X, y)
    if name == "lasso":
        X = _correlated(rng, n, p)
        w = np.zeros(p)
        support = rng.choice(p, p // 20, replace=False)
        w[support] = rng.standard_normal(support.size)
        y = X @ w + 1.0 + rng.standard_normal(n)
        alpha_max = np.max(np.abs(X.T @ (y - y.mean()))) / n
        return Problem(name, "squared_error", alpha_max / 20, 1.0, X, y)
    if name == "logistic_enet_sparse":
        # Bag-of-words-like binary features, about 20 per row.
        X = sp.random(n, p, density=20 / p, format="csr", random_state=rng, data_rvs=np.ones)
        w = np.zeros(p)
        support = rng.choice(p, max(p // 50, 5), replace=False)
        w[support] = rng.standard_normal(support.size)
        y = (rng.random(n) < _sigmoid(X @ w - 0.5)).astype(float)
        rho = 0.5
        alpha_max = np.max(np.abs(X.T @ (y - y.mean()))) / (n * rho)
        return Problem(name, "logistic", alpha_max / 20, rho, X, y)
    if name == "multinomial_l2":
        k = 10
        X = _correlated(rng, n, p)
        scores = X @ (rng.standard_normal((k, p)) / np.sqrt(p)).T
        y = np.argmax(scores + rng.gumbel(size=(n, k)), axis=1).astype(float)
        return Problem(name, "multinomial", ridge, 0.0, X, y, n_classes=k)
    raise ValueError(f"unknown problem {name!r}; choose from {PROBLEMS}")


# ---------------------------------------------------------------------- runners
@dataclass
class Runner:
    """One (library, solver): ``fit(X, y, tol)`` returns ``coef`` in the oracle's layout.

    ``tol=None`` means the library's defaults (its own ``tol`` and ``max_iter``).
    An empty ``tols`` means the library exposes no tolerance: only the default runs.
    """

    library: str
    solver: str
    fit: Callable
    tols: tuple = TOLS
    prepare: Callable = lambda X: X  # the layout as given
    note: str = ""


@dataclass
class NotAvailable:
    library: str
    reason: str


def _pack(coef, intercept) -> np.ndarray:
    """``w`` (row-major for ``(K, p)``) then the intercept(s): the oracle's layout."""
    return np.r_[np.ravel(coef), np.ravel(intercept)]


def _fortran(X):
    return X.tocsc() if sp.issparse(X) else np.asfortranarray(X)


def _with_constant(X):
    """statsmodels takes the intercept as a column of ones (last, so α_j = 0 there)."""
    return np.column_stack([X, np.ones(X.shape[0])])


def lossmath_runners(pb: Problem) -> list[Runner]:
    """The estimator (what a user runs), then the bare solver on the same objective.

    The second row separates the optimisation from the estimator's other work (input
    validation, and the covariance it computes for inference after a ridge fit).
    """
    # The objective itself: alpha and l1_ratio are α and ρ.
    from lossmath.linear_model import GLMClassifier, GLMRegressor
    from lossmath.linear_model._solvers import solve

    classifier = pb.loss in ("logistic", "multinomial")

    def fit(X, y, tol):
        kw = {} if tol is None else {"tol": tol, "max_iter": 100_000}
        est = GLMClassifier() if classifier else GLMRegressor(loss=pb.loss)
        est.set_params(alpha=pb.alpha, l1_ratio=pb.l1_ratio, **kw)
        est.fit(X, y)
        return _pack(est.coef_, est.intercept_)

    def fit_solver(X, y, tol):
        kw = {} if tol is None else {"tol": tol, "max_iter": 100_000}
        return solve(pb.objective(X, y), "auto", **kw).coef

    return [
        Runner("lossmath", "auto", fit),
        Runner("lossmath", "auto, solve() only", fit_solver),
    ]


def sklearn_runners(pb: Problem) -> list[Runner]:
    from sklearn.linear_model import Lasso, LogisticRegression, PoissonRegressor

    a, rho = pb.alpha, pb.l1_ratio
    if pb.loss in ("logistic", "multinomial"):
        # LogisticRegression minimises C Σᵢ ℓ(yᵢ, zᵢ) + ½(1 − l1_ratio)‖W‖² + l1_ratio ‖W‖₁
        # (intercept unpenalised for lbfgs / newton-cholesky / saga; ℓ the binary or,
        # for K > 2, the multinomial cross-entropy with a (K, p) W, as lossmath's).
        # Dividing by C n gives §6 with α = 1 / (C n): C = 1 / (n α), l1_ratio = ρ.
        # `penalty` is deprecated since 1.8; l1_ratio alone selects the penalty.
        def runner(solver):
            # saga's epochs run in one compiled call the time cap cannot interrupt.
            max_iter = 2000 if solver == "saga" else 100_000

            def fit(X, y, tol):
                kw = {} if tol is None else {"tol": tol, "max_iter": max_iter}
                m = LogisticRegression(C=1 / (X.shape[0] * a), l1_ratio=rho, solver=solver, **kw)
                m.fit(X, y)
                return _pack(m.coef_, m.intercept_)

            return Runner("scikit-learn", solver, fit)

        if rho == 0:
            return [runner("lbfgs"), runner("newton-cholesky")]
        # saga is the only solver with an elastic-net penalty; CSR is its layout.
        return [runner("saga")]
    if pb.loss == "poisson":
        # PoissonRegressor: 1/(2n) Σ deviance + ½ α ‖w‖²; half the Poisson deviance is
        # e^z − y z + (y log y − y), so α is α (the constant does not move the optimum).
        def runner(solver):
            def fit(X, y, tol):
                kw = {} if tol is None else {"tol": tol, "max_iter": 100_000}
                m = PoissonRegressor(alpha=a, solver=solver, **kw).fit(X, y)
                return _pack(m.coef_, m.intercept_)

            return Runner("scikit-learn", solver, fit)

        return [runner("lbfgs"), runner("newton-cholesky")]

    # Lasso: 1/(2n) ‖y − Xw − b‖² + α ‖w‖₁ — §6 with ℓ = ½ r², ρ = 1: α is α.
    def fit(X, y, tol):
        # max_iter bounded: the epochs run in one compiled call the cap cannot interrupt.
        kw = {} if tol is None else {"tol": tol, "max_iter": 10_000}
        m = Lasso(alpha=a, **kw).fit(X, y)
        return _pack(m.coef_, m.intercept_)

    return [Runner("scikit-learn", "cd", fit, prepare=_fortran)]


def glum_runners(pb: Problem) -> list[Runner] | NotAvailable:
    if pb.loss == "multinomial":
        return NotAvailable("glum", "no multinomial family")
    from glum import GeneralizedLinearRegressor

    # glum minimises 1/(2 Σs) Σ s·deviance + α ρ ‖w‖₁ + ½ α (1 − ρ) ‖w‖² (intercept
    # unpenalised). Half the unit deviance is ℓ up to a constant in y: binomial
    # log-loss, Poisson e^z − y z + const, normal ½ r². So alpha = α, l1_ratio = ρ.
    family = {"logistic": "binomial", "poisson": "poisson", "squared_error": "normal"}[pb.loss]
    # What solver="auto" picks: irls-ls for pure L2 (non-normal), irls-cd with an L1 part.
    solver = "irls-ls" if pb.l1_ratio == 0 else "irls-cd"

    def fit(X, y, tol):
        kw = {} if tol is None else {"gradient_tol": tol, "max_iter": 100_000}
        m = GeneralizedLinearRegressor(
            family=family, alpha=pb.alpha, l1_ratio=pb.l1_ratio, solver=solver, **kw
        ).fit(X, y)
        return _pack(m.coef_, m.intercept_)

    return [Runner("glum", solver, fit, prepare=_fortran)]


def skglm_runners(pb: Problem) -> list[Runner] | NotAvailable:
    if pb.loss == "multinomial":
        return NotAvailable("skglm", "Logistic datafit is binary (one-vs-rest for K > 2)")
    from skglm import GeneralizedLinearEstimator
    from skglm.datafits import Logistic, Poisson, Quadratic
    from skglm.penalties import L1, L1_plus_L2
    from skglm.solvers import AndersonCD, ProxNewton

    # Datafits are means over n: Quadratic ‖y − Xw‖²/(2n), Logistic
    # Σ log(1 + e^{−y z})/n with y ∈ {−1, +1} (GeneralizedLinearEstimator maps the 0/1
    # labels to ±1; log(1 + e^{−yz}) is lossmath's logistic loss), Poisson
    # Σ (e^z − y z)/n. Penalties: L1(α) = α‖w‖₁, L1_plus_L2(α, ρ) = §6's. The solvers
    # fit an unpenalised intercept (fit_intercept=True). Pure L2 is written
    # L1_plus_L2(α, 0) because ProxNewton's working sets need `subdiff_distance`,
    # which skglm's L2 penalty lacks.
    a, rho = pb.alpha, pb.l1_ratio
    datafit = {"logistic": Logistic, "poisson": Poisson, "squared_error": Quadratic}[pb.loss]
    if pb.loss == "squared_error":
        solver_cls, name, max_iter = AndersonCD, "AndersonCD", {"max_iter": 10_000}
    else:
        solver_cls, name, max_iter = ProxNewton, "ProxNewton", {"max_iter": 1000}

    def fit(X, y, tol):
        kw = {} if tol is None else {"tol": tol, **max_iter}
        penalty = L1(a) if rho == 1 else L1_plus_L2(a, rho)
        est = GeneralizedLinearEstimator(datafit(), penalty, solver_cls(fit_intercept=True, **kw))
        est.fit(X, y)
        return _pack(est.coef_, est.intercept_)

    return [Runner("skglm", name, fit, prepare=_fortran)]


def statsmodels_runners(pb: Problem) -> list[Runner] | NotAvailable:
    if sp.issparse(pb.X):
        return NotAvailable("statsmodels", "dense exog only; elastic-net CD is a Python loop")
    if pb.loss == "multinomial":
        return NotAvailable("statsmodels", "MNLogit has L1 only, reference-class coefs")
    import statsmodels.api as sm

    p = pb.X.shape[1]
    # fit_regularized minimises −loglike/n + Σⱼ αⱼ ((1 − L1_wt) βⱼ²/2 + L1_wt |βⱼ|) over
    # params = (w, b) with X given a column of ones; αⱼ = α for w and 0 for the
    # constant leaves the intercept unpenalised. −loglike/n is the mean of ℓ up to a
    # constant (Binomial: log-loss; Poisson: e^z − y z + log y!; OLS: ½ RSS/n).
    alpha = np.r_[np.full(p, pb.alpha), 0.0]
    if pb.loss == "squared_error":

        def fit(X, y, tol):
            kw = {} if tol is None else {"cnvrg_tol": tol, "maxiter": 100_000}
            res = sm.OLS(y, X).fit_regularized(method="elastic_net", alpha=alpha, L1_wt=1.0, **kw)
            return np.asarray(res.params)

        return [Runner("statsmodels", "elastic_net CD", fit, prepare=_with_constant)]
    family = {"logistic": sm.families.Binomial, "poisson": sm.families.Poisson}[pb.loss]()

    # L1_wt = 0 routes to GLM._fit_ridge: scipy.optimize.minimize with its default
    # tolerance — statsmodels passes none through, so there is no sweep.
    def runner(method):
        def fit(X, y, tol):
            res = sm.GLM(y, X, family=family).fit_regularized(
                method="elastic_net", alpha=alpha, L1_wt=0.0, opt_method=method
            )
            return np.asarray(res.params)

        return Runner(
            "statsmodels",
            f"ridge {method}",
            fit,
            tols=(),
            prepare=_with_constant,
            note="no tolerance exposed",
        )

    return [runner("bfgs"), runner("newton-cg")]


PEERS = (sklearn_runners, glum_runners, skglm_runners, statsmodels_runners)


# ---------------------------------------------------------------------- timing
class _Timeout(BaseException):
    """Raised by SIGALRM; a BaseException so libraries' ``except Exception`` pass it on."""


def _alarm(_signum, _frame):
    raise _Timeout


@dataclass
class Point:
    setting: str  # "default" or the tolerance
    time: float
    value: float


@dataclass
class Record:
    library: str
    solver: str
    points: list[Point] = field(default_factory=list)
    default: Point | None = None
    capped: bool = False
    note: str = ""
    error: str = ""


def _timed(fn, repeat: int, deadline: float) -> tuple[float, np.ndarray]:
    """Median time of ``fn`` (repeated while short) and its last result; raises _Timeout."""
    times, out = [], None
    for i in range(repeat):
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise _Timeout
        if np.isfinite(remaining):
            signal.setitimer(signal.ITIMER_REAL, remaining)
        try:
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if i == 0 and times[0] > 1.0:
            break
    return statistics.median(times), out


def run_runner(runner: Runner, pb: Problem, f_ref: float, cap: float, repeat: int) -> Record:
    rec = Record(runner.library, runner.solver, note=runner.note)
    oracle = pb.objective()
    m = min(WARMUP_ROWS, pb.X.shape[0])
    X = runner.prepare(pb.X)
    deadline = np.inf
    try:
        runner.fit(runner.prepare(pb.X[:m]), pb.y[:m], None)
        deadline = time.perf_counter() + cap  # JIT compilation in the warm-up is not capped
        t, coef = _timed(lambda: runner.fit(X, pb.y, None), repeat, deadline)
        rec.default = Point("default", t, oracle.value(coef))
        for tol in runner.tols:
            t, coef = _timed(lambda: runner.fit(X, pb.y, tol), repeat, deadline)
            rec.points.append(Point(f"{tol:.0e}", t, oracle.value(coef)))
            if (rec.points[-1].value - f_ref) / abs(f_ref) <= STOP_GAP:
                break
    except _Timeout:
        rec.capped = True
    except Exception as exc:  # a peer's failure is reported, not fatal
        if time.perf_counter() >= deadline:  # _Timeout re-raised as another error (numba)
            rec.capped = True
            return rec
        rec.error = f"{type(exc).__name__}: {exc}"[:120]
    return rec


def gap(value: float, f_star: float) -> float:
    return max((value - f_star) / abs(f_star), 0.0)


def time_to_target(rec: Record, f_star: float) -> float | None:
    pts = [*rec.points, *([rec.default] if rec.default else [])]
    ok = [pt.time for pt in pts if gap(pt.value, f_star) <= TARGET]
    return min(ok) if ok else None


# ---------------------------------------------------------------------- output
def _fmt_gap(g: float) -> str:
    return "0" if g == 0 else f"{g:.1e}"


def _fmt_time(t: float | None) -> str:
    return "—" if t is None else f"{t:.3g}"


def problem_table(pb: Problem, records: list, f_star: float, best: str) -> tuple[Table, dict]:
    table = Table(title=f"[bold]{pb.name}[/]: {pb.shape}\nF* = {f_star:.12g} ({best})")
    for col, just in (
        ("library", "left"),
        ("solver", "left"),
        ("time to 1e-6 [s]", "right"),
        ("× lossmath", "right"),
        ("default gap", "right"),
        ("default time [s]", "right"),
        ("best gap", "right"),
        ("notes", "left"),
    ):
        table.add_column(col, justify=just)
    lm = next(r for r in records if isinstance(r, Record) and r.library == "lossmath")
    t_lm = time_to_target(lm, f_star)
    bare = [r for r in records if isinstance(r, Record) and r.library == "lossmath"][1:]
    summary = {
        "lossmath": t_lm,
        "solve": time_to_target(bare[0], f_star) if bare else None,
        "peer": None,
        "peer_name": "—",
    }
    for rec in records:
        if isinstance(rec, NotAvailable):
            table.add_row(rec.library, "—", "n/a", "", "", "", "", rec.reason)
            continue
        t = time_to_target(rec, f_star)
        values = [pt.value for pt in [*rec.points, rec.default] if pt is not None]
        notes = [rec.note] if rec.note else []
        if rec.capped:
            notes.append("hit the time cap")
        if rec.error:
            notes.append(rec.error)
        reached = "not reached" if t is None else f"{t:.3g}"
        ratio = "" if t is None or not t_lm else f"{t / t_lm:.2f}"
        d = rec.default
        table.add_row(
            rec.library,
            rec.solver,
            reached,
            ratio,
            _fmt_gap(gap(d.value, f_star)) if d else "—",
            _fmt_time(d.time) if d else "—",
            _fmt_gap(gap(min(values), f_star)) if values else "—",
            "; ".join(notes),
        )
        if (
            rec.library != "lossmath"
            and t is not None
            and (summary["peer"] is None or t < summary["peer"])
        ):
            summary["peer"], summary["peer_name"] = t, f"{rec.library} {rec.solver}"
    return table, summary


def summary_table(summaries: dict) -> Table:
    table = Table(title="[bold]Summary[/]: time to reach relative suboptimality 1e-6")
    for col, just in (
        ("problem", "left"),
        ("lossmath [s]", "right"),
        ("solve() only [s]", "right"),
        ("fastest peer", "left"),
        ("peer [s]", "right"),
        ("lossmath / peer", "right"),
        ("solve() / peer", "right"),
    ):
        table.add_column(col, justify=just)

    def ratio(a, b):
        return "—" if a is None or b is None else f"{a / b:.2f}"

    for name, s in summaries.items():
        table.add_row(
            name,
            _fmt_time(s["lossmath"]),
            _fmt_time(s["solve"]),
            s["peer_name"],
            _fmt_time(s["peer"]),
            ratio(s["lossmath"], s["peer"]),
            ratio(s["solve"], s["peer"]),
        )
    table.caption = (
        "lossmath: the estimator's fit; solve() only: its solver on the same objective. "
        "Ratios < 1: lossmath is faster. '—': not reached within the cap."
    )
    return table


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except ImportError:
        return "not installed"


def header(mode: str, cap: float, repeat: int) -> None:
    from threadpoolctl import threadpool_info

    pools = ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info())
    console.print(
        f"[bold]bench_glm[/] ({mode}) — {platform.processor() or platform.machine()}, "
        f"{THREADS} threads (CPU affinity {sorted(os.sched_getaffinity(0))}; {pools}; "
        f"NUMBA_NUM_THREADS={os.environ['NUMBA_NUM_THREADS']})\n"
        f"lossmath {lossmath.__version__}, scikit-learn {_version('sklearn')}, "
        f"glum {_version('glum')}, skglm {_version('skglm')}, "
        f"statsmodels {_version('statsmodels')}, NumPy {np.__version__}, "
        f"Python {platform.python_version()}\n"
        f"load average {os.getloadavg()[0]:.2f} at the start (other processes on these "
        "cores distort the times)\n"
        f"cap {cap:g} s per library and problem; median of up to {repeat} runs "
        f"(runs over 1 s once); one warm-up fit on {WARMUP_ROWS} rows first"
    )


# ------------------------------------------------------------------------ modes
def bench_problem(pb: Problem, cap: float, repeat: int, peers=PEERS) -> tuple[list, float, str]:
    """All runners on ``pb``; returns the records, ``F*`` and who reached it."""
    lm, *more = lossmath_runners(pb)
    oracle = pb.objective()
    # The provisional optimum, for stopping the sweeps early; NaN disables that.
    ref, f_ref = None, np.nan
    try:
        lm.fit(pb.X[:WARMUP_ROWS], pb.y[:WARMUP_ROWS], None)
        t_ref, coef_ref = _timed(lambda: lm.fit(pb.X, pb.y, 1e-12), 1, time.perf_counter() + cap)
        f_ref = oracle.value(coef_ref)
        ref = Point("1e-12", t_ref, f_ref)
        console.log(f"{pb.name}: lossmath tol=1e-12 F = {f_ref:.12g} in {t_ref:.3g} s")
    except (Exception, _Timeout) as exc:
        console.log(f"{pb.name}: lossmath tol=1e-12 failed: {type(exc).__name__}: {exc}")
    rec_lm = run_runner(lm, pb, f_ref, cap, repeat)
    if ref is not None and not any(pt.setting == "1e-12" for pt in rec_lm.points):
        rec_lm.points.append(ref)
    records: list = [rec_lm]
    for runner in more:
        records.append(run_runner(runner, pb, f_ref, cap, repeat))
    for make in peers:
        runners = make(pb)
        if isinstance(runners, NotAvailable):
            records.append(runners)
            continue
        for runner in runners:
            rec = run_runner(runner, pb, f_ref, cap, repeat)
            console.log(
                f"{pb.name}: {rec.library} {rec.solver} — {len(rec.points)} settings"
                + (" (cap)" if rec.capped else "")
                + (f" ERROR {rec.error}" if rec.error else "")
            )
            records.append(rec)
    best_value, best_name = np.inf, "no run"
    for rec in records:
        if isinstance(rec, Record):
            for pt in [*rec.points, *([rec.default] if rec.default else [])]:
                if pt.value < best_value:
                    best_value, best_name = pt.value, f"{rec.library} {rec.solver} {pt.setting}"
    return records, best_value, best_name


def check(names) -> int:
    """Every peer at its tightest setting within TARGET of lossmath's optimum (asserted)."""
    table = Table(title="[bold]--check[/]: peers' solutions scored by the oracle")
    for col in (
        "problem",
        "library",
        "solver",
        "setting",
        "(F − F_lossmath) / |F_lossmath|",
        "max |Δcoef|",
        "ok / note",
    ):
        table.add_column(col)
    failures = []
    for name in names:
        pb = make_problem(name, "check")
        oracle = pb.objective()
        lm = lossmath_runners(pb)[0]
        coef_lm = lm.fit(pb.X, pb.y, 1e-12)
        f_lm = oracle.value(coef_lm)
        for make in PEERS:
            runners = make(pb)
            if isinstance(runners, NotAvailable):
                table.add_row(name, runners.library, "n/a", "", "", "", runners.reason)
                continue
            for runner in runners:
                tol = min(runner.tols) if runner.tols else None
                coef = runner.fit(runner.prepare(pb.X), pb.y, tol)
                rel = (oracle.value(coef) - f_lm) / abs(f_lm)
                # The intercept of the overparametrised multinomial is defined up to a
                # common shift; compare the centred intercepts.
                if pb.n_classes:
                    k = pb.n_classes
                    coef, coef_ref = coef.copy(), coef_lm.copy()
                    coef[-k:] -= coef[-k:].mean()
                    coef_ref[-k:] -= coef_ref[-k:].mean()
                else:
                    coef_ref = coef_lm
                ok = abs(rel) <= TARGET
                if not ok:
                    failures.append(f"{name} {runner.library} {runner.solver}: {rel:.2e}")
                table.add_row(
                    name,
                    runner.library,
                    runner.solver,
                    "default" if tol is None else f"{tol:g}",
                    f"{rel:+.2e}",
                    f"{np.max(np.abs(coef - coef_ref)):.1e}",
                    "✓" if ok else "✗",
                )
    console.print(table)
    assert not failures, "translations off by more than 1e-6: " + "; ".join(failures)
    console.print(f"[green]all peers within {TARGET:g} of lossmath's optimum[/]")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small problems, about 2 minutes")
    parser.add_argument("--check", action="store_true", help="verify the translations only")
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated subset")
    parser.add_argument("--cap", type=float, help="seconds per library and problem")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write every (time, F) point to this file")
    parser.add_argument(
        "--lossmath-only",
        action="store_true",
        help="no peers (to compare lossmath versions: PYTHONPATH=<tree>/src)",
    )
    args = parser.parse_args(argv)
    names = [s.strip() for s in args.problems.split(",") if s.strip()]
    unknown = set(names) - set(PROBLEMS)
    if unknown:
        parser.error(f"unknown problems {sorted(unknown)}; choose from {PROBLEMS}")
    warnings.simplefilter("ignore")  # convergence warnings are the point of the sweep
    signal.signal(signal.SIGALRM, _alarm)
    if args.check:
        return check(names)
    size = "quick" if args.quick else "full"
    cap = args.cap or (5.0 if args.quick else 60.0)
    header(size, cap, args.repeat)
    summaries, dump = {}, {}
    for name in names:
        pb = make_problem(name, size, args.seed)
        load = os.getloadavg()[0]
        peers = () if args.lossmath_only else PEERS
        records, f_star, best = bench_problem(pb, cap, args.repeat, peers)
        if not np.isfinite(f_star):
            console.print(f"[red]{name}: no library finished a fit within the cap[/]")
            continue
        table, summaries[name] = problem_table(pb, records, f_star, best)
        table.caption = (
            f"× lossmath: time / lossmath's time (> 1: lossmath is faster). Gaps are "
            f"(F − F*) / |F*|. Load average {load:.2f} → {os.getloadavg()[0]:.2f}."
        )
        console.print(table)
        dump[name] = {
            "shape": pb.shape,
            "f_star": f_star,
            "runs": [
                {
                    "library": r.library,
                    "solver": r.solver,
                    "capped": r.capped,
                    "error": r.error,
                    "points": [
                        {"setting": pt.setting, "time": pt.time, "F": pt.value}
                        for pt in [*([r.default] if r.default else []), *r.points]
                    ],
                }
                for r in records
                if isinstance(r, Record)
            ],
        }
    console.print(summary_table(summaries))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dump, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
