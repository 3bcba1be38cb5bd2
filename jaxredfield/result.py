"""Result objects of the solvers: one vocabulary everywhere.

- ``expect``: expectation values of the e_ops, shape (n_ops, n_t) (trajectory *mean* for
  ``mcsolve``, :class:`MCSolveResult`), real for Hermitian e_ops; ``expect_stderr`` beside it for trajectories.
- ``states`` / ``final_state``: saved states and the state at the last save time.
- ``stats``: a dict of solver statistics (steps, iterations, residuals, jump counts, ...).
- ``method``: the method object that produced the result.

Each result prints a short summary (``repr``), as dynamiqs' results do.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .method import Method


def _describe(x) -> str:
    if x is None:
        return "None"
    shape = getattr(x, "shape", None)
    if shape is None:
        return repr(x)
    dtype = getattr(x, "dtype", "")
    return f"{type(x).__name__}{tuple(shape)} {dtype}"


class Result(eqx.Module):
    """Base of every solver result: a short, dynamiqs-like ``repr``."""

    def _summary_fields(self):
        return [k for k in self.__dataclass_fields__]

    def __repr__(self) -> str:
        lines = [f"==== {type(self).__name__} ===="]
        for k in self._summary_fields():
            v = getattr(self, k)
            if k == "stats" and isinstance(v, dict):
                body = ", ".join(f"{a}={_short(b)}" for a, b in v.items())
                lines.append(f"{k:<14}: {{{body}}}")
            elif k == "method":
                lines.append(f"{k:<14}: {v!r}")
            else:
                lines.append(f"{k:<14}: {_describe(v)}")
        return "\n".join(lines)


def _short(v) -> str:
    a = np.asarray(v) if not isinstance(v, (str, dict)) else v
    if isinstance(a, np.ndarray) and a.size > 1:
        return f"array{a.shape}"
    if isinstance(a, np.ndarray):
        a = a.item()
    if isinstance(a, float):
        return f"{a:.3g}"
    return str(a)


class MESolveResult(Result):
    """Result of :func:`~jaxredfield.mesolve`.

    - ``tsave`` (n_t,): the save times;
    - ``states`` (n_t, D, D): the density matrices at ``tsave``, or None (``save_states=False``,
      or ``method=jr.MPS()``);
    - ``final_state`` (D, D): the density matrix at ``tsave[-1]`` (always kept); with
      ``method=jr.MPS()`` the doubled-chain ``MatrixProductState`` (pass it as ``rho0`` to
      continue);
    - ``expect`` (n_ops, n_t): expectation values of the e_ops (real for Hermitian e_ops), or
      None without e_ops;
    - ``stats``: diffrax's statistics (``num_steps``, ``num_accepted_steps``, ...); with
      ``method=jr.MPS()``: ``num_steps`` (TEBD steps) and ``discarded_weight`` (n_t,), the
      relative weight cut by the truncations up to each save time;
    - ``method``: the :class:`~jaxredfield.Diffrax` or :class:`~jaxredfield.MPS` method used."""

    tsave: jnp.ndarray
    states: jnp.ndarray | None
    final_state: jnp.ndarray
    expect: jnp.ndarray | None
    stats: dict
    method: Method


class SteadyStateResult(Result):
    """Result of :func:`~jaxredfield.steadystate` with ``return_info=True``.

    - ``state`` (D, D): the steady state (Hermitian part, trace 1); with
      ``method=jr.MPS()`` a density :class:`~jaxredfield.MatrixProductState` (its own
      ``stats``: see :func:`~jaxredfield.steadystate`);
    - ``stats``: ``residual`` = ||G(rho)||_F / (g ||rho||_F) of ``state`` (g >= ||G||, a
      relative residual of the generator comparable across methods), ``iterations`` (GMRES
      restart cycles of the first solve; 0 for Direct) and the uniqueness measure:
      ``sigma_min`` (Direct: the relative smallest singular value of the bordered system) or
      ``kernel_test`` (GMRES: relative difference of the two solves; None without
      ``check_unique``);
    - ``method``: the :class:`~jaxredfield.Direct`, :class:`~jaxredfield.GMRES` or
      :class:`~jaxredfield.MPS` method used
      (the automatic choice resolved)."""

    state: jnp.ndarray
    stats: dict
    method: Method




class MCSolveResult(Result):
    """Result of :func:`jaxredfield.mcsolve`.

    - ``tsave`` (n_t,): save times.
    - ``expect`` (n_ops, n_t): trajectory mean of <psi|O|psi>/<psi|psi> (real for Hermitian
      e_ops, else complex); ``None`` without e_ops.
    - ``expect_stderr`` (n_ops, n_t): standard error of that mean, sqrt(s^2 / ntraj) with
      the unbiased sample variance s^2 (for complex values s^2 = sum |x - mean|^2/(n-1));
      NaN for ntraj = 1.
    - ``expect_trajectories`` (ntraj, n_ops, n_t) with ``keep_trajectories=True``, else None
      (signed runs: mu <O>, and a last row mu).
    - ``final_state`` (ntraj, D): each trajectory's normalized state at ``tsave[-1]`` with
      ``keep_final_states=True``, else None; with ``method=jr.MPS()`` a
      :class:`jaxredfield.mps.MatrixProductState` whose tensors are (ntraj, L, chi, d, chi)
      (each normalized, orthogonality center at site 0; ``jaxredfield.mps.to_dense`` of one
      for small L).
    - ``ntraj``: number of trajectories.
    - ``stats``: ``njumps`` (ntraj,) jumps of each trajectory; signed (pseudo-Lindblad) runs
      also ``trace_mean``, ``trace_stderr`` (n_t,): the estimate E[mu] of Tr rho (exactly 1
      in expectation) and its standard error -- a direct measure of the run's statistical
      quality at each time; ``weight_rms`` (n_t,): sqrt(E[mu^2]), the growth of the
      estimator's variance (the standard error of any <O> is at most
      ||O|| weight_rms / sqrt(ntraj)); ``negative_fraction`` (n_t,): fraction of
      trajectories with mu < 0.
    - ``method``: the method object (``Chebyshev`` or ``Diffrax``).
    """

    tsave: jnp.ndarray
    expect: jnp.ndarray | None
    expect_stderr: jnp.ndarray | None
    expect_trajectories: jnp.ndarray | None
    final_state: jnp.ndarray | None
    ntraj: int
    stats: dict
    method: Method


class TuneResult(eqx.Module):
    """Result of :func:`jaxredfield.tune`: ``params`` (the best
    :class:`~jaxredfield.LocalParams` found), ``losses`` (per step, starting with the initial
    loss), ``history`` (LocalParams per step, stacked)."""

    params: object
    losses: np.ndarray
    history: object


__all__ = ["Result", "MESolveResult", "SteadyStateResult", "MCSolveResult", "TuneResult"]
