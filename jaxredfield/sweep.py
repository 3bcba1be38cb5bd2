r"""Parameter sweeps on every core: :func:`sweep` maps a function over parameter values with
the helper processes of :mod:`jaxredfield._pool`, and stays differentiable (issue 25, item 2).

A physicist scanning a bath temperature, lambda or J computes one steady state (or a short
``mesolve``) per value: independent, each on one core. ``jr.sweep(f, values)`` hands the values
out in chunks to one pinned helper per usable core and returns the stacked results -- the
serial loop's numbers ``[f(v) for v in values]``. ``f`` travels to the helpers as data, never
as a pickle: a module-level function of an importable module (or a ``functools.partial`` of
one with data arguments) by its name, which each helper imports -- the serial loop's own code;
any other function (a lambda, a closure, a function of a script's ``__main__`` or a notebook)
as ``jax.jit(f)`` exported to a StableHLO program (``jax.export``), which each helper compiles
once. A function ``jax.jit`` cannot trace runs in this process, one value after another, with
a warning that says why. Under ``jax.grad`` / ``jit`` the values are traced: the
sweep then becomes a ``jax.pure_callback`` with a ``custom_vjp`` whose backward pass uses the
per-value Jacobians ``jax.jacrev(f)(v)``, computed by the helpers in the forward pass (the
values are independent, so the Jacobian of the sweep is block diagonal).
"""

from __future__ import annotations

import contextlib
import functools
import sys
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from . import _pool
from ._checks import check_positive_int


def _points(args, start, m):
    """f(values[i]) for i in start ... start + m - 1, each a pytree of NumPy arrays;
    ``args`` = (f, values): ``f`` the function itself (in this process), its name
    (:func:`_by_name`) or the bytes of ``jax.jit(f)`` exported by :func:`_export`."""
    f, values = args
    if isinstance(f, np.ndarray):
        f = _imported(f)
    elif isinstance(f, dict):
        f = _named(f)
    out = [jax.tree_util.tree_map(np.asarray, f(values[i])) for i in range(start, start + m)]
    _check_data(out)
    return out


def _check_data(out):
    """The same rule in this process and in a helper (whose results travel as data)."""
    try:
        _pool._encode(out, dry=True)
    except TypeError as e:
        raise TypeError(f"jr.sweep: `f` must return an array or plain tuples/lists/dicts of arrays "
                        f"(not a namedtuple or another object): {e}") from None


@contextlib.contextmanager
def _solver_errors_as_nan():
    """While tracing for export: equinox's runtime errors (an unconverged lineax or diffrax
    solve) become NaN in the program instead of a host callback, which an exported program
    cannot hold; :func:`_run` recomputes such a value here, where the error is raised.
    Equinox reads the mode when it traces and JAX caches traces, so JAX's caches are cleared
    before (no trace of the raising mode is reused) and after (none of this mode survives to
    run in this process): the programs this process had compiled compile again on next use."""
    try:
        import equinox._errors as errors
    except ImportError:  # pragma: no cover - another equinox layout: exported as it is
        yield
        return
    old = getattr(errors, "EQX_ON_ERROR", None)
    jax.clear_caches()
    errors.EQX_ON_ERROR = "nan"
    try:
        yield
    finally:
        errors.EQX_ON_ERROR = old
        jax.clear_caches()


def _export(f, values):
    """:func:`_export_spec` for one value of ``values`` (an ``f`` that is not hashable is
    exported each time)."""
    try:
        hash(f)
    except TypeError:  # f not hashable
        return _export_spec.__wrapped__(f, values.shape[1:], values.dtype.str)
    return _export_spec(f, values.shape[1:], values.dtype.str)


