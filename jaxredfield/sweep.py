r"""Parameter sweeps on every core: :func:`sweep` maps a function over parameter values with
the helper processes of :mod:`jaxredfield._pool`, and stays differentiable (issue 25, item 2).

A physicist scanning a bath temperature, lambda or J computes one steady state (or a short
``mesolve``) per value: independent, each on one core. ``jr.sweep(f, values)`` hands the values
out in chunks to one pinned helper per usable core and returns the stacked results -- the
same numbers as the serial loop ``[f(v) for v in values]`` (each value is computed by the same
code, in one process or another). Under ``jax.grad`` / ``jit`` the values are traced: the
sweep then becomes a ``jax.pure_callback`` with a ``custom_vjp`` whose backward pass uses the
per-value Jacobians ``jax.jacrev(f)(v)``, computed by the helpers in the forward pass (the
values are independent, so the Jacobian of the sweep is block diagonal).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from . import _pool
from ._checks import check_positive_int


def _points(args, start, m):
    """f(values[i]) for i in start ... start + m - 1, each a pytree of NumPy arrays."""
    f, values = args
    out = [jax.tree_util.tree_map(np.asarray, f(values[i])) for i in range(start, start + m)]
    try:  # the same rule in this process and in a helper (whose results travel as data)
        _pool._encode(out, dry=True)
    except TypeError as e:
        raise TypeError(f"jr.sweep: `f` must return an array or plain tuples/lists/dicts of arrays "
                        f"(not a namedtuple or another object): {e}") from None
    return out


def _value_and_jac(f):
    return lambda v: (f(v), jax.jacrev(f)(v))


def _stack(items):
    return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *items)


def _run(f, values, workers, chunk):
    n = values.shape[0]
    results = {}
    _pool.run((_points, (f, values)), range(0, n, chunk), lambda s: min(chunk, n - s), workers,
              lambda s, r: results.__setitem__(s, r))
    return _stack([x for s in sorted(results) for x in results[s]])


def sweep(f, values, *, workers: int | None = None, chunk: int = 1):
    r"""``f(v)`` for every ``v`` along the leading axis of ``values``, on every core.

    **Arguments:**
    - `f`: a function of one parameter value (a scalar or an array: ``values[i]``) returning an
      array or a pytree of arrays (e.g. a steady-state current, a list of magnetizations).
      (A namedtuple or another object: return its fields as a tuple or a dict instead.)
      Any Python function: it travels to the helpers with cloudpickle (lambdas and closures
      included); it must not rely on state that exists only in this process.
    - `values`: an array (n, ...) of parameter values.
    - `workers`: processes computing values, as in :func:`jaxredfield.mcsolve`: ``None`` =
      every usable core (``os.sched_getaffinity``) on a CPU backend, or
      ``$JAXREDFIELD_WORKERS``; 1 computes here, one value after another.
    - `chunk`: values per task handed to a helper (default 1; larger for very cheap ``f``).

    **Returns:** the results stacked along a new leading axis of length n (a pytree like
    ``f``'s), equal to stacking ``[f(v) for v in values]``.

    **Gradients:** ``jax.grad`` of a function of ``sweep(f, values)`` with respect to
    ``values`` works (also under ``jit``): the helpers compute ``jax.jacrev(f)(v)`` with each
    value, and the backward pass contracts the cotangents with these Jacobians. That costs one
    reverse pass per output element of ``f``: keep ``f``'s output small (a few observables).
    ``f`` itself must be differentiable (``steadystate``, ``mesolve`` are).

    **Cost:** the helpers start on the first call (import and compilation on one core each) and
    stay alive; a second sweep of the same function compiles nothing new. Each value is
    independent: this is the right tool when one value's work runs on about one core (the
    paper's chains up to L ~ 10); a run that already fills the cores gains nothing.
    """
    chunk = check_positive_int(chunk, "chunk")
    w = _pool.resolve_workers(workers, cpu=jax.default_backend() == "cpu",
                              multi_process=jax.process_count() > 1, bytes_per_worker=0)
    if isinstance(values, jax.core.Tracer):
        return _traced_sweep(f, values, w, chunk)
    values = np.asarray(values)
    if values.ndim == 0:
        raise ValueError(f"`values` must have a leading axis of parameter values, got a scalar {values!r}; "
                         "pass e.g. np.linspace(1.0, 3.0, 32)")
    if values.shape[0] == 0:
        raise ValueError("`values` is empty: pass at least one parameter value")
    return jax.tree_util.tree_map(jnp.asarray, _run(f, values, w, chunk))


def _traced_sweep(f, values, w, chunk):
    out1 = jax.eval_shape(f, jax.ShapeDtypeStruct(values.shape[1:], values.dtype))
    n = values.shape[0]
    batched = jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct((n,) + s.shape, s.dtype), out1)
    jacs = jax.tree_util.tree_map(
        lambda s: jax.ShapeDtypeStruct((n,) + s.shape + values.shape[1:], values.dtype), out1)

    def call(fun, shapes):
        return lambda v: jax.pure_callback(lambda x: _run(fun, np.asarray(x), w, chunk), shapes, v,
                                           vmap_method="sequential")

    @jax.custom_vjp
    def swept(v):
        return call(f, batched)(v)

    def fwd(v):
        out, jac = call(_value_and_jac(f), (batched, jacs))(v)
        return out, jac

    def bwd(jac, ct):
        k = len(values.shape) - 1  # the parameter's own axes
        parts = jax.tree_util.tree_map(
            lambda c, j: jnp.sum(c.reshape(c.shape + (1,) * k).astype(j.dtype) * j,
                                 axis=tuple(range(1, c.ndim))), ct, jac)
        total = sum(jax.tree_util.tree_leaves(parts))
        return (jnp.real(total).astype(values.dtype) if not jnp.iscomplexobj(values) else total,)

    swept.defvjp(fwd, bwd)
    return swept(values)


__all__ = ["sweep"]
