r"""A sum of local operators as a d^L x d^L matrix in diagonal (DIA) storage, for products with
density matrices (private: the density-matrix right-hand side of :mod:`jaxredfield.generator`).

A local term M on sites S maps a basis state s with digits a on S to s' with digits b, at
the index offset o = sum_j (b_j - a_j) d^(L-1-S_j): every digit-shift pattern delta = b - a is
one diagonal of the full matrix, A[s, s + o] = M[a(s), a(s) + delta]. All terms' diagonals
with equal offsets are summed, so the sum of the chain's terms is a handful of diagonals
(the XXZ chain: 2(L-1) + 1) and

    (A x)[s, :] = sum_o diag_o[s] x[s + o, :]

is a sum of row-shifted slices of x times a vector: contiguous rows, vectorized, fused by
XLA into one pass per few diagonals (the storage dynamiqs uses for its sparse operators).
Never a dense d^L x d^L matrix and never a diagonalization: memory n_diag x d^L.

Built from concrete matrices, patterns whose entries are all zero are dropped; from traced
matrices (inside ``jit``/``grad``) every pattern is kept (the values are gathered from the
traced matrices, so the operator is differentiable).
"""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .local import LocalOperator, embed


def patterns(op: LocalOperator):
    """The digit-shift patterns of ``op`` as (offset, table, S): the diagonal with that
    offset is ``table[a(s)]`` (a(s): the digits of basis state s on the sorted sites S). All
    patterns for a traced matrix (``table`` a JAX array gathered from it); the nonzero ones for
    a concrete matrix (``table`` NumPy: host work only, no per-pattern dispatch)."""
    L, d = op.L, op.d
    S = tuple(sorted(op.sites))
    M = embed(op.matrix, op.sites, S, d)
    concrete = not isinstance(M, jax.core.Tracer)
    if concrete:
        M = np.asarray(M)
    k = len(S)
    a_digits = np.array(list(itertools.product(range(d), repeat=k)), dtype=np.int64).reshape(-1, k)
    rows = np.arange(d**k)
    place = d ** np.arange(k - 1, -1, -1, dtype=np.int64)  # digit weights within S
    shift = np.array([d ** (L - 1 - j) for j in S], dtype=np.int64)  # within the chain
    all_deltas = np.array(list(itertools.product(range(-(d - 1), d), repeat=k)), dtype=np.int64)
    out = []
    blk = max(1, 2**22 // (d**k * k))  # patterns per vectorized block (~32 MB of indices)
    for lo in range(0, len(all_deltas), blk):
        deltas = all_deltas[lo:lo + blk]
        b_digits = a_digits[None, :, :] + deltas[:, None, :]  # (n, d^k, k)
        valid = np.all((b_digits >= 0) & (b_digits < d), axis=2)  # (n, d^k)
        b = np.clip(b_digits, 0, d - 1) @ place  # (n, d^k)
        if concrete:
            tables = np.where(valid, M[rows[None, :], b], 0)
            keep = np.flatnonzero(np.any(tables != 0, axis=1))
        else:
            tables = jnp.where(jnp.asarray(valid), M[rows[None, :], b], 0)
            keep = np.flatnonzero(np.any(valid, axis=1))
        for i in keep:
            out.append((int(deltas[i] @ shift), tables[i], S))
    return out


def _digits_index(S, L, d):
    """a(s): the digits of every basis state s on the sites S as one index (NumPy)."""
    idx = np.arange(d**L, dtype=np.int64)
    a = np.zeros(d**L, dtype=np.int64)
    for j in S:
        a = a * d + (idx // d ** (L - 1 - j)) % d
    return a


def n_patterns(op: LocalOperator) -> int:
    """Number of diagonals ``op`` contributes (see :func:`patterns`)."""
    return len(patterns(op))


class DiaOperator(eqx.Module):
    """A sum of LocalOperators as diagonals (module docstring): ``rows(x)`` = A x,
    ``cols(x)`` = x A^T, for x of shape (d^L, m) / (m, d^L)."""

    diags: jnp.ndarray  # (n_diag, d^L)
    offsets: tuple = eqx.field(static=True)
    pad: int = eqx.field(static=True)

    @classmethod
    def from_local(cls, ops, dtype=jnp.complex128) -> "DiaOperator":
        ops = list(ops)
        if not ops:
            raise ValueError("`ops` is empty")
        return cls.from_patterns([patterns(op) for op in ops], ops[0].L, ops[0].d, dtype)

    @classmethod
    def from_patterns(cls, pattern_lists, L: int, d: int, dtype=jnp.complex128) -> "DiaOperator":
        """From the :func:`patterns` of each term (computed once by a caller that also
        counted them)."""
        acc: dict = {}
        index: dict = {}
        for pats in pattern_lists:
            for offset, table, S in pats:
                if S not in index:
                    index[S] = _digits_index(S, L, d)
                v = table[index[S]]  # NumPy for concrete terms, a gather for traced ones
                acc[offset] = v if offset not in acc else acc[offset] + v
        if not acc:  # all terms are zero
            acc[0] = np.zeros(d**L)
        offsets = tuple(sorted(acc))
        concrete = all(isinstance(v, np.ndarray) for v in acc.values())
        diags = (jnp.asarray(np.stack([acc[o] for o in offsets]), dtype) if concrete
                 else jnp.stack([jnp.asarray(acc[o]).astype(dtype) for o in offsets]))
        return cls(diags, offsets, max(abs(o) for o in offsets))

    def rows(self, x, padded=None):
        """A x: the operator on the row index of x (d^L, m). ``padded``: (xp, P), x already
        zero-padded by P >= ``self.pad`` rows (and columns) on both sides, shared between
        several products."""
        D = x.shape[0]
        if padded is None:
            P, Q = self.pad, 0
            xp = jnp.pad(x, ((P, P), (0, 0))) if P else x
        else:
            xp, P = padded
            Q = P if xp.shape[1] != x.shape[1] else 0
        out = None
        for k, o in enumerate(self.offsets):
            t = self.diags[k][:, None] * xp[P + o : P + o + D, Q : Q + x.shape[1]]
            out = t if out is None else out + t
        return out

    def cols(self, x, padded=None):
        """x A^T: the operator on the column index of x (m, d^L) (``padded`` as in
        :meth:`rows`)."""
        D = x.shape[1]
        if padded is None:
            P, Q = self.pad, 0
            xp = jnp.pad(x, ((0, 0), (P, P))) if P else x
        else:
            xp, P = padded
            Q = P if xp.shape[0] != x.shape[0] else 0
        out = None
        for k, o in enumerate(self.offsets):
            t = self.diags[k][None, :] * xp[Q : Q + x.shape[0], P + o : P + o + D]
            out = t if out is None else out + t
        return out
