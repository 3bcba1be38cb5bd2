"""A complex W (Drude-Lorentz bath, SM I) through every equation: lambda_loc, the
pseudo-Lindblad rewrite with complex lambda, the local Lindblad equation and the Lamb shift of
the standard local Lindblad equation, each against an independent construction
(tests/reference.py: W_D in closed form, NumPy full-space operators)."""

import numpy as np

import jaxredfield as jr

from . import reference as R
from .conftest import random_density_matrix, random_matrix

G, T, ED = 0.25, 2.0, 10.0


def drude_system(L, J=1.0, gamma=G):
    m = jr.xxz_chain(L, J=J, Delta=0.7, h=1.0, delta=-0.07)
    return jr.boundary_driven(m, jr.DrudeLorentzBath(gamma, T, ED), jr.DrudeLorentzBath(gamma, 1.5 * T, ED))


def test_lam_loc_complex_matches_hand_formula():
    """SM H for v = sigma^x on a site with H^loc = h sigma^z (E_down = -h, E_up = h):
    lambda^2 = (W(2h)^2 e^{2h/T} + W(-2h)^2 e^{-2h/T}) / (e^{2h/T} + e^{-2h/T}) (r_kq = e^{-E_q/T});
    complex for the Drude W, principal square root."""
    s = drude_system(3)
    for n, (hi, Tn) in enumerate(((1.0, T), (1.0 - 2 * 0.07, 1.5 * T))):
        W = R.drude_W(G, Tn, ED)  # reference W_D (digamma closed form of eqs. S.59-S.61)
        wp, wm = complex(W(2 * hi)), complex(W(-2 * hi))
        assert abs(wp.imag) > 0.1 and abs(wm.imag) > 0.1  # the Lamb-shift part is not small
        a, b = np.exp(2 * hi / Tn), np.exp(-2 * hi / Tn)
        lam = np.sqrt((wp**2 * a + wm**2 * b) / (a + b))  # r_kq^2 = e^{-2E_q/T}
        got = complex(jr.lam_loc(s, n))
        assert abs(got - lam) < 1e-12 * abs(lam), (got, lam)
        assert got.real > 0 and abs(got.imag) > 0.1


def test_pseudo_lindblad_exact_for_complex_lambda_loc(rng):
    """SM E with the complex lambda_loc: -i[H_c] + D[L+] - D[L-] equals local Redfield."""
    s = drude_system(3)
    eq = jr.local_redfield(s, 2)
    lams = [jr.lam_loc(s, n) for n in range(2)]
    pl = jr.pseudo_lindblad(eq, lams)
    for rho in (random_density_matrix(rng, 8), random_matrix(rng, 8)):
        a, b = np.asarray(eq(rho)), np.asarray(pl(rho))
        assert np.allclose(a, b, atol=1e-12 * np.abs(a).max())


def test_local_lindblad_complex_lambda_dense(rng):
    """Local Lindblad with a complex lambda: L+ = (u + lambda^* v)/sqrt(2 Re lambda) and
    H_eff = H - (i/2)(v u - u^dag v), from the reference's u_loc (eq. 4), lambda_loc (S.55)
    and the dense right-hand side of D[L+]."""
    s = drude_system(3)
    ll = jr.local_lindblad(s, 2)
    H, hloc = R.xxz(3)
    jumps, Heff = [], H.astype(complex)
    for site, Tn in ((0, T), (2, 1.5 * T)):
        W = R.drude_W(G, Tn, ED)
        U = R.local_u(H, hloc[site], R.SX, site, 3, W, 2)
        V = R.site_op(R.SX, site, 3)
        lam = R.lam_loc(hloc[site], R.SX, W, Tn)
        assert abs(lam.imag) > 0.1
        jumps.append((U + np.conj(lam) * V) / np.sqrt(2 * lam.real))
        Heff = Heff - 0.5j * (V @ U - U.conj().T @ V)
    rho = random_density_matrix(rng, 8)
    assert np.allclose(np.asarray(ll(rho)), dense_lindblad_rhs(Heff, jumps, rho), atol=1e-12)


def dense_lindblad_rhs(H, jumps, rho):
    out = -1j * (H @ rho - rho @ H)
    for L in jumps:
        LdL = L.conj().T @ L
        out += L @ rho @ L.conj().T - 0.5 * (LdL @ rho + rho @ LdL)
    return out


def _hausdorff(a, b):
    d = np.abs(a[:, None] - b[None, :])
    return max(d.min(axis=1).max(), d.min(axis=0).max())


def test_standard_local_lindblad_lamb_shift_is_secular_redfield():
    """Decoupled spins (J = 0): the standard local Lindblad equation is the secular (RWA) limit
    of exact Redfield, Lamb shift Im W(eps) A^dag A included. The non-secular terms move the
    Liouvillian's eigenvalues by O(gamma^2); leaving out the Lamb shift errs by O(gamma).
    Measured (Hausdorff distance of the spectra): gamma = 5e-4: 3.5e-6 with, 3.0e-4 without;
    gamma = 2e-3: 5.6e-5 with, 1.19e-3 without -- orders 2 and 1."""
    d_with, d_without = [], []
    for gamma in (5e-4, 2e-3):
        s = drude_system(2, J=0.0, gamma=gamma)
        ev = lambda eq: np.linalg.eigvals(np.asarray(jr.liouvillian_matrix(eq)))  # noqa: E731
        H = R.xxz(2, J=0.0)[0]  # exact Redfield from the reference (eigenbasis, W_D closed form)
        pairs = [(R.exact_u(H, R.site_op(R.SX, i, 2), R.drude_W(gamma, t, ED)), R.site_op(R.SX, i, 2))
                 for i, t in ((0, T), (1, 1.5 * T))]
        exact = np.linalg.eigvals(R.redfield_liouvillian(H, pairs))
        std = jr.standard_local_lindblad(s)
        assert len(std.hamiltonian) > len(s.model.terms)  # the Lamb-shift terms are there
        no_shift = jr.MasterEquation(std.hamiltonian[:len(s.model.terms)], (), std.jumps, (), 2, 2, "no shift")
        d_with.append(_hausdorff(ev(std), exact))
        d_without.append(_hausdorff(ev(no_shift), exact))
    order_with = np.log(d_with[1] / d_with[0]) / np.log(4.0)
    order_without = np.log(d_without[1] / d_without[0]) / np.log(4.0)
    assert abs(order_with - 2) < 0.1 and abs(order_without - 1) < 0.1, (d_with, d_without)
    assert d_with[0] < 0.02 * d_without[0]


def test_local_redfield_exact_for_decoupled_spins():
    """J = 0: every nested commutator ([H, .] - eps) v_kq vanishes, so u_loc = sum W(eps) v_kq
    exactly at any order, complex W included (exact u from the reference)."""
    s = drude_system(3, J=0.0)
    H = R.xxz(3, J=0.0)[0]
    ex = [R.exact_u(H, R.site_op(R.SX, i, 3), R.drude_W(G, t, ED)) for i, t in ((0, T), (2, 1.5 * T))]
    for N in (0, 2):
        lr = jr.local_redfield(s, N)
        for (u, _), ue in zip(lr.redfield_terms, ex):
            assert np.allclose(np.asarray(u.dense()), ue, atol=1e-12)
