r"""Quantum-jump trajectories on matrix product states (``mcsolve(..., method=jr.MPS(...))``):
the pieces the trajectory loop of :mod:`._loop` needs, for a :class:`MatrixProductState`
instead of a state vector. The loop itself -- waiting-time algorithm, save points, root
finding of the jump time, keys fold_in(key, n) -- is the same code for both.

- :class:`MPSPropagator`: exp(-i H_nh s) by one second-order TEBD step
  (:mod:`jaxredfield.mps._tebd`) for |s| <= ``dt`` (``max_step``); a save point inside a step
  is a second step from the same start.
- :class:`MPSUnravelling`: the jump weights ||L_k psi||^2 = <psi|L_k^dag L_k|psi> by
  transfer-matrix environments, log||psi||^2 and its rate, the jump L_k psi/||L_k psi|| (the
  channel drawn as in :class:`._unravelling.Unravelling`, from the same random numbers), and
  the measurement of e_ops on contiguous sites. Every state the loop sees has its orthogonality
  center at site 0 (TEBD leaves it there; a jump re-canonicalizes), so the norm is |A_0|^2
  and the right environments are identities (the jump weights need one left scan up to the
  last jump site, :func:`jaxredfield.mps.expect_many` with ``center_at_0``).

The loop's state is the pair (MPS, w): w accumulates the discarded weight of every SVD
truncation of the trajectory (the relative squared norm cut, :func:`jaxredfield.mps.split`),
recorded at each save time in a row after the e_ops (``stats["discarded_weight"]``).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..mps import TEBD, MatrixProductState, apply_local, canonicalize, expect_many, from_product
from ..mps._mps import contiguous_sites, expect_grouped, group_operators
from ._observables import support_groups
from ._unravelling import Unravelling


def check_mps_operators(ops, what: str):
    """Operators on contiguous sites only (TEBD block gates, local expectations)."""
    for o in ops:
        contiguous_sites(o.sites, what, "use a state-vector method (jr.Chebyshev()) for operators "
                         "on non-contiguous sites")


def mps_psi0(psi0, L: int, d: int, max_bond: int, dtype):
    """The initial state (MPS, discarded weight 0) from a :class:`~jaxredfield.ProductState`."""
    from ..states import ProductState

    if not isinstance(psi0, ProductState):
        raise TypeError("`psi0` of method=jr.MPS() must be a product state: jr.product_state(model, "
                        f"states) (got {type(psi0).__name__})")
    if (psi0.L, psi0.d) != (L, d):
        raise ValueError(f"`psi0` is a product state of (L, d) = {(psi0.L, psi0.d)}, the equation's is {(L, d)}")
    return from_product(psi0.vectors, max_bond, dtype), jnp.zeros((), jnp.float64)


def _norm2(mps):
    """<psi|psi> = |A_0|^2 with the orthogonality center at site 0."""
    return jnp.sum(jnp.abs(mps.tensors[0]) ** 2).astype(jnp.float64)


def _scaled(mps, c):
    return MatrixProductState(mps.tensors.at[0].multiply(c))


class MPSPropagator(eqx.Module):
    """exp(-i H_nh s) psi by one TEBD step, |s| <= ``max_step`` = dt."""

    tebd: TEBD
    max_step: float = eqx.field(static=True)

    @classmethod
    def build(cls, eq, method, damping, dtype) -> "MPSPropagator":
        check_mps_operators(list(eq.hamiltonian) + list(damping), "a term of H_nh")
        return cls(TEBD.build(eq.hamiltonian, damping, method.max_bond, dtype, method.cutoff),
                   float(method.dt))

    def propagate(self, psi, s, axis_name=None, s_save=None):
        """(MPS, w) -> (TEBD step of length s, w + its discarded weight); with ``s_save`` the
        pair of that and the step of length s_save from the same start."""
        mps, w = psi
        step = lambda s: (lambda r: (r[0], w + r[1]))(self.tebd.step(mps, s, axis_name))
        return step(s) if s_save is None else (step(s), step(s_save))


class GroupedOps(eqx.Module):
    """The e_ops of an MPS run grouped by width (:func:`jaxredfield.mps._mps.group_operators`):
    per width k the matrices stacked (n_k, d^k, d^k) -- one argument of the trajectory program
    per width, not one per operator, so the program does not grow with the number of e_ops
    (every sigma^z_i of an L = 200 chain: 200 arguments and slices before) -- and the first
    sites and the order of the e_ops as static data."""

    mats: tuple
    widths: tuple = eqx.field(static=True)
    firsts: tuple = eqx.field(static=True)
    order: tuple = eqx.field(static=True)

    @classmethod
    def build(cls, ops, L: int, d: int) -> "GroupedOps":
        groups, order = group_operators([(o.matrix, o.sites) for o in ops], L, d)
        return cls(tuple(m for _, _, m in groups), tuple(int(k) for k, _, _ in groups),
                   tuple(tuple(int(j) for j in js) for _, js, _ in groups), tuple(int(i) for i in order))

    def groups(self):
        return tuple((k, np.asarray(js), m) for k, js, m in zip(self.widths, self.firsts, self.mats))


class MPSUnravelling(Unravelling):
    """:class:`Unravelling` with the state operations of an MPS (module docstring).
    ``axis_name``: the vmap axis of the trajectories these methods run under (the chunk's
    lanes), so that the bond sizes are chosen per batch (:func:`jaxredfield.mps.by_size`)."""

    axis_name: str | None = eqx.field(static=True, default=None)

    def jump_weights(self, psi):
        psi = psi[0]
        ops = [(Lk.matrix.conj().T @ Lk.matrix, Lk.sites) for Lk in self.jumps]
        return expect_many(psi, ops, center_at_0=True, axis_name=self.axis_name).real.astype(jnp.float64)

    def log_norm_and_rate(self, y):
        n2 = _norm2(y[0])
        w = self.jump_weights(y)
        if not self.signed:
            return jnp.log(n2), -jnp.sum(w) / n2
        return jnp.log(n2), -jnp.sum(self._sgn() * w) / n2 - self.shift

    def jump(self, psi, key, nj, axis_name=None):
        """As :meth:`Unravelling.jump` (same random numbers): the selected channel's matrix is
        applied on its support (:func:`apply_local`: k-1 truncated SVDs for k sites), the
        identity on every other support; the result is re-canonicalized to center 0."""
        sgn = self._sgn()
        sup, which = support_groups(self.jumps)
        k, wts, cum, kr = self.draw_channel(psi, key, nj)
        new, w_cut = psi
        for si, s in enumerate(sup):
            mine = [n for n, w in enumerate(which) if w == si]
            dt = self.jumps[mine[0]].matrix.dtype
            hit = jnp.zeros((), dt)
            m = jnp.zeros_like(self.jumps[mine[0]].matrix)
            for n in mine:
                sel = jnp.where(k == n, 1.0, 0.0).astype(dt)
                m = m + sel * self.jumps[n].matrix
                hit = hit + sel
            m = m + (1 - hit) * jnp.eye(m.shape[0], dtype=dt)
            new, cut = apply_local(new, m, s, axis_name=axis_name)
            w_cut = w_cut + cut
        new = canonicalize(new, 0, axis_name)
        nn2 = _norm2(new)
        ok = nn2 > 0
        new = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b),
                                     _scaled(new, 1 / jnp.sqrt(jnp.where(ok, nn2, 1.0))),
                                     _scaled(psi[0], 1 / jnp.sqrt(_norm2(psi[0]))))
        new = (new, w_cut)
        r = jax.random.uniform(kr, dtype=jnp.float64)
        if not self.signed:
            return new, r, jnp.ones((), jnp.float64)
        n2 = _norm2(psi[0])
        return new, r, sgn[k] * cum[-1] / (jnp.sum(sgn * wts) + self.shift * n2)

    def normalized(self, psi):
        """The site tensors (L, chi, d, chi) of the normalized MPS (center at site 0)."""
        mps = psi[0]
        return _scaled(mps, 1 / jnp.sqrt(_norm2(mps))).tensors

    def measurement(self, e_ops, herm):
        """``measure((mps, w))``: <psi|O|psi>/<psi|psi> of e_ops on contiguous sites, then w."""
        h = np.asarray(herm, bool)  # e_ops: GroupedOps (MPSBackend.program_ops)

        def measure(psi):
            mps, w = psi
            n2 = _norm2(mps)
            ex = expect_grouped(mps, e_ops.groups(), e_ops.order, True, self.axis_name) / n2
            vals = ex.real if h.all() else jnp.where(h, ex.real, ex)  # one expression, not a slice per e_op
            dtype = jnp.result_type(vals.dtype, jnp.asarray(w).dtype)
            return jnp.concatenate([vals.astype(dtype), jnp.reshape(w, (1,)).astype(dtype)])

        return measure

    def weighted(self, vals, wgt, t, t0):
        """As :meth:`Unravelling.weighted` for the e_op rows; the discarded weight (last of
        ``vals``) stays unweighted, before the weight row of signed runs."""
        out = super().weighted(vals[:-1], wgt, t, t0)
        w = vals[-1:].astype(out.dtype)
        return jnp.concatenate([out[:-1], w, out[-1:]]) if self.signed else jnp.concatenate([out, w])


def mps_lanes(L: int, d: int, max_bond: int) -> int:
    """Default lanes for MPS trajectories (as :func:`._devices.default_batch_size` with the
    MPS's L chi^2 d amplitudes in place of d^L)."""
    from ._devices import default_batch_size

    return default_batch_size(L * max_bond**2 * d)


__all__ = ["GroupedOps", "MPSPropagator", "MPSUnravelling", "check_mps_operators", "mps_psi0", "mps_lanes"]
