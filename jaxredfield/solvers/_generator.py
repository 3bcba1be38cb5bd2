r"""The right-hand side G(rho) of a :class:`~jaxredfield.MasterEquation` prepared for many
products with density matrices (mesolve's integrator, GMRES in steadystate).

Every generator of the module :mod:`jaxredfield.equations` is rewritten as

    G(rho) = K rho + rho K^dag + sum_j c_j A_j rho B_j,
    K = -i H - sum_(u,v) v u - 1/2 sum_k L_k^dag L_k + 1/2 sum_m M_m^dag M_m,

with the sandwiches u rho v and v^dag rho u^dag of each Redfield term ([u rho, v] + h.c.,
eq. (1)/(4)), L_k rho L_k^dag (c = +1) and M_m rho M_m^dag (c = -1) of the (pseudo-)Lindblad
jumps (SM E). Linear in rho also for non-Hermitian rho (GMRES iterates).

Representation, chosen per term: a term with at most ``DIA_MAX_PATTERNS`` digit-shift patterns
(the nearest-neighbour bonds, fields, two-site jumps) goes into one diagonal-storage matrix
(:class:`~jaxredfield.operators._dia.DiaOperator`: all of K's small terms share one set of
diagonals, one fused pass over rho per side); a wider term (a dense cluster operator u of the
local Redfield equation at N >= 2) keeps the tensor contraction of :func:`apply_left`, which
costs d^k multiply-adds per entry instead of one per diagonal. Never a d^L x d^L dense matrix.
Measured on the paper's chain, local Lindblad N = 1, inside a loop (as in an integrator):
L = 8 right-hand side 12.7 ms (term-by-term sum of ``MasterEquation.__call__``) -> 2.0 ms.
mesolve's states are Hermitian: it calls :meth:`Generator.hermitian`, G(rho) = Y + Y^dag with
only the row-side products (1.02 -> 0.78 ms at L = 8); GMRES iterates (steadystate) are not,
and use ``gen(rho)``.
Tried and rejected: one fused pass over a zero-padded rho summing every shifted copy with
outer-product weights (dynamiqs' fused sparse Lindbladian): 3.4 ms at L = 8 inside a loop
(12 ms without an optimization barrier: XLA hoists the loop-invariant weights out as stored
matrices).
"""

from __future__ import annotations

import collections
import threading
from typing import NamedTuple

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np

from ..equations import MasterEquation
from ..operators import LocalOperator, apply_left, apply_right, merge_terms
from ..operators.local import embed
from ..operators._dia import DiaOperator, patterns

#: a term with at most this many digit-shift patterns (diagonals) goes into DIA storage
DIA_MAX_PATTERNS = 27


class _Term(NamedTuple):
    """A local term's data for the host-side build: the matrix (NumPy when concrete, so no
    JAX op is dispatched per term), its sites, L and d (what :func:`patterns` and
    :func:`merge_terms` read; a LocalOperator's checks are not repeated)."""

    matrix: object
    sites: tuple
    L: int
    d: int

    @classmethod
    def of(cls, op: LocalOperator) -> "_Term":
        m = op.matrix
        return cls(m if isinstance(m, jax.core.Tracer) else np.asarray(m), op.sites, op.L, op.d)

    def with_matrix(self, m) -> "_Term":
        return self._replace(matrix=m)

    def astype(self, dtype) -> "_Term":
        m = self.matrix
        return self._replace(matrix=m.astype(np.dtype(dtype) if isinstance(m, np.ndarray) else dtype))


