"""Argument checks shared by the public API: each error names the argument and the fix.

The floor of the package: imports nothing of :mod:`jaxredfield` (tests/test_layout.py), so
every module may use it. The normalization of ``e_ops``, which needs the observables, lives in
:func:`jaxredfield.observables.as_e_ops`."""

from __future__ import annotations

import contextlib
import threading
import warnings

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


def _traced(x) -> bool:
    """True when ``x`` (an array, or a list of numbers/arrays) holds a JAX tracer."""
    import jax

    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(x))


def check_tsave(tsave):
    """A 1-d, finite, strictly increasing float64 array of save times."""
    import jax.numpy as jnp

    # concrete times are checked in NumPy (no device round trips per call)
    t = jnp.asarray(tsave, dtype=jnp.float64) if _traced(tsave) else np.asarray(tsave, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] < 1:
        raise ValueError("`tsave` must be a 1-d array of save times")
    if isinstance(t, np.ndarray):
        if not np.all(np.isfinite(t)):
            raise ValueError("`tsave` contains NaN or inf")
        if t.shape[0] > 1 and not np.all(np.diff(t) > 0):
            raise ValueError("`tsave` must be strictly increasing")
    return jnp.asarray(t)


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


# --------------------------------------------------------------------------------------------
# argument normalisation shared by the solvers (mesolve, steadystate, mcsolve)

#: tolerance of the density-matrix checks of ``rho0`` (relative to Tr rho0 = 1)
RHO0_ATOL = 1e-10


def _dense_input(x):
    """A ``qutip.Qobj`` -> its matrix; a :class:`~jaxredfield.ProductState` -> its state
    vector; a (D, 1) column -> a (D,) vector; complex128: a NumPy array when concrete (its
    checks then cost no device round trips), a jnp array when traced."""
    import jax.numpy as jnp

    if type(x).__name__ == "ProductState" and callable(getattr(x, "dense", None)):
        x = x.dense()  # (by name: this floor of the package imports nothing of it)

    if hasattr(x, "full") and callable(x.full):
        x = x.full()
    a = jnp.asarray(x, dtype=jnp.complex128) if _traced(x) else np.asarray(x, dtype=np.complex128)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    return a


def _check_ket(a, name: str):
    """``a`` from :func:`_dense_input` (NumPy when concrete)."""
    if isinstance(a, np.ndarray):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"`{name}` contains NaN or inf entries")
        n2 = float(np.vdot(a, a).real)
        if abs(n2 - 1) > 1e-8:
            raise ValueError(f"`{name}` is not normalized (<psi|psi> = {n2:.6g}); divide it by "
                             "its norm")
    return a


def as_ket(x, D: int, name: str = "psi0"):
    """A state vector (D,) or (D, 1) (array or ``Qobj``) -> a (D,) complex128 vector.

    Concrete inputs are checked: finite and normalized to 1e-8. Traced inputs (inside
    ``jax.jit``/``grad``) are only shape-checked."""
    import jax.numpy as jnp

    a = _dense_input(x)
    if a.shape != (D,):
        raise ValueError(
            f"`{name}` must be a state vector of shape ({D},) (or ({D}, 1)), got {a.shape}; "
            "trajectories start from pure states (sample a mixed rho0 into kets yourself)"
        )
    return jnp.asarray(_check_ket(a, name))


def as_density_matrix(x, D: int, name: str = "rho0"):
    """A ket (D,), (D, 1) or a density matrix (D, D) (array or Qobj) -> (D, D) matrix.

    Concrete inputs are checked: finite; a ket normalized; a matrix of trace 1, Hermitian
    and positive semidefinite (both to ``RHO0_ATOL`` = 1e-10 relative to the trace; the
    positivity test is one Cholesky factorization of rho + 1e-10 I, D^3/3 flops). Traced
    inputs (inside ``jax.jit``/``grad``) are not checked."""
    import jax.numpy as jnp

    a = _dense_input(x)
    concrete = is_concrete(a)
    if a.ndim == 1:
        if a.shape[0] != D:
            raise ValueError(f"`{name}` is a state vector of length {a.shape[0]}, expected {D}")
        a = jnp.asarray(_check_ket(a, name))
        return jnp.outer(a, a.conj())
    if concrete and not np.all(np.isfinite(a)):
        raise ValueError(f"`{name}` contains NaN or inf entries")
    if a.shape != (D, D):
        raise ValueError(f"`{name}` must have shape ({D},) or ({D}, {D}), got {a.shape}")
    if concrete:
        if abs(complex(np.trace(a)) - 1) > 1e-8:
            raise ValueError(f"`{name}` must have trace 1, got {complex(np.trace(a)):.6g}")
        _check_density_matrix(a, name)
    return jnp.asarray(a)


def _check_density_matrix(a, name):
    """Hermitian and positive semidefinite to RHO0_ATOL (a has trace 1)."""
    herr = float(np.max(np.abs(a - a.conj().T)))
    if herr > RHO0_ATOL:
        raise ValueError(
            f"`{name}` is not Hermitian (max |rho - rho^dagger| = {herr:.3g} > {RHO0_ATOL:g}): "
            "a density matrix must be Hermitian; pass (rho + rho^dagger)/2 if the difference "
            "is round-off, or a ket"
        )
    h = 0.5 * (a + a.conj().T)
    try:  # succeeds iff the smallest eigenvalue of h exceeds -RHO0_ATOL
        np.linalg.cholesky(h + RHO0_ATOL * np.eye(h.shape[0]))
    except np.linalg.LinAlgError:
        lmin = float(np.linalg.eigvalsh(h)[0])
        raise ValueError(
            f"`{name}` is not positive semidefinite (smallest eigenvalue {lmin:.3g} < "
            f"-{RHO0_ATOL:g}): a density matrix has no negative eigenvalues. Clip them "
            "(V max(E, 0) V^dagger, renormalized) or start from a ket"
        ) from None


_complex_ok = {"lock": threading.Lock(), "depth": 0, "saved": None}


@contextlib.contextmanager
def diffrax_complex_ok():
    """Silence diffrax's warning that complex states are experimental (within the block):
    tests/test_qutip_reference.py checks the complex integration against QuTiP to 1e-10.
    Safe when threads overlap (``_pool.compute_split``): the filter goes in when the first
    block opens and the filters are restored when the last one closes (``warnings.
    catch_warnings`` in each thread would restore them out of order)."""
    st = _complex_ok
    with st["lock"]:
        if st["depth"] == 0:
            st["saved"] = warnings.filters[:]
            warnings.filterwarnings("ignore", message=".*[Cc]omplex dtype.*")
        st["depth"] += 1
    try:
        yield
    finally:
        with st["lock"]:
            st["depth"] -= 1
            if st["depth"] == 0:
                warnings.filters[:] = st["saved"]
                getattr(warnings, "_filters_mutated", lambda: None)()  # as catch_warnings does
