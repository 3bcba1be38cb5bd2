r"""The state representations of :func:`~jaxredfield.mcsolve`: one interface, two backends.

The trajectory driver (:mod:`._mcsolve`) reads top to bottom without asking which
representation it runs; a backend provides what differs (issue 27, item 4):

- ``initial(psi0)``: the loop's initial state, and what identifies it in a checkpoint's
  fingerprint;
- ``state_shape``, ``bytes_per_state``: a kept final state's shape, a lane's memory;
- ``check_operators(ops)``: the e_ops and jumps it can measure and apply;
- ``program_ops(ops)``: the e_ops as the trajectory program takes them;
- ``default_lanes()``: trajectories per chunk when ``batch_size`` is None;
- ``unravelling()``, ``propagator(damping)``: the loop's two physics pieces;
- ``extra_rows``: rows it records after the e_ops (the MPS: the discarded weight);
- ``finish(...)``: its statistics (and warnings) after the run, the returned trajectories
  and final states.

:class:`VectorBackend`: dense state vectors (d^L amplitudes; ``jr.Chebyshev``,
``jr.Diffrax``). :class:`MPSBackend`: matrix product states of fixed bond dimension
(``jr.MPS``; :mod:`._mps_backend`).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._checks import as_ket
from ..method import MPS
from ..mps import MatrixProductState
from ..mps._truncation import check_truncation
from ._devices import default_batch_size
from ._mps_backend import GroupedOps, MPSPropagator, MPSUnravelling, check_mps_operators, mps_lanes, mps_psi0
from ._propagators import build_propagator
from ._unravelling import Unravelling


class VectorBackend:
    """Dense state vectors of dimension D = d^L."""

    extra_rows = 0

    def __init__(self, eq, method, dtype):
        self.eq, self.method, self.dtype = eq, method, np.dtype(dtype)
        self.state_shape = (eq.dim,)
        self.bytes_per_state = eq.dim * self.dtype.itemsize

    def initial(self, psi0):
        """(the loop's initial state, the fingerprint's psi0): a normalized (D,) vector."""
        psi0 = as_ket(psi0, self.eq.dim, "psi0")
        return psi0.astype(self.dtype), psi0

    def check_operators(self, ops):
        pass  # any LocalOperator acts on a dense vector

    def program_ops(self, ops):
        return ops

    def default_lanes(self) -> int:
        return default_batch_size(self.eq.dim)

    def unravelling(self):
        return Unravelling.build(self.eq, self.dtype)

    def propagator(self, damping):
        return build_propagator(self.method, self.eq, damping, self.dtype)

    def finish(self, tally, n_ops, tsave, ops, herm, stats, keep_trajectories, keep_final_states):
        """(expect_trajectories, final_state) of the result; ``stats`` completed in place."""
        return (jnp.asarray(tally.ex) if keep_trajectories else None,
                jnp.asarray(tally.psi) if keep_final_states else None)


class MPSBackend:
    """Matrix product states (L, chi, d, chi) with the discarded weight carried along."""

    extra_rows = 1  # the discarded weight, after the e_ops

    def __init__(self, eq, method, dtype):
        self.eq, self.method, self.dtype = eq, method, np.dtype(dtype)
        chi = method.max_bond
        self.state_shape = (eq.L, chi, eq.d, chi)  # a kept final MPS
        self.bytes_per_state = eq.L * chi**2 * eq.d * self.dtype.itemsize

    def initial(self, psi0):
        """(MPS, weight 0) of a ProductState; the fingerprint holds its vectors (not padded)."""
        state = mps_psi0(psi0, self.eq.L, self.eq.d, self.method.max_bond, self.dtype)
        return state, jnp.asarray(psi0.vectors, self.dtype)

    def check_operators(self, ops):
        check_mps_operators(ops, "an e_op")
        check_mps_operators(list(self.eq.jumps) + list(self.eq.negative_jumps), "a jump operator")

    def program_ops(self, ops):
        """Grouped by width, stacked (:class:`._mps_backend.GroupedOps`): the program does not
        grow with the number of e_ops."""
        return GroupedOps.build(ops, self.eq.L, self.eq.d)

    def default_lanes(self) -> int:
        return mps_lanes(self.eq.L, self.eq.d, self.method.max_bond)

    def unravelling(self):
        return MPSUnravelling.build(self.eq, self.dtype)  # (the lanes' vmap axis: set by the chunk)

    def propagator(self, damping):
        return MPSPropagator.build(self.eq, self.method, damping, self.dtype)

    def finish(self, tally, n_ops, tsave, ops, herm, stats, keep_trajectories, keep_final_states):
        w = tally.mean[n_ops].real  # mean over trajectories of the weight discarded up to each save
        stats["discarded_weight"] = jnp.asarray(w)
        check_truncation("mcsolve(method=jr.MPS())", self.method, tsave, w,
                         tally.mean[:n_ops] if n_ops else None, ops, herm, stacklevel=4)
        return (jnp.asarray(np.delete(tally.ex, n_ops, axis=1)) if keep_trajectories else None,
                MatrixProductState(jnp.asarray(tally.psi)) if keep_final_states else None)


def backend_for(eq, method, dtype):
    """The backend of ``method``: :class:`MPSBackend` for ``jr.MPS``, else :class:`VectorBackend`."""
    return (MPSBackend if isinstance(method, MPS) else VectorBackend)(eq, method, dtype)


__all__ = ["MPSBackend", "VectorBackend", "backend_for"]
