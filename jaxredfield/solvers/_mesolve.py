"""Time evolution d rho/dt = G(rho) with diffrax (adaptive Runge-Kutta, float64)."""

from __future__ import annotations

import diffrax as dfx
import equinox as eqx
import jax.numpy as jnp

from ..observables import as_e_ops
from .._checks import (as_density_matrix, check_equation_finite, check_memory,
                       check_tsave, diffrax_complex_ok, is_concrete)
from .._progress import bar, progress_enabled
from ..equations import MasterEquation
from ..method import MPS, Diffrax, check_method
from ..observables import expect
from ..result import MESolveResult
from ._generator import generator
from ._fused_rk import FUSED


class DelayedTqdmMeter(dfx.TqdmProgressMeter):
    """diffrax's tqdm meter drawn by the package's :func:`~jaxredfield._progress.bar`: the
    percentage of the time interval integrated, shown only after the bar delay
    (``JAXREDFIELD_PROGRESS_DELAY``, 2 s: a quick solve, e.g. each call of a finite
    difference, prints nothing) and removed when done, like every other bar of the package.
    diffrax's own meter draws at once and leaves a finished "100%" line per solve."""

    @staticmethod
    def _init_bar():
        return bar(100, "mesolve", "%", progress=True,
                   bar_format="{desc}: {percentage:.0f}% of t|{bar}| [{elapsed}<{remaining}]")

    @staticmethod
    def _step_bar(b, progress) -> None:
        b.n = round(100 * float(progress), 2)
        b.update(0)  # tqdm draws on update only after its delay (a refresh would draw now)


def mesolve(eq: MasterEquation, rho0, tsave, e_ops=None, *, method: Diffrax = Diffrax(),
            save_states: bool = True, progress: bool | None = None,
            max_memory=None) -> MESolveResult:
    """Integrate ``eq`` from ``rho0`` (ket, :class:`~jaxredfield.ProductState` or density
    matrix) and save at ``tsave``.

    **Arguments:**
    - `e_ops`: one observable or a list (:class:`LocalOperator`, d^L x d^L arrays or
      ``Qobj``); ``expect`` has shape (n_ops, n_t) either way.
    - `method`: a :class:`~jaxredfield.Diffrax` method (diffrax solver, default ``Dopri8()``,
      ``rtol``/``atol`` of the adaptive ``PIDController``, ``max_steps``). ``diffrax.Dopri8()``
      and ``diffrax.Tsit5()`` run with their stage sums fused
      (``jaxredfield/solvers/_fused_rk.py``: diffrax's tableaus, controller and dense output).
      At the default tolerances Dopri8 takes about a third of Tsit5's steps on the paper's
      chain (31 vs 102 at L = 6) with errors of the same size; Tsit5 keeps 7 stages in
      memory instead of 14 and suits loose tolerances.
      ``jr.MPS(max_bond, dt, cutoff)``: the density matrix as a matrix product state of the
      doubled chain (site i holds (ket, bra), dimension d^2), evolved by second-order TEBD
      under the generator itself (``jaxredfield/mps/_density.py``): chains of hundreds of
      sites for equations whose terms sit on contiguous sites (local Lindblad, standard local
      Lindblad, local Redfield and their pseudo-Lindblad forms). `rho0` is then a
      ``jr.product_state``, one local d x d density matrix (repeated), a list of L of them,
      or the ``final_state`` of an earlier MPS run (to continue it); e_ops act on one or two
      neighbouring sites; ``states`` is None, ``final_state`` the doubled-chain
      :class:`~jaxredfield.mps.MatrixProductState`, ``stats`` holds the accumulated
      ``discarded_weight`` at each save time and ``num_steps``. Not differentiable; the
      error is O(dt^2) plus the truncation (tests/test_mesolve_mps.py).
    - `save_states`: keep the density matrices (n_t x D x D memory); ``final_state`` is
      kept either way.
    - `progress`: a progress bar on stderr, the percentage of [t_0, t_end] integrated
      (:class:`DelayedTqdmMeter`: shown only once the solve has run for a few seconds,
      removed when done; None: the global switch :func:`~jaxredfield.set_progress`).
    - `max_memory`: refuse runs whose density matrices would exceed this many bytes
      (default 8 GiB).

    **Returns:** a :class:`~jaxredfield.MESolveResult` (``tsave``, ``states``,
    ``final_state``, ``expect``, ``stats``, ``method``).

    Jit-compiled and differentiable (diffrax's checkpointed adjoint) with respect to any
    array inside ``eq`` or ``rho0``.

    Checks: ``eq``'s operators and the e_ops must be finite, ``rho0`` a ket or a density
    matrix (finite, trace 1, Hermitian, positive semidefinite to 1e-10; see
    :func:`~jaxredfield._checks.as_density_matrix`); a failed integration (e.g.
    ``max_steps`` reached) or a NaN/inf in the results raises ``RuntimeError`` naming the
    cause (under ``jax.jit``: a runtime error with the same message). Expectation values are
    real for e_ops known to be Hermitian (declared by the observable builders, or a concrete
    Hermitian matrix), the same in eager and traced code; an undeclared traced e_op is
    refused.
    """
    if not isinstance(eq, MasterEquation):
        raise TypeError(f"`eq` must be a MasterEquation, got {type(eq).__name__}")
    method = check_method(method, (Diffrax, MPS), "mesolve", Diffrax())
    check_equation_finite(eq, "eq")
    if isinstance(method, MPS):  # the density matrix as an MPS of the doubled chain
        from ._mesolve_mps import mesolve_mps

        ops, herm = as_e_ops(e_ops, eq.L, eq.d)
        return mesolve_mps(eq, rho0, check_tsave(tsave), ops, herm, method, progress_enabled(progress),
                           max_memory)
    D = eq.dim
    rho0 = as_density_matrix(rho0, D)
    # a concrete rho0 was checked Hermitian: the right-hand side as Y + Y^dag (Generator.
    # hermitian), exact for Hermitian states (symmetrized to round-off first); a traced one
    # (e.g. B rho for a correlation function) may not be, and keeps the general form
    hermitian = is_concrete(rho0)  # (symmetrized to round-off inside _mesolve)
    tsave = check_tsave(tsave)
    # an explicit Runge-Kutta step holds its n stages twice (the stages and the dense output's
    # h * stages) and a few more states (Dopri8: n = 14, Tsit5: 7); then the saved states
    tab = getattr(method.solver, "tableau", None)
    n_stages = len(tab.c) + 1 if tab is not None else 7
    nstore = 2 * n_stages + 5 + (tsave.shape[0] if save_states else 0)
    check_memory(16.0 * nstore * D**2, f"mesolve at dimension {D} ({nstore} density matrices)",
                 "Use save_states=False with e_ops, diffrax.Tsit5() (7 stages instead of Dopri8's "
                 "14), or quantum trajectories for large L.", max_memory)
    ops, herm = as_e_ops(e_ops, eq.L, eq.d)
    meter = DelayedTqdmMeter() if progress_enabled(progress) else dfx.NoProgressMeter()
    with diffrax_complex_ok():
        states, final, exps, stats, result, bad_result, finite = _mesolve(
            generator(eq), rho0, tsave, ops, herm, save_states, method, meter, hermitian)
    out = (states, exps, final, tsave)  # (tsave: an array to thread the runtime checks on)
    advice = ("`eq`, `rho0` and the e_ops are finite, so the equation itself diverges (e.g. a "
              "Redfield or pseudo-Lindblad generator with growing modes) or the step size "
              "collapsed; check the equation's spectrum (liouvillian_matrix) or lower "
              "`Diffrax(rtol=...)`")
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
    return MESolveResult(tsave=tsave, states=out[0], final_state=out[2], expect=out[1],
                         stats=stats, method=method)


