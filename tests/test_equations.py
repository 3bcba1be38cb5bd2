"""Master-equation generators: Redfield (eq. 1), pseudo-Lindblad identity (SM E), Lindblad
forms, dense vs matrix-free."""

import numpy as np
import pytest

import jaxredfield as jr

from . import reference as R
from .conftest import paper_system, random_density_matrix, random_matrix


class Ref:
    """The paper's boundary-driven chain (eq. 5, sigma^x couplings at both ends, T_l != T_r)
    rebuilt by tests/reference.py, next to the library's system."""

    def __init__(self, L=3, T=2.0, Tr=3.0, kind="ohmic", model="xxz"):
        if model == "xxz":
            self.H, self.hloc = R.xxz(L)
            m, vloc = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07), R.SX
        else:  # Bose-Hubbard (eq. S.14) with a + a^dag couplings
            self.H, self.hloc = R.bose_hubbard(L, J=0.6, U=0.5, V=0.2, nmax=2)
            m, vloc = jr.bose_hubbard_chain(L, J=0.6, U=0.5, V=0.2, nmax=2), R.destroy(2) + R.destroy(2).T
        mk = (lambda t: (jr.OhmicBath(0.25, t), R.ohmic_W(0.25, t))) if kind == "ohmic" else \
             (lambda t: (jr.DrudeLorentzBath(0.25, t, 10.0), R.drude_W(0.25, t, 10.0)))
        (bl, self.Wl), (br, self.Wr) = mk(T), mk(Tr)
        self.system = jr.boundary_driven(m, bl, br, op=vloc)
        self.L, self.vloc, self.Ts = L, vloc, (T, Tr)
        self.sites = (0, L - 1)
        self.Ws = (self.Wl, self.Wr)
        self.v = [R.site_op(vloc, i, L) for i in self.sites]

    def u(self, build, order=None, eps0=None):
        if build == "exact":
            return [R.exact_u(self.H, v, W) for v, W in zip(self.v, self.Ws)]
        if build == "local":
            return [R.local_u(self.H, self.hloc[i], self.vloc, i, self.L, W, order)
                    for i, W in zip(self.sites, self.Ws)]
        return [R.adhoc_u(self.H, v, W, order, e) for v, W, e in zip(self.v, self.Ws, eps0)]

    def lam_loc(self):
        return [R.lam_loc(self.hloc[i], self.vloc, W, T) for i, W, T in zip(self.sites, self.Ws, self.Ts)]


def _close(eq, M_ref, rtol=1e-12):
    M = np.asarray(jr.liouvillian_matrix(eq))
    err = np.abs(M - M_ref).max() / np.abs(M_ref).max()
    assert err < rtol, err
    return err


EPS0 = [0.5, -0.5]


@pytest.mark.parametrize("build,order,model", [
    ("exact", None, "xxz"), ("local", 2, "xxz"), ("adhoc", 1, "xxz"),
    ("local", 2, "bose_hubbard"), ("exact", None, "bose_hubbard"),
])
def test_redfield_generators_match_full_space_reference(build, order, model):
    """Eq. (1) with u exact (S.8), ad-hoc (3) or local (4): the library's Liouvillian (its
    matrix-free generator applied to every basis matrix) against the NumPy superoperator of
    -i[H, rho] + sum_j ([u_j rho, v_j] + h.c.) with u_j from tests/reference.py; T_l != T_r.
    Max entry error relative to the largest entry <= 1e-12 (measured <= 3e-16)."""
    ref = Ref(L=3 if model == "xxz" else 2, model=model)
    eq = {"exact": lambda: jr.redfield(ref.system), "local": lambda: jr.local_redfield(ref.system, order),
          "adhoc": lambda: jr.adhoc_redfield(ref.system, order, EPS0)}[build]()
    us = ref.u(build, order, EPS0)
    _close(eq, R.redfield_liouvillian(ref.H, list(zip(us, ref.v))))


