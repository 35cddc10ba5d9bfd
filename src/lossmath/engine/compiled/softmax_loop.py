"""The compiled row loop of the softmax cross-entropy (``Multinomial``).

Its kernel works on whole ``(n, K)`` arrays with row reductions, which do not
compile to a per-sample loop as the scalar kernels do. The loops below do the
row reductions themselves — the max ``m`` and the (first) argmax, ``R =
Σ_{j≠argmax} e_j`` and ``ā = Σ_k a_k``, in the order of NumPy's pairwise sum of a
row (:func:`_row_sums`) — and call the loss's own per-class formulas compiled on
scalars. The loss hands them over (``Multinomial._row_formulas``: ``exp_gap``,
``complement``, ``target_weight``, ``class_weight_at``, ``class_terms``,
``hvp_terms``); this module imports no loss.

Speed: rows are taken a chunk of about ``CHUNK_SCORES`` scores at a time and
every per-class formula runs as one flat loop over the chunk's scores, with the
row quantities spread out beside them, so the compiler vectorises ``exp`` and the
divisions across rows (a loop over the ``K = 10`` classes of one row vectorises
poorly: ``exp`` alone cost 2 ns per score that way, 0.8 ns flat). The row helpers
and :func:`_row_parts` are compiled functions of their own, called once a chunk,
not inlined into the loop at numba's level: LLVM then optimises each on its own,
and the loops ran 6-16 % faster (K = 10, one thread), their compile 15-50 %
shorter. ``z``, ``v`` and the outputs must be C-contiguous; the caller sees to it.
"""

from __future__ import annotations

import numba
import numpy as np

from lossmath.engine.compiled import scalar_namespace
from lossmath.engine.compiled.functions import OPTIONS, compiled_function, nonfinite, weighted

__all__ = ["hvp_loop", "kernel_loop"]


#: Scores per chunk (``rows · K``, at least one row): a dozen scratch arrays of
#: this many float64 (120 KiB) stay in L2. Measured per score, one thread,
#: ``gradient_hessian``, against 16 rows a chunk: 3.5 against 4.1 ns (K = 10), 5.9
#: against 7.5 (K = 3), 3.6 both (K = 100); 160-640 scores were slower, 2560 the same.
CHUNK_SCORES = 1280


