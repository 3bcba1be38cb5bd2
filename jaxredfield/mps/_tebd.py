r"""Time-evolving block decimation (TEBD) of an MPS under the non-Hermitian Hamiltonian of
quantum-jump trajectories,

    H_nh = sum_j h_j - (i/2) sum_j G_j = sum_{b=0}^{L-w} h_b,

with Hermitian terms h_j and positive semidefinite damping terms G_j (e.g. L_k^dagger L_k of
each jump operator), each on contiguous sites. With w = max(2, the widest term) the chain is
covered by the L - w + 1 overlapping blocks b = (b, ..., b+w-1) of w contiguous sites, and
every term is shared equally among the blocks that contain it (w = 2: two-site terms on their
nearest-neighbour bond, one-site terms shared between the one or two bonds of the site).

One step exp(-i H_nh s) |psi> is the palindromic (symmetric) Trotter-Suzuki product

    U(s) = U_0 U_1 ... U_{L-w} U_{L-w} ... U_1 U_0,   U_b = exp(-i h_b s / 2)

(rightmost factor first: one left-to-right sweep of the half-step gates, then one right-to-
left sweep; the two middle factors are applied as one gate exp(-i h_{L-w} s)). A symmetric
product of exponentials is second order, U(s) = exp(-i H_nh s) + O(s^3) (Suzuki, Phys. Lett.
A 146, 319 (1990)). Each gate acts on the w-site tensor of its block, which holds the
orthogonality center, and is split back by w - 1 SVDs truncated to chi that leave the center
on the first site of the next block of the sweep (:func:`split_block`; Vidal, PRL 91, 147902
(2003); Schollwöck, Ann. Phys. 326, 96 (2011), Sec. 7): every truncation is at the center.
The state is not renormalized: H_nh is not Hermitian and <psi|psi> decays as under the exact
evolution (the jump probability of the trajectory).

The gates are computed inside the traced step (:func:`expm_small` of the d^w x d^w block matrices), so the
step length s may be traced, negative (short backward steps) and different between vmapped
trajectories. The sweeps are ``lax.scan`` over blocks with dynamic indexing of the
(L, chi, d, chi) tensor array: compile time does not grow with L.

Bond sizes: each gate runs at the smallest of the static sizes chi, chi/2, chi/4, chi/8
(:func:`~._mps.bond_sizes`) that holds the outer bonds of its block, through a ``lax.switch``
(:func:`~._mps.by_size`). The bond dimensions are read off the tensors once per step (their
unused bond indices are exact zeros: :func:`~._mps.bond_dims`) and carried through the sweeps
(each gate sets its inner bonds); a gate reads only its block's region of the storage,
(c, d, chi) on the first site and (chi, d, c) on the last, and writes only the region its old
and new tensors use, in place (:func:`~._mps.by_size_in_place`: one two-way ``lax.cond`` per
size; a ``lax.switch`` of the sizes made XLA copy the whole storage per gate, 199 ms per step
at L = 100). For w = 2 both sweeps are one ``lax.scan`` with the center's side traced
(:func:`~._mps.split_block`): one compiled gate program instead of two. With ``cutoff`` > 0
the truncations keep the bonds at the sizes the state needs. Measured at L = 100 from
|up...up> (every gate at the smallest size), chi = 64: 10.7 -> 8.5 ms per step with the
carried bond dimensions and region reads; at L = 200: 19-20 ms -> 12 ms per step with the
region writes and the one scan (same tensors bitwise; a state with 19 bonds at 64 and the
rest small: 190-200 ms either way, the SVDs at full size dominate). Measured on the paper's chain from |up...up> (local Lindblad N = 1, t = 0...5/h,
dt 0.05, 2 CPU cores): L = 20, chi = 32: 2.4 s per trajectory with cutoff 0, 1.5 s with
cutoff 1e-12; L = 50, chi = 64: 16.7 s with cutoff 0 (every bond soon holds singular values
of weight ~1e-20 and runs at the full size), 2.7 s with 1e-12, 2.1 s with 1e-10.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..operators import embed
from ._mps import MatrixProductState, _block, _clean, _pad, bond_dims, by_size_in_place, split_block, used


#: Taylor degree of :func:`expm_small`, for ||A||_1 <= EXPM_THETA after the scaling: the
#: remainder of the truncated series is below EXPM_THETA^(m+1)/(m+1)! e^EXPM_THETA = 2.6e-23
EXPM_DEGREE = 18
EXPM_THETA = 0.5
#: at most this many squarings (||A||_1 up to 2^63: far beyond any gate's s ||h_b||)
EXPM_MAX_SQUARINGS = 64


def expm_small(a):
    """exp(A) of a batch of small matrices a (..., n, n) by scaling and squaring: A/2^k with
    ||A/2^k||_1 <= ``EXPM_THETA`` (one k, the largest the batch needs, traced), the Taylor
    polynomial of degree ``EXPM_DEGREE`` by Horner's rule, then k squarings. Agrees with
    ``jax.scipy.linalg.expm`` to round-off (tests/test_mps.py) but compiles to a few batched
    products and one loop, not Pade's degree switch and linear solve: the trajectory program
    holds three TEBD steps, each with its gates (measured at L = 200, bond 64, ad-hoc: XLA
    compile 6.9 -> 5.0-5.2 s, first call 15.0 -> 12.4-12.6 s)."""
    norm = jnp.max(jnp.sum(jnp.abs(a), axis=-2))  # the largest 1-norm of the batch
    k = jnp.clip(jnp.ceil(jnp.log2(jnp.maximum(norm, 1e-300) / EXPM_THETA)), 0, EXPM_MAX_SQUARINGS)
    # a non-finite A (a NaN step length from a NaN state) gives NaN, which the trajectory loop
    # reports, instead of an unbounded number of squarings
    k = jnp.where(jnp.isfinite(norm), k, 0).astype(jnp.int32)
    x = a * (0.5 ** k).astype(a.real.dtype)
    eye = jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape)
    p = eye
    for j in range(EXPM_DEGREE, 0, -1):
        p = eye + (x @ p) / j
    return jax.lax.fori_loop(0, k, lambda _, q: q @ q, p)


def damping_from_jumps(jumps) -> list:
    """G_k = L_k^dagger L_k for LocalOperators ``jumps`` (the damping terms of H_nh)."""
    return [j.with_matrix(j.matrix.conj().T @ j.matrix, hermitian=True) for j in jumps]


def term_width(ops) -> int:
    """max(2, the widest support) of LocalOperators ``ops``: the TEBD block width w."""
    return max([2] + [len(tuple(o.sites)) for o in ops])


def bond_terms(hamiltonian_terms, damping_terms, L: int, d: int, width: int = 2) -> np.ndarray:
    """The block matrices h_b (L - w + 1, d^w, d^w) of the blocks of w = ``width`` contiguous
    sites (b, ..., b+w-1), in ascending site order, with sum_b h_b = H - (i/2) sum G
    (module docstring; w = 2: the nearest-neighbour bond matrices). Terms on more than w
    sites or on non-contiguous sites raise ``NotImplementedError`` naming their sites."""
    w = int(width)
    if w < 2 or L < w:
        raise ValueError(f"TEBD needs a chain of L >= w >= 2 sites, got L = {L}, w = {w}")
    nb = L - w + 1
    h = np.zeros((nb, d**w, d**w), complex)
    terms = [(o, 1.0) for o in hamiltonian_terms] + [(g, -0.5j) for g in damping_terms]
    for op, c in terms:
        if (op.L, op.d) != (L, d):
            raise ValueError(f"the term on sites {op.sites} is for a lattice (L, d) = "
                             f"{(op.L, op.d)}, the others for {(L, d)}")
        sites, m = tuple(op.sites), c * np.asarray(op.matrix, complex)
        lo, k = min(sites), len(sites)
        if k > w or sorted(sites) != list(range(lo, lo + k)):
            raise NotImplementedError(
                f"TEBD supports terms on contiguous sites (at most {w} here); the term on sites "
                f"{sites} is not (split it into such terms, or use another method)")
        blocks = range(max(0, lo + k - w), min(lo, nb - 1) + 1)
        for b in blocks:
            h[b] += embed(m / len(blocks), sites, tuple(range(b, b + w)), d)
    return h


class TEBD(eqx.Module):
    """Second-order TEBD for exp(-i H_nh s) (module docstring). Build with :meth:`build`;
    :meth:`step` is pure and jittable."""

    bond_h: jax.Array  # (L - w + 1, d^w, d^w): the block matrices h_b (w = 2: bonds)
    max_bond: int = eqx.field(static=True)
    width: int = eqx.field(static=True, default=2)  # w: sites per gate
    cutoff: float = eqx.field(static=True, default=0.0)  # relative weight cut per truncation

    @classmethod
    def build(cls, hamiltonian_terms, damping_terms, max_bond: int,
              dtype=jnp.complex128, cutoff: float = 0.0) -> "TEBD":
        """From the Hermitian terms h_j and the damping terms G_j (LocalOperators on contiguous
        sites) of H_nh = sum h_j - (i/2) sum G_j; ``max_bond`` is the bond dimension chi of the
        MPS; ``cutoff``: each truncation also cuts the smallest singular values whose weight
        sum_k S_k^2 is at most ``cutoff`` times the total (:func:`~._mps._truncate`). The
        gates act on blocks of w = max(2, widest term) sites."""
        ops = list(hamiltonian_terms) + list(damping_terms)
        if not ops:
            raise ValueError("no terms: H_nh needs at least one Hamiltonian or damping term")
        if int(max_bond) < 1:
            raise ValueError(f"`max_bond` must be >= 1, got {max_bond}")
        if not 0 <= float(cutoff) < 1:
            raise ValueError(f"`cutoff` must be in [0, 1), got {cutoff}")
        L, d = ops[0].L, ops[0].d
        h = bond_terms(hamiltonian_terms, damping_terms, L, d, term_width(ops))
        return cls(jnp.asarray(h, dtype), int(max_bond), term_width(ops), float(cutoff))

    def gates(self, s):
        """(exp(-i h_b s/2), exp(-i h_b s)) for every block b: each (L-w+1, d^w, d^w)."""
        half = expm_small(-0.5j * s * self.bond_h)
        return half, half @ half

    def step(self, mps: MatrixProductState, s, axis_name=None, gates=None):
        """(exp(-i H_nh s) |psi> to O(s^3), summed discarded weight of the step's SVDs).

        ``gates``: :meth:`gates` ``(s)`` computed once by a caller that takes many steps of
        the same length (the density-matrix run: its expm is then not repeated per step).

        Each gate works at the smallest bond size that holds its block's outer bonds
        (:func:`~._mps.by_size`; ``axis_name``: the vmap axis of trajectories, if any).

        ``mps`` must have its orthogonality center at site 0 (as :func:`canonicalize` and
        this step leave it); otherwise the result is the same state but the truncations are
        not optimal. The discarded weight is the sum over the SVDs of the relative squared
        norm cut by each (see :func:`split_block`)."""
        L, chi, d = mps.L, mps.chi, mps.d
        if chi != self.max_bond:
            raise ValueError(f"the MPS has bond dimension {chi}, this TEBD was built for "
                             f"max_bond = {self.max_bond}")
        w = self.width
        if d**w != self.bond_h.shape[-1]:
            raise ValueError(f"the MPS has local dimension {d}, this TEBD's gates are "
                             f"{self.bond_h.shape[-1]} x {self.bond_h.shape[-1]} on {w} sites")
        nb = self.bond_h.shape[0]
        if nb != L - w + 1:
            raise ValueError(f"the MPS has L = {L} sites, this TEBD was built for "
                             f"L = {nb + w - 1}")
        half, full = self.gates(s) if gates is None else gates
        t = mps.tensors
        region = lambda c: min(chi, c * d ** (w - 1))  # noqa: E731

        def apply(carry, b, g, center):
            # the gate at the smallest size c that holds the block's outer bonds (from the
            # carried bond dimensions, not re-read from the tensors); it reads only the
            # block's region of the storage, (c, d, chi) on the first site, (chi, d, c) on
            # the last, (chi, d, chi) in between, and writes only the region that its new
            # tensors and the old ones use, (w, r, d, r) with r = min(chi, c d^(w-1)) (the
            # largest inner bond of w sites between outer bonds c), in place
            t, bonds = carry

            def at(c, t):
                theta = jnp.einsum("uv,avb->aub", g.astype(t.dtype), _block(t, b, w, c))
                parts, cut = split_block(theta, w, chi, d, center, self.cutoff)
                inner = jnp.stack([used(a, "left") for a in parts[1:]]).astype(bonds.dtype)
                r = region(c)
                new = jnp.stack([_pad(a, r) for a in parts])
                return jax.lax.dynamic_update_slice(t, new, (b, 0, 0, 0)), (cut, inner)

            # the old inner bonds must lie in the region written too (they do: an inner bond
            # never exceeds r of its outer bonds; taken into the size all the same)
            old_inner = jnp.max(jax.lax.dynamic_slice_in_dim(bonds, b + 1, w - 1))
            need = jnp.maximum(jnp.maximum(bonds[b], bonds[b + w]), -(-old_inner // d ** (w - 1)))
            t, (cut, inner) = by_size_in_place(need, chi, at, t, axis_name)
            return (t, jax.lax.dynamic_update_slice(bonds, inner, (b + 1,))), cut

        def sweep(carry, gates, blocks, center):
            def body(carry, x):
                b, g, c = x
                return apply(carry, b, g, center if c is None else c)

            xs = (blocks, gates, None if isinstance(center, int) else center)
            carry, cut = jax.lax.scan(body, carry, xs)
            return carry, jnp.sum(cut)

        carry = (t, bond_dims(t))
        if nb == 1:  # one block: the whole step is one gate, center back to site 0
            (t, _), cut = apply(carry, 0, full[0], 0)
            return MatrixProductState(_clean(t)), cut
        # left to right over blocks 0..nb-2, each leaving the center on the first site of the
        # next block (center 1 of the block); then right to left over nb-1..0 with the merged
        # middle gate exp(-i h_{nb-1} s) first, each leaving the center on the last site of the
        # previous block (center w-2), the last one (block 0) on site 0
        g_rl = jnp.concatenate([full[nb - 1:], half[:nb - 1][::-1]])
        if w == 2:  # both sweeps in one scan, the center (1, then 0) traced: one program of
            # the gate instead of two (the trajectory program compiles 3 steps)
            centers = jnp.concatenate([jnp.ones(nb - 1, jnp.int32), jnp.zeros(nb, jnp.int32)])
            blocks = jnp.concatenate([jnp.arange(nb - 1), jnp.arange(nb - 1, -1, -1)])
            carry, cut = sweep(carry, jnp.concatenate([half[:nb - 1], g_rl]), blocks, centers)
            return MatrixProductState(_clean(carry[0])), cut
        carry, w1 = sweep(carry, half[:nb - 1], jnp.arange(nb - 1), center=1)
        carry, w2 = sweep(carry, g_rl[:-1], jnp.arange(nb - 1, 0, -1), center=w - 2)
        carry, w3 = apply(carry, 0, g_rl[-1], 0)
        return MatrixProductState(_clean(carry[0])), w1 + w2 + w3


__all__ = ["TEBD", "bond_terms", "damping_from_jumps", "expm_small", "term_width"]
