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
    """The digit-shift patterns of ``op`` as (offset, table, index): the diagonal with that
    offset is ``table[index]`` (index: the digits a(s) of every basis state s, NumPy). All
    patterns for a traced matrix; the nonzero ones for a concrete one."""
    L, d = op.L, op.d
    S = tuple(sorted(op.sites))
    M = embed(op.matrix, op.sites, S, d)
    k = len(S)
    D = d**L
    idx = np.arange(D, dtype=np.int64)
    a_of_s = np.zeros(D, dtype=np.int64)
    for j in S:
        a_of_s = a_of_s * d + (idx // d ** (L - 1 - j)) % d
    concrete = not isinstance(M, jax.core.Tracer)
    Mn = np.asarray(M) if concrete else None
    a_digits = np.array(list(itertools.product(range(d), repeat=k)), dtype=np.int64).reshape(-1, k)
    out = []
    for delta in itertools.product(range(-(d - 1), d), repeat=k):
        b_digits = a_digits + np.array(delta, dtype=np.int64)
        valid = np.all((b_digits >= 0) & (b_digits < d), axis=1)
        if not valid.any():
            continue
        b = np.ravel_multi_index(np.clip(b_digits, 0, d - 1).T, (d,) * k)
        rows = np.arange(d**k)
        if concrete and not np.any(Mn[rows[valid], b[valid]]):
            continue
        table = jnp.where(jnp.asarray(valid), M[rows, b], 0)
        offset = sum(int(x) * d ** (L - 1 - j) for x, j in zip(delta, S))
        out.append((offset, table, a_of_s))
    return out


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
        acc: dict = {}
        for op in ops:
            for offset, table, index in patterns(op):
                v = table.astype(dtype)[index]
                acc[offset] = v if offset not in acc else acc[offset] + v
        if not acc:  # all terms are zero
            acc[0] = jnp.zeros(ops[0].d ** ops[0].L, dtype)
        offsets = tuple(sorted(acc))
        return cls(jnp.stack([acc[o] for o in offsets]), offsets, max(abs(o) for o in offsets))

    def rows(self, x):
        """A x: the operator on the row index of x (d^L, m)."""
        D, P = x.shape[0], self.pad
        xp = jnp.pad(x, ((P, P), (0, 0))) if P else x
        out = None
        for k, o in enumerate(self.offsets):
            t = self.diags[k][:, None] * xp[P + o : P + o + D]
            out = t if out is None else out + t
        return out

    def cols(self, x):
        """x A^T: the operator on the column index of x (m, d^L)."""
        D, P = x.shape[1], self.pad
        xp = jnp.pad(x, ((0, 0), (P, P))) if P else x
        out = None
        for k, o in enumerate(self.offsets):
            t = self.diags[k][None, :] * xp[:, P + o : P + o + D]
            out = t if out is None else out + t
        return out
