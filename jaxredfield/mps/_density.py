r"""Density matrices as matrix product states of the doubled chain, evolved by TEBD under the
master equation itself (the matrix-product-density-operator method: Verstraete, García-Ripoll
& Cirac, PRL 93, 207204 (2004); Zwolak & Vidal, PRL 93, 207205 (2004)).

Vectorization: site i of the doubled chain carries the pair (ket s_i, bra s'_i), local
dimension d^2, index s_i d + s'_i, so that

    vec(rho)[(s_0 s'_0), (s_1 s'_1), ...] = rho[s_0 s_1 ..., s'_0 s'_1 ...]

(site 0 first, as everywhere in jaxredfield). A product of local density matrices is a
product state of the vectors vec(rho_i) = rho_i.reshape(-1).

Every generator of :mod:`jaxredfield.equations` is a sum of local superoperators on the
contiguous sites of its terms (the paper's point: eq. (4) and SM E keep the jumps local):

- a Hamiltonian term h: -i(h rho - rho h);
- a Redfield term (u, v) of eq. (1)/(4): [u rho, v] + h.c. = u rho v - v u rho
  + v^dag rho u^dag - rho u^dag v^dag;
- a jump L with sign c (+1 Lindblad, -1 the negative jumps of a pseudo-Lindblad form, SM E):
  c (L rho L^dag - 1/2 {L^dag L, rho}),

with A rho B -> A (x) B^T in (ket, bra) order, reordered to the site-pair order. exp(G s) is
then a TEBD step (:class:`~._tebd.TEBD`, second order, palindromic sweeps) with block matrices
i G_b (TEBD applies exp(-i h_b s)). Truncations are in the Hilbert-Schmidt norm, at the
orthogonality center. The scale of the MPS is arbitrary (it is rescaled to norm 1 after every
step); expectation values are ratios Tr(O rho) / Tr(rho), so the trace that truncation removes
is divided out (the truncation's change of rho itself remains an error, reported as the
discarded weight).

Observables: Tr(O rho) = sum_x vec(O^T)[x] vec(rho)[x] (an unconjugated dot product), a
contraction with the product vector vec(I)
on every site outside O's sites (transfer matrices T_i = sum_x A_i[:, x, :] vec(I)[x]).
Operators on one or two contiguous sites.
"""

from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp

from ..operators import LocalOperator
from ._mps import contiguous_sites


def _pair_order(k: int) -> list:
    """Axis order (ket_0, bra_0, ket_1, bra_1, ...) of a (ket_S, bra_S) tensor of k sites."""
    return [x for j in range(k) for x in (j, k + j)]


def _interleave(M, k: int, d: int) -> np.ndarray:
    """A superoperator on k sites from the (ket_S, bra_S) order to the site-pair order."""
    T = np.asarray(M).reshape((d,) * (4 * k))
    p = _pair_order(k)
    return T.transpose(p + [2 * k + x for x in p]).reshape(d ** (2 * k), d ** (2 * k))


def _contiguous(sites, what: str) -> tuple:
    return contiguous_sites(sites, what, "use a dense method (the default jr.Diffrax()) for this equation")


def liouvillian_terms(eq) -> list:
    """The generator G of a :class:`~jaxredfield.MasterEquation` as LocalOperators of the
    doubled chain (L sites of dimension d^2, site-pair order; module docstring):
    sum_j embed(term_j) vec(rho) = vec(G(rho)). Concrete matrices only."""
    L, d = eq.L, eq.d
    ops = list(eq.hamiltonian) + [o for pair in eq.redfield_terms for o in pair] + list(eq.jumps) + list(eq.negative_jumps)
    if any(isinstance(o.matrix, jax.core.Tracer) for o in ops):
        raise TypeError("mesolve(method=jr.MPS()) builds its gates from concrete operators: it is "
                        "not differentiable and cannot run inside jax.jit/grad; use the default "
                        "jr.Diffrax() method for gradients")
    out = []

    def add(S, M):
        out.append(LocalOperator(_interleave(M, len(S), d), S, L, d * d))

    def on(op, S):
        return np.asarray(op.on(S).matrix, complex)

    for h in eq.hamiltonian:
        S = _contiguous(h.sites, "a Hamiltonian term")
        m = on(h, S)
        eye = np.eye(m.shape[0])
        add(S, -1j * (np.kron(m, eye) - np.kron(eye, m.T)))
    for u, v in eq.redfield_terms:
        S = _contiguous(set(u.sites) | set(v.sites), "a Redfield term")
        U, V = on(u, S), on(v, S)
        Ud, Vd = U.conj().T, V.conj().T
        eye = np.eye(U.shape[0])
        add(S, np.kron(U, V.T) - np.kron(V @ U, eye) + np.kron(Vd, Ud.T) - np.kron(eye, (Ud @ Vd).T))
    for sign, jumps in ((1.0, eq.jumps), (-1.0, eq.negative_jumps)):
        for J in jumps:
            S = _contiguous(J.sites, "a jump operator")
            m = on(J, S)
            g = m.conj().T @ m
            eye = np.eye(m.shape[0])
            add(S, sign * (np.kron(m, m.conj()) - 0.5 * np.kron(g, eye) - 0.5 * np.kron(eye, g.T)))
    return out


