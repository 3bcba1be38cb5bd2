r"""A matrix-product state (MPS) of fixed shape, so that it jits and vmaps over trajectories.

    |psi> = sum_{s_0..s_{L-1}} A_0^{s_0} A_1^{s_1} ... A_{L-1}^{s_{L-1}} |s_0 ... s_{L-1}>

(Schollwöck, Ann. Phys. 326, 96 (2011), Sec. 4). Every site tensor A_i[a, s, b] is stored
padded to the maximal bond dimension chi: ``tensors`` has shape (L, chi, d, chi). The two
physical boundary bonds (dimension 1) are index 0 of the padded axis: every contraction
starts and ends with the unit vector e_0, and A_0[a > 0] = A_{L-1}[..., b > 0] = 0. Padded
bond indices beyond the rank of a bond hold (numerically) zero weight.

Site 0 is the leftmost, most significant Kronecker factor (QuTiP's ``tensor`` order), as in
:mod:`jaxredfield.operators.local`.

Implemented here: product states, the dense vector (tests), the norm and local expectation
values by transfer-matrix environments (Schollwöck Sec. 4.2; valid in any gauge), the
mixed canonical form with the orthogonality center at any site (Schollwöck Sec. 4.4, by SVD
sweeps, which stay correct for rank-deficient padded bonds where an unpivoted QR does not),
and one- and two-site operators; a two-site operator is contracted into the two-site tensor
at the orthogonality center and split back by a singular-value decomposition truncated to
chi (Vidal, PRL 91, 147902 (2003); Schollwöck Sec. 4.5). All functions are pure and
jit/vmap friendly; ``sites`` are static.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..operators import embed


class MatrixProductState(eqx.Module):
    """An MPS with site tensors ``tensors`` of shape (L, chi, d, chi) (module docstring)."""

    tensors: jax.Array

    @property
    def L(self) -> int:
        return self.tensors.shape[-4]

    @property
    def chi(self) -> int:
        return self.tensors.shape[-3]

    @property
    def d(self) -> int:
        return self.tensors.shape[-2]


def from_product(vectors, max_bond: int, dtype=jnp.complex128) -> MatrixProductState:
    """The product state |v_0> (x) |v_1> (x) ... for ``vectors`` of shape (L, d) (not
    normalized here), with bond dimension ``max_bond`` (all bond weight at index 0)."""
    v = jnp.asarray(vectors, dtype)
    if v.ndim != 2:
        raise ValueError(f"`vectors` must have shape (L, d), got {v.shape}")
    if int(max_bond) < 1:
        raise ValueError(f"`max_bond` must be >= 1, got {max_bond}")
    L, d = v.shape
    t = jnp.zeros((L, int(max_bond), d, int(max_bond)), dtype)
    return MatrixProductState(t.at[:, 0, :, 0].set(v))


def _unit(chi, dtype):
    return jnp.zeros((chi,), dtype).at[0].set(1)


def to_dense(mps: MatrixProductState) -> jax.Array:
    """The d^L state vector in QuTiP's tensor order (small L only)."""
    t = mps.tensors
    v = _unit(mps.chi, t.dtype)[None, :]  # (d^k, chi): sites < k contracted
    for i in range(mps.L):
        v = jnp.einsum("xa,asb->xsb", v, t[i]).reshape(-1, mps.chi)
    return v[:, 0]


def _left_env(tensors, chi, dtype):
    """E[a, a'] = contraction of the given sites (ket index a, bra index a') from e_0 e_0^T."""
    e0 = _unit(chi, dtype)

    def body(e, a):
        return jnp.einsum("ab,asc,bsd->cd", e, a, a.conj()), None

    return jax.lax.scan(body, jnp.outer(e0, e0), tensors)[0]


def _right_env(tensors, chi, dtype):
    e0 = _unit(chi, dtype)

    def body(e, a):
        return jnp.einsum("cd,asc,bsd->ab", e, a, a.conj()), None

    return jax.lax.scan(body, jnp.outer(e0, e0), tensors, reverse=True)[0]


def norm2(mps: MatrixProductState) -> jax.Array:
    """<psi|psi> by the left transfer-matrix sweep (any gauge), real."""
    e = _left_env(mps.tensors, mps.chi, mps.tensors.dtype)
    return jnp.real(e[0, 0])


def _check_sites(sites, L: int) -> tuple:
    sites = tuple(int(s) for s in np.atleast_1d(sites))
    if len(sites) == 1 and 0 <= sites[0] < L:
        return sites
    if len(sites) == 2 and sorted(sites)[1] == sorted(sites)[0] + 1 and 0 <= min(sites) < L - 1:
        return sites
    raise NotImplementedError(
        f"operators on sites {sites}: only one site or two contiguous sites of the chain "
        f"0..{L - 1} are supported by the MPS functions")


def _as_local(matrix, sites, d):
    """(first site, k, matrix in ascending site order)."""
    target = tuple(sorted(sites))
    m = embed(jnp.asarray(matrix), sites, target, d) if sites != target else jnp.asarray(matrix)
    return target[0], len(sites), m


def expect_local(mps: MatrixProductState, matrix, sites) -> jax.Array:
    """<psi|O|psi> (not divided by <psi|psi>) for O = ``matrix`` on one site or two contiguous
    ``sites`` (Kronecker order of ``sites``), by left and right environments: any gauge."""
    L, chi, d, t = mps.L, mps.chi, mps.d, mps.tensors
    j, k, m = _as_local(matrix, _check_sites(sites, L), d)
    el = _left_env(t[:j], chi, t.dtype)
    er = _right_env(t[j + k:], chi, t.dtype)
    theta = t[j] if k == 1 else jnp.einsum("asc,ctb->astb", t[j], t[j + 1])
    theta = theta.reshape(chi, d**k, chi)
    phi = jnp.einsum("uv,avb->aub", m.astype(t.dtype), theta)
    return jnp.einsum("ab,auc,bud,cd->", el, phi, theta.conj(), er)