@functools.lru_cache(maxsize=16)  # a repeated sweep of the same f traces nothing
def _export_spec(f, shape, dtype):
    """``jax.jit(f)`` for one value (``shape``, ``dtype``) as a serialized StableHLO program
    (a uint8 array: data, which helpers compile and run; no Python code travels), or
    (None, why) when ``f`` cannot be traced by ``jax.jit``."""
    from jax import export

    spec = jax.ShapeDtypeStruct(shape, np.dtype(dtype))
    try:
        with _solver_errors_as_nan(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a warning of the trace is the serial run's to give
            exported = export.export(jax.jit(f))(spec)
    except Exception as e:  # noqa: BLE001 - any reason it cannot be traced: computed here instead
        return None, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    _check_data([jax.tree_util.tree_unflatten(exported.out_tree, [np.zeros(a.shape, a.dtype)
                                                                  for a in exported.out_avals])])
    return np.frombuffer(bytes(exported.serialize()), np.uint8), None


def _imported(blob):
    """The jitted call of the program :func:`_export_spec` serialized (in a helper)."""
    return _deserialized(blob.tobytes())


@functools.lru_cache(maxsize=8)
def _deserialized(data: bytes):
    from jax import export

    return jax.jit(export.deserialize(bytearray(data)).call)


def _by_name(f):
    """``f`` as data a helper resolves by importing it (a dict: module, qualified name, the
    parent's ``sys.path``, and a ``functools.partial``'s arguments when they are data), or
    None: a function defined in ``__main__`` (a script, a notebook), a lambda, a closure, a
    method or a partial with other arguments cannot be found by name in another process."""
    if isinstance(f, functools.partial) and f.func is _value_and_jac_at and not f.keywords:
        inner = _by_name(f.args[0])
        return None if inner is None else {**inner, "jac": True}
    args, kwargs, g = (), {}, f
    if isinstance(f, functools.partial):
        g, args, kwargs = f.func, f.args, dict(f.keywords)
    m, q = getattr(g, "__module__", None), getattr(g, "__qualname__", "")
    if not isinstance(g, types.FunctionType) or not m or m == "__main__" or "<" in q:
        return None
    try:
        if _pool.import_name(m, q) is not g:
            return None
        _pool._encode((args, kwargs), dry=True)
    except (ImportError, AttributeError, TypeError):
        return None
    return {"m": m, "q": q, "args": tuple(args), "kwargs": kwargs, "path": [p for p in sys.path if isinstance(p, str)]}


def _named(ref):
    """The function :func:`_by_name` named (the parent's ``sys.path`` entries added here)."""
    for p in ref["path"]:
        if p not in sys.path:
            sys.path.append(p)
    g = _import_function(ref["m"], ref["q"])
    g = functools.partial(g, *ref["args"], **ref["kwargs"]) if ref["args"] or ref["kwargs"] else g
    return _value_and_jac(g) if ref.get("jac") else g


_import_function = functools.lru_cache(maxsize=32)(_pool.import_name)


def _value_and_jac_at(f, v):
    return f(v), jax.jacrev(f)(v)


def _value_and_jac(f):
    """v -> (f(v), jax.jacrev(f)(v)): a partial of a module-level function, so it goes to the
    helpers by name when ``f`` does (:func:`_by_name`)."""
    return functools.partial(_value_and_jac_at, f)


def _stack(items):
    return jax.tree_util.tree_map(lambda *xs: np.stack(xs), *items)


def _finite(x):
    return all(np.all(np.isfinite(a)) for a in jax.tree_util.tree_leaves(x) if np.asarray(a).dtype.kind in "fc")


def _run(f, values, workers, chunk):
    n = values.shape[0]
    results = {}
    program = f
    if workers > 1:
        program = _by_name(f)  # imported by name in the helpers: the serial loop's code
        why = None
        if program is None:  # a lambda, closure or __main__ function: jax.jit(f) as a program
            program, why = _export(f, values)
        if program is None:
            warnings.warn(
                f"jr.sweep: `f` cannot be traced by jax.jit ({why}), so it cannot run in the helper "
                "processes; its values are computed here, one after another. To use every core, make "
                "`f` jit-traceable (jnp instead of NumPy on the parameter, no Python `if`/`float()` on "
                "it); workers=1 computes here without this warning.", RuntimeWarning, stacklevel=4)
            program, workers = f, 1
    _pool.run((_points, (program, values)), range(0, n, chunk), lambda s: min(chunk, n - s), workers,
              lambda s, r: results.__setitem__(s, r))
    out = [x for s in sorted(results) for x in results[s]]
    for i, x in enumerate(out):  # a solver error in an exported program: NaN there, raised here
        if isinstance(program, np.ndarray) and not _finite(x):
            out[i] = _points((f, values), i, 1)[0]
    return _stack(out)


def sweep(f, values, *, workers: int | None = None, chunk: int = 1):
    r"""``f(v)`` for every ``v`` along the leading axis of ``values``, on every core.

    **Arguments:**
    - `f`: a function of one parameter value (a scalar or an array: ``values[i]``) returning an
      array or a pytree of arrays (e.g. a steady-state current, a list of magnetizations).
      (A namedtuple or another object: return its fields as a tuple or a dict instead.)
      With helpers (``workers`` > 1): **fastest is a module-level function of an importable
      module** (not ``__main__``; a ``functools.partial`` of one with array/number/string
      arguments works too): the helpers import it by name and run it as the serial loop does.
      Any other function (a lambda, a closure, a function defined in a script or notebook)
      must be traceable by ``jax.jit`` (jnp on the parameter, no Python ``if``/``float()``
      of it; the library's solvers are): the helpers run ``jax.jit(f)`` exported as a
      StableHLO program (data; captured arrays become constants). A traced steady state
      cannot drop the zero patterns of its operators, so such a program can take ~2x the
      eager time per value (L = 6, local Redfield N = 2); ``mesolve`` runs faster jitted. A
      function that cannot be traced is computed in this process, one value after another,
      with a warning naming why. A solver error inside an exported ``f`` (an unconverged
      GMRES) becomes NaN there; such a value is computed again here, where the error is
      raised as in the serial loop.
    - `values`: an array (n, ...) of parameter values.
    - `workers`: processes computing values, as in :func:`jaxredfield.mcsolve`: ``None`` =
      every usable core (``os.sched_getaffinity``) on a CPU backend, or
      ``$JAXREDFIELD_WORKERS``; 1 computes here, one value after another.
    - `chunk`: values per task handed to a helper (default 1; larger for very cheap ``f``).

    **Returns:** the results stacked along a new leading axis of length n (a pytree like
    ``f``'s), equal to stacking ``[f(v) for v in values]`` (an exported ``f``: ``jax.jit(f)(v)``,
    which differs from the eager call by rounding only, ~1e-16 relative).

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
