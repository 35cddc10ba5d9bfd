r"""Solvers for ``min F(coef)``, ``F`` = weighted mean loss + penalty (docs/contract.md §6).

One entry point, :func:`solve`, over plain module-level solver functions that share
:class:`SolverResult` and the KKT test of :mod:`._common`:

=========  =====================================================  ==================
solver     method                                                 penalties
=========  =====================================================  ==================
lstsq      normal equations (Cholesky), iterative refinement      squared error, L2
newton     damped Newton / IRLS, Cholesky, Armijo                 L2
lbfgs      scipy L-BFGS-B                                         L2
gd         gradient descent, backtracking                         L2
fista      accelerated proximal gradient, restart                 any
cd         proximal Newton, working sets, CD on the model         any
=========  =====================================================  ==================

Piecewise-linear losses (absolute_error, quantile, hinge) are solved exactly by
solver="auto" only (:mod:`._kinked`: an interior-point LP, or smoothing continuation
with an exact polish when there is an L2 part).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from lossmath.linear_model._solvers._common import SolverResult, initial_coef, l1_l2
from lossmath.linear_model._solvers._kinked import is_kinked, solve_kinked
from lossmath.linear_model._solvers._proximal import cd, fista
from lossmath.linear_model._solvers._scaled import ScaledObjective
from lossmath.linear_model._solvers._smooth import gd, lbfgs, lstsq, newton

__all__ = ["SOLVERS", "SolverResult", "choose_solver", "solve"]

_FUNCS = {"lstsq": lstsq, "newton": newton, "lbfgs": lbfgs, "gd": gd, "fista": fista, "cd": cd}
#: Solvers run in column-scaled coordinates (a smooth penalty: the change of
#: variables keeps the penalty an ordinary, per-column ridge).
_SCALED = frozenset({"lstsq", "newton", "lbfgs", "gd"})
#: Names accepted by :func:`solve` besides ``"auto"``.
SOLVERS = tuple(_FUNCS)
#: ``auto`` picks newton up to this many coefficients (a dense Hessian), lbfgs beyond.
NEWTON_MAX_COEF = 2000
#: ``auto`` on a multinomial: L-BFGS for at most this many iterations, then Newton
#: from its point while ``n · n_coef²`` (the flops of one Hessian) is at most
#: NEWTON_MULTI_WORK and n_coef at most NEWTON_MAX_COEF.
AUTO_LBFGS_ITER = 200
NEWTON_MULTI_WORK = 1e9
#: ... and polishes a converged L-BFGS result with Newton up to this ``n · n_coef²``.
NEWTON_POLISH_WORK = 1e8


def choose_solver(objective) -> str:
    """What ``solver="auto"`` uses for ``objective``."""
    loss = objective.loss
    if is_kinked(loss):
        return "interior_point" if l1_l2(objective)[1] == 0 else "smoothing"
    if not objective.penalty.is_smooth:
        return "cd"
    if loss.name == "squared_error":
        return "lstsq"
    # Newton's Hessian costs n (K p)² per step: for K > 1 scores (multinomial) its K²
    # blocks make it ~10× slower than L-BFGS on bench_glm's K = 10 problems, where
    # L-BFGS converges in 20–30 iterations. Where L-BFGS has not converged after
    # AUTO_LBFGS_ITER iterations (load_digits: 1,000 did not reach tol=1e-8) and
    # a Hessian is affordable (NEWTON_MULTI_WORK), solve() goes on with Newton from
    # its point (see _lbfgs_then_newton). Convex
    # C¹ losses with a piecewise-continuous ℓ'' (huber, squared_hinge; the kinked
    # ones were handled above) get Newton too, on the generalised Hessian
    # (semismooth Newton): L-BFGS stalled above tol=1e-8 on them where Newton
    # converged in 1–9 steps to 1e-15 (iris, breast cancer, make_classification).
    if loss.is_convex and objective.n_scores == 1 and objective.n_coef <= NEWTON_MAX_COEF:
        return "newton"
    return "lbfgs"


def solve(
    objective,
    solver: str = "auto",
    *,
    tol: float = 1e-8,
    max_iter: int = 1000,
    coef0: np.ndarray | None = None,
    verbose: int = 0,
) -> SolverResult:
    """Minimise ``objective`` (a :class:`GLMObjective`).

    Parameters
    ----------
    objective : GLMObjective
    solver : {"auto", "lstsq", "newton", "lbfgs", "gd", "fista", "cd"}
        ``auto``: squared error + smooth penalty → lstsq; a convex scalar loss
        (C², or C¹ as huber and squared_hinge: semismooth Newton) with a smooth
        penalty and at most 2000 coefficients → newton; other smooth penalties
        (the multinomial included) → lbfgs, which hands over to newton after 200
        iterations without convergence where ``n · n_coef² ≤ 1e9``
        (``SolverResult.solver`` is then ``"lbfgs+newton"``); an L1 part → cd.
        Piecewise-linear losses always use the exact method of :mod:`._kinked`
        (reported in ``SolverResult.solver``).
    tol : float, default 1e-8
        Stop when the relative KKT residual (max-norm of the minimum-norm
        subgradient, each entry divided by its column's root mean square and the
        size of the per-sample gradient; see :mod:`._common`) is at most ``tol``.
    max_iter : int, default 1000
        Outer iterations.
    coef0 : ndarray of shape (n_coef,), optional
        Warm start; default zeros with the intercept-only optimum as intercept.
    verbose : int, default 0
        Print progress when positive.

    Returns
    -------
    SolverResult

    Raises
    ------
    ValueError
        For an unknown solver, or one that cannot handle the loss / penalty
        (lstsq needs squared error and a smooth penalty; newton, lbfgs and gd need
        a smooth penalty).
    """
    if solver != "auto" and solver not in _FUNCS:
        raise ValueError(f"solve: unknown solver {solver!r}; use 'auto' or one of {SOLVERS}")
    if not tol > 0:
        raise ValueError(f"solve: tol must be > 0; got {tol!r}")
    if int(max_iter) != max_iter or max_iter < 0:
        raise ValueError(f"solve: max_iter must be a non-negative integer; got {max_iter!r}")
    max_iter = int(max_iter)
    loss = objective.loss
    if is_kinked(loss):
        return solve_kinked(objective, solver, tol, max_iter, coef0, verbose)
    name = choose_solver(objective) if solver == "auto" else solver
    smooth_penalty = objective.penalty.is_smooth
    if name == "lstsq" and (loss.name != "squared_error" or not smooth_penalty):
        raise ValueError(
            "solve: solver='lstsq' needs the squared_error loss and an L2 penalty; "
            f"got loss {loss.name!r}, l1_ratio={objective.penalty.l1_ratio}. "
            "Use 'newton' or 'lbfgs' (or 'cd' / 'fista' for an L1 part)."
        )
    if name in ("newton", "lbfgs", "gd") and not smooth_penalty:
        raise ValueError(
            f"solve: solver={name!r} needs a smooth penalty but the penalty has an L1 "
            f"part (alpha·l1_ratio = {l1_l2(objective)[0]}); use 'cd' or 'fista'"
        )
    coef = initial_coef(objective, coef0)
    if solver == "auto" and name == "lbfgs" and _newton_affordable(objective):
        return _lbfgs_then_newton(objective, coef, float(tol), max_iter, verbose)
    return _run(name, objective, coef, float(tol), max_iter, verbose)


def _newton_affordable(objective) -> bool:
    return (
        objective.loss.is_convex
        and objective.n_coef <= NEWTON_MAX_COEF
        and objective.n_samples * objective.n_coef**2 <= NEWTON_MULTI_WORK
    )


def _lbfgs_then_newton(objective, coef, tol, max_iter, verbose) -> SolverResult:
    """``auto`` for a multinomial: L-BFGS, then Newton where it has not converged."""
    first = _run("lbfgs", objective, coef, tol, min(max_iter, AUTO_LBFGS_ITER), verbose)
    left = max_iter - first.n_iter
    small = objective.n_samples * objective.n_coef**2 <= NEWTON_POLISH_WORK
    if left <= 0 or (first.converged and not small):
        return first
    # Not converged: Newton finishes. Converged on a small problem: Newton polishes
    # (L-BFGS's coefficients are accurate to tol times the condition number; anes96
    # 2.7e-6 against Stata's, 6e-7 after one or two Newton steps).
    inner = tol * 1e-4 if first.converged else tol
    second = _run(
        "newton", objective, first.coef, inner, min(left, 5) if first.converged else left, verbose
    )
    if first.converged and not second.kkt <= first.kkt:
        return first
    ok = second.kkt <= tol
    message = second.message if not first.converged else f"{first.message}; Newton polished"
    return replace(
        second,
        n_iter=first.n_iter + second.n_iter,
        converged=ok,
        solver="lbfgs+newton",
        message=message,
    )


def _run(name, objective, coef, tol, max_iter, verbose) -> SolverResult:
    if name in _SCALED:
        # Column-scaled coordinates (see ._scaled); the result is mapped back.
        scaled = ScaledObjective(objective)
        res = _FUNCS[name](scaled, scaled.from_user(coef), tol, max_iter, verbose)
        # A start that already met tol comes back exactly as given (v ↦ v / d
        # after coef ↦ coef d is not the identity in floating point).
        return replace(res, coef=coef if res.n_iter == 0 else scaled.to_user(res.coef))
    return _FUNCS[name](objective, coef, tol, max_iter, verbose)