def split(theta, chi: int, center_left: bool):
    r"""Split a two-site tensor theta[a, s, t, b] (shape (chi, d, d, chi)) into A[a, s, c]
    B[c, t, b] by an SVD truncated to the ``chi`` largest singular values (Vidal 2003;
    Schollwöck Sec. 4.5): A = U S, B = V^dagger if ``center_left`` (B right-orthonormal),
    else A = U, B = S V^dagger. Returns (A, B, discarded weight), the weight being
    sum_{k >= chi} S_k^2 / sum_k S_k^2 (0 for a zero tensor), the relative squared norm
    error when theta is the orthogonality center."""
    d = theta.shape[1]
    u, s, vh = jnp.linalg.svd(theta.reshape(chi * d, d * chi), full_matrices=False)
    w = s**2
    total = jnp.sum(w)
    discarded = jnp.where(total > 0, jnp.sum(w[chi:]) / jnp.where(total > 0, total, 1), 0.0)
    u, s, vh = u[:, :chi], s[:chi].astype(theta.dtype), vh[:chi]
    if center_left:
        u = u * s[None, :]
    else:
        vh = s[:, None] * vh
    return u.reshape(chi, d, chi), vh.reshape(chi, d, chi), discarded


def apply_local(mps: MatrixProductState, matrix, sites, recenter: bool = True):
    """O|psi> for O = ``matrix`` on one site or two contiguous ``sites``. Returns
    (new MPS, discarded weight). One site: the site tensor is multiplied (exact, weight 0,
    gauge untouched). Two sites j, j+1: the MPS is first brought to its orthogonality center
    at j (:func:`canonicalize`; skip with ``recenter=False`` when it is there already), then
    the two-site tensor is split back by :func:`split` with the singular values on site j:
    the center stays at j and the truncation to chi is optimal (the discarded weight is the
    relative squared norm lost). Without the center on the sites the split is valid but not
    optimal: padded bond indices inflate the rank of the two-site tensor, and weight can be
    cut even where chi would suffice."""
    L, chi, d = mps.L, mps.chi, mps.d
    j, k, m = _as_local(matrix, _check_sites(sites, L), d)
    if k == 2 and recenter:
        mps = canonicalize(mps, j)
    t = mps.tensors
    m = m.astype(t.dtype)
    if k == 1:
        new = t.at[j].set(jnp.einsum("ts,asb->atb", m, t[j]))
        return MatrixProductState(new), jnp.zeros((), jnp.real(t).dtype)
    theta = jnp.einsum("asc,ctb->astb", t[j], t[j + 1])
    theta = jnp.einsum("uv,avb->aub", m, theta.reshape(chi, d * d, chi)).reshape(chi, d, d, chi)
    a, b, discarded = split(theta, chi, center_left=True)
    return MatrixProductState(_clean(t.at[j].set(a).at[j + 1].set(b))), discarded


def _clean(t):
    """Exact zeros on the padded indices of the physical boundary bonds (the SVD leaves
    round-off there; the state does not depend on them, but norm2 = |A_0|^2 does)."""
    t = t.at[0, 1:].set(0)
    return t.at[-1, :, :, 1:].set(0)


def canonicalize(mps: MatrixProductState, center: int = 0) -> MatrixProductState:
    """The same state in mixed canonical form with the orthogonality center at site
    ``center`` (static): A_i left-orthonormal for i < center, right-orthonormal for
    i > center, so <psi|psi> = sum |A_center|^2 (Schollwöck Sec. 4.4). Left of the center a
    left-to-right sweep M_i = U S V^dagger, A_i <- U, A_{i+1} <- S V^dagger A_{i+1}; right
    of it a right-to-left sweep M_i = U S V^dagger, A_i <- V^dagger, A_{i-1} <- A_{i-1} U S.
    An SVD rather than a QR: zero singular values then zero the matching rows/columns of the
    neighbour, which keeps the padded (rank-deficient) bond indices out of the state; an
    unpivoted QR can put weight on directions where the environment is not the identity."""
    L, chi, d, t = mps.L, mps.chi, mps.d, mps.tensors
    center = int(center)
    if not 0 <= center < L:
        raise ValueError(f"`center` must be a site 0..{L - 1}, got {center}")

    def left(t, i):
        u, s, vh = jnp.linalg.svd(t[i].reshape(chi * d, chi), full_matrices=False)
        t = t.at[i].set(u.reshape(chi, d, chi))
        sv = s.astype(t.dtype)[:, None] * vh
        return t.at[i + 1].set(jnp.einsum("ac,csb->asb", sv, t[i + 1])), None

    def right(t, i):
        u, s, vh = jnp.linalg.svd(t[i].reshape(chi, d * chi), full_matrices=False)
        t = t.at[i].set(vh.reshape(chi, d, chi))
        us = u * s.astype(t.dtype)[None, :]
        return t.at[i - 1].set(jnp.einsum("asc,cb->asb", t[i - 1], us)), None

    t = jax.lax.scan(left, t, jnp.arange(0, center))[0]
    t = jax.lax.scan(right, t, jnp.arange(L - 1, center, -1))[0]
    return MatrixProductState(_clean(t))


__all__ = ["MatrixProductState", "apply_local", "canonicalize", "expect_local", "from_product",
           "norm2", "split", "to_dense"]
