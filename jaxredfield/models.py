"""Lattice models: a Hamiltonian as a sum of local terms on a chain of L sites of local
dimension d (paper eq. (S.13)): H_S = sum_i H_S^{loc,i} + H_S^{resid}.

Single-site terms are the site-local Hamiltonians H_S^{loc,i} whose eigenbasis fixes the
expansion energies of the local Redfield equation (eq. 4); terms on two or more sites are the
residual part H_S^{resid} (bonds, interactions).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._checks import DEFAULT_MAX_MEMORY, as_matrix, check_hermitian, check_memory
from .operators import LocalOperator, create, destroy, number, sigmax, sigmay, sigmaz


class LatticeModel(eqx.Module):
    """A lattice Hamiltonian H = sum of local terms.

    **Arguments:**
    - `L`: number of sites; `d`: local dimension.
    - `terms`: tuple of :class:`LocalOperator` (each Hermitian).

    Build one with :meth:`from_terms` or a named constructor such as :func:`xxz_chain`.
    """

    terms: tuple
    L: int = eqx.field(static=True)
    d: int = eqx.field(static=True)

    @classmethod
    def from_terms(cls, L: int, d: int, terms) -> "LatticeModel":
        """A chain from ``terms``, an iterable of ``(sites, matrix)`` pairs.

        ``sites`` is an int or a tuple of sites; ``matrix`` (NumPy, JAX or ``qutip.Qobj``)
        has shape (d^k, d^k) in the Kronecker order of ``sites``. Single-site terms are
        site-local (H_S^{loc,i}); multi-site terms are residual bonds.

        >>> from jaxredfield import LatticeModel, sigmax, sigmaz
        >>> import numpy as np
        >>> m = LatticeModel.from_terms(3, 2, [(0, sigmaz()), ((0, 1), np.kron(sigmax(), sigmax()))])
        """
        if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 1:
            raise ValueError(f"`L` must be a positive integer, got {L!r}")
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2:
            raise ValueError(f"`d` (local dimension) must be an integer >= 2, got {d!r}")
        ops = []
        for n, (sites, matrix) in enumerate(terms):
            m = as_matrix(matrix, f"terms[{n}]")
            check_hermitian(m, f"terms[{n}] (Hamiltonian term on sites {sites})")
            ops.append(LocalOperator(m, sites, int(L), int(d)))
        return cls(tuple(ops), int(L), int(d))

    # -- structure ---------------------------------------------------------------------------
    def local_hamiltonian(self, site: int):
        """H_S^{loc,site}: the sum of the single-site terms on ``site`` (d x d)."""
        _check_site(site, self.L)
        h = jnp.zeros((self.d, self.d), dtype=jnp.complex128)
        for t in self.terms:
            if t.sites == (site,):
                h = h + t.matrix
        return h

    @property
    def residual_terms(self) -> tuple:
        """The multi-site terms (H_S^{resid})."""
        return tuple(t for t in self.terms if len(t.sites) > 1)

    def bond(self, i: int, j: int | None = None) -> LocalOperator:
        """H_S^{i,j}: the sum of the residual terms whose sites are exactly {i, j} (default
        j = i + 1), as a two-site operator on (i, j)."""
        j = i + 1 if j is None else j
        _check_site(i, self.L)
        _check_site(j, self.L)
        m = jnp.zeros((self.d**2,) * 2, dtype=jnp.complex128)
        for t in self.residual_terms:
            if set(t.sites) == {i, j}:
                m = m + t.on((i, j)).matrix
        return LocalOperator(m, (i, j), self.L, self.d)

    def cluster(self, sites, order: int) -> tuple:
        """Sites reached from ``sites`` by ``order`` nested commutators with H: the support of
        ad_H^order of an operator on ``sites`` (sorted)."""
        support = set(np.atleast_1d(sites).tolist())
        for _ in range(order):
            grown = set(support)
            for t in self.residual_terms:
                if support.intersection(t.sites):
                    grown.update(t.sites)
            if grown == support:
                break
            support = grown
        return tuple(sorted(support))

    def terms_within(self, sites) -> tuple:
        """The terms supported inside ``sites``."""
        s = set(sites)
        return tuple(t for t in self.terms if s.issuperset(t.sites))

    def hamiltonian_on(self, sites):
        """The matrix of the terms inside ``sites`` on those sites (d^|sites| square)."""
        sites = tuple(sorted(sites))
        m = jnp.zeros((self.d ** len(sites),) * 2, dtype=jnp.complex128)
        for t in self.terms_within(sites):
            m = m + t.on(sites).matrix
        return m

    @property
    def dim(self) -> int:
        return self.d**self.L

    def dense(self, max_memory: float | None = None):
        """The d^L x d^L Hamiltonian matrix (QuTiP ``tensor`` order; small L only)."""
        check_memory(
            16.0 * self.dim**2,
            f"the dense {self.dim}x{self.dim} Hamiltonian",
            "Use the matrix-free operators (model.terms) instead.",
            max_memory if max_memory is not None else DEFAULT_MAX_MEMORY,
        )
        return self.hamiltonian_on(tuple(range(self.L)))


def _check_site(site, L):
    if isinstance(site, bool) or not isinstance(site, (int, np.integer)) or not 0 <= site < L:
        raise ValueError(f"site {site!r} is outside the chain: sites are 0..{L - 1} (0-based)")


def xxz_chain(L: int, J=1.0, Delta=0.7, h=1.0, delta=-0.07) -> LatticeModel:
    r"""The XXZ chain of the paper's eq. (5) with a field gradient:

    H = -J \sum_{i=0}^{L-2} (\sigma^x_i\sigma^x_{i+1} + \sigma^y_i\sigma^y_{i+1}
        + \Delta\sigma^z_i\sigma^z_{i+1}) + \sum_{i=0}^{L-1} h_i \sigma^z_i,
    h_i = h + i\,\delta   (0-based sites; the paper's h_i = h + (i-1)\delta).

    The field terms h_i sigma^z_i are the site-local Hamiltonians of eq. (4).
    """
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 2:
        raise ValueError(f"`L` must be an integer >= 2, got {L!r}")
    sx, sy, sz = sigmax(), sigmay(), sigmaz()
    bond = np.kron(sx, sx) + np.kron(sy, sy)
    zz = np.kron(sz, sz)
    terms = []
    for i in range(L - 1):
        terms.append(((i, i + 1), -J * (bond + Delta * zz)))
    for i in range(L):
        terms.append((i, (h + i * delta) * sz))
    return LatticeModel.from_terms(L, 2, terms)


def bose_hubbard_chain(L: int, J=1.0, U=0.5, V=0.0, nmax: int = 2) -> LatticeModel:
    r"""The Bose-Hubbard chain with a trap of the paper's eq. (S.14), written as printed there:

    H = -J \sum_{i=0}^{L-2} (a^\dag_{i+1} a_i + a^\dag_i a_{i+1})
        + \sum_{i=0}^{L-1} [U/2 n_i (n_i + 1) + V_i n_i],

    on the Fock cutoff n_i <= ``nmax`` (local dimension nmax + 1). ``V`` is a number (the same
    on every site) or a sequence of L values, e.g. the trap of Fig. S.4,
    V_i = 0.35 (i - L/2)^2 J with 1-based i. The bracket is the site-local Hamiltonian of
    eq. (4) (its eigenbasis is the Fock basis, eq. S.16); the hopping is the residual part.
    (The common convention U/2 n(n - 1) differs by U n, a uniform shift of V_i by U.)
    """
    if isinstance(L, bool) or not isinstance(L, (int, np.integer)) or L < 2:
        raise ValueError(f"`L` must be an integer >= 2, got {L!r}")
    a, ad, n = destroy(nmax), create(nmax), number(nmax)
    V = np.broadcast_to(np.asarray(V, dtype=float), (L,)) if np.ndim(V) == 0 else np.asarray(V, dtype=float)
    if V.shape != (L,):
        raise ValueError(f"`V` must be a number or a sequence of L = {L} site potentials, got shape {V.shape}")
    hop = -J * (np.kron(a, ad) + np.kron(ad, a))  # on (i, i+1): a_i a^dag_{i+1} + a^dag_i a_{i+1}
    terms = [((i, i + 1), hop) for i in range(L - 1)]
    for i in range(L):
        terms.append((i, 0.5 * U * n @ (n + np.eye(nmax + 1)) + V[i] * n))
    return LatticeModel.from_terms(L, nmax + 1, terms)
