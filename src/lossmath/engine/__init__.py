"""The execution engine under the loss contract: how a loss method is evaluated.

A loss method (``Loss.value``, ``gradient``, ...; made from the table
``lossmath.losses._base.METHODS`` by :mod:`~lossmath.engine.methods`) hands its
arguments to :func:`lossmath.engine.routes.evaluate`:

1. :mod:`~lossmath.engine.batch` — the inputs as one normalised batch: every
   conversion and check, one error path;
2. :mod:`~lossmath.engine.requests` — what the method asks for;
3. :mod:`~lossmath.engine.routes` — the route: one compiled block, the compiled
   loop on threads, the NumPy kernel in blocks, or the plain kernel;
4. :mod:`~lossmath.engine.runners` — one runner per route, on the thread pool of
   :mod:`~lossmath.engine.threads` and the compiled loops of
   :mod:`lossmath.engine.compiled`;
5. :mod:`~lossmath.engine.overflow` — the rare entries that overflowed on the way
   though the result is representable (a weight below 1 applied too late, the
   terms of ``H v``), recomputed; only where a result is already ±inf or NaN.

The engine imports no loss: it works on the loss object it is handed, through
the contract's private hooks (``_kernel``, ``_validate_y``, ``_check_z_shape``,
``_hvp``, ``_fisher``). ``docs/architecture.md`` draws the layers.
"""
