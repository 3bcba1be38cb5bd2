r"""Time-evolving block decimation (TEBD) of an MPS under the non-Hermitian Hamiltonian of
quantum-jump trajectories,

    H_nh = sum_j h_j - (i/2) sum_j G_j = sum_{b=0}^{L-2} h_b,

with Hermitian terms h_j and positive semidefinite damping terms G_j (e.g. L_k^dagger L_k of
each jump operator), all on one site or two neighbouring sites. Every term is assigned to a
nearest-neighbour bond b = (b, b+1): two-site terms to their bond, one-site terms shared
equally between the (one or two) bonds that contain the site.

One step exp(-i H_nh s) |psi> is the palindromic (symmetric) Trotter-Suzuki product

    U(s) = U_0 U_1 ... U_{L-2} U_{L-2} ... U_1 U_0,   U_b = exp(-i h_b s / 2)

(rightmost factor first: one left-to-right sweep of the half-step gates, then one right-to-
left sweep; the two middle factors are applied as one gate exp(-i h_{L-2} s)). A symmetric
product of exponentials is second order, U(s) = exp(-i H_nh s) + O(s^3) (Suzuki, Phys. Lett.
A 146, 319 (1990)). Each gate acts on the two-site tensor at the orthogonality center and is
split by an SVD truncated to chi, which moves the center along the sweep (Vidal, PRL 91,
147902 (2003); Schollwöck, Ann. Phys. 326, 96 (2011), Sec. 7). The state is not renormalized:
H_nh is not Hermitian and <psi|psi> decays as under the exact evolution (the jump probability
of the trajectory).

The gates are computed inside the traced step (expm of the d^2 x d^2 bond matrices), so the
step length s may be traced, negative (short backward steps) and different between vmapped
trajectories. The sweeps are ``lax.scan`` over bonds with dynamic indexing of the
(L, chi, d, chi) tensor array: compile time does not grow with L.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..operators import embed
from ._mps import MatrixProductState, _clean, split


def damping_from_jumps(jumps) -> list:
    """G_k = L_k^dagger L_k for LocalOperators ``jumps`` (the damping terms of H_nh)."""
    return [j.with_matrix(j.matrix.conj().T @ j.matrix, hermitian=True) for j in jumps]


def bond_terms(hamiltonian_terms, damping_terms, L: int, d: int) -> np.ndarray:
    """The bond matrices h_b (L-1, d^2, d^2), in the order (site b, site b+1), with
    sum_b h_b = H - (i/2) sum G (module docstring). Terms on more than two sites or on
    non-neighbouring sites raise ``NotImplementedError`` naming their sites."""
    if L < 2:
        raise ValueError(f"TEBD needs a chain of L >= 2 sites, got L = {L}")
    h = np.zeros((L - 1, d * d, d * d), complex)
    terms = [(o, 1.0) for o in hamiltonian_terms] + [(g, -0.5j) for g in damping_terms]
    for op, c in terms:
        if (op.L, op.d) != (L, d):
            raise ValueError(f"the term on sites {op.sites} is for a lattice (L, d) = "
                             f"{(op.L, op.d)}, the others for {(L, d)}")
        sites, m = tuple(op.sites), c * np.asarray(op.matrix, complex)
        lo = min(sites)
        if len(sites) > 2 or sorted(sites) != list(range(lo, lo + len(sites))):
            raise NotImplementedError(
                f"TEBD supports terms on one site or two neighbouring sites; the term on sites "
                f"{sites} is not (split it into such terms, or use another method)")
        if len(sites) == 2:
            h[lo] += embed(m, sites, (lo, lo + 1), d)
            continue
        bonds = [b for b in (lo - 1, lo) if 0 <= b < L - 1]
        for b in bonds:
            h[b] += embed(m / len(bonds), sites, (b, b + 1), d)
    return h


class TEBD(eqx.Module):
    """Second-order TEBD for exp(-i H_nh s) (module docstring). Build with :meth:`build`;
    :meth:`step` is pure and jittable."""

    bond_h: jax.Array  # (L - 1, d^2, d^2): the bond matrices h_b
    max_bond: int = eqx.field(static=True)

    @classmethod
    def build(cls, hamiltonian_terms, damping_terms, max_bond: int,
              dtype=jnp.complex128) -> "TEBD":
        """From the Hermitian terms h_j and the damping terms G_j (LocalOperators) of
        H_nh = sum h_j - (i/2) sum G_j; ``max_bond`` is the bond dimension chi of the MPS."""
        ops = list(hamiltonian_terms) + list(damping_terms)
        if not ops:
            raise ValueError("no terms: H_nh needs at least one Hamiltonian or damping term")
        if int(max_bond) < 1:
            raise ValueError(f"`max_bond` must be >= 1, got {max_bond}")
        h = bond_terms(hamiltonian_terms, damping_terms, ops[0].L, ops[0].d)
        return cls(jnp.asarray(h, dtype), int(max_bond))

    def gates(self, s):
        """(exp(-i h_b s/2), exp(-i h_b s)) for every bond b: each (L-1, d^2, d^2)."""
        half = jax.vmap(jax.scipy.linalg.expm)(-0.5j * s * self.bond_h)
        return half, half @ half

    def step(self, mps: MatrixProductState, s):
        """(exp(-i H_nh s) |psi> to O(s^3), summed discarded weight of the step's SVDs).

        ``mps`` must have its orthogonality center at site 0 (as :func:`canonicalize` and
        this step leave it); otherwise the result is the same state but the truncations are
        not optimal. The discarded weight is the sum over gates of the relative squared norm
        cut by each SVD (see :func:`split`)."""
        L, chi = mps.L, mps.chi
        if chi != self.max_bond:
            raise ValueError(f"the MPS has bond dimension {chi}, this TEBD was built for "
                             f"max_bond = {self.max_bond}")
        if self.bond_h.shape[0] != L - 1:
            raise ValueError(f"the MPS has L = {L} sites, this TEBD was built for "
                             f"L = {self.bond_h.shape[0] + 1}")
        half, full = self.gates(s)
        t = mps.tensors
        d = t.shape[2]

        def sweep(t, gates, bonds, center_left):
            def body(t, x):
                b, g = x
                theta = jnp.einsum("asc,ctb->astb", t[b], t[b + 1]).reshape(chi, d * d, chi)
                theta = jnp.einsum("uv,avb->aub", g.astype(t.dtype), theta)
                a, bb, w = split(theta.reshape(chi, d, d, chi), chi, center_left)
                return t.at[b].set(a).at[b + 1].set(bb), w

            t, w = jax.lax.scan(body, t, (bonds, gates))
            return t, jnp.sum(w)

        # left to right over bonds 0..L-3 (center moves to L-2), then right to left over
        # L-2..0 with the merged middle gate exp(-i h_{L-2} s) first (center back to 0)
        lr = jnp.arange(L - 2)
        rl = jnp.arange(L - 2, -1, -1)
        g_rl = jnp.concatenate([full[L - 2:], half[:L - 2][::-1]])
        t, w1 = sweep(t, half[:L - 2], lr, center_left=False)
        t, w2 = sweep(t, g_rl, rl, center_left=True)
        return MatrixProductState(_clean(t)), w1 + w2


__all__ = ["TEBD", "bond_terms", "damping_from_jumps"]