def vectorized(rho_local) -> np.ndarray:
    """vec(rho_i) (L, d^2) of local density matrices (L, d, d)."""
    r = np.asarray(rho_local)
    return r.reshape(r.shape[0], -1)


def observable_weights(ops, d: int):
    """Per operator (one or two contiguous sites): (first site, width, w) with
    Tr(O rho_S) = sum_x w[x] vec(rho_S)[x], w = vec(O^T) in site-pair order. Wider operators
    raise ``ValueError``."""
    out = []
    for n, o in enumerate(ops):
        S = tuple(sorted(o.sites))
        if len(S) > 2 or list(S) != list(range(S[0], S[0] + len(S))):
            raise ValueError(f"e_ops[{n}] acts on sites {tuple(o.sites)}: method=jr.MPS() "
                             "evaluates operators on one site or two neighbouring sites only")
        k = len(S)
        Ot = np.asarray(o.on(S).matrix, complex).T
        out.append((S[0], k, Ot.reshape((d,) * (2 * k)).transpose(_pair_order(k)).reshape(-1)))
    return out


def _trace_environments(t):
    """(T, ls, rs) of the doubled-chain MPS ``t``: the transfer matrices T_i = sum_x
    A_i[:, x, :] vec(I)[x] (L, chi, chi) and the environments left (ls[i]) and right (rs[i])
    of every site i, each rescaled to norm 1 (ratios with the trace are scale-free)."""
    d = int(round(t.shape[2] ** 0.5))
    tau = jnp.eye(d, dtype=t.dtype).reshape(-1)
    T = jnp.einsum("iaxb,x->iab", t, tau)
    e0 = jnp.zeros((t.shape[1],), t.dtype).at[0].set(1)

    def left(l, Ti):
        n = l @ Ti
        return n / jnp.linalg.norm(n), l

    def right(r, Ti):
        n = Ti @ r
        return n / jnp.linalg.norm(n), r

    _, ls = jax.lax.scan(left, e0, T)
    _, rs = jax.lax.scan(right, e0, T[::-1])
    return T, ls, rs[::-1]


def trace_expectations(t, first1, w1, first2, w2):
    """Tr(O rho)/Tr(rho) of one-site operators (sites ``first1``, weights ``w1`` (n1, d^2))
    and two-site operators (first sites ``first2``, weights ``w2`` (n2, d^4)) for the doubled-
    chain MPS tensors ``t`` (L, chi, d^2, chi). Each value is divided by the trace contracted
    through the same environments, so their scale (renormalized at every site) cancels."""
    dd = t.shape[2]
    T, ls, rs = _trace_environments(t)
    out = []
    if len(first1):
        i = jnp.asarray(first1)
        num = jnp.einsum("na,naxb,nx,nb->n", ls[i], t[i], jnp.asarray(w1, t.dtype), rs[i])
        den = jnp.einsum("na,nab,nb->n", ls[i], T[i], rs[i])
        out.append(num / den)
    if len(first2):
        i = jnp.asarray(first2)
        theta = jnp.einsum("naxc,ncyb->naxyb", t[i], t[i + 1])
        w = jnp.asarray(w2, t.dtype).reshape(-1, dd, dd)
        num = jnp.einsum("na,naxyb,nxy,nb->n", ls[i], theta, w, rs[i + 1])
        den = jnp.einsum("na,nac,ncb,nb->n", ls[i], T[i], T[i + 1], rs[i + 1])
        out.append(num / den)
    return out


def bond_marginals(t):
    """The two-site reduced density matrices of every bond (i, i+1) of the doubled-chain MPS
    ``t`` (L, chi, d^2, chi), trace 1, as (L - 1, d^2, d^2) arrays m[i, x, y] = vec(rho_{i,i+1})
    in site-pair order (x = (s_i, s'_i), y = (s_{i+1}, s'_{i+1}); :func:`marginal_matrices`
    turns them into d^2 x d^2 matrices). Every one- and two-site observable is a linear
    function of these (the steady-state solver watches them)."""
    d = int(round(t.shape[2] ** 0.5))
    tau = jnp.eye(d, dtype=t.dtype).reshape(-1)
    _, ls, rs = _trace_environments(t)
    m = jnp.einsum("na,naxc,ncyb,nb->nxy", ls[:-1], t[:-1], t[1:], rs[1:])
    return m / jnp.einsum("nxy,x,y->n", m, tau, tau)[:, None, None]


def marginal_matrices(m, d: int):
    """(n, d^2, d^2) density matrices rho[(s_i s_{i+1}), (s'_i s'_{i+1})] of bond marginals
    ``m`` from :func:`bond_marginals`."""
    m = np.asarray(m)
    return m.reshape(-1, d, d, d, d).transpose(0, 1, 3, 2, 4).reshape(-1, d * d, d * d)


__all__ = ["bond_marginals", "liouvillian_terms", "marginal_matrices", "observable_weights", "trace_expectations", "vectorized"]
