"""Master-equation generators: Redfield (eq. 1), pseudo-Lindblad identity (SM E), Lindblad
forms, dense vs matrix-free."""

import numpy as np
import pytest

import jaxredfield as jr

from .conftest import paper_system, random_density_matrix, random_matrix


def dense_redfield_rhs(H, pairs, rho):
    out = -1j * (H @ rho - rho @ H)
    for u, v in pairs:
        out += u @ rho @ v - v @ u @ rho + v @ rho @ u.conj().T - rho @ u.conj().T @ v
    return out


def dense_lindblad_rhs(H, jumps, rho):
    out = -1j * (H @ rho - rho @ H)
    for L in jumps:
        LdL = L.conj().T @ L
        out += L @ rho @ L.conj().T - 0.5 * (LdL @ rho + rho @ LdL)
    return out


@pytest.mark.parametrize("build", ["exact", "local2", "adhoc1"])
def test_matrix_free_generator_matches_dense(rng, build):
    s = paper_system(4, T=2.0, Tr=3.0)
    eq = {"exact": lambda: jr.redfield(s), "local2": lambda: jr.local_redfield(s, 2),
          "adhoc1": lambda: jr.adhoc_redfield(s, 1, [0.5, -0.5])}[build]()
    H = np.asarray(s.model.dense())
    pairs = [(np.asarray(u.dense()), np.asarray(v.dense())) for u, v in eq.redfield_terms]
    rho = random_matrix(rng, 16)  # linear map: non-Hermitian input too
    assert np.allclose(np.asarray(eq(rho)), dense_redfield_rhs(H, pairs, rho), atol=1e-12)


@pytest.mark.parametrize("lam", [0.05, 1.0, 7.3, 0.4 + 0.9j])
@pytest.mark.parametrize("build", ["exact", "local3"])
def test_pseudo_lindblad_identity(rng, lam, build):
    """SM E: [u rho, v] + h.c. = -i[H_c, rho] + D[L+] - D[L-] for any state and lambda."""
    s = paper_system(4, T=1.5, Tr=2.5)
    eq = jr.redfield(s) if build == "exact" else jr.local_redfield(s, 3)
    pl = jr.pseudo_lindblad(eq, lam)
    for rho in (random_density_matrix(rng, 16), random_matrix(rng, 16)):
        a, b = np.asarray(eq(rho)), np.asarray(pl(rho))
        assert np.allclose(a, b, atol=1e-12 * max(1, np.abs(a).max()))
    # dropping L- changes the generator (the identity is not vacuous)
    lp = jr.pseudo_lindblad(eq, lam, keep_negative=False)
    rho = random_density_matrix(rng, 16)
    assert np.abs(np.asarray(lp(rho)) - np.asarray(eq(rho))).max() > 1e-4


def test_local_lindblad_structure(rng):
    """L+ = (u_loc + lam v)/sqrt(2 lam), H_eff = H - (i/2)(v u - u^dag v): dense check."""
    s = paper_system(4, T=2.2)
    ll = jr.local_lindblad(s, 2)
    lr = jr.local_redfield(s, 2)
    assert ll.is_lindblad and not lr.is_lindblad
    H = np.asarray(s.model.dense())
    jumps, Heff = [], H.copy()
    for n, (u, v) in enumerate(lr.redfield_terms):
        U, V = np.asarray(u.dense()), np.asarray(v.dense())
        lam = complex(jr.lam_loc(s, n)).real
        jumps.append((U + lam * V) / np.sqrt(2 * lam))
        Heff += -0.5j * (V @ U - U.conj().T @ V)
    rho = random_density_matrix(rng, 16)
    assert np.allclose(np.asarray(ll(rho)), dense_lindblad_rhs(Heff, jumps, rho), atol=1e-12)
    # a float lam overrides lambda_loc
    ll2 = jr.local_lindblad(s, 2, lam=0.9)
    jumps2 = [(np.asarray(u.dense()) + 0.9 * np.asarray(v.dense())) / np.sqrt(1.8) for u, v in lr.redfield_terms]
    assert np.allclose(np.asarray(ll2(rho)), dense_lindblad_rhs(Heff, jumps2, rho), atol=1e-12)


def test_standard_local_lindblad_rates():
    """Rates gamma_i^{+-} = 2 W(+-2 h_i) on sigma_i^{+-} (main text)."""
    s = paper_system(3, T=1.1, Tr=2.0)
    eq = jr.standard_local_lindblad(s)
    h = [1.0, 1.0 - 2 * 0.07]
    expected = []
    for (site, bath, hi) in ((0, s.couplings[0].bath, h[0]), (2, s.couplings[1].bath, h[1])):
        expected.append((site, np.sqrt(2 * complex(bath.W(-2 * hi)).real) * jr.sigmam()))
        expected.append((site, np.sqrt(2 * complex(bath.W(2 * hi)).real) * jr.sigmap()))
    got = [(J.sites[0], np.asarray(J.matrix)) for J in eq.jumps]
    assert len(got) == 4
    for site, m in expected:
        assert any(site == gs and np.allclose(m, gm, atol=1e-14) for gs, gm in got)