class _Side(eqx.Module):
    """One operator X acting on rho from one side: the DIA part plus the wide local terms."""

    dia: DiaOperator | None
    local: tuple

    @classmethod
    def build(cls, ops, max_patterns, dtype) -> "_Side":
        ops = [o.astype(dtype) for o in ops]
        pats = [patterns(o) for o in ops]  # once: counted here, stored below
        small = [p for p in pats if len(p) <= max_patterns]
        wide = [o for o, p in zip(ops, pats) if len(p) > max_patterns]
        return cls(DiaOperator.from_patterns(small, ops[0].L, ops[0].d, dtype) if small else None,
                   tuple(merge_terms(wide)) if wide else ())

    def left(self, x, padded=None):
        """X x (``padded``: see :meth:`DiaOperator.rows`)."""
        out = self.dia.rows(x, padded) if self.dia is not None else 0
        for o in self.local:
            out = out + apply_left(o, x)
        return out

    def right_transposed(self, x, padded=None):
        """x X^T (for x Y pass X = Y^T)."""
        out = self.dia.cols(x, padded) if self.dia is not None else 0
        for o in self.local:
            out = out + apply_right(x, o.with_matrix(o.matrix.T))
        return out


class Generator(eqx.Module):
    """G(rho) of a MasterEquation (module docstring); ``gen(rho)`` equals ``eq(rho)``."""

    k_left: _Side  # K
    k_right: _Side  # conj(K): rho K^dag = rho (conj K)^T
    sandwiches: tuple  # (A as _Side, B^T as _Side)
    signs: tuple = eqx.field(static=True)  # c of each sandwich (+1 or -1)
    # weight of each sandwich in the row-side half Y of :meth:`hermitian`: c/2 for a jump
    # (J rho J^dag is Hermitian), c for the first of a Redfield pair u rho v, 0 for its
    # adjoint v^dag rho u^dag (which Y^dag supplies)
    half_weights: tuple = eqx.field(static=True)

    @classmethod
    def build(cls, eq: MasterEquation, dtype=jnp.complex128,
              max_patterns: int = DIA_MAX_PATTERNS) -> "Generator":
        if not isinstance(eq, MasterEquation):
            raise TypeError(f"`eq` must be a MasterEquation, got {type(eq).__name__}")
        # host-side: the terms' matrices as NumPy arrays when concrete (measured at L = 6,
        # local Lindblad N = 1: 10.5 -> 2 ms per build; LocalOperator objects and a JAX
        # dispatch per term cost more than the products themselves)
        T = _Term.of
        K = [T(h) for h in eq.hamiltonian]
        K = [h.with_matrix(-1j * h.matrix) for h in K]
        sandwiches, half = [], []
        for u, v in eq.redfield_terms:
            S = tuple(sorted(set(u.sites) | set(v.sites)))
            um, vm = embed(T(u).matrix, u.sites, S, eq.d), embed(T(v).matrix, v.sites, S, eq.d)
            K.append(_Term(-(vm @ um), S, eq.L, eq.d))
            u, v = T(u), T(v)
            sandwiches += [(u, v, 1.0), (v.with_matrix(v.matrix.conj().T), u.with_matrix(u.matrix.conj().T), 1.0)]
            half += [1.0, 0.0]
        for sign, jumps in ((1.0, eq.jumps), (-1.0, eq.negative_jumps)):
            for J in jumps:
                J = T(J)
                K.append(J.with_matrix(-0.5 * sign * (J.matrix.conj().T @ J.matrix)))
                sandwiches.append((J, J.with_matrix(J.matrix.conj().T), sign))
                half.append(0.5 * sign)
        transposed = lambda o: o.with_matrix(o.matrix.T)
        return cls(
            _Side.build(K, max_patterns, dtype),
            _Side.build([k.with_matrix(k.matrix.conj()) for k in K], max_patterns, dtype),
            tuple((_Side.build([A], max_patterns, dtype), _Side.build([transposed(B)], max_patterns, dtype))
                  for A, B, _ in sandwiches),
            tuple(float(c) for _, _, c in sandwiches),
            tuple(half),
        )

    def _pad(self):
        """The largest offset of the products with rho itself (rho's zero padding)."""
        return max([s.dia.pad for s in (self.k_left, self.k_right) if s.dia is not None]
                   + [A.dia.pad for A, _ in self.sandwiches if A.dia is not None] + [0])

    def __call__(self, rho):
        # rho zero-padded once on both axes, shared by every product with rho itself
        P = self._pad()
        padded = (jnp.pad(rho, P), P) if P else None
        out = self.k_left.left(rho, padded) + self.k_right.right_transposed(rho, padded)
        for (A, Bt), c in zip(self.sandwiches, self.signs):
            term = Bt.right_transposed(A.left(rho, padded))
            out = out + c * term
        return out


    def hermitian(self, rho):
        """G(rho) for a Hermitian rho (mesolve's states): Y + Y^dag with the row-side half
        Y = K rho + sum_(u,v) u rho v + 1/2 sum_k c_k L_k rho L_k^dag, each term's product
        taken once instead of twice (the Redfield form of SM E, [u rho, v] + h.c., and the
        Lindblad form written as a matrix plus its adjoint, as dynamiqs does for Hermitian
        states). Exact for Hermitian rho; for a non-Hermitian one it is not G(rho) (GMRES
        iterates use ``gen(rho)``). Measured inside a loop, the paper's chain, local Lindblad
        N = 1: L = 8 1.02 -> 0.78 ms, L = 6 0.110 -> 0.083 ms per evaluation.

        rho is padded on its rows only (every product here acts on rows first), and Y is
        computed into its own buffer before the transpose: XLA:CPU otherwise fuses all of Y
        into the transposing sum and evaluates it twice per entry in column order (3.8 ms at
        L = 8; an optimization barrier is removed before fusion on CPU). The buffer boundary
        is a ``lax.cond`` on ``rho[0, 0] == rho[0, 0]`` (false only for NaN, then the result
        is NaN), a predicate XLA cannot fold.
        """
        P = self._pad()
        padded = (jnp.pad(rho, ((P, P), (0, 0))), P) if P else None
        y = self.k_left.left(rho, padded)
        for (A, Bt), w in zip(self.sandwiches, self.half_weights):
            if w != 0.0:
                y = y + w * Bt.right_transposed(A.left(rho, padded))
        finite = eqxi.unvmap_any(rho[0, 0] == rho[0, 0])
        y = jax.lax.cond(finite, lambda y: y, lambda y: jnp.full_like(y, jnp.nan), y)
        return y + y.conj().T