@eqx.filter_jit
def _mesolve(gen, rho0, tsave, ops, herm, save_states, method, meter, hermitian=True):
    def fn(t, y, args):
        ex = [expect(o, y) for o in ops]
        ex = [e.real if h else e for e, h in zip(ex, herm)]
        return (y if save_states else None), ex

    # rho(t) stays Hermitian: the right-hand side as Y + Y^dag (Generator.hermitian)
    if hermitian:
        rho0 = 0.5 * (rho0 + rho0.conj().T)
    term = dfx.ODETerm((lambda t, y, args: gen.hermitian(y)) if hermitian else (lambda t, y, args: gen(y)))
    saveat = dfx.SaveAt(subs=[dfx.SubSaveAt(ts=tsave, fn=fn), dfx.SubSaveAt(t1=True)])
    # diffrax's Dopri8 (the default) and Tsit5 run with fused stage sums: the same steps
    fused = FUSED.get(type(method.solver))
    solver = fused() if fused is not None and method.solver.scan_kind is None else method.solver
    sol = dfx.diffeqsolve(
        term, solver, t0=tsave[0], t1=tsave[-1], dt0=None, y0=rho0, saveat=saveat,
        stepsize_controller=dfx.PIDController(rtol=method.rtol, atol=method.atol),
        max_steps=method.max_steps, progress_meter=meter, throw=False,
    )
    (states, ex), final = sol.ys
    exps = jnp.stack(ex) if ex else None
    # final_state: the saved state at tsave[-1] (dense output there) when states are kept,
    # else diffrax's state at t1 (the same to round-off)
    final = states[-1] if save_states else final[0]
    # the NaN/inf check of the results, computed here (eager checks cost a dispatch each)
    finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(x)) for x in (states, exps, final) if x is not None]))
    return states, final, exps, sol.stats, sol.result, sol.result != dfx.RESULTS.successful, finite
