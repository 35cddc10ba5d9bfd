"""Two evaluations of a loss compared element by element, the exact result deciding
where they differ.

Where two routes may round differently (the compiled loop's own ``exp`` and
``log1p`` against libm's, a product formed in another order), their results are
compared in ulps of each element (``conftest.ulp_distance``), so a tiny value is
held to its own precision, not to that of the array's largest element. Beyond the
stated bound the 400-digit ``mpmath`` reference decides: where the exact result is
a difference of terms that cancel only because of the data, the contract holds
each result to ``ULP_TOLERANCE`` ulps of ``max(|exact|, largest term / 8)``
(docs/accuracy.md), and two results within that of the exact one may be many ulps
of the (small) result apart.

A weighted result is ``sᵢ`` times a result held to that bar, rounded: its error is
measured in ``sᵢ`` times the unweighted unit (an ulp is not scale-invariant: the
weight can move the result to another binade, doubling its error in its own
ulps), with one more ulp for the product's rounding.
"""

from __future__ import annotations

from functools import cache

import mpmath
import numpy as np

from conftest import ulp_distance
from lossmath.checking import REFERENCE_DPS, ULP_TOLERANCE, evaluate, ulp_error, ulp_of

#: The quantity each result of a method is, in its order.
QUANTITIES = {
    "value": ("value",),
    "gradient": ("gradient",),
    "hessian_diagonal": ("hessian_diagonal",),
    "value_gradient": ("value", "gradient"),
    "gradient_hessian": ("gradient", "hessian_diagonal"),
    "value_gradient_hessian": ("value", "gradient", "hessian_diagonal"),
    "fisher_diagonal": ("fisher_diagonal",),
    "hessian_vector_product": ("hessian_vector_product",),
    "hessian": ("hessian",),
}


def assert_agree(loss, method, got, other, nulp, *, y, z, w=None, v=None, referee=(0, 1)):
    """Each result of ``method`` in ``got`` within ``nulp`` ulps of itself from
    ``other``, or else within ``ULP_TOLERANCE`` of the exact result.

    ``y``, ``z``, ``w`` (sample weights), ``v`` (of ``H v``) are the arguments
    both were computed from; ``referee`` names the sides held to the exact result
    where they disagree (0 ``got``, 1 ``other``: a float stand-in for the exact
    result, such as ``H`` times ``v`` in NumPy, need not meet the contract).
    """
    got = got if isinstance(got, tuple) else (got,)
    other = other if isinstance(other, tuple) else (other,)
    for quantity, a, b in zip(QUANTITIES[method], got, other, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype, (quantity, a.dtype, b.dtype)
        assert a.shape == b.shape, (quantity, a.shape, b.shape)
        far = [tuple(i) for i in np.argwhere(ulp_distance(a, b) > nulp)]
        if not far:
            continue
        exact = [_exact_entry(loss, quantity, i, y, z, v) for i in far]
        bound = ULP_TOLERANCE + (0 if w is None else 1)
        for side in referee:
            values = (a, b)[side]
            err = np.array(
                [
                    _error(values[i], ref, scale, None if w is None else w[i[0]], a.dtype)
                    for i, (ref, scale) in zip(far, exact, strict=True)
                ]
            )
            bad = np.flatnonzero(err > bound)
            if bad.size:
                j = bad[np.argmax(err[bad])]
                raise AssertionError(
                    f"{loss!r}.{method} ({quantity}): {len(far)} entries more than {nulp} "
                    f"ulps apart, {bad.size} of them more than {bound} ulps from the "
                    f"exact result on side {side}; worst at {far[j]}: {a[far[j]]!r} vs "
                    f"{b[far[j]]!r}, exact (unweighted) {mpmath.nstr(exact[j][0], 17)}, "
                    f"{err[j]:.3g} ulps"
                )


def _error(computed, exact, scale, weight, dtype):
    """``computed``'s error in ulps of the unweighted exact result (see the notes)."""
    if weight is None:
        return ulp_error([computed], [exact], dtype, [scale])[0]
    with mpmath.workdps(REFERENCE_DPS):
        weight = mpmath.mpf(float(weight))
        if weight == 0 or not np.isfinite(computed):
            return 0.0 if computed == 0 else ulp_error([computed], [weight * exact], dtype)[0]
        unit = weight * ulp_of(exact if scale is None else max(abs(exact), scale), dtype)
        return float(abs(mpmath.mpf(float(computed)) - weight * exact) / unit)


def _exact_entry(loss, quantity, index, y, z, v):
    """The exact unweighted result at ``index`` of ``quantity`` and its cancellation scale."""
    i, rest = index[0], index[1:]
    ex = _exact_sample(loss, *_sample_key(loss, y, z, i))
    multi = isinstance(ex.gradient, list)
    with mpmath.workdps(REFERENCE_DPS):
        if quantity == "fisher_diagonal":
            if not loss._fisher_is_hessian():
                raise AssertionError(
                    f"{loss!r}.fisher_diagonal: results differ at {index} and there is "
                    "no exact reference for a Fisher weight that is not the Hessian"
                )
            quantity = "hessian_diagonal"
        if quantity == "hessian_vector_product":
            row = ex.hessian[rest[0]] if multi else [ex.hessian]
            vs = v[i] if multi else [v[i]]
            terms = [h * mpmath.mpf(float(vj)) for h, vj in zip(row, vs, strict=True)]
            exact = mpmath.fsum(terms)
            if multi:
                # The terms H_kj v_j each carry a p_k, itself a ratio of K exponentials
                # (~2.5 ulps): the unit of the softmax's soft-target gradient, the
                # largest term / 4 (docs/accuracy.md), for the same reason.
                scale = max(abs(t) for t in terms) / 4
            elif ex.hessian_scale is not None:
                scale = ex.hessian_scale * abs(mpmath.mpf(float(v[i])))
            else:
                scale = None
        else:
            name = {"hessian_diagonal": "hessian"}.get(quantity, quantity)
            at = rest + rest if quantity == "hessian_diagonal" and multi else rest
            exact = _at(getattr(ex, name), at)
            scale = getattr(ex, f"{name}_scale")
            scale = scale if scale is None or not isinstance(scale, list) else _at(scale, at)
    return exact, scale


def _at(nested, index):
    for k in index:
        nested = nested[k]
    return nested


def _sample_key(loss, y, z, i):
    """Sample ``i`` as hashable floats: the label, or the row of target weights."""
    zi = tuple(float(t) for t in np.ravel(z[i]))
    yi = np.asarray(y[i])
    if np.ndim(z) == 2 and yi.ndim == 0:
        label = float(yi)
        if not (label.is_integer() and 0 <= label < len(zi)):
            raise AssertionError(f"{loss!r}: no exact reference for the label {label} of row {i}")
        return ("label", int(label)), zi
    return ("row" if yi.ndim else "scalar", tuple(float(t) for t in np.ravel(yi))), zi


@cache
def _exact_sample(loss, y_key, z_key):
    """400 digits per sample, once per process: the same rows recur across methods."""
    kind, ys = y_key
    if kind == "label":
        return evaluate(loss, ys, np.array(z_key))
    if kind == "row":
        return evaluate(loss, np.array(ys), np.array(z_key))
    return evaluate(loss, ys[0], z_key[0])
