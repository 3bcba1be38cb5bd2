"""Time evolution d rho/dt = G(rho) with diffrax (adaptive Runge-Kutta, float64)."""

from __future__ import annotations

import warnings

import diffrax as dfx
import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._checks import check_equation_finite, check_memory, check_tsave, is_concrete
from ..equations import MasterEquation
from ..observables import expect, hermitian_flags, to_local

#: tolerance of the density-matrix checks of ``rho0`` (relative to Tr rho0 = 1)
RHO0_ATOL = 1e-10


class MESolveResult(eqx.Module):
    """Result of :func:`mesolve`: ``tsave`` (n_t,), ``states`` (n_t, D, D) or None,
    ``expect`` (n_ops, n_t) (real for Hermitian e_ops), ``stats`` (diffrax statistics)."""

    tsave: jnp.ndarray
    states: object
    expect: object
    stats: dict


def as_density_matrix(x, D: int, name: str = "rho0"):
    """A ket (D,), (D, 1) or a density matrix (D, D) (array or Qobj) -> (D, D) matrix.

    Concrete inputs are checked: finite; a ket normalized; a matrix of trace 1, Hermitian
    and positive semidefinite (both to ``RHO0_ATOL`` = 1e-10 relative to the trace; the
    positivity test is one Cholesky factorization of rho + 1e-10 I, D^3/3 flops). Traced
    inputs (inside ``jax.jit``/``grad``) are not checked."""
    if hasattr(x, "full") and callable(x.full):
        x = x.full()
    a = jnp.asarray(x, dtype=jnp.complex128)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    concrete = is_concrete(a)
    if concrete and not bool(jnp.all(jnp.isfinite(a))):
        raise ValueError(f"`{name}` contains NaN or inf entries")
    if a.ndim == 1:
        if a.shape[0] != D:
            raise ValueError(f"`{name}` is a state vector of length {a.shape[0]}, expected {D}")
        if concrete and abs(float(jnp.vdot(a, a).real) - 1) > 1e-8:
            raise ValueError(f"`{name}` is not normalized (<psi|psi> = {float(jnp.vdot(a, a).real):.6g})")
        return jnp.outer(a, a.conj())
    if a.shape != (D, D):
        raise ValueError(f"`{name}` must have shape ({D},) or ({D}, {D}), got {a.shape}")
    if concrete:
        if abs(complex(jnp.trace(a)) - 1) > 1e-8:
            raise ValueError(f"`{name}` must have trace 1, got {complex(jnp.trace(a)):.6g}")
        _check_density_matrix(np.asarray(a), name)
    return a


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


