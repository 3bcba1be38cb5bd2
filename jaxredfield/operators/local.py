"""Operators supported on a few sites of a lattice, applied to many-body states and density
matrices without forming a d^L x d^L matrix.

A state vector of L sites with local dimension d is handled as a tensor of shape (d,)*L
(site 0 first, the most significant Kronecker factor, as QuTiP's ``tensor``); a density
matrix as a tensor of shape (d,)*2L (row axes, then column axes). A k-site operator is
applied by contracting its input axes with the state's axes of those sites: cost
O(d^(L+k)) per state instead of O(d^(2L)).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


class LocalOperator(eqx.Module):
    """A d^k x d^k matrix acting on the sites ``sites`` of an L-site lattice.

    The matrix is in the Kronecker order of ``sites`` (first listed site = most significant
    factor); ``sites`` need not be sorted or contiguous. ``sites == tuple(range(L))`` is a
    full many-body (dense) operator.

    ``hermitian``: ``True``/``False`` declares whether the matrix is Hermitian (static, so it
    survives ``jax.jit``/``grad`` where the matrix itself is traced and cannot be inspected);
    ``None`` (default): unknown, checked numerically by :meth:`is_hermitian` when the matrix
    is concrete. A declared ``True`` is verified when the matrix is concrete. The observable
    builders (:func:`operator_on`, :func:`magnetization`, :func:`spin_current`,
    :func:`bond_current`) declare it, so their expectation values are real in eager and
    traced code alike.
    """

    matrix: jnp.ndarray
    sites: tuple = eqx.field(static=True)
    L: int = eqx.field(static=True)
    d: int = eqx.field(static=True)
    hermitian: bool | None = eqx.field(static=True)

    def __init__(self, matrix, sites, L: int, d: int, hermitian: bool | None = None):
        sites = tuple(int(s) for s in np.atleast_1d(sites))
        if len(set(sites)) != len(sites):
            raise ValueError(f"`sites` has repeated entries: {sites}")
        for s in sites:
            if not 0 <= s < L:
                raise ValueError(f"site {s} is outside the chain: sites are 0..{L - 1}")
        m = jnp.asarray(matrix)
        if m.shape != (d ** len(sites),) * 2:
            raise ValueError(
                f"operator on {len(sites)} site(s) of dimension {d} must have shape "
                f"{(d ** len(sites),) * 2}, got {m.shape}"
            )
        if hermitian is not None:
            hermitian = bool(hermitian)
            if hermitian and not isinstance(m, jax.core.Tracer) and not _hermitian_matrix(m):
                raise ValueError(
                    f"the operator on sites {sites} is declared hermitian=True but is not "
                    "Hermitian; pass its Hermitian part (A + A^dagger)/2 or hermitian=None"
                )
        self.matrix = m.astype(jnp.result_type(m.dtype, jnp.complex64))
        self.sites = sites
        self.L = int(L)
        self.d = int(d)
        self.hermitian = hermitian

    # -- algebra -------------------------------------------------------------------------
    def with_matrix(self, matrix, hermitian: bool | None = None) -> "LocalOperator":
        """Another matrix on the same sites of the same lattice (``hermitian`` as in the
        constructor: unknown unless declared)."""
        return LocalOperator(matrix, self.sites, self.L, self.d, hermitian)

    def dag(self) -> "LocalOperator":
        return self.with_matrix(self.matrix.conj().T, self.hermitian)

    def scale(self, c) -> "LocalOperator":
        real = isinstance(c, (int, float, np.integer, np.floating)) and not isinstance(c, bool)
        return self.with_matrix(c * self.matrix, self.hermitian if real else None)

    def on(self, sites) -> "LocalOperator":
        """The same operator written on a superset ``sites`` of its support (sorted order)."""
        sites = tuple(sites)
        return LocalOperator(embed(self.matrix, self.sites, sites, self.d), sites, self.L, self.d,
                             self.hermitian)

    def is_hermitian(self, atol: float = 1e-12) -> bool:
        """The declared ``hermitian`` flag; if undeclared, a numerical check of a concrete
        matrix (|A - A^dagger| <= atol max(1, |A|)), and False for an undeclared traced
        matrix (unknown: see :meth:`hermitian_known`)."""
        if self.hermitian is not None:
            return self.hermitian
        if isinstance(self.matrix, jax.core.Tracer):
            return False
        return _hermitian_matrix(self.matrix, atol)

    def hermitian_known(self) -> bool:
        """Whether :meth:`is_hermitian` is an answer (declared, or a concrete matrix) rather
        than the unknown of an undeclared traced matrix."""
        return self.hermitian is not None or not isinstance(self.matrix, jax.core.Tracer)

    def dense(self) -> jnp.ndarray:
        """The d^L x d^L matrix (small L only)."""
        return embed(self.matrix, self.sites, tuple(range(self.L)), self.d)

    # -- action --------------------------------------------------------------------------
    def apply(self, psi):
        """O psi for a state tensor/vector whose first L axes (or flat first axis) are sites."""
        return apply_left(self, psi)


def _hermitian_matrix(m, atol: float = 1e-12) -> bool:
    m = np.asarray(m)
    scale = max(1.0, float(np.max(np.abs(m)))) if m.size else 1.0
    return bool(np.allclose(m, m.conj().T, atol=atol * scale, rtol=0))


def embed(matrix, sites, target, d: int):
    """Write an operator on ``sites`` as a matrix on the larger site tuple ``target``.

    Identity on target sites outside ``sites``; Kronecker order follows ``target``. A NumPy
    input gives a NumPy result (host-side setup code then avoids per-op JAX dispatch).
    """
    sites, target = tuple(sites), tuple(target)
    missing = [s for s in sites if s not in target]
    if missing:
        raise ValueError(f"sites {missing} are not in the target support {target}")
    xp = np if isinstance(matrix, np.ndarray) else jnp
    matrix = xp.asarray(matrix)
    n = len(target)
    if sites == target:
        return matrix
    extra = [s for s in target if s not in sites]
    full = xp.kron(matrix, xp.eye(d ** len(extra), dtype=matrix.dtype))
    order = list(sites) + extra  # current Kronecker order of `full`
    perm = [order.index(s) for s in target]
    t = full.reshape((d,) * (2 * n))
    t = xp.transpose(t, perm + [n + p for p in perm])
    return t.reshape(d**n, d**n)


def apply_left(op: LocalOperator, x):
    """O x for a state vector (d^L,) or a matrix (d^L, m) whose columns are states (e.g. a
    density matrix): only the sites of O are contracted, the rest is untouched."""
    L, d, sites = op.L, op.d, op.sites
    shape = x.shape
    if sites == tuple(range(L)):
        return (op.matrix @ x.reshape(d**L, -1)).reshape(shape)
    k = len(sites)
    if sites == tuple(range(sites[0], sites[0] + k)):
        # contiguous sites in ascending order: a free reshape (left, op, right) and no
        # transpose of the state; small ops as d^k broadcast multiply-adds (one fused pass)
        t = x.reshape(d ** sites[0], d**k, -1)
        m = op.matrix
        if d**k <= 16:
            cols = range(d**k)
            if not isinstance(m, jax.core.Tracer):
                mn = np.asarray(m)
                cols = [b for b in cols if np.any(mn[:, b])] or [0]
            out = sum(m[:, b][None, :, None] * t[:, b : b + 1, :] for b in cols)
        else:
            out = jnp.einsum("ab,xbr->xar", m, t)
        return out.astype(jnp.result_type(m.dtype, x.dtype)).reshape(shape)
    t = x.reshape((d,) * L + (-1,))
    o = op.matrix.reshape((d,) * (2 * k))
    out = jnp.tensordot(o, t, axes=(list(range(k, 2 * k)), list(sites)))
    # axes of `out`: the op's output axes (at `sites`), then the untouched axes of t
    current = list(sites) + [a for a in range(L) if a not in sites] + [L]
    out = jnp.transpose(out, [current.index(a) for a in range(L + 1)])
    return out.reshape(shape)


def apply_right(x, op: LocalOperator):
    """x O for a matrix x (m, d^L), e.g. rho O for a density matrix: (O^T x^T)^T."""
    return apply_left(op.with_matrix(op.matrix.T), x.T).T


def merge_terms(ops):
    """A sum of LocalOperators as few LocalOperators: every term is embedded into the first
    larger (or equal) support that contains it, equal supports are added (e.g. one-site
    fields and jump terms go into the bond terms: fewer passes over a state). Never enlarges
    a support beyond the largest one present."""
    ops = list(ops)
    groups: list = []  # [sites (sorted tuple), matrix]
    for o in sorted(ops, key=lambda o: -len(o.sites)):
        for g in groups:
            if set(o.sites) <= set(g[0]):
                g[1] = g[1] + embed(o.matrix, o.sites, g[0], o.d)
                break
        else:
            target = tuple(sorted(o.sites))
            groups.append([target, embed(o.matrix, o.sites, target, o.d)])
    return [LocalOperator(m, s, ops[0].L, ops[0].d) for s, m in groups]
