"""``lossmath losses`` (the catalogue) and ``lossmath check`` (every derivative, live)."""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import lossmath
from lossmath.losses import available, get_loss

__all__ = ["add_catalogue_parsers"]


def _losses_table() -> Table:
    table = Table(title="lossmath loss catalogue")
    for col in ("name", "link", "distribution", "convex", "smooth", "canonical", "Hessian bound"):
        table.add_column(col, justify="right" if col == "Hessian bound" else "left")
    for name in available():
        loss = get_loss(name)
        bound = loss.hessian_bound
        table.add_row(
            name,
            loss.link.name,
            loss.distribution or "—",
            _yes(loss.is_convex),
            _yes(loss.is_smooth),
            _yes(loss.canonical_link),
            "∞" if math.isinf(bound) else f"{bound:.4g}",
        )
    return table


def _label(loss) -> str:
    """``huber(delta=0.25)``: the name and the parameters that differ from the defaults."""
    import dataclasses

    changed = [
        f"{f.name}={getattr(loss, f.name)!r}"
        for f in dataclasses.fields(loss)
        if getattr(loss, f.name) != f.default
    ]
    return f"{loss.name}({', '.join(changed)})" if changed else loss.name


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _cmd_losses(args: argparse.Namespace, console: Console) -> int:
    console.print(_losses_table())
    return 0


def _fmt(err: float, limit: float, unit: str = "") -> str:
    text = f"{err:.3g}{unit}" if err < 1e4 else f"{err:.2e}{unit}"
    return text if err <= limit else f"[bold red]{text}[/]"


def _cmd_check(args: argparse.Namespace, console: Console) -> int:
    from lossmath.checking import FD_TOLERANCE, ULP_TOLERANCE, check_loss, loss_cases

    unknown = sorted(set(args.losses) - set(available()))
    if unknown:
        console.print(
            f"[red]unknown loss(es): {', '.join(unknown)}; available: {', '.join(available())}[/]"
        )
        return 2
    cases = loss_cases(args.losses or None)
    dtypes = [args.dtype] if args.dtype else ["float64", "float32"]
    table = Table(
        title=f"lossmath {lossmath.__version__} derivative check: worst error vs mpmath "
        f"(400 digits) in ulps, and vs finite differences (relative)",
        caption=f"pass: ≤ {ULP_TOLERANCE:g} ulp and ≤ {FD_TOLERANCE:g} relative",
    )
    for col in (
        "loss",
        "dtype",
        "value ulp",
        "gradient ulp",
        "Hessian ulp",
        "FD gradient",
        "FD Hessian",
        "status",
    ):
        table.add_column(
            col, justify="left" if col in ("loss", "dtype") else "right", no_wrap=col == "loss"
        )
    failed = 0
    start = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("checking", total=len(cases) * len(dtypes))
        for loss in cases:
            for dtype in dtypes:
                progress.update(task, description=f"{loss!r} {dtype}")
                res = check_loss(loss, np.dtype(dtype), n_random=args.points, seed=args.seed)
                failed += not res.passed
                table.add_row(
                    _label(loss),
                    dtype,
                    *(_fmt(res.ulp[q], ULP_TOLERANCE) for q in ("value", "gradient", "hessian")),
                    *(_fmt(res.fd[q], FD_TOLERANCE) for q in ("gradient", "hessian")),
                    "[green]pass[/]" if res.passed else "[bold red]FAIL[/]",
                )
                progress.advance(task)
    console.print(table)
    total = len(cases) * len(dtypes)
    verdict = "[green]all passed[/]" if not failed else f"[bold red]{failed} failed[/]"
    console.print(f"{total} checks in {time.perf_counter() - start:.1f} s: {verdict}")
    return 1 if failed else 0


def add_catalogue_parsers(sub) -> None:
    p = sub.add_parser("losses", help="list the loss catalogue")
    p.set_defaults(run=_cmd_losses)
    p = sub.add_parser(
        "check",
        help="check every derivative against mpmath and finite differences",
        description="Check value, gradient and Hessian of the named losses (all by default) "
        "against mpmath at 400 digits — at extreme and random points — and against "
        "finite differences. Exits 1 if any check fails.",
    )
    p.add_argument("losses", nargs="*", metavar="LOSS", help="loss names (default: all)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="default: both")
    p.add_argument("--points", type=int, default=200, help="random points per case (default 200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(run=_cmd_check)
