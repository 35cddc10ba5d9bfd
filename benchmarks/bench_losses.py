# Every closure below is timed within the loop iteration that defines it (each
# contender's closures have names of their own, as they are timed together).
# ruff: noqa: B023
"""Speed of lossmath's fused loss kernels against the peers a user would pick instead.

One process, median of several runs after a warm-up, for ``gradient_hessian`` and
``value_gradient``: lossmath (all CPUs, ``check_input=False`` as in a hot loop, and
with the default checks), scikit-learn's compiled ``sklearn._loss`` (``n_threads=2``),
PyTorch (closed form and autograd), JAX (``jit``: closed form and autodiff), naive
NumPy, and the memory-bandwidth floor (the fastest of several ways to read the inputs
once and write the outputs once, streaming stores on all CPUs among them). The
contenders of a row are timed in turn within each round (``interleaved_ms``): first
those writing into preallocated outputs (lossmath, scikit-learn, the floor), then
those allocating their results (NumPy, PyTorch, JAX).
The table prints lossmath's time and the ratios ``lossmath / other`` (below 1: lossmath
is faster), and the peak scratch memory of lossmath beyond its outputs (``tracemalloc``).

Usage::

    python benchmarks/bench_losses.py            # n = 10,000,000 (multinomial 1,000,000 x 10)
    python benchmarks/bench_losses.py --quick    # n / 10, under a minute

A second table times small and mid-sized inputs (1,000 to 50,000 scores) per call, in
one thread: there the Python around a kernel costs as much as the kernel.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc

import numpy as np

import lossmath
from lossmath.engine import threads

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")


#: Untimed pause before each timed call (seconds).
PAUSE_S = 0.05


def interleaved_ms(fns: dict, repeat: int) -> dict:
    """Median milliseconds of each callable, timed in turn within every round.

    This machine is shared: its memory bandwidth drifts by ±30 % over seconds. Taking
    one run of every contender per round exposes them all to the same drift, so the
    ratios are stable where the absolute times are not.
    """
    for fn in fns.values():
        fn()  # warm-up: compilation, page faults of the outputs, thread pools
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            # The previous contender's worker threads (OpenMP, XLA) spin for a while
            # after a call; let them go idle so that they do not slow this one.
            time.sleep(PAUSE_S)
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: 1e3 * statistics.median(ts) for name, ts in times.items()}


def peak_scratch_mb(fn) -> float:
    """Peak memory NumPy allocates during ``fn`` (the outputs are preallocated)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


