"""Time evolution d rho/dt = G(rho) with diffrax (adaptive Runge-Kutta, float64)."""

from __future__ import annotations

import warnings

import diffrax as dfx
import equinox as eqx
import jax.numpy as jnp

from .._checks import check_memory, check_tsave, is_concrete
from ..equations import MasterEquation
from ..observables import expect, to_local


class MESolveResult(eqx.Module):
    """Result of :func:`mesolve`: ``tsave`` (n_t,), ``states`` (n_t, D, D) or None,
    ``expect`` (n_ops, n_t) (real for Hermitian e_ops), ``stats`` (diffrax statistics)."""

    tsave: jnp.ndarray
    states: object
    expect: object
    stats: dict


def as_density_matrix(x, D: int, name: str = "rho0"):
    """A ket (D,), (D, 1) or a density matrix (D, D) (array or Qobj) -> (D, D) matrix."""
    if hasattr(x, "full") and callable(x.full):
        x = x.full()
    a = jnp.asarray(x, dtype=jnp.complex128)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 1:
        if a.shape[0] != D:
            raise ValueError(f"`{name}` is a state vector of length {a.shape[0]}, expected {D}")
        if is_concrete(a) and abs(float(jnp.vdot(a, a).real) - 1) > 1e-8:
            raise ValueError(f"`{name}` is not normalized (<psi|psi> = {float(jnp.vdot(a, a).real):.6g})")
        return jnp.outer(a, a.conj())
    if a.shape != (D, D):
        raise ValueError(f"`{name}` must have shape ({D},) or ({D}, {D}), got {a.shape}")
    if is_concrete(a) and abs(complex(jnp.trace(a)) - 1) > 1e-8:
        raise ValueError(f"`{name}` must have trace 1, got {complex(jnp.trace(a)):.6g}")
    return a


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
    """
    if not isinstance(eq, MasterEquation):
        raise TypeError(f"`eq` must be a MasterEquation, got {type(eq).__name__}")
    D = eq.dim
    rho0 = as_density_matrix(rho0, D)
    tsave = check_tsave(tsave)
    nstore = 12 + (tsave.shape[0] if save_states else 0)  # RK stages + saved states
    check_memory(16.0 * nstore * D**2, f"mesolve at dimension {D} ({nstore} density matrices)",
                 "Use save_states=False with e_ops, or quantum trajectories for large L.", max_memory)
    ops = [] if e_ops is None else [to_local(o, eq.L, eq.d, f"e_ops[{n}]") for n, o in enumerate(e_ops)]
    herm = tuple(o.is_hermitian() for o in ops)
    solver = dfx.Tsit5() if solver is None else solver
    meter = dfx.TextProgressMeter() if progress else dfx.NoProgressMeter()
    with warnings.catch_warnings():
        # diffrax flags complex states as experimental; tests/test_qutip_reference.py checks
        # the complex integration against QuTiP to 1e-10
        warnings.filterwarnings("ignore", message=".*[Cc]omplex dtype.*")
        states, exps, stats = _mesolve(eq, rho0, tsave, tuple(ops), herm, save_states, rtol,
                                       atol, solver, meter, max_steps)
    return MESolveResult(tsave, states, exps, stats)


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
        max_steps=max_steps, progress_meter=meter,
    )
    states, ex = sol.ys
    exps = jnp.stack(ex) if ex else None
    return states, exps, sol.stats