# --------------------------------------------------------------------------------------------
# a repeated solve of the same equation reuses its generator

_CACHE: collections.OrderedDict = collections.OrderedDict()
_CACHE_SIZE = 4  # equations kept (least recently used dropped)
_CACHE_LOCK = threading.Lock()


def generator(eq: MasterEquation, dtype=jnp.complex128,
              max_patterns: int = DIA_MAX_PATTERNS) -> Generator:
    """``Generator.build(eq, dtype, max_patterns)``, reused when the same equation comes back
    (mesolve, steadystate): a parameter sweep over ``rho0``/``tsave``/e_ops or a repeated
    call skips the host-side build (L = 6, local Lindblad N = 1: 2.2 ms of a 60 ms mesolve;
    with the fresh device arrays it makes, 4.4 ms).

    The key is the equation's tree structure (sites, L, d, name) and the identities of its
    matrices. A MasterEquation's matrices are JAX arrays, which cannot change in place, and
    the entry holds them, so an identity is never reused by another array while its entry
    lives: an equal key means the same operators. Equations with a traced matrix (inside
    ``jax.jit``/``grad``) or a non-JAX leaf are built afresh every time; the last
    ``_CACHE_SIZE`` equations are kept."""
    leaves, treedef = jax.tree_util.tree_flatten(eq)
    if not all(isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer) for x in leaves):
        return Generator.build(eq, dtype, max_patterns)
    key = (treedef, tuple(map(id, leaves)), np.dtype(dtype).str, int(max_patterns))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit[1]
    gen = Generator.build(eq, dtype, max_patterns)
    with _CACHE_LOCK:
        _CACHE[key] = (leaves, gen)  # the leaves held: their ids stay theirs
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return gen