def test_gibbs_is_exact_redfield_steady_state():
    """Detailed balance + equal temperatures: exp(-H/T)/Z is an exact steady state of eq. (1)."""
    for L, T in ((3, 0.7), (4, 2.2)):
        s = paper_system(L, T=T)
        eq = jr.redfield(s)
        g = np.asarray(jr.gibbs_state(s.model, T))
        assert np.abs(np.asarray(eq(g))).max() < 1e-13
        rho = jr.steadystate(eq)
        assert float(jr.trace_distance(rho, g)) < 1e-10


def test_bad_lambda():
    s = paper_system(3)
    with pytest.raises(ValueError, match="`lam`"):
        jr.local_lindblad(s, 1, lam=0.0)
    with pytest.raises(ValueError, match="`lam`"):
        jr.local_lindblad(s, 1, lam=-2.0)
    with pytest.raises(ValueError, match="one value per coupling"):
        jr.local_lindblad(s, 1, lam=[1.0, 2.0, 3.0])


def test_exact_refuses_large_system():
    s = paper_system(16)
    with pytest.raises(MemoryError, match="local_redfield"):
        jr.redfield(s)


def _drude_system(L, T=2.0, ED=10.0):
    m = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    return jr.boundary_driven(m, jr.DrudeLorentzBath(0.25, T, ED), jr.DrudeLorentzBath(0.25, 1.5 * T, ED))


@pytest.mark.parametrize("kind", ["ohmic", "drude"])
def test_adhoc_lindblad_dense(rng, kind):
    """SM (S.50)-(S.53): L+ = (u + W(eps0)^* v)/sqrt(2 Re W(eps0)) with u of eq. (3) and
    H_eff = H - (i/2)(v u - u^dag v), built here from dense matrices; complex W for Drude."""
    s = paper_system(3, T=2.0, Tr=3.0) if kind == "ohmic" else _drude_system(3)
    eps = [0.6, -0.4]
    al, ar = jr.adhoc_lindblad(s, 2, eps), jr.adhoc_redfield(s, 2, eps)
    assert al.is_lindblad and not al.negative_jumps
    Heff = np.asarray(s.model.dense()).astype(complex)
    jumps = []
    for n, (u, v) in enumerate(ar.redfield_terms):
        U, V = np.asarray(u.dense()), np.asarray(v.dense())
        w = complex(s.couplings[n].bath.W(eps[n]))
        if kind == "drude":
            assert abs(w.imag) > 0.1  # lambda = W(eps0) really is complex here
        jumps.append((U + np.conj(w) * V) / np.sqrt(2 * w.real))
        Heff = Heff - 0.5j * (V @ U - U.conj().T @ V)
    rho = random_density_matrix(rng, 8)
    assert np.allclose(np.asarray(al(rho)), dense_lindblad_rhs(Heff, jumps, rho), atol=1e-12)
    # same as rewriting ad-hoc Redfield with lambda = W(eps0) and dropping L-
    lams = [s.couplings[n].bath.W(e) for n, e in enumerate(eps)]
    ref = jr.pseudo_lindblad(ar, lams, keep_negative=False)
    assert np.allclose(np.asarray(al(rho)), np.asarray(ref(rho)), atol=1e-12)
    # an explicit lam overrides W(eps0)
    al2 = jr.adhoc_lindblad(s, 2, eps, lam=0.9)
    assert np.abs(np.asarray(al2(rho)) - np.asarray(al(rho))).max() > 1e-4


@pytest.mark.parametrize("kind", ["ohmic", "drude"])
def test_adhoc_lindblad_order0_is_adhoc_redfield(rng, kind):
    """N = 0: u = W(eps0) v, so L- = (u - W(eps0) v)/... = 0 and dropping it is exact (SM E);
    at N = 2 dropping L- changes the generator."""
    s = paper_system(3, T=2.0, Tr=3.0) if kind == "ohmic" else _drude_system(3)
    eps = [1.1, -0.3]
    for rho in (random_density_matrix(rng, 8), random_matrix(rng, 8)):
        a = np.asarray(jr.adhoc_lindblad(s, 0, eps)(rho))
        b = np.asarray(jr.adhoc_redfield(s, 0, eps)(rho))
        assert np.allclose(a, b, atol=1e-12 * np.abs(b).max())
    rho = random_density_matrix(rng, 8)
    d2 = np.asarray(jr.adhoc_lindblad(s, 2, eps)(rho)) - np.asarray(jr.adhoc_redfield(s, 2, eps)(rho))
    assert np.abs(d2).max() > 1e-4


def test_adhoc_lindblad_bad_eps0():
    s = paper_system(3)
    for bad in (float("nan"), float("inf"), 0.5 + 1j):
        with pytest.raises(ValueError, match="`eps0`"):
            jr.adhoc_lindblad(s, 1, bad)
    with pytest.raises(ValueError, match="one value per coupling"):
        jr.adhoc_lindblad(s, 1, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="`lam`"):
        jr.adhoc_lindblad(s, 1, 0.5, lam=-1.0)
    # a bath whose W(eps0) has no positive real part: lambda = W(eps0) is not allowed
    m = jr.xxz_chain(3, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    b = jr.CallableBath(lambda E: 0.25 * (0.2 - E) + 0j * E, temperature=1.0)
    s2 = jr.boundary_driven(m, b, b)
    with pytest.raises(ValueError, match="no positive real part"):
        jr.adhoc_lindblad(s2, 1, 0.5)
    assert jr.adhoc_lindblad(s2, 1, 0.1).is_lindblad  # W(0.1) > 0 is fine