# ----------------------------------------------------------------------- floor
def floor_runs(y, z, outs, n_threads):
    """Ways to read ``y`` and ``z`` once and write both outputs once; the floor is
    the fastest. NumPy in one thread; compiled loops on ``n_threads`` threads over
    the blocks lossmath uses, with plain and with streaming stores (which skip
    reading the output lines first: the fewest bytes that can move)."""
    import numba

    from lossmath.engine import threads
    from lossmath.engine.compiled.streaming import store_fence, stream_copy

    @numba.njit(nogil=True)
    def plain(y, z, a, b):
        k = z.shape[0] // y.shape[0]
        for i in range(y.shape[0]):
            yi = y[i]
            for j in range(i * k, (i + 1) * k):
                a[j] = z[j] + yi
                b[j] = 0.0

    @numba.njit(nogil=True)
    def streaming(y, z, a, b):
        k = z.shape[0] // y.shape[0]
        chunk = 128 * k
        sa, sb = np.zeros(chunk), np.zeros(chunk)
        for c0 in range(0, y.shape[0], 128):
            c = min(128, y.shape[0] - c0)
            zc = z[c0 * k : (c0 + c) * k]
            for i in range(c):
                yi = y[c0 + i]
                for j in range(i * k, (i + 1) * k):
                    sa[j] = zc[j] + yi
            stream_copy(a, c0 * k, sa, c * k)
            stream_copy(b, c0 * k, sb, c * k)
        store_fence()

    flat = [np.ravel(x) for x in (z, *outs)]
    yv = np.ascontiguousarray(y, dtype=z.dtype)
    k = z.size // y.shape[0]
    rows = threads.shared_block_rows(z, n_threads, scalar=z.ndim == 1)
    blocks = -(-y.shape[0] // rows)

    def threaded(loop):
        def work(i):
            r = slice(i * rows, (i + 1) * rows)
            e = slice(i * rows * k, (i + 1) * rows * k)
            loop(yv[r], flat[0][e], flat[1][e], flat[2][e])

        return lambda: threads.run_blocks(work, blocks, n_threads)

    yy = y if z.ndim == 1 else yv[:, None]
    return {
        "floor numpy": lambda: (np.add(yy, z, out=outs[1]), outs[0].fill(0.0)),
        "floor plain": threaded(plain),
        "floor streaming": threaded(streaming),
    }


# ----------------------------------------------------------------------- peers
def _sklearn(name):
    from sklearn._loss import loss as sk

    return {
        "logistic": sk.HalfBinomialLoss,
        "multinomial": sk.HalfMultinomialLoss,
        "squared_error": sk.HalfSquaredError,
        "huber": lambda: sk.HuberLoss(delta=1.0),
        "poisson": sk.HalfPoissonLoss,
    }[name]()


def _torch_forms(name, torch):
    """Closed-form ``(value, gradient, hessian)`` and the loss for autograd."""
    F = torch.nn.functional

    if name == "logistic":

        def closed(y, z):
            p = torch.sigmoid(z)
            return F.softplus(z) - y * z, p - y, p * (1 - p)

        def loss(y, z):
            return F.binary_cross_entropy_with_logits(z, y, reduction="none")
    elif name == "multinomial":

        def closed(y, z):
            p = torch.softmax(z, 1)
            return torch.logsumexp(z, 1) - (y * z).sum(1), p - y, p * (1 - p)

        def loss(y, z):
            return -(y * torch.log_softmax(z, 1)).sum(1)
    elif name == "squared_error":

        def closed(y, z):
            r = z - y
            return 0.5 * r * r, r, torch.ones_like(r)

        def loss(y, z):
            return 0.5 * (z - y) ** 2
    elif name == "huber":

        def closed(y, z):
            r = z - y
            inner = r.abs() <= 1.0
            v = torch.where(inner, 0.5 * r * r, r.abs() - 0.5)
            return v, torch.where(inner, r, r.sign()), inner.to(r.dtype)

        def loss(y, z):
            return F.huber_loss(z, y, reduction="none", delta=1.0)
    else:

        def closed(y, z):
            e = torch.exp(z)
            return e - y * z, e - y, e

        def loss(y, z):
            return torch.exp(z) - y * z

    return closed, loss


def _jax_forms(name, jnp, jax):
    if name == "logistic":

        def closed(y, z):
            p = jax.nn.sigmoid(z)
            return jax.nn.softplus(z) - y * z, p - y, p * (1 - p)

        def loss(y, z):
            return jax.nn.softplus(z) - y * z
    elif name == "multinomial":

        def closed(y, z):
            p = jax.nn.softmax(z, 1)
            return jax.nn.logsumexp(z, 1) - (y * z).sum(1), p - y, p * (1 - p)

        def loss(y, z):
            return -(y * jax.nn.log_softmax(z, 1)).sum(1)
    elif name == "squared_error":

        def closed(y, z):
            r = z - y
            return 0.5 * r * r, r, jnp.ones_like(r)

        def loss(y, z):
            return 0.5 * (z - y) ** 2
    elif name == "huber":

        def closed(y, z):
            r = z - y
            inner = jnp.abs(r) <= 1.0
            v = jnp.where(inner, 0.5 * r * r, jnp.abs(r) - 0.5)
            return v, jnp.where(inner, r, jnp.sign(r)), inner.astype(r.dtype)

        def loss(y, z):
            return jnp.where(jnp.abs(z - y) <= 1.0, 0.5 * (z - y) ** 2, jnp.abs(z - y) - 0.5)
    else:

        def closed(y, z):
            e = jnp.exp(z)
            return e - y * z, e - y, e

        def loss(y, z):
            return jnp.exp(z) - y * z

    return closed, loss


def _naive_numpy(name):
    """The textbook formulas, one full-size array per operation."""
    if name == "logistic":

        def f(y, z):
            p = 1 / (1 + np.exp(-z))
            return np.log1p(np.exp(z)) - y * z, p - y, p * (1 - p)
    elif name == "multinomial":

        def f(y, z):
            e = np.exp(z - z.max(1, keepdims=True))
            s = e.sum(1, keepdims=True)
            p = e / s
            return np.log(s[:, 0]) + z.max(1) - (y * z).sum(1), p - y, p * (1 - p)
    elif name == "squared_error":

        def f(y, z):
            r = z - y
            return 0.5 * r * r, r, np.ones_like(r)
    elif name == "huber":

        def f(y, z):
            r = z - y
            inner = np.abs(r) <= 1.0
            v = np.where(inner, 0.5 * r * r, np.abs(r) - 0.5)
            return v, np.where(inner, r, np.sign(r)), inner.astype(r.dtype)
    else:

        def f(y, z):
            e = np.exp(z)
            return e - y * z, e - y, e

    return f


# ----------------------------------------------------------------------- cases
def make_case(name, n, dtype, k=10, seed=0):
    rng = np.random.default_rng(seed)
    if name == "multinomial":
        z = rng.normal(0, 2, (n, k)).astype(dtype)
        labels = rng.integers(0, k, n)
        return labels.astype(dtype), z
    z = rng.normal(0, 2, n).astype(dtype)
    if name == "logistic":
        y = (rng.random(n) < 0.5).astype(dtype)
    elif name == "poisson":
        y = rng.poisson(2.0, n).astype(dtype)
    else:
        y = rng.normal(0, 2, n).astype(dtype)
    return y, z


def closed_form_contenders(name, method, y, z, y_rows, outs, peers, sk_threads):
    """The contenders both tables time for ``method``: lossmath (unchecked and
    checked), scikit-learn's compiled loss on ``sk_threads``, naive NumPy, and the
    closed forms of PyTorch and JAX. ``outs`` is ``(value, gradient, hessian)``."""
    loss = lossmath.get_loss(name)
    v_out, g_out, h_out = outs
    want_h = method == "gradient_hessian"
    fused_outs = (g_out, h_out) if want_h else (v_out, g_out)
    fused = getattr(loss, method)
    fns = {
        "lossmath": lambda: fused(y, z, check_input=False, out=fused_outs),
        "lossmath checked": lambda: fused(y, z, out=fused_outs),
    }
    if "sklearn" in peers:
        sk = _sklearn(name)
        yt = y.astype(np.float64) if z.ndim == 2 else y
        if want_h:
            fns["sklearn"] = lambda: sk.gradient_hessian(
                yt, z, gradient_out=g_out, hessian_out=h_out, n_threads=sk_threads
            )
        else:
            fns["sklearn"] = lambda: sk.loss_gradient(
                yt, z, loss_out=v_out, gradient_out=g_out, n_threads=sk_threads
            )
    naive = _naive_numpy(name)
    fns["numpy naive"] = lambda: naive(y_rows, z)
    if "torch" in peers:
        import torch

        t_closed, _ = _torch_forms(name, torch)
        ty, tz = torch.from_numpy(y_rows), torch.from_numpy(z)

        def torch_closed():
            with torch.no_grad():
                v, g, h = t_closed(ty, tz)
                return (g, h) if want_h else (v, g)

        fns["torch"] = torch_closed
    if "jax" in peers:
        import jax
        import jax.numpy as jnp

        j_closed, _ = _jax_forms(name, jnp, jax)
        jy, jz = jnp.asarray(y_rows), jnp.asarray(z)
        pick = slice(1, 3) if want_h else slice(0, 2)
        jc = jax.jit(lambda y, z: j_closed(y, z)[pick])
        fns["jax"] = lambda: jax.block_until_ready(jc(jy, jz))
    return fns


def bench_case(name, y, z, repeat, peers):
    """``{method: {column: ms}}`` and lossmath's peak scratch (MiB) per method."""
    loss = lossmath.get_loss(name)
    multi = z.ndim == 2
    y_rows = np.eye(z.shape[1], dtype=z.dtype)[y.astype(int)] if multi else y
    v_out = np.empty(z.shape[0], z.dtype)
    g_out, h_out = np.empty_like(z), np.empty_like(z)
    n_threads = os.cpu_count() or 1
    results, scratch = {}, {}
    for method, outs in (("gradient_hessian", (g_out, h_out)), ("value_gradient", (v_out, g_out))):
        want_h = method == "gradient_hessian"
        fused = getattr(loss, method)
        fns = closed_form_contenders(name, method, y, z, y_rows, (v_out, g_out, h_out), peers, 2)
        # Floor: read y and z once, write two outputs of z's shape once.
        fns.update(floor_runs(y, z, (g_out, h_out), n_threads))
        # Autodiff: the multinomial's Hessian diagonal needs K backward passes; no row.
        if "torch" in peers and not (multi and want_h):
            import torch

            _, t_loss = _torch_forms(name, torch)
            ty, tz = torch.from_numpy(y_rows), torch.from_numpy(z)

            def torch_autograd():
                zz = tz.detach().requires_grad_(True)
                val = t_loss(ty, zz)
                (g,) = torch.autograd.grad(val.sum(), zz, create_graph=want_h)
                if want_h:
                    (h,) = torch.autograd.grad(g.sum(), zz)
                    return g, h
                return val, g

            fns["torch autograd"] = torch_autograd
        if "jax" in peers and not (multi and want_h):
            import jax
            import jax.numpy as jnp

            _, j_loss = _jax_forms(name, jnp, jax)
            jy, jz = jnp.asarray(y_rows), jnp.asarray(z)
            if want_h:
                grad = jax.grad(lambda z, y: j_loss(y, z).sum())
                hdiag = jax.grad(lambda z, y: grad(z, y).sum())
                jd = jax.jit(lambda y, z: (grad(z, y), hdiag(z, y)))
            else:
                jd = jax.jit(lambda y, z: jax.value_and_grad(lambda z: j_loss(y, z).sum())(z))
            fns["jax autodiff"] = lambda: jax.block_until_ready(jd(jy, jz))
        # Contenders writing into preallocated outputs are timed together, those
        # that allocate their results (hundreds of MB a call, which the system then
        # reclaims) apart: their page churn slowed whoever ran next by up to 1.5x.
        allocating = {k: fns.pop(k) for k in list(fns) if k.startswith(("numpy", "torch", "jax"))}
        row = interleaved_ms(fns, repeat) | interleaved_ms(allocating, repeat)
        # After the timing, which compiled everything: only the call's own memory.
        scratch[method] = peak_scratch_mb(lambda: fused(y, z, check_input=False, out=outs))
        row["floor"] = min(row.pop(f"floor {kind}") for kind in ("numpy", "plain", "streaming"))
        results[method] = row
    return results, scratch


COLUMNS = ["sklearn", "torch", "jax", "torch autograd", "jax autodiff", "numpy naive", "floor"]


# ------------------------------------------------------------------ small inputs
#: Sizes of the per-call table: where a solver or a boosting round on a small or
#: mid-sized data set spends its time in Python around the kernels.
SMALL_SIZES = (100, 1_000, 10_000, 50_000)
SMALL_CASES = ("logistic", "squared_error", "poisson", "multinomial")
SMALL_COLUMNS = ["sklearn", "torch", "jax", "numpy naive"]


def per_call_us(fns: dict, calls: int, repeat: int) -> dict:
    """Median over ``repeat`` rounds of the mean microseconds of ``calls`` calls."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - t) / calls)
    return {name: 1e6 * statistics.median(ts) for name, ts in times.items()}


def bench_small(name, n, repeat, peers, budget=2_000_000):
    """``{method: {column: µs}}`` for one small case, every contender in one thread.

    Small inputs are evaluated in the calling thread by every library (scikit-learn
    with ``n_threads=1``, its default); PyTorch and JAX are left to their own
    thread pools, which they do not use at these sizes. Each timing is of
    ``budget / n`` calls (at least 10, at most 5,000).
    """
    y, z = make_case(name, n // 10 if name == "multinomial" else n, np.float64)
    multi = z.ndim == 2
    y_rows = np.eye(z.shape[1], dtype=z.dtype)[y.astype(int)] if multi else y
    v_out = np.empty(z.shape[0], z.dtype)
    g_out, h_out = np.empty_like(z), np.empty_like(z)
    calls = max(10, min(budget // n, 5_000))
    results = {}
    for method in ("gradient_hessian", "value_gradient"):
        fns = closed_form_contenders(name, method, y, z, y_rows, (v_out, g_out, h_out), peers, 1)
        results[method] = per_call_us(fns, calls, repeat)
    return results, z.shape


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n / 10 and 3 runs (< 1 minute)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per cell")
    parser.add_argument(
        "--cases", nargs="+", default=None, metavar="LOSS", help="only these losses' rows"
    )
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    repeat = args.repeat or (3 if args.quick else 7)
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        peers = {"sklearn", "torch", "jax"}
    except ImportError:
        peers = {"sklearn", "torch"}
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        peers.discard("torch")
    cases = [
        ("logistic", 10_000_000, np.float64),
        ("logistic", 10_000_000, np.float32),
        ("multinomial", 1_000_000, np.float64),
        ("squared_error", 10_000_000, np.float64),
        ("huber", 10_000_000, np.float64),
        ("poisson", 10_000_000, np.float64),
    ]
    if args.cases:
        cases = [c for c in cases if c[0] in args.cases]
    print(
        f"lossmath {lossmath.__version__}, NumPy {np.__version__}, {os.cpu_count()} CPUs; "
        f"median of {repeat} runs; ratios are lossmath / other (< 1: lossmath faster)"
    )
    head = f"{'case':<36}{'method':<18}{'lossmath':>9}{'checked':>9}"
    head += "".join(f"{c:>15}" for c in COLUMNS) + f"{'scratch':>9}"
    print(head)
    for name, n, dtype in cases:
        n //= scale
        y, z = make_case(name, n, dtype)
        label = f"{name} {np.dtype(dtype).name} n={n:,}" + (f"x{z.shape[1]}" if z.ndim == 2 else "")
        results, scratch = bench_case(name, y, z, repeat, peers)
        for method, row in results.items():
            lm = row["lossmath"]
            line = f"{label:<36}{method:<18}{lm:>7.1f}ms{row['lossmath checked'] / lm:>8.2f}x"
            for c in COLUMNS:
                line += f"{lm / row[c]:>15.2f}" if c in row else f"{'—':>15}"
            print(line + f"{scratch[method]:>7.1f}MB", flush=True)
    small = [c for c in SMALL_CASES if not args.cases or c in args.cases]
    if not small:
        return
    print(
        "\nSmall inputs: microseconds per call, float64, one thread (below "
        f"{threads.JIT_BLOCK_ELEMENTS:,} elements every library stays in the "
        "calling thread); ratios lossmath / other"
    )
    head = f"{'case':<36}{'method':<18}{'lossmath':>9}{'checked':>9}"
    print(head + "".join(f"{c:>15}" for c in SMALL_COLUMNS))
    for name in small:
        for n in SMALL_SIZES:
            budget = 500_000 if args.quick else 2_000_000
            results, shape = bench_small(name, n, max(3, repeat), peers, budget)
            label = f"{name} n={shape[0]:,}" + (f"x{shape[1]}" if len(shape) == 2 else "")
            for method, row in results.items():
                lm = row["lossmath"]
                line = f"{label:<36}{method:<18}{lm:>7.1f}us{row['lossmath checked'] / lm:>8.2f}x"
                for c in SMALL_COLUMNS:
                    line += f"{lm / row[c]:>15.2f}" if c in row else f"{'—':>15}"
                print(line, flush=True)


if __name__ == "__main__":
    main()
