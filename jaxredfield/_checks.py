"""Argument checks shared by the public API: each error names the argument and the fix."""

from __future__ import annotations

import numpy as np

#: default memory budget (bytes) for dense objects; override with ``max_memory=``.
DEFAULT_MAX_MEMORY = 8 * 2**30


def as_matrix(x, name: str):
    """Convert a NumPy / JAX array or a QuTiP ``Qobj`` to a complex matrix.

    Concrete inputs are checked (square, finite) and returned as NumPy arrays; traced JAX
    values (inside ``jit``/``grad``) are returned as JAX arrays after a shape check.
    """
    if hasattr(x, "full") and callable(x.full):  # qutip.Qobj
        x = x.full()
    if not is_concrete(x):
        import jax.numpy as jnp

        a = jnp.asarray(x).astype(jnp.complex128)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"`{name}` must be a square matrix, got shape {a.shape}")
        return a
    try:
        a = np.asarray(x, dtype=np.complex128)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"`{name}` must be an array-like matrix or a qutip.Qobj, got {type(x).__name__}"
        ) from err
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"`{name}` must be a square matrix, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"`{name}` contains NaN or inf entries")
    return a


def check_hermitian(a, name: str, atol: float = 1e-12) -> None:
    if not is_concrete(a):
        return
    a = np.asarray(a)
    scale = max(1.0, float(np.max(np.abs(a))))
    if not np.allclose(a, a.conj().T, atol=atol * scale, rtol=0):
        raise ValueError(
            f"`{name}` must be Hermitian (max |A - A^dagger| = "
            f"{np.max(np.abs(a - a.conj().T)):.3g}); pass its Hermitian part (A + A^dagger)/2 "
            "or split a non-Hermitian coupling into Hermitian components"
        )


def check_nonneg_int(x, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got {x!r}")
    return int(x)


def check_positive_int(x, name: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {x!r}")
    return int(x)


def check_positive(x, name: str) -> None:
    try:
        bad = not (float(x) > 0)
    except Exception:  # traced value: cannot check statically
        return
    if bad:
        raise ValueError(f"`{name}` must be > 0, got {x!r}")


def check_memory(nbytes: float, what: str, alternative: str, max_memory: float | None) -> None:
    """Refuse to build a dense object larger than ``max_memory`` bytes."""
    limit = DEFAULT_MAX_MEMORY if max_memory is None else max_memory
    if nbytes > limit:
        raise MemoryError(
            f"{what} would need {nbytes / 2**30:.3g} GiB (limit {limit / 2**30:.3g} GiB, "
            f"set with `max_memory=`). {alternative}"
        )


def is_concrete(x) -> bool:
    """True when ``x`` holds a value (not a JAX tracer)."""
    import jax

    return not isinstance(x, jax.core.Tracer)


def check_tsave(tsave):
    """A 1-d, finite, strictly increasing float64 array of save times."""
    import jax.numpy as jnp

    t = jnp.asarray(tsave, dtype=jnp.float64)
    if t.ndim != 1 or t.shape[0] < 1:
        raise ValueError("`tsave` must be a 1-d array of save times")
    if is_concrete(t):
        if not bool(jnp.all(jnp.isfinite(t))):
            raise ValueError("`tsave` contains NaN or inf")
        if t.shape[0] > 1 and not bool(jnp.all(jnp.diff(t) > 0)):
            raise ValueError("`tsave` must be strictly increasing")
    return t


def check_equation_finite(eq, name: str | None = "eq") -> None:
    """Refuse a master equation with NaN/inf entries in any of its (concrete) operators,
    naming the term (traced operators are left to the solvers' runtime checks). The one check
    behind the equation builders (``name=None``), ``steadystate``, ``mesolve`` and ``mcsolve``."""
    groups = [(f"Hamiltonian term {n}", h) for n, h in enumerate(eq.hamiltonian)]
    groups += [(f"Redfield term {n} ({w})", o)
               for n, pair in enumerate(eq.redfield_terms) for w, o in zip(("u", "v"), pair)]
    groups += [(f"jump operator {n}", L) for n, L in enumerate(eq.jumps)]
    groups += [(f"negative jump operator {n}", L) for n, L in enumerate(eq.negative_jumps)]
    for label, op in groups:
        if is_concrete(op.matrix) and not np.all(np.isfinite(np.asarray(op.matrix))):
            where = f"`{name}` ({eq.name})" if name else eq.name
            raise ValueError(
                f"{where}: {label} on sites {op.sites} has NaN or inf entries, so the equation "
                "cannot be used. NaN usually comes from the bath's W(E) (e.g. a CallableBath "
                "evaluated at a removable singularity such as E = 0: write W with its limit "
                "there, as jr.OhmicBath does), from `lam`, or from an overflowing parameter."
            )
