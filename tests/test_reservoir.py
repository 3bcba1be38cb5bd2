"""Multi-operator couplings (SM A) and the bosonic particle reservoir (SM C, eqs. S.19-S.33)."""

import numpy as np
import pytest
import scipy.linalg as sl

import jaxredfield as jr

from .conftest import random_density_matrix

NMAX, J, U = 2, 1.0, 0.5


def _bh(L=3):
    V = 0.35 * (np.arange(1, L + 1) - L / 2) ** 2 * J  # Fig. S.4's trap
    return jr.bose_hubbard_chain(L, J=J, U=U, V=V, nmax=NMAX)


def _system(T, mu, gamma=0.25, L=3):
    m = _bh(L)
    return jr.OpenSystem(m, jr.particle_reservoir(0, NMAX, gamma, T, mu)
                         + jr.particle_reservoir(L - 1, NMAX, gamma, T, mu))


def _dense_redfield(model, T, mu, gamma):
    """Independent construction of eqs. (S.21)-(S.22) and (S.33) with NumPy: u_1 from a^dag
    with W_1 = gamma n_B, u_2 from a with W_2 = gamma (1 + n_B(-E)), on sites 0 and L-1."""
    L, d = model.L, model.d
    H = np.asarray(model.dense())
    E, V = np.linalg.eigh(H)
    dE = E[:, None] - E[None, :]
    W1 = gamma / np.expm1((dE - mu) / T)
    W2 = gamma * (1 + 1 / np.expm1((-dE - mu) / T))
    a1 = np.diag(np.sqrt(np.arange(1, d)), 1)

    def on(site, op):
        return np.kron(np.kron(np.eye(d**site), op), np.eye(d ** (L - site - 1)))

    def u_of(W, x):
        return V @ (W * (V.conj().T @ x @ V)) @ V.conj().T

    terms = []
    for site in (0, L - 1):
        a = on(site, a1)
        terms += [(u_of(W1, a.conj().T), a), (u_of(W2, a), a.conj().T)]

    def gen(rho):  # [u rho, v] + h.c., the h.c. written out so that it holds for any rho
        out = -1j * (H @ rho - rho @ H)
        for u, v in terms:
            ud, vd = u.conj().T, v.conj().T
            out = out + (u @ rho @ v - v @ u @ rho) + (vd @ rho @ ud - rho @ ud @ vd)
        return out

    return gen


def test_exact_redfield_matches_independent_dense_construction(rng):
    T, mu, gamma = 2.0, -2.5 * 2.0, 0.25
    s = _system(T, mu, gamma)
    eq = jr.redfield(s)
    ref = _dense_redfield(s.model, T, mu, gamma)
    for herm in (True, False):
        rho = random_density_matrix(rng, s.model.dim)
        if not herm:
            rho = rho + 0.3j * random_density_matrix(rng, s.model.dim)
        assert np.allclose(np.asarray(eq(rho)), ref(rho), atol=1e-12)


@pytest.mark.parametrize("T,mu", [(2.0, -5.0), (1.0, -1.5)])
def test_grand_canonical_state_is_stationary(T, mu):
    """KMS for the reservoir pair, W_1(E)/W_2(-E) = exp(-(E - mu)/T): the exact-Redfield
    steady state is exp(-(H - mu N)/T)/Z (both reservoirs at the same T, mu)."""
    s = _system(T, mu)
    H = np.asarray(s.model.dense())
    n = jr.number(NMAX)
    N = sum(np.asarray(jr.LocalOperator(n, i, s.model.L, s.model.d).dense()) for i in range(s.model.L))
    gc = sl.expm(-(H - mu * N) / T)
    gc /= np.trace(gc)
    info = jr.steadystate(jr.redfield(s), return_info=True)
    rho = np.asarray(info.state)
    assert np.abs(rho - gc).max() < 1e-10
    # D = 27: the automatic method tries eigen-preconditioned GMRES; at T = 1, mu = -1.5 it
    # stalls above 1e-12 and hands over to Direct (steadystate's AUTO_GMRES_MAXITER), at
    # T = 2, mu = -5 it converges
    assert isinstance(info.method, jr.Direct if T == 1.0 else jr.GMRES)
    assert np.abs(np.asarray(jr.redfield(s)(gc))).max() < 1e-12


def test_local_redfield_converges_for_the_particle_reservoir():
    """Eq. (4) for the reservoir couplings: local u -> exact u with the order at high T (and
    so the generators)."""
    T = 8.0
    s = _system(T, -2.5 * T)
    errs = []
    for N in range(5):
        e = 0.0
        for k in range(len(s.couplings)):
            ex = np.asarray(jr.exact_u(s, k).dense())
            e = max(e, np.linalg.norm(np.asarray(jr.local_u(s, k, N).dense()) - ex) / np.linalg.norm(ex))
        errs.append(e)
    # measured 0.20, 0.045, 0.011, 0.0032, 0.0010: a factor ~4 per order (the real pole of
    # n_B at E = mu limits the Taylor radius to |eps - mu|)
    assert all(b < 0.5 * a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-2 * errs[0], errs


def test_lindblad_forms_refuse_multi_operator_couplings():
    s = _system(2.0, -5.0)
    with pytest.raises(ValueError, match="Hermitian"):
        jr.pseudo_lindblad(jr.local_redfield(s, 1), 1.0)
    with pytest.raises(ValueError, match="multi-operator"):
        jr.standard_local_lindblad(s)
    with pytest.raises(ValueError, match="multi-operator"):
        jr.local_lindblad(s, 1)
    with pytest.raises(ValueError, match="Hermitian"):
        jr.Coupling(0, jr.destroy(NMAX), jr.OhmicBath(0.1, 1.0))  # non-Hermitian v needs `partner`
    with pytest.raises(ValueError, match="partner"):
        jr.Coupling(0, jr.destroy(NMAX), jr.OhmicBath(0.1, 1.0), partner=np.eye(2))
