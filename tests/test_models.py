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


# --- Bose-Hubbard chain (SM C, eq. S.14) -----------------------------------------------------
def test_boson_operators():
    a, ad, n = jr.destroy(3), jr.create(3), jr.number(3)
    assert np.allclose(ad @ a, n)
    comm = a @ ad - ad @ a
    assert np.allclose(np.diag(comm)[:-1], 1) and np.isclose(comm[-1, -1], -3)  # truncation
    import qutip

    assert np.allclose(a, qutip.destroy(4).full())
    with pytest.raises(ValueError, match="nmax"):
        jr.destroy(0)


def test_bose_hubbard_matches_qutip_and_conserves_particles():
    import qutip

    L, nmax, J, U = 3, 2, 1.0, 0.5
    V = 0.35 * (np.arange(1, L + 1) - L / 2) ** 2 * J  # Fig. S.4's trap, 1-based i
    m = jr.bose_hubbard_chain(L, J=J, U=U, V=V, nmax=nmax)
    assert m.d == nmax + 1
    a = [qutip.tensor([qutip.destroy(nmax + 1) if j == i else qutip.qeye(nmax + 1) for j in range(L)])
         for i in range(L)]
    H = sum(-J * (a[i + 1].dag() * a[i] + a[i].dag() * a[i + 1]) for i in range(L - 1))
    H += sum(U / 2 * a[i].dag() * a[i] * (a[i].dag() * a[i] + 1) + V[i] * a[i].dag() * a[i] for i in range(L))
    Hd = np.asarray(m.dense())
    assert np.allclose(Hd, H.full(), atol=1e-12)
    N = sum(ai.dag() * ai for ai in a).full()
    assert np.allclose(Hd @ N, N @ Hd, atol=1e-12)
    n = jr.number(nmax)
    assert np.allclose(np.asarray(m.local_hamiltonian(1)), U / 2 * n @ (n + np.eye(nmax + 1)) + V[1] * n)
    with pytest.raises(ValueError, match="`V`"):
        jr.bose_hubbard_chain(3, V=[1.0, 2.0])


def test_local_u_converges_for_bose_hubbard_at_high_T():
    """d = 3: eq. (4) -> eq. (1) as N grows for a Bose-Hubbard chain coupled through the
    quadrature a + a^dag at the chain ends (T = 8J)."""
    nmax = 2
    m = jr.bose_hubbard_chain(3, J=1.0, U=0.5, V=[0.3, 0.0, -0.2], nmax=nmax)
    x = jr.destroy(nmax) + jr.create(nmax)
    s = jr.boundary_driven(m, jr.OhmicBath(0.25, 8.0), jr.OhmicBath(0.25, 8.0), op=x)
    ex = np.asarray(jr.exact_u(s, 0).dense())
    errs = [np.linalg.norm(np.asarray(jr.local_u(s, 0, N).dense()) - ex) / np.linalg.norm(ex) for N in range(6)]
    # measured 0.088, 5.3e-3, 3.0e-5, 3.1e-5, 4.3e-7, 5.3e-7: every even order gains ~100x,
    # the odd orders add nothing (as for the XXZ chain, Fig. 3(a): odd Bernoulli numbers vanish)
    even = errs[::2]
    assert all(b < 0.02 * a for a, b in zip(even, even[1:])), errs
    assert all(b < 1.3 * a for a, b in zip(errs, errs[1:])), errs
