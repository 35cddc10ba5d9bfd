"""lossmath's deep-learning losses against the frameworks' own, with autograd.

PyTorch part (``torch_table``): for each loss, in one process, the median time of

* forward + backward: ``loss(z, y)`` (mean) then ``backward()``;
* the Hessian diagonal by double backward: ``g = grad(Σℓ, z, create_graph=True)``
  then ``grad(Σg, z)`` (multinomial: one ``H v``, what one double backward gives);

for ``lossmath.torch`` and torch.nn's loss (``BCEWithLogitsLoss``,
``PoissonNLLLoss(log_input=True)``, ``CrossEntropyLoss``, and focal as
``torchvision.ops.sigmoid_focal_loss`` — imported when installed, else the same
formula written out), both differentiated by autograd. Ratios are
``lossmath / torch.nn`` (below 1: lossmath is faster). Peak memory is the growth
of the process's peak resident set during a run beyond its inputs, measured in a
fresh subprocess per contender (``--memory``).

The contenders of a row are timed in turn within each round so that the drift of
a shared machine hits them alike. A ``jax_table`` may sit next to ``torch_table``
in this file (its own functions).

Usage::

    python benchmarks/bench_torch_jax.py            # n = 10,000,000; multinomial 1,000,000 x 10
    python benchmarks/bench_torch_jax.py --quick    # sizes / 10
    python benchmarks/bench_torch_jax.py --memory   # also peak memory (subprocesses)
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

PAUSE_S = 0.05


def _median_ms(fns: dict, repeat: int) -> dict:
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            time.sleep(PAUSE_S)
            t0 = time.perf_counter()
            fn()
            times[name].append(1e3 * (time.perf_counter() - t0))
    return {name: statistics.median(t) for name, t in times.items()}


# ------------------------------------------------------------------- PyTorch
def _torch_focal():
    try:
        from torchvision.ops import sigmoid_focal_loss

        return sigmoid_focal_loss, "torchvision"
    except ImportError:
        import torch
        import torch.nn.functional as F

        def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
            # torchvision.ops.sigmoid_focal_loss (0.20), line for line.
            p = torch.sigmoid(inputs)
            ce = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
            p_t = p * targets + (1 - p) * (1 - targets)
            loss = ce * ((1 - p_t) ** gamma)
            if alpha >= 0:
                alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
                loss = alpha_t * loss
            return loss.mean() if reduction == "mean" else loss

        return sigmoid_focal_loss, "formula"


def torch_cases(scale: float, dtype: str):
    """``{case: (z, y, lossmath fn, torch.nn fn)}``; each fn maps ``(z, y)`` to a 0-d mean."""
    import torch
    import torch.nn.functional as F

    import lossmath.torch as lmt

    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    n = int(10_000_000 * scale)
    m = int(1_000_000 * scale)
    z = 3 * torch.randn(n, generator=g, dtype=dt)
    labels = (torch.rand(n, generator=g) < 0.5).to(dt)
    counts = torch.poisson(torch.full((n,), 2.0), generator=g).to(dt)
    zk = 3 * torch.randn(m, 10, generator=g, dtype=dt)
    yk = torch.randint(0, 10, (m,), generator=g)
    focal, focal_name = _torch_focal()
    crit = {
        "logistic": lmt.Loss("logistic", check_input=False),
        "poisson": lmt.Loss("poisson", check_input=False),
        "multinomial": lmt.Loss("multinomial", check_input=False),
        "focal": lmt.Loss("focal", gamma=2.0, alpha=0.25, check_input=False),
    }
    return {
        "logistic": (z, labels, crit["logistic"], F.binary_cross_entropy_with_logits),
        "poisson": (
            z,
            counts,
            crit["poisson"],
            lambda z, y: F.poisson_nll_loss(z, y, log_input=True, full=False),
        ),
        "multinomial": (zk, yk, crit["multinomial"], F.cross_entropy),
        "focal": (
            z,
            labels,
            crit["focal"],
            lambda z, y: focal(z, y, alpha=0.25, gamma=2.0, reduction="mean"),
        ),
    }, focal_name


def _torch_runs(z, y, fn):
    import torch

    def fwd_bwd():
        zz = z.detach().requires_grad_(True)
        fn(zz, y).backward()
        return zz.grad

    def hessian():
        zz = z.detach().requires_grad_(True)
        (gr,) = torch.autograd.grad(fn(zz, y) * zz.shape[0], zz, create_graph=True)
        (h,) = torch.autograd.grad(gr.sum(), zz)
        return h

    return fwd_bwd, hessian


def torch_table(scale: float, repeat: int, dtype: str, threads: int | None) -> list[dict]:
    import torch

    if threads:
        torch.set_num_threads(threads)
    cases, focal_name = torch_cases(scale, dtype)
    rows = []
    for name, (z, y, ours, theirs) in cases.items():
        ours_fb, ours_h = _torch_runs(z, y, ours)
        nn_fb, nn_h = _torch_runs(z, y, theirs)
        t = _median_ms({"ours_fb": ours_fb, "nn_fb": nn_fb}, repeat)
        t.update(_median_ms({"ours_h": ours_h, "nn_h": nn_h}, repeat))
        rows.append({"loss": name, "shape": tuple(z.shape), **t})
        print(
            f"| {name} {tuple(z.shape)} | {t['ours_fb']:.0f} | {t['nn_fb']:.0f} | "
            f"{t['ours_fb'] / t['nn_fb']:.2f} | {t['ours_h']:.0f} | {t['nn_h']:.0f} | "
            f"{t['nn_h'] / t['ours_h']:.2f}× |",
            flush=True,
        )
    print(f"(focal's torch.nn column: torchvision's sigmoid_focal_loss, {focal_name})")
    return rows


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def measure_peak(case: str, which: str, what: str, scale: float, dtype: str) -> float:
    """In this process: peak resident-set growth (MiB) of one run beyond the inputs
    (Linux: the peak, VmHWM, is reset through /proc/self/clear_refs after a warm-up)."""
    import gc

    cases, _ = torch_cases(scale, dtype)
    z, y, ours, nn = cases[case]
    del cases
    fb, h = _torch_runs(z, y, ours if which == "ours" else nn)
    run = fb if what == "fb" else h
    run()  # warm-up: compiled loops, thread pools
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status_kib("VmRSS")
    run()
    return (_status_kib("VmHWM") - base) / 1024


def _peak_mib(case: str, which: str, what: str, scale: float, dtype: str) -> float:
    """:func:`measure_peak` in a fresh process."""
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks');"
        "import bench_torch_jax as b;"
        f"print(json.dumps(b.measure_peak({case!r}, {which!r}, {what!r}, {scale}, {dtype!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def torch_memory(scale: float, dtype: str) -> None:
    for case in ("logistic", "poisson", "multinomial", "focal"):
        cells = [
            _peak_mib(case, which, what, scale, dtype)
            for what in ("fb", "h")
            for which in ("ours", "nn")
        ]
        print(f"| {case} | " + " | ".join(f"{c:.0f}" for c in cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes / 10")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--memory", action="store_true", help="peak memory, subprocesses")
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    print(f"PyTorch, {args.dtype}, median of {args.repeat} (ms)")
    print(
        "| loss | fwd+bwd lossmath | fwd+bwd torch.nn | ratio | Hessian lossmath | "
        "Hessian torch.nn (autograd) | speed-up |"
    )
    print("|---|---|---|---|---|---|---|")
    rows = torch_table(scale, args.repeat, args.dtype, args.threads)
    if args.memory:
        print(
            "\nPeak memory growth (MiB): fwd+bwd lossmath | torch.nn | Hessian lossmath | torch.nn"
        )
        torch_memory(scale, args.dtype)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    print(f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
