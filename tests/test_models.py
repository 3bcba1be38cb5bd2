"""Lattice models: the XXZ chain of eq. (5) and chains from local terms."""

import numpy as np
import pytest

import jaxredfield as jr


def kron_site(op, i, L):
    mats = [np.eye(2)] * L
    mats[i] = op
    out = np.array([[1.0]])
    for m in mats:
        out = np.kron(out, m)
    return out


def test_xxz_dense_matches_eq5():
    L, J, Delta, h, delta = 4, 0.8, 0.7, 1.0, -0.07
    H = np.zeros((2**L, 2**L), dtype=complex)
    sx, sy, sz = jr.sigmax(), jr.sigmay(), jr.sigmaz()
    for i in range(L - 1):
        for a, c in ((sx, 1.0), (sy, 1.0), (sz, Delta)):
            H -= J * c * kron_site(a, i, L) @ kron_site(a, i + 1, L)
    for i in range(L):
        H += (h + i * delta) * kron_site(sz, i, L)  # 0-based: paper's h_i = h + (i-1) delta
    assert np.allclose(np.asarray(jr.xxz_chain(L, J, Delta, h, delta).dense()), H, atol=1e-13)


def test_local_and_residual_terms():
    m = jr.xxz_chain(5, h=1.0, delta=0.1)
    assert np.allclose(np.asarray(m.local_hamiltonian(3)), 1.3 * jr.sigmaz())
    assert len(m.residual_terms) == 4
    assert m.cluster((0,), 2) == (0, 1, 2)
    assert m.cluster((2,), 1) == (1, 2, 3)
    assert m.cluster((2,), 9) == (0, 1, 2, 3, 4)
    b = np.asarray(m.bond(1).matrix)
    ref = -(np.kron(jr.sigmax(), jr.sigmax()) + np.kron(jr.sigmay(), jr.sigmay())
            + 0.7 * np.kron(jr.sigmaz(), jr.sigmaz()))
    assert np.allclose(b, ref)


def test_from_terms_generic_d3():
    a = np.diag(np.sqrt([1.0, 2.0]), 1)  # boson annihilation, nmax = 2
    n = a.T @ a
    hop = -(np.kron(a.T, a) + np.kron(a, a.T))
    m = jr.LatticeModel.from_terms(3, 3, [((0, 1), hop), ((1, 2), hop)] + [(i, 0.5 * n @ (n - np.eye(3))) for i in range(3)])
    H = np.asarray(m.dense())
    assert H.shape == (27, 27)
    assert np.allclose(H, H.conj().T)
    # total particle number is conserved
    N = sum(jr.LocalOperator(n, i, 3, 3).dense() for i in range(3))
    N = np.asarray(N)
    assert np.allclose(H @ N, N @ H)


def test_bad_terms():
    with pytest.raises(ValueError, match="Hermitian"):
        jr.LatticeModel.from_terms(2, 2, [(0, jr.sigmap())])
    with pytest.raises(ValueError, match="must have shape"):
        jr.LatticeModel.from_terms(2, 2, [(0, np.eye(3))])
    with pytest.raises(ValueError, match="outside the chain"):
        jr.LatticeModel.from_terms(2, 2, [(2, jr.sigmaz())])
    with pytest.raises(ValueError, match="`L`"):
        jr.xxz_chain(1)


def test_dense_refuses_large():
    with pytest.raises(MemoryError, match="GiB"):
        jr.xxz_chain(20).dense()