def mesolve(eq: MasterEquation, rho0, tsave, e_ops=None, *, save_states: bool = True,
            rtol: float = 1e-8, atol: float = 1e-10, solver=None, progress: bool = False,
            max_steps: int = 1_000_000, max_memory=None) -> MESolveResult:
    """Integrate ``eq`` from ``rho0`` (ket or density matrix) and save at ``tsave``.

    **Arguments:**
    - `e_ops`: list of observables (:class:`LocalOperator`, d^L x d^L arrays or ``Qobj``).
    - `save_states`: keep the density matrices (n_t x D x D memory).
    - `rtol`, `atol`: tolerances of the adaptive step (diffrax ``PIDController``).
    - `solver`: a diffrax solver (default ``Tsit5()``); `progress`: print a progress meter.
    - `max_memory`: refuse runs whose density matrices would exceed this many bytes
      (default 8 GiB).

    Jit-compiled and differentiable (diffrax's checkpointed adjoint) with respect to any
    array inside ``eq`` or ``rho0``.

    Checks: ``eq``'s operators and the e_ops must be finite, ``rho0`` a ket or a density
    matrix (finite, trace 1, Hermitian, positive semidefinite to 1e-10; see
    :func:`as_density_matrix`); a failed integration (e.g. ``max_steps`` reached) or a NaN/inf
    in the results raises ``RuntimeError`` naming the cause (under ``jax.jit``: a runtime
    error with the same message). Expectation values are real for e_ops known to be
    Hermitian (declared by the observable builders, or a concrete Hermitian matrix), the
    same in eager and traced code; an undeclared traced e_op is refused.
    """
    if not isinstance(eq, MasterEquation):
        raise TypeError(f"`eq` must be a MasterEquation, got {type(eq).__name__}")
    check_equation_finite(eq, "eq")
    D = eq.dim
    rho0 = as_density_matrix(rho0, D)
    tsave = check_tsave(tsave)
    nstore = 12 + (tsave.shape[0] if save_states else 0)  # RK stages + saved states
    check_memory(16.0 * nstore * D**2, f"mesolve at dimension {D} ({nstore} density matrices)",
                 "Use save_states=False with e_ops, or quantum trajectories for large L.", max_memory)
    ops = [] if e_ops is None else [to_local(o, eq.L, eq.d, f"e_ops[{n}]") for n, o in enumerate(e_ops)]
    for n, o in enumerate(ops):
        if is_concrete(o.matrix) and not bool(jnp.all(jnp.isfinite(o.matrix))):
            raise ValueError(f"`e_ops[{n}]` contains NaN or inf entries")
    herm = hermitian_flags(ops, [f"e_ops[{n}]" for n in range(len(ops))])
    solver = dfx.Tsit5() if solver is None else solver
    meter = dfx.TextProgressMeter() if progress else dfx.NoProgressMeter()
    with warnings.catch_warnings():
        # diffrax flags complex states as experimental; tests/test_qutip_reference.py checks
        # the complex integration against QuTiP to 1e-10
        warnings.filterwarnings("ignore", message=".*[Cc]omplex dtype.*")
        states, exps, stats, result = _mesolve(eq, rho0, tsave, tuple(ops), herm, save_states,
                                               rtol, atol, solver, meter, max_steps)
    out = (states, exps, tsave)  # (tsave: an array to thread the runtime checks on)
    bad_result = result != dfx.RESULTS.successful
    finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in out[:2] if x is not None]))
    advice = ("`eq`, `rho0` and the e_ops are finite, so the equation itself diverges (e.g. a "
              "Redfield or pseudo-Lindblad generator with growing modes) or the step size "
              "collapsed; check the equation's spectrum (liouvillian_matrix) or lower `rtol`")
    if not result.is_traced() and is_concrete(finite):
        if bool(bad_result):
            raise RuntimeError(f"mesolve: the integration stopped early: {dfx.RESULTS[result]} "
                               f"({eq.name}, t in [{float(tsave[0])}, {float(tsave[-1])}])")
        if not bool(finite):
            raise RuntimeError(f"mesolve returned NaN or inf values although {advice}")
    else:  # traced (inside jax.jit / grad): runtime errors with the same messages
        out = result.error_if(out, bad_result)
        out = eqx.error_if(out, jnp.logical_not(finite), f"mesolve returned NaN or inf values "
                           f"although {advice}")
    return MESolveResult(tsave, out[0], out[1], stats)


@eqx.filter_jit
def _mesolve(eq, rho0, tsave, ops, herm, save_states, rtol, atol, solver, meter, max_steps):
    def fn(t, y, args):
        ex = [expect(o, y) for o in ops]
        ex = [e.real if h else e for e, h in zip(ex, herm)]
        return (y if save_states else None), ex

    term = dfx.ODETerm(lambda t, y, args: eq(y))
    sol = dfx.diffeqsolve(
        term, solver, t0=tsave[0], t1=tsave[-1], dt0=None, y0=rho0,
        saveat=dfx.SaveAt(ts=tsave, fn=fn),
        stepsize_controller=dfx.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps, progress_meter=meter, throw=False,
    )
    states, ex = sol.ys
    exps = jnp.stack(ex) if ex else None
    return states, exps, sol.stats, sol.result
