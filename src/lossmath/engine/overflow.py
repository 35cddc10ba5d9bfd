"""Results that overflowed on the way though they are representable, recomputed.

A loss method's result is the per-sample result times the sample's weight,
``sᵢ rᵢ``, rounded once. Two ways it can come out ±inf or NaN where the exact
result is a finite number, both at the float range's edge:

* **a weight below 1 that comes too late**: ``rᵢ`` itself overflows the
  computation's dtype before ``sᵢ < 1`` could bring the product back into range
  (Poisson's ``eᶻ − yz`` at ``z = −1.79e308``, ``y = 1.3``, with ``sᵢ = 5e-324``:
  exactly 1.15e-15). Such an entry is recomputed from the loss's exact
  reference — ``lossmath.checking``'s mpmath formulas, at up to 400 digits —
  times ``sᵢ``, and rounded once (lossmath's own losses, which all have one;
  tens of microseconds an entry, milliseconds at logits near 1e308);
* **NaN from two terms that both overflow** (Poisson's ``eᶻ − yz`` at
  ``z = 4.8e16``, ``y = 1.2e295``: inf − inf): from the reference, as above;
* **a square root of a Hessian that overflows** (``sqrt_hessian``, with or
  without weights: the exponential loss's ``√H = e^{−sz/2}`` at ``z = −1000``, or
  any ``H`` beyond float16's range): from the reference, as above;
* **a Hessian-vector product whose terms overflow** though ``H v`` does not (the
  softmax's ``Σⱼ eⱼ vⱼ`` of several ``vⱼ`` near the range's top): ``H v`` is linear
  in ``v``, so the sample is computed again with ``v`` scaled by ``2⁻⁶⁴`` (exact)
  and its result scaled back.

:func:`repair` only looks at results that hold a non-finite entry (the compiled
loops report whether they wrote one; the NumPy runners test their weighted
blocks), and recomputes only those entries: ordinary inputs take no extra step
and keep their bits. An entry whose exact result overflows stays ±inf.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import array_api_compat
import numpy as np

from lossmath._array import get_namespace, numpy_errstate
from lossmath.engine import batch

__all__ = ["all_finite", "repair"]

#: ``v``'s scale in a Hessian-vector product computed again: a sum of up to
#: 2⁶² terms of ``|v| ≤`` the largest float stays finite.
_V_SCALE = 2.0**-64

#: mpmath's working precision is one global setting: NumPy blocks on threads
#: take their turns at it.
_MPMATH = threading.Lock()


def all_finite(a: Any) -> bool:
    """Whether every entry of ``a`` is finite; ``True`` where its values cannot be
    read (a traced array under ``jax.jit``)."""
    if type(a) is np.ndarray:
        # One read and no temporary: a finite sum means every entry is finite (an
        # inf or NaN makes it inf or NaN); a sum that overflows only sends the
        # array to _mend, which finds nothing to mend.
        with numpy_errstate():
            return math.isfinite(np.add.reduce(a, axis=None))
    xp = get_namespace(a)
    try:
        return bool(xp.all(xp.isfinite(a)))
    except TypeError:  # jax's ConcretizationTypeError: no values under tracing
        return True


def _numpy(a: Any) -> Any:
    """``a`` as a NumPy array (``None`` stays ``None``)."""
    if a is None or type(a) is np.ndarray:
        return a
    if hasattr(a, "detach"):  # PyTorch, on any device
        return a.detach().cpu().numpy()
    return np.asarray(a)


def repair(loss: Any, names: tuple, y: Any, z: Any, w: Any, v: Any, results: tuple) -> tuple:
    """``results`` (one array per name of ``names``) with the entries that overflowed
    on the way recomputed (see the module notes).

    ``y, z, w, v`` are the method's inputs as the engine read them (``y`` not yet
    converted by the loss's validation: labels, probability rows). NumPy results
    are mended in place (they may be ``out`` buffers); others are returned anew.
    """
    mended = list(results)
    for k, (name, r) in enumerate(zip(names, results, strict=True)):
        if all_finite(r):
            continue
        if type(r) is np.ndarray:
            _mend(loss, name, y, z, w, v, r)
        else:
            fixed = np.array(_numpy(r))
            _mend(loss, name, y, z, w, v, fixed)
            xp = get_namespace(r)
            mended[k] = xp.asarray(fixed, dtype=r.dtype, device=array_api_compat.device(r))
    return tuple(mended)


def _mend(loss: Any, name: str, y: Any, z: Any, w: Any, v: Any, r: np.ndarray) -> None:
    """Recompute, in place, the non-finite entries of the NumPy result ``r``."""
    yn, zn, vn = _numpy(y), _numpy(z), _numpy(v)
    wn = None if w is None else np.asarray(_numpy(w), dtype=np.float64)
    if name == "hessian_vector_product":
        _scaled_products(loss, yn, zn, wn, vn, r, _nonfinite_rows(r))
    with numpy_errstate():
        entries = np.argwhere(~np.isfinite(r))
    s = np.ones(len(entries)) if wn is None else wn[entries[:, 0]]
    if name == "sqrt_hessian":
        # √H overflows with H, from √(largest float) on, where √(sᵢ H) need not:
        # any weight (none: 1) but 0.
        entries = entries[s > 0]
    else:
        # NaN is never the exact result (inf − inf of two terms that overflowed);
        # ±inf may be, unless a weight below 1 came too late.
        nan = np.isnan(r[tuple(entries.T)]) if entries.size else np.zeros(0, bool)
        entries = entries[(s > 0) & ((s < 1) | nan)]
    if entries.size:
        _from_reference(loss, name, yn, zn, wn, vn, r, entries)


def _nonfinite_rows(r: np.ndarray) -> np.ndarray:
    """The samples (first index) of ``r`` with an entry that is not finite."""
    with numpy_errstate():
        return np.unique(np.argwhere(~np.isfinite(r))[:, 0])


def _scaled_products(loss, y, z, w, v, r, rows) -> None:
    """``H v`` of the samples ``rows`` again, with ``v`` scaled by ``2⁻⁶⁴``."""
    if rows.size == 0:
        return
    ys, zs = y[rows], np.asarray(z[rows], dtype=np.float64)
    vs = np.asarray(v[rows], dtype=np.float64) * _V_SCALE
    ws = None if w is None else w[rows]
    _, a, zs, ws, _ = batch.validate(loss, ys, zs, ws, False, np)
    with numpy_errstate():
        hv = batch.apply_weight(np, ws, loss._hvp(np, a, zs, vs)) / _V_SCALE
        old = r[rows]
        r[rows] = np.where(np.isfinite(old), old, hv)


def _references(loss: Any) -> Any:
    """The table of exact references (``lossmath.checking``) where it has this
    loss's, or ``None``: lossmath's own losses have one; a user's loss (or
    subclass) may compute otherwise."""
    if not type(loss).__module__.startswith("lossmath."):
        return None
    # The references sit above the losses (they are written from the catalogue,
    # not from the kernels); imported on this rare path only.
    from lossmath.checking._reference import REFERENCES

    return REFERENCES if loss.name in REFERENCES else None


#: Digits of the exact evaluations, tried in turn until two agree once rounded
#: (Ziv's strategy): the references' formulas are naive, exact at 400 digits
#: wherever they cancel, but a few dozen digits round them the same elsewhere at
#: a fraction of the cost (multinomial logits of 1e308: 0.6 ms at 30 digits,
#: 320 ms at 400).
_DIGITS = (30, 60, 120, 240, 400)


def _from_reference(loss, name, y, z, w, v, r, entries) -> None:
    """The entries (index rows) of ``r``: the exact ``sᵢ rᵢ``, rounded once."""
    table = _references(loss)
    if table is None:
        return
    if name == "fisher_diagonal" and not loss._fisher_is_hessian():
        return  # a Fisher weight of its own: no reference (Tweedie's e^{(2−p)z})
    multi = z.ndim == 2
    if name == "sqrt_hessian" and multi:
        return
    for i in np.unique(entries[:, 0]):
        here = [tuple(int(j) for j in index) for index in entries[entries[:, 0] == i]]
        values = None
        with _MPMATH:
            for digits in _DIGITS:
                got = _weighted_entries(loss, table, name, y, z, w, v, int(i), here, multi, digits)
                if got == values:
                    break
                values = got
        with numpy_errstate():  # rounding to float32 may overflow, as the exact does
            for index, value in zip(here, values, strict=True):
                if value is not None:
                    r[index] = value


def _weighted_entries(loss, table, name, y, z, w, v, i, indices, multi, digits) -> list:
    """``sᵢ`` times the exact entries ``indices`` of sample ``i`` at ``digits``
    digits, rounded to float64 (``None`` where there is no entry to give)."""
    import mpmath

    mpf = mpmath.mpf
    with mpmath.workdps(digits):
        if multi:
            yy = [mpf(float(t)) for t in y[i]] if np.ndim(y[i]) == 1 else int(y[i])
            exact = table[loss.name](loss, yy, [mpf(float(t)) for t in z[i]])
        else:
            exact = table[loss.name](loss, mpf(float(y[i])), mpf(float(z[i])))
        s = mpf(1) if w is None else mpf(float(w[i]))
        out = []
        for index in indices:
            entry = _entry(name, exact, multi, index[1:], v, i)
            if entry is None:
                out.append(None)
            elif name == "sqrt_hessian":  # √sᵢ √H = √(sᵢ H)
                out.append(float(mpmath.sqrt(max(entry * s, 0))))
            else:
                out.append(float(entry * s))
        return out


def _entry(name, exact, multi, at, v, i) -> Any:
    """The exact unweighted entry ``at`` (class indices) of sample ``i``; ``None``
    where there is none to give."""
    if name == "value":
        return exact.value
    if name == "gradient":
        return exact.gradient[at[0]] if multi else exact.gradient
    if name in ("hessian_diagonal", "fisher_diagonal", "sqrt_hessian"):
        return exact.hessian[at[0]][at[0]] if multi else exact.hessian
    if name == "hessian_vector_product":
        import mpmath

        if multi:
            row = exact.hessian[at[0]]
            return mpmath.fsum(h * mpmath.mpf(float(x)) for h, x in zip(row, v[i], strict=True))
        return exact.hessian * mpmath.mpf(float(v[i]))
    return None
