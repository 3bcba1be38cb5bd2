"""A sum of local operators compiled into one fused, matrix-free kernel on state vectors
(private: the trajectory solvers' product with the effective Hamiltonian).

(H psi)[s] = diag[s] psi[s] + sum_p c_p[a_p(s)] psi[s + offset_p(s)]

Every local term M on sites S contributes, for each digit-shift pattern delta (b = a + delta
on the sites S), the entries M[a, a + delta]; the pattern's index shift is
sum_j delta_j d^(L-1-S_j). All diagonal entries (delta = 0) of all terms are summed into one
precomputed vector. Off-diagonal patterns become gathers whose indices and coefficients are
computed from the basis index on the fly, so XLA fuses the whole product into few passes over
psi: for the XXZ chain, one diagonal and 2(L-1) gathers (the flip-flop terms), instead of
one tensor contraction (with transposes) per bond. This is the "diagonal vector plus bit-flip
gathers" design of DESIGN.md; memory: one real or complex vector of length d^L.
"""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .local import apply_left, embed, merge_terms


class GatherOperator(eqx.Module):
    """Sum of :class:`LocalOperator` s as diagonal vector + fused gathers (see module doc)."""

    diag: jnp.ndarray  # (d^L,)
    coeffs: tuple  # per pattern: (d^k,) coefficient table indexed by the digits a(s)
    sites: tuple = eqx.field(static=True)  # per pattern: sites S
    deltas: tuple = eqx.field(static=True)  # per pattern: digit shifts on S (d = 2: flip mask)
    L: int = eqx.field(static=True)
    d: int = eqx.field(static=True)

    @classmethod
    def from_local(cls, ops, tol: float = 0.0) -> "GatherOperator":
        ops = list(ops)
        if not ops:
            raise ValueError("`ops` is empty")
        L, d = ops[0].L, ops[0].d
        D = d**L
        idx = np.arange(D, dtype=np.int64)

        def digit(j):  # on demand: L full-size digit arrays at once cost L * 8 * d^L bytes
            return (idx // d ** (L - 1 - j)) % d

        diag = np.zeros(D, dtype=np.complex128)
        patterns: dict = {}
        for op in ops:
            S = tuple(sorted(op.sites))
            M = np.asarray(embed(op.matrix, op.sites, S, d))
            k = len(S)
            a_of_s = np.zeros(D, dtype=np.int64)
            for j in S:
                a_of_s = a_of_s * d + digit(j)
            diag += np.diag(M)[a_of_s]
            for delta in itertools.product(range(-(d - 1), d), repeat=k):
                if not any(delta):
                    continue
                table = np.zeros(d**k, dtype=np.complex128)
                for a in range(d**k):
                    ad = np.unravel_index(a, (d,) * k)
                    bd = [x + y for x, y in zip(ad, delta)]
                    if all(0 <= x < d for x in bd):
                        table[a] = M[a, np.ravel_multi_index(bd, (d,) * k)]
                if np.abs(table).max() <= tol:
                    continue
                # d = 2: every shift flips bits, s -> s XOR mask covers +1 and -1 alike, so
                # patterns with the same flipped sites share one gather (tables are disjoint)
                key = (S, tuple(int(x != 0) for x in delta)) if d == 2 else (S, delta)
                patterns[key] = patterns.get(key, 0) + table
        keys = sorted(patterns)
        diag_arr = jnp.asarray(diag.real if np.abs(diag.imag).max() == 0 else diag)
        return cls(diag_arr, tuple(jnp.asarray(patterns[k]) for k in keys),
                   tuple(k[0] for k in keys), tuple(k[1] for k in keys), L, d)

    def astype(self, dtype) -> "GatherOperator":
        """The same operator with coefficients in ``dtype`` (e.g. complex64)."""
        real = jnp.finfo(jnp.dtype(dtype)).dtype
        diag = self.diag.astype(real if not jnp.iscomplexobj(self.diag) else dtype)
        return GatherOperator(diag, tuple(c.astype(dtype) for c in self.coeffs), self.sites,
                              self.deltas, self.L, self.d)

    def apply(self, psi):
        """O psi for psi of shape (..., d^L) (leading batch axes allowed)."""
        L, d = self.L, self.d
        D = d**L
        s = jnp.arange(D, dtype=jnp.int32 if D < 2**31 else jnp.int64)
        # tie the basis index to psi: inside a loop, XLA would otherwise hoist the (loop-
        # invariant) coefficient selects and gather indices out of it as full-size arrays,
        # turning cheap index arithmetic into ~20 extra vectors read per product
        s, psi = jax.lax.optimization_barrier((s, psi))
        pow2 = d & (d - 1) == 0
        bits = d.bit_length() - 1

        def digit(j):
            p = L - 1 - j
            if pow2:  # shifts and masks: cheap, fusible
                return (s >> (bits * p)) & (d - 1)
            return (s // d**p) % d

        out = self.diag * psi
        for table, S, delta in zip(self.coeffs, self.sites, self.deltas):
            a = None
            shift = 0
            for j, dj in zip(S, delta):
                a = digit(j) if a is None else a * d + digit(j)
                shift += dj * d ** (L - 1 - j)
            # coefficient c[a(s)] as a select chain over the table's nonzero entries (the
            # table is concrete at trace time), zero where the shifted digit leaves [0, d)
            nz = [int(i) for i in np.flatnonzero(np.asarray(table))] if _concrete(table) else range(table.shape[0])
            c = jnp.zeros((), dtype=table.dtype)
            for i in nz:
                c = jnp.where(a == i, table[i], c)
            if d == 2:  # delta holds the flip mask
                mask = sum(1 << (L - 1 - j) for j, dj in zip(S, delta) if dj)
                src = s ^ mask
            else:
                src = jnp.where(c != 0, s + shift, s)
            out = out + c * jnp.take(psi, src, axis=-1, mode="clip")
        return out


def fused_sum(ops, dtype=jnp.complex128, gather_max_dim: int = 16):
    """A sum of LocalOperators prepared for many products with states: merged
    (:func:`merge_terms`), cast to ``dtype``, and fused into one :class:`GatherOperator` when
    every merged term spans at most ``gather_max_dim`` basis states (else a tuple of
    LocalOperators). Apply it with :func:`apply_sum`."""
    terms = tuple(t.with_matrix(t.matrix.astype(dtype)) for t in merge_terms(ops))
    if all(t.d ** len(t.sites) <= gather_max_dim for t in terms):
        return GatherOperator.from_local(terms).astype(dtype)
    return terms


def apply_sum(op, psi):
    """The product of a :func:`fused_sum` result with a state."""
    if isinstance(op, GatherOperator):
        return op.apply(psi)
    out = apply_left(op[0], psi)
    for A in op[1:]:
        out = out + apply_left(A, psi)
    return out


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)