@numba.njit(inline="always", **OPTIONS)
def _chunk_rows(n, k):
    """Rows per chunk for ``K = k`` classes: no more than the ``n`` rows there are
    (the scratch arrays of a few rows cost less to allocate and fill)."""
    return max(1, min(CHUNK_SCORES // k, n))


# The row helpers take a whole chunk of rows per call: one call a chunk, not a row.


@numba.njit(**OPTIONS)
def _max_argmax(z, c0, c, row_max, arg):
    """``row_max[r], arg[r]``: max and first argmax of row ``c0 + r``, as NumPy's."""
    for r in range(c):
        i = c0 + r
        m = np.float64(z[i, 0])
        a = 0
        for j in range(1, z.shape[1]):
            if z[i, j] > m:
                m = np.float64(z[i, j])
                a = j
        row_max[r] = m
        arg[r] = a


@numba.njit(**OPTIONS)
def _spread(row_values, c, k, out):
    """``out[r k + j] = row_values[r]`` for the ``c`` rows of a chunk, ``j < k``.

    Unsigned indices: with signed ones the compiler cannot rule out a negative
    index and its wrap-around, and stored a row with a scatter or one element at
    a time (19 % of the multinomial's time, measured with perf)."""
    uk = np.uint64(k)
    for r in range(c):
        value = row_values[r]
        start = np.uint64(r) * uk
        for j in range(uk):
            out[start + j] = value


@numba.njit(**OPTIONS)
def _row_sums(x, c, k, out):
    """``out[r] = Σ x[r k : (r + 1) k]`` for the ``c`` rows of a chunk, each in the
    order of NumPy's pairwise sum of a short contiguous row: eight interleaved
    partial sums (independent additions run in parallel) combined as a tree, then
    the remainder; left to right below eight."""
    for row in range(c):
        start = row * k
        if k < 8:
            total = 0.0
            for j in range(start, start + k):
                total += x[j]
            out[row] = total
            continue
        r0, r1, r2, r3 = x[start], x[start + 1], x[start + 2], x[start + 3]
        r4, r5, r6, r7 = x[start + 4], x[start + 5], x[start + 6], x[start + 7]
        top = start + k - k % 8
        for j in range(start + 8, top, 8):
            r0 += x[j]
            r1 += x[j + 1]
            r2 += x[j + 2]
            r3 += x[j + 3]
            r4 += x[j + 4]
            r5 += x[j + 5]
            r6 += x[j + 6]
            r7 += x[j + 7]
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        for j in range(top, start + k):
            total += x[j]
        out[row] = total


def _row_parts(formulas: dict, labels: bool):
    """Compiled ``parts(params, a, z, zf, af, w, c0, c, cw, scratch)``.

    For rows ``c0 … c0 + c − 1``, spread over each row's ``K`` slots of the flat
    scratch arrays ``(m, top, ta, sw, e, others)``: the row max ``m``, the argmax
    flag ``top``, the target weights ``ta`` (from class labels by the loss's own
    ``_target_weight`` when ``labels`` — no one-hot array is made), the sample
    weight ``sw`` (only when weighted); then, flat, ``e = exp(z − m)`` and the
    non-argmax ``others``. ``cw`` holds the class weights tiled over a chunk
    (ones without them: multiplying by 1 is exact).
    """
    ns = scalar_namespace
    exp_gap = compiled_function(formulas["exp_gap"])
    target_weight = compiled_function(formulas["target_weight"])

    def parts(params, a, z, zf, af, w, c0, c, cw, m, top, ta, sw, e, others, arg, row_max, row_w):
        k = z.shape[1]
        size = c * k
        # Unsigned flat offsets: no wrap-around test for a negative index (which
        # would stop the vectorisation), and no view of the chunk to create.
        base, usize = np.uint64(c0 * k), np.uint64(size)
        _max_argmax(z, c0, c, row_max, arg)
        _spread(row_max, c, k, m)
        for t in range(size):
            top[t] = False
        for r in range(c):
            top[r * k + arg[r]] = True
        if labels:
            for t in range(size):
                ta[t] = 0.0
            for r in range(c):
                label = a[c0 + r]
                j = int(label)
                # As the one-hot rows y == arange(K): no 1 for a non-class label.
                if j == label and 0 <= j < k:
                    ta[r * k + j] = 1.0
            eps = params.label_smoothing
            for t in range(size):
                ta[t] = target_weight(ta[t], eps, k, cw[t])
        else:  # probability rows, already weighted by the loss's validation
            for t in range(usize):
                ta[t] = af[base + t]
        if w is not None:
            for r in range(c):
                row_w[r] = np.float64(w[c0 + r])
            _spread(row_w, c, k, sw)
        for t in range(usize):
            e[t] = exp_gap(ns, np.float64(zf[base + t]), m[t])
            others[t] = 0.0 if top[t] else e[t]

    return numba.njit(**OPTIONS)(parts)


def _tiled_class_weights(formulas: dict):
    """Compiled ``tiled(params, k, rows)``: the class weights repeated over ``rows``
    rows (ones without them)."""
    weight_at = compiled_function(formulas["class_weight_at"])

    def tiled(params, k, rows):
        cw = np.empty(rows * k)
        for t in range(rows * k):
            cw[t] = weight_at(params.class_weight, t % k)
        return cw

    return numba.njit(**OPTIONS)(tiled)


def kernel_loop(formulas: dict, value: bool, gradient: bool, hessian: bool, labels: bool):
    """Python source of the loop for the kernel's requested outputs (numba compiles it),
    around the loss's per-class ``formulas``."""
    ns = scalar_namespace
    parts = _row_parts(formulas, labels)
    tiled = _tiled_class_weights(formulas)
    complement = compiled_function(formulas["complement"])
    class_terms = compiled_function(formulas["class_terms"], inline="always")
    log1p = scalar_namespace.log1p

    def loop(params, a, z, w, v, out_value, out_gradient, out_hessian):
        n, k = z.shape
        rows = _chunk_rows(n, k)
        size = rows * k
        # Separate arrays, not rows of one: the compiler must see they cannot overlap.
        m, e, others, ta, sw = (
            np.empty(size),
            np.empty(size),
            np.empty(size),
            np.empty(size),
            np.empty(size),
        )
        arg = np.empty(rows, np.int64)
        cw = tiled(params, k, rows)
        # log1p_rest is only read for the value; zeros, not garbage, otherwise.
        rest, abar, log1p_rest, terms = (
            np.empty(size),
            np.empty(size),
            np.zeros(size),
            np.empty(size),
        )
        top = np.empty(size, np.bool_)
        row_rest, row_log, row_a = np.empty(rows), np.empty(rows), np.empty(rows)
        row_max, row_value, row_w = np.empty(rows), np.empty(rows), np.empty(rows)
        # Flat views made once: a view per chunk is a reshape call and reference
        # counting each time (measured: 4.1 → 3.9 ns a score, K = 10, one thread).
        zf, af = z.reshape(-1), a.reshape(-1)
        if out_gradient is not None:
            gf = out_gradient.reshape(-1)
        if out_hessian is not None:
            hf = out_hessian.reshape(-1)
        flagged = False
        for c0 in range(0, n, rows):
            c = min(rows, n - c0)
            parts(
                params, a, z, zf, af, w, c0, c, cw, m, top, ta, sw, e, others, arg, row_max, row_w
            )
            _row_sums(others, c, k, row_rest)
            _row_sums(ta, c, k, row_a)
            _spread(row_rest, c, k, rest)
            _spread(row_a, c, k, abar)
            if value:
                for r in range(c):
                    row_log[r] = log1p(row_rest[r])
                _spread(row_log, c, k, log1p_rest)
            base = np.uint64(c0 * k)
            for t in range(np.uint64(c * k)):
                s_minus = complement(ns, top[t], rest[t], e[t])
                lv, lg, lh = class_terms(
                    ns,
                    ta[t],
                    np.float64(zf[base + t]),
                    e[t],
                    s_minus,
                    1.0 + rest[t],
                    abar[t],
                    m[t],
                    log1p_rest[t],
                    value,
                    gradient,
                    hessian,
                )
                if out_value is not None:
                    terms[t] = lv
                # p_k and 1 - p_k lie in [0, 1]: g and H are finite, and a weight of 0
                # gives 0 without ``weighted``'s select (the value and H v keep it).
                s_t = 1.0 if w is None else sw[t]
                if out_gradient is not None:
                    gf[base + t] = lg * s_t
                if out_hessian is not None:
                    hf[base + t] = lh * s_t
            if out_value is not None:
                _row_sums(terms, c, k, row_value)
                for r in range(c):
                    s_r = 1.0 if w is None else sw[r * k]
                    value_r = weighted(row_value[r], s_r)
                    out_value[c0 + r] = value_r
                    flagged |= nonfinite(value_r)
        return flagged

    return loop


def hvp_loop(formulas: dict, labels: bool):
    """Python source of the ``H v`` loop (numba compiles it), around the loss's ``formulas``."""
    ns = scalar_namespace
    parts = _row_parts(formulas, labels)
    tiled = _tiled_class_weights(formulas)
    complement = compiled_function(formulas["complement"])
    hvp_terms = compiled_function(formulas["hvp_terms"], inline="always")

    def loop(params, a, z, w, v, out, unused_1, unused_2):
        n, k = z.shape
        rows = _chunk_rows(n, k)
        size = rows * k
        m, e, others, ta, sw = (
            np.empty(size),
            np.empty(size),
            np.empty(size),
            np.empty(size),
            np.empty(size),
        )
        arg = np.empty(rows, np.int64)
        cw = tiled(params, k, rows)
        ev, others_v, rest = np.empty(size), np.empty(size), np.empty(size)
        rest_v, abar, v_max = np.empty(size), np.empty(size), np.empty(size)
        top = np.empty(size, np.bool_)
        row_rest, row_rest_v, row_a = np.empty(rows), np.empty(rows), np.empty(rows)
        row_max, row_v_max, row_w = np.empty(rows), np.empty(rows), np.empty(rows)
        zf, af, vf, of = z.reshape(-1), a.reshape(-1), v.reshape(-1), out.reshape(-1)
        flagged = False
        for c0 in range(0, n, rows):
            c = min(rows, n - c0)
            parts(
                params, a, z, zf, af, w, c0, c, cw, m, top, ta, sw, e, others, arg, row_max, row_w
            )
            base = np.uint64(c0 * k)
            for t in range(np.uint64(c * k)):
                ev[t] = e[t] * vf[base + t]
                others_v[t] = 0.0 if top[t] else ev[t]
            _row_sums(others, c, k, row_rest)
            _row_sums(others_v, c, k, row_rest_v)
            _row_sums(ta, c, k, row_a)
            for r in range(c):
                row_v_max[r] = np.float64(vf[(c0 + r) * k + arg[r]])
            _spread(row_rest, c, k, rest)
            _spread(row_rest_v, c, k, rest_v)
            _spread(row_a, c, k, abar)
            _spread(row_v_max, c, k, v_max)
            for t in range(np.uint64(c * k)):
                s_minus = complement(ns, top[t], rest[t], e[t])
                s_t = 1.0 if w is None else sw[t]
                product = weighted(
                    hvp_terms(
                        ns,
                        top[t],
                        e[t],
                        np.float64(vf[base + t]),
                        ev[t],
                        s_minus,
                        1.0 + rest[t],
                        abar[t],
                        rest_v[t],
                        v_max[t],
                    ),
                    s_t,
                )
                of[base + t] = product
                flagged |= nonfinite(product)
        return flagged

    return loop
