"""lossmath.jax against optax under ``jit``: forward + backward and the Hessian diagonal.

For each loss, two compiled functions of the logits ``z``:

* forward + backward: ``jax.value_and_grad`` of the summed loss;
* the Hessian diagonal: a JVP of the gradient with a vector of ones (exact for
  elementwise losses); for the multinomial, whose Hessian is not diagonal, a
  Hessian-vector product ``H v`` with a random ``v`` instead.

lossmath's derivatives are its closed-form formulas (``custom_jvp``); optax's
(or, for Poisson, which optax lacks, the textbook ``eᶻ − y z``) are autodiff
through the value's formula. Times are the best of ``--repeat`` runs after one
warm-up (compilation excluded), the two libraries' runs interleaved.

Usage: ``python benchmarks/bench_jax.py [--n 10000000] [--n-multi 1000000]
[--classes 10] [--repeat 5] [--float64] [--no-ynn]``.
"""

from __future__ import annotations

import argparse
import time


def _best_pair(a, b, x, y, repeat: int) -> tuple[float, float]:
    """Best times of ``a(x, y)`` and ``b(x, y)`` in seconds, the runs interleaved so that a
    busy machine's load falls on both alike."""
    import jax

    jax.block_until_ready(a(x, y))  # compile and warm up
    jax.block_until_ready(b(x, y))
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, fn in enumerate((a, b)):
            t0 = time.perf_counter()
            jax.block_until_ready(fn(x, y))
            best[i] = min(best[i], time.perf_counter() - t0)
    return best[0], best[1]


def _compiled(loss_fn, tangent, options):
    """``(forward + backward, Hessian diagonal or H v)`` of ``z ↦ Σ loss_fn(z, y)``,
    jitted with the targets ``y`` an argument (a closed-over array would be a
    constant that XLA folds at compile time)."""
    import jax
    import jax.numpy as jnp

    def total(z, y):
        return jnp.sum(loss_fn(z, y))

    def second(z, y):
        return jax.jvp(lambda t: jax.grad(total)(t, y), (z,), (tangent(z),))[1]

    fb = jax.jit(jax.value_and_grad(total), compiler_options=options)
    return fb, jax.jit(second, compiler_options=options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000, help="samples, scalar losses")
    parser.add_argument("--n-multi", type=int, default=1_000_000, help="rows, multinomial")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--float64", action="store_true", help="x64 instead of float32")
    parser.add_argument(
        "--no-ynn",
        action="store_true",
        help="compile both libraries without XLA's experimental YNNPACK CPU fusions",
    )
    args = parser.parse_args()

    import jax

    if args.float64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    import optax

    import lossmath.jax as lmj

    dtype = jnp.float64 if args.float64 else jnp.float32
    # XLA's CPU backend hands row reductions to YNNPACK fusions, which are slow on
    # short rows (K = 10): the softmax's row max then costs several times its loop.
    options = {"xla_cpu_experimental_ynn_fusion_type": ""} if args.no_ynn else None
    rng = np.random.default_rng(0)
    n, m, k = args.n, args.n_multi, args.classes
    z = jnp.asarray(rng.normal(0, 3, n), dtype)
    labels = jnp.asarray(rng.integers(0, 2, n), dtype)
    counts = jnp.asarray(rng.poisson(2.0, n), dtype)
    rows = jnp.asarray(rng.normal(0, 3, (m, k)), dtype)
    classes = jnp.asarray(rng.integers(0, k, m))
    v_rows = jnp.asarray(rng.normal(0, 1, (m, k)), dtype)

    def ones(x):
        return jnp.ones_like(x)

    def random_v(_):
        return v_rows

    cases = [
        (
            "logistic",
            n,
            lambda x, t: lmj.loss("logistic", x, t),
            lambda x, t: optax.sigmoid_binary_cross_entropy(x, t),
            "optax.sigmoid_binary_cross_entropy",
            z,
            labels,
            ones,
        ),
        (
            "poisson",
            n,
            lambda x, t: lmj.loss("poisson", x, t),
            lambda x, t: jnp.exp(x) - t * x,
            "exp(z) - y z (optax has none)",
            z,
            counts,
            ones,
        ),
        (
            "focal",
            n,
            lambda x, t: lmj.loss("focal", x, t, gamma=2.0),
            lambda x, t: optax.sigmoid_focal_loss(x, t, gamma=2.0),
            "optax.sigmoid_focal_loss",
            z,
            labels,
            ones,
        ),
        (
            f"multinomial K={k}",
            m,
            lambda x, t: lmj.loss("multinomial", x, t),
            lambda x, t: optax.softmax_cross_entropy_with_integer_labels(x, t),
            "optax.softmax_cross_entropy_with_integer_labels",
            rows,
            classes,
            random_v,
        ),
    ]
    print(
        f"jax {jax.__version__}, optax {optax.__version__}, {jax.devices()[0]}, "
        f"{dtype.__name__}{', no YNNPACK fusions' if args.no_ynn else ''}"
    )
    header = (
        f"{'loss':18s} {'n':>10s} {'what':14s} {'lossmath ms':>12s} {'optax ms':>10s} {'ratio':>6s}"
    )
    print(header)
    for name, size, ours, theirs, label, x, y, tangent in cases:
        ours_fb, ours_h = _compiled(ours, tangent, options)
        theirs_fb, theirs_h = _compiled(theirs, tangent, options)
        what_h = "H v" if name.startswith("multinomial") else "Hessian diag"
        for what, a, b in (("fwd+bwd", ours_fb, theirs_fb), (what_h, ours_h, theirs_h)):
            ta, tb = (t * 1e3 for t in _best_pair(a, b, x, y, args.repeat))
            print(f"{name:18s} {size:10d} {what:14s} {ta:12.1f} {tb:10.1f} {ta / tb:6.2f}")
        print(f"{'':18s} {'':10s} vs {label}")


if __name__ == "__main__":
    main()
