r"""The no-jump propagators psi -> exp(-i H_nh s) psi of a trajectory, H_nh = H - (i/2) sum_j G_j
(G_j: the damping terms of :mod:`._unravelling`), behind one interface (:class:`Propagator`),
built from the method object by :func:`build_propagator`:

- ``jr.Chebyshev(atol)``: the Chebyshev expansion of :mod:`.chebyshev` (steps of
  R s <= tau_max with a rigorous truncation bound ``atol``; ~R s products per step instead of
  ~6 per much shorter Runge-Kutta step) -- the default;
- ``jr.Diffrax(solver, rtol, atol, max_steps)``: adaptive integration (default Dopri8 with a
  PIDController), the reference."""

from __future__ import annotations

from typing import Protocol

import diffrax as dfx
import equinox as eqx
import jax.numpy as jnp

from ..equations import MasterEquation
from ..method import Chebyshev, Diffrax
from ..operators._gather import apply_sum, fused_sum
from .chebyshev import ChebyshevPropagator

#: terms of the non-Hermitian Hamiltonian up to this dimension use the fused gather kernel
GATHER_MAX_DIM = 16


class Propagator(Protocol):
    """What the trajectory loop needs of a propagator (both are ``eqx.Module``s)."""

    #: longest step s that ``propagate`` accepts
    max_step: float

    def propagate(self, psi, s, axis_name=None, s_save=None):
        """exp(-i H_nh s) psi for |s| <= max_step (s < 0: backwards, short root-finding
        steps); with ``s_save`` (0 <= s_save <= s) the pair (psi(s), psi(s_save)) from one
        integration. Pure and jittable, ``s`` may be traced. Under
        ``jax.vmap(..., axis_name=axis_name)`` the vmap axis name is passed."""


class DiffraxPropagator(eqx.Module):
    """psi -> exp(-i H_nh s) psi by a diffrax solver with a PIDController, matrix-free; the
    reference integrator for :class:`ChebyshevPropagator` (``method=jr.Diffrax()``)."""

    gen: object  # GatherOperator or tuple of LocalOperators summing to -i H_nh
    solver: object
    rtol: float
    atol: float
    max_steps: int = eqx.field(static=True)
    max_step = float("inf")

    @classmethod
    def build(cls, eq: MasterEquation, method: Diffrax, dtype, damping) -> "DiffraxPropagator":
        terms = [h.scale(-1j) for h in eq.hamiltonian]
        terms += [g.with_matrix(-0.5 * g.matrix) for g in damping]
        return cls(fused_sum(terms, dtype, GATHER_MAX_DIM), method.solver, float(method.rtol),
                   float(method.atol), int(method.max_steps))

    def propagate(self, psi, s, axis_name=None, s_save=None):
        def rhs(t, y, args):
            return apply_sum(self.gen, y)

        saveat = dfx.SaveAt(t1=True) if s_save is None else dfx.SaveAt(ts=jnp.stack([s_save, s]))
        sol = dfx.diffeqsolve(
            dfx.ODETerm(rhs), self.solver, t0=jnp.zeros_like(s), t1=s, dt0=None, y0=psi,
            saveat=saveat, stepsize_controller=dfx.PIDController(rtol=self.rtol, atol=self.atol),
            max_steps=self.max_steps,
        )
        ys = sol.ys.astype(psi.dtype)
        return ys[-1] if s_save is None else (ys[1], ys[0])


def build_propagator(method, eq: MasterEquation, damping, dtype) -> Propagator:
    """The propagator of ``method`` (:class:`~jaxredfield.Chebyshev` or
    :class:`~jaxredfield.Diffrax`) for H_nh = H - (i/2) sum_j G_j, G_j = ``damping``."""
    if isinstance(method, Chebyshev):
        return ChebyshevPropagator.build(eq.hamiltonian, eq.jumps, tol=float(method.atol), dtype=dtype,
                                         gather_max_dim=GATHER_MAX_DIM, damping=damping)
    if isinstance(method, Diffrax):
        return DiffraxPropagator.build(eq, method, dtype, damping)
    raise TypeError(f"no trajectory propagator for {type(method).__name__}")
