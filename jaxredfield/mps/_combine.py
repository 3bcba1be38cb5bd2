r"""Linear combinations of matrix product states, compressed back to the fixed storage: the
Richardson extrapolation of two TEBD steady states (``steadystate(method=jr.MPS())``,
:mod:`jaxredfield.solvers._steadystate_mps`) and the traces of density MPS.

The sum a|A> + b|B> is an MPS of bond dimension chi_A + chi_B (block-diagonal site tensors,
Schollwöck, Ann. Phys. 326, 96 (2011), Sec. 4.3); it is brought to left-canonical form by QR
and compressed by one right-to-left sweep of SVDs truncated to ``max_bond`` (and the relative
weight ``cutoff``), which leaves the orthogonality center at site 0, as TEBD needs
(Schollwöck Sec. 4.5.1). NumPy, once per solve: not traced.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._mps import bond_dims


def _trimmed(t) -> list:
    """The site tensors of storage t (L, chi, d, chi) cut to their used bond dimensions
    (:func:`~._mps.bond_dims`; at least 1)."""
    t = np.asarray(t)
    dims = np.maximum(np.asarray(bond_dims(jnp.asarray(t))), 1)
    return [t[i, :dims[i], :, :dims[i + 1]] for i in range(t.shape[0])]


def trace(t, d: int) -> complex:
    """Tr(rho) of the density MPS t (L, chi, d^2, chi) of the doubled chain (vec(I) on every
    site), as a complex number (the running contraction rescaled at every site; the log of the
    scale is summed, so long chains do not overflow): returns (mantissa, log10 scale)."""
    tau = np.eye(d).reshape(-1)
    e = np.ones((1,), complex)
    log10 = 0.0
    for a in _trimmed(t):
        e = e @ np.einsum("axb,x->ab", a, tau)
        n = np.linalg.norm(e)
        if n == 0:
            return 0.0, 0.0
        e, log10 = e / n, log10 + np.log10(n)
    return complex(e[0]), log10


def combine(t_a, t_b, c_a: complex, c_b: complex, max_bond: int, cutoff: float = 0.0):
    """c_a |A> + c_b |B> for MPS storages t_a, t_b (L, chi, d, chi), compressed to bond
    ``max_bond``: (storage (L, max_bond, d, max_bond) with the center at site 0 and norm 1,
    the norm before that rescaling, the discarded weight summed over the SVDs)."""
    A, B = _trimmed(t_a), _trimmed(t_b)
    L = len(A)
    if len(B) != L or A[0].shape[1] != B[0].shape[1]:
        raise ValueError("combine: the two MPS need the same number of sites and local dimension")
    d = A[0].shape[1]
    T = []
    for i, (a, b) in enumerate(zip(A, B)):
        if L == 1:
            T.append(c_a * a + c_b * b)
        elif i == 0:
            T.append(np.concatenate([c_a * a, c_b * b], axis=2))
        elif i == L - 1:
            T.append(np.concatenate([a, b], axis=0))
        else:
            m = np.zeros((a.shape[0] + b.shape[0], d, a.shape[2] + b.shape[2]), complex)
            m[:a.shape[0], :, :a.shape[2]] = a
            m[a.shape[0]:, :, a.shape[2]:] = b
            T.append(m)
    for i in range(L - 1):  # left-canonical
        l, _, r = T[i].shape
        q, R = np.linalg.qr(T[i].reshape(l * d, r))
        T[i] = q.reshape(l, d, -1)
        T[i + 1] = np.einsum("ab,bxc->axc", R, T[i + 1])
    cut = 0.0
    for i in range(L - 1, 0, -1):  # compress right to left; the center moves to site 0
        l, _, r = T[i].shape
        U, S, Vh = np.linalg.svd(T[i].reshape(l, d * r), full_matrices=False)
        w = S**2
        total = w.sum()
        tail = np.cumsum(w[::-1])[::-1]  # tail[k] = weight of S[k:]
        k = int(min(max_bond, np.count_nonzero(S > 0) or 1))
        while k > 1 and tail[k - 1] <= cutoff * total:
            k -= 1
        cut += float(tail[k] / total) if k < len(S) and total > 0 else 0.0
        T[i] = Vh[:k].reshape(k, d, r)
        T[i - 1] = np.einsum("axb,bc->axc", T[i - 1], U[:, :k] * S[:k])
    norm = float(np.linalg.norm(T[0]))
    T[0] = T[0] / norm
    out = np.zeros((L, max_bond, d, max_bond), complex)
    for i, a in enumerate(T):
        out[i, :a.shape[0], :, :a.shape[2]] = a
    return out, norm, cut


__all__ = ["combine", "trace"]