@pytest.mark.parametrize("lam", [0.05, 7.3, 0.4 + 0.9j])
def test_pseudo_lindblad_matches_reference(lam):
    """SM E (eqs. S.44-S.49, written with the paper's eta, (eta^*)^2 = lambda): the library's
    pseudo-Lindblad generator, with and without L_-, against the reference's; on the reference
    the identity D[L+] - D[L-] - i[H_c, .] = [u ., v] + h.c. holds to round-off."""
    ref = Ref()
    us = ref.u("local", 3)
    pairs = list(zip(us, ref.v))
    eq = jr.local_redfield(ref.system, 3)
    M_pl = R.pseudo_lindblad_liouvillian(ref.H, pairs, [lam, lam])
    M_rf = R.redfield_liouvillian(ref.H, pairs)
    assert np.abs(M_pl - M_rf).max() < 1e-12 * np.abs(M_rf).max()  # the identity, on the reference
    _close(jr.pseudo_lindblad(eq, lam), M_pl)
    M_plus = R.pseudo_lindblad_liouvillian(ref.H, pairs, [lam, lam], keep_negative=False)
    assert np.abs(M_plus - M_rf).max() > 1e-3 * np.abs(M_rf).max()  # dropping L- is not vacuous
    _close(jr.pseudo_lindblad(eq, lam, keep_negative=False), M_plus)


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


@pytest.mark.parametrize("kind", ["ohmic", "drude"])
def test_local_lindblad_matches_reference(kind):
    """The local Lindblad equation (main text): L_+ = (u_loc + lambda_loc v)/sqrt(2 lambda_loc)
    (complex lambda for Drude: SM E's eta form), H_eff = H - (i/2) sum (v u - u^dag v), with
    lambda_loc of SM H eq. (S.55) (|r_kq|^2) and u_loc of eq. (4), all from the reference; a
    float lam overrides lambda_loc."""
    ref = Ref(kind=kind)
    pairs = list(zip(ref.u("local", 2), ref.v))
    lams = ref.lam_loc()
    if kind == "drude":
        assert min(abs(x.imag) for x in lams) > 0.1  # lambda_loc really is complex here
    ll = jr.local_lindblad(ref.system, 2)
    assert ll.is_lindblad
    _close(ll, R.pseudo_lindblad_liouvillian(ref.H, pairs, lams, keep_negative=False))
    _close(jr.local_lindblad(ref.system, 2, lam=0.9),
           R.pseudo_lindblad_liouvillian(ref.H, pairs, [0.9, 0.9], keep_negative=False))


@pytest.mark.parametrize("kind", ["ohmic", "drude"])
def test_standard_local_lindblad_matches_reference(kind):
    """Rates 2 Re W(eps) on the local transitions (sigma_i^{-+} with 2W(-+2h_i) for the XXZ
    chain) plus the Lamb shift Im W(eps) A^dag A, W from the reference."""
    ref = Ref(kind=kind)
    M = R.standard_local_lindblad_liouvillian(
        ref.H, [(i, ref.hloc[i], ref.vloc, W) for i, W in zip(ref.sites, ref.Ws)], ref.L)
    _close(jr.standard_local_lindblad(ref.system), M)


def test_gibbs_is_exact_redfield_steady_state():
    """Detailed balance + equal temperatures: exp(-H/T)/Z (NumPy, eq. 5) is an exact steady
    state of eq. (1)."""
    for L, T in ((3, 0.7), (4, 2.2)):
        s = paper_system(L, T=T)
        eq = jr.redfield(s)
        g = R.gibbs(R.xxz(L)[0], T)
        assert np.abs(np.asarray(eq(g))).max() < 1e-13
        rho = jr.steadystate(eq)
        assert R.trace_norm(np.asarray(rho) - g) < 1e-10


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
def test_adhoc_lindblad_matches_reference(kind):
    """SM (S.50)-(S.53): L_+ from u of eq. (3) and lambda = W(eps0) (complex for Drude), H_eff =
    H - (i/2)(v u - u^dag v); reference u, W and eta form. An explicit lam overrides W(eps0)."""
    ref = Ref(kind=kind)
    eps = [0.6, -0.4]
    pairs = list(zip(ref.u("adhoc", 2, eps), ref.v))
    lams = [complex(W(e)) for W, e in zip(ref.Ws, eps)]
    if kind == "drude":
        assert min(abs(x.imag) for x in lams) > 0.1  # lambda = W(eps0) really is complex here
    al = jr.adhoc_lindblad(ref.system, 2, eps)
    assert al.is_lindblad and not al.negative_jumps
    _close(al, R.pseudo_lindblad_liouvillian(ref.H, pairs, lams, keep_negative=False))
    _close(jr.adhoc_lindblad(ref.system, 2, eps, lam=0.9),
           R.pseudo_lindblad_liouvillian(ref.H, pairs, [0.9, 0.9], keep_negative=False))


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
