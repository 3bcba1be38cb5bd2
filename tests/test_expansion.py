"""Expansions of the Redfield jump operator: eqs. (1), (3), (4), each against the independent
full-space construction of tests/reference.py (NumPy Kronecker products and commutators with
the full H, mpmath Taylor coefficients of W; no library pieces)."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.expansion import nested_commutators

from . import reference as R
from .conftest import paper_system, random_matrix

G = 0.25


def test_nested_commutators_match_loop(rng):
    H = random_matrix(rng, 8)
    H = H + H.conj().T
    X = random_matrix(rng, 8)
    out = np.asarray(nested_commutators(jnp.asarray(H), jnp.asarray(X)[None], jnp.asarray([0.7]), 4))
    Y = X.copy()
    for n in range(5):
        assert np.allclose(out[n, 0], Y, atol=1e-9 * np.abs(Y).max())
        Y = H @ Y - Y @ H - 0.7 * Y


def _rel(a, b):
    return np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b)


def _random_hermitian(d, seed):
    a = np.random.default_rng(seed).normal(size=(d, d)) + 1j * np.random.default_rng(seed + 1).normal(size=(d, d))
    return (a + a.conj().T) / 2


# Models of the reference (eq. 5, eq. S.14) next to the library's, with couplings on a chain end
# and in the bulk: sigma^x (the paper's), a random Hermitian v (diagonal components: eps_kq = 0,
# where the ohmic W has its removable singularity), a + a^dag and a random v for Bose-Hubbard.
BH_V = [0.3, -0.2, 0.5]


def _case(model):
    if model == "xxz":
        L, d = 4, 2
        H, hloc = R.xxz(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
        m = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
        vs = [(0, R.SX), (1, _random_hermitian(2, 5)), (3, R.SX)]
    else:
        L, d = 3, 3
        H, hloc = R.bose_hubbard(L, J=0.6, U=0.5, V=BH_V, nmax=2)
        m = jr.bose_hubbard_chain(L, J=0.6, U=0.5, V=BH_V, nmax=2)
        a = R.destroy(2)
        vs = [(0, a + a.conj().T), (1, _random_hermitian(3, 7))]
    assert np.allclose(np.asarray(m.dense()), H, atol=1e-14)  # the library's model is eq. (5) / (S.14)
    return L, d, H, hloc, m, vs


def _baths(kind, T):
    if kind == "ohmic":
        return jr.OhmicBath(G, T), R.ohmic_W(G, T)
    return jr.DrudeLorentzBath(G, T, 10.0), R.drude_W(G, T, 10.0)


def _check_expansions(model, kind, plan):
    """``plan``: {coupling index: (orders of eq. 4, orders of eq. 3)}; returns the worst error."""
    T = 2.2
    L, d, H, hloc, m, vs = _case(model)
    bath, Wref = _baths(kind, T)
    s = jr.OpenSystem(m, [jr.Coupling(site, v, bath) for site, v in vs])
    eps0 = 0.8
    worst = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # SM B warning: not what is tested here
        for n, (loc_orders, adh_orders) in plan.items():
            site, v = vs[n]
            NMAX = max(tuple(loc_orders) + tuple(adh_orders))
            # reference partial sums for every N (the coefficients do not depend on N)
            loc_terms = []
            for vh, eps in R.local_components(hloc[site], v):
                c = R.taylor(Wref, eps, NMAX)
                loc_terms.append([ck * X for ck, X in zip(c, R.ad_powers(H, R.site_op(vh, site, L), eps, NMAX))])
            c0 = R.taylor(Wref, eps0, NMAX)
            adh_terms = [ck * X for ck, X in zip(c0, R.ad_powers(H, R.site_op(v, site, L), eps0, NMAX))]
            for N in loc_orders:
                e = _rel(jr.local_u(s, n, N).dense(), sum(sum(t[: N + 1]) for t in loc_terms))
                assert e < 1e-10, (model, kind, n, "local", N, e)
                worst = max(worst, e)
            for N in adh_orders:
                e = _rel(jr.adhoc_u(s, n, N, eps0).dense(), sum(adh_terms[: N + 1]))
                assert e < 1e-10, (model, kind, n, "adhoc", N, e)
                worst = max(worst, e)
    return worst


ALL = range(6)
# default: N = 0..5 on the paper's coupling (sigma^x at a chain end; a + a^dag for Bose-Hubbard),
# fewer orders elsewhere (each new order and component count compiles the library's jet
# derivatives anew, seconds each); every coupling at every order behind the slow marker
PLANS = {
    "xxz": ({0: (ALL, (0, 1, 2)), 1: ((0, 2), ())}, {0: (ALL, ALL), 1: (ALL, ALL), 2: (ALL, ALL)}),
    "bose_hubbard": ({0: (ALL, ())}, {0: (ALL, ALL), 1: (ALL, ALL)}),
}


@pytest.mark.parametrize("model,full", [
    ("xxz", False), ("bose_hubbard", False),
    pytest.param("xxz", True, marks=pytest.mark.slow),
    pytest.param("bose_hubbard", True, marks=pytest.mark.slow),
])
def test_local_and_adhoc_u_match_full_space_reference(model, full):
    """Eq. (4) (local_u) and eq. (3) (adhoc_u, eps0 = 0.8) for N = 0..5, ohmic W, against the
    reference: local components vhat_kq in the eigenbasis of H^loc, ([H, .] - eps)^n with the
    FULL Hamiltonian (NumPy), W^{(n)}(eps)/n! from mpmath at 40 digits. Couplings on a chain
    end and in the bulk (a random Hermitian v: components with eps_kq = 0, where W has its
    removable singularity). Relative error <= 1e-10 (measured <= 3e-16: round-off)."""
    assert _check_expansions(model, "ohmic", PLANS[model][full]) < 1e-10


@pytest.mark.parametrize("model,full", [
    ("xxz", False), ("bose_hubbard", False),
    pytest.param("xxz", True, marks=pytest.mark.slow),
    pytest.param("bose_hubbard", True, marks=pytest.mark.slow),
])
def test_expansions_complex_w_match_full_space_reference(model, full):
    """The same with the complex Drude W (E_D = 10h, SM I): reference W_D in closed form
    (digamma, tests/reference.py), mpmath derivatives. N = 0, 2 on the end coupling by
    default; every coupling at N = 0..5, eqs. (3) and (4), behind the slow marker. Measured
    <= 4e-16."""
    plan = PLANS[model][1] if full else {0: ((0, 2), ())}
    assert _check_expansions(model, "drude", plan) < 1e-10


@pytest.mark.parametrize("kind", ["ohmic", "drude"])
def test_exact_u_matches_reference(kind):
    """Eq. (1)/(S.8) in the eigenbasis of the reference H (eq. 5), W from mpmath; T_l != T_r."""
    L = 4
    H, _ = R.xxz(L)
    for n, (site, T) in enumerate(((0, 1.3), (L - 1, 2.9))):
        bath, Wref = _baths(kind, T)
        s = jr.boundary_driven(jr.xxz_chain(L), bath, bath)
        ref = R.exact_u(H, R.site_op(R.SX, site, L), Wref)
        assert _rel(jr.exact_u(s, n).dense(), ref) < 1e-12


def u_error(s, order, n=0, kind="local", eps0=0.0):
    ex = np.asarray(jr.exact_u(s, n).dense())  # checked against the reference above
    if kind == "local":
        u = jr.local_u(s, n, order)
    else:
        u = jr.adhoc_u(s, n, order, eps0)
    return np.linalg.norm(np.asarray(u.dense()) - ex) / np.linalg.norm(ex)


def test_local_u_converges_to_exact_at_high_T():
    """Eq. (4) -> eq. (1) as N grows (T = 8h, J = h): relative error falls monotonically and
    by more than 1e4 from N = 0 to N = 6."""
    s = paper_system(5, T=8.0)
    errs = [u_error(s, N) for N in range(7)]
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-4 * errs[0], errs


def test_adhoc_u_converges_at_high_T():
    s = paper_system(5, T=8.0)
    errs = [u_error(s, N, kind="adhoc", eps0=0.0) for N in (0, 2, 4, 6)]
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-3


@pytest.mark.parametrize("T", [0.2, 1.0, 5.0])
def test_order_zero_exact_without_bonds(T):
    """H_S^resid = 0: the local Redfield operator at N = 0 is exact at all T (main text);
    exact u from the reference (eigenbasis of the NumPy H, mpmath W)."""
    L = 4
    H, _ = R.xxz(L, J=0.0)
    s = jr.boundary_driven(jr.xxz_chain(L, J=0.0), jr.OhmicBath(0.3, T), jr.OhmicBath(0.3, 2 * T))
    for n, (site, Tn) in enumerate(((0, T), (L - 1, 2 * T))):
        ex = R.exact_u(H, R.site_op(R.SX, site, L), R.ohmic_W(0.3, Tn))
        assert _rel(jr.local_u(s, n, 0).dense(), ex) < 1e-13
        # and the higher orders add nothing
        assert _rel(jr.local_u(s, n, 3).dense(), ex) < 1e-12


def test_local_energies_are_generic_not_hardcoded():
    """A sigma_x field on the coupling site: expansion energies come from its eigenbasis (no
    bonds, so N = 0 is exact); reference built from the NumPy eigenbasis of that H^loc."""
    sx, sz = R.SX, R.SZ
    hloc = [0.8 * sx + 0.3 * sz, sz, sz]
    H = sum(R.site_op(h, i, 3) for i, h in enumerate(hloc))
    m = jr.LatticeModel.from_terms(3, 2, [(i, h) for i, h in enumerate(hloc)] + [((0, 1), 0.0 * np.kron(sx, sx))])
    s = jr.OpenSystem(m, [jr.Coupling(0, sz, jr.OhmicBath(0.2, 0.7))])
    W = R.ohmic_W(0.2, 0.7)
    ex = R.exact_u(H, R.site_op(sz, 0, 3), W)
    assert np.allclose(R.local_u(H, hloc[0], sz, 0, 3, W, 0), ex, atol=1e-13)  # the reference agrees
    assert _rel(jr.local_u(s, 0, 0).dense(), ex) < 1e-12


def test_cluster_support():
    s = jr.OpenSystem(jr.xxz_chain(9), [jr.Coupling(0, jr.sigmax(), jr.OhmicBath(0.25, 2.2)),
                                        jr.Coupling(4, jr.sigmax(), jr.OhmicBath(0.25, 2.2))])
    assert jr.local_u(s, 0, 3).sites == (0, 1, 2, 3)  # boundary: N + 1 sites
    assert jr.local_u(s, 1, 2).sites == (2, 3, 4, 5, 6)  # bulk: 2N + 1 sites
    with pytest.raises(MemoryError, match="max_cluster_dim"):
        jr.local_u(s, 1, 4, max_cluster_dim=256)


def test_lam_loc_xxz_closed_form():
    """For v = sigma_x on H^loc = h sigma_z, eq. (S.55) has r = (1, e^{-2h/T}) on the
    transitions (+2h, -2h); with detailed balance W(-2h) = e^{2h/T} W(2h):
    lambda_loc^2 = 2 W(2h)^2 / (1 + e^{-4h/T}), W(2h) = 2 gamma h / (e^{2h/T} - 1)."""
    T = 1.7
    s = paper_system(3, T=T)
    for n, h in ((0, 1.0), (1, 1.0 - 2 * 0.07)):  # site 2: h_2 = h + 2 delta
        W = 2 * 0.25 * h / np.expm1(2 * h / T)
        ref = W * np.sqrt(2 / (1 + np.exp(-4 * h / T)))
        assert abs(complex(jr.lam_loc(s, n)) - ref) < 1e-14


# lambda_loc (SM H, eq. S.55, |r_kq|^2) against the reference for couplings with complex matrix
# elements: (sigma^x + sigma^y)/sqrt(2) is sigma^x rotated about z, which commutes with this
# U(1)-symmetric H, so lambda_loc must not change (issue 11, defect 1).
ROT = (R.SX + R.SY) / np.sqrt(2)


@pytest.mark.parametrize("kind", ["ohmic", "drude"])
def test_lam_loc_matches_reference(kind):
    T = 2.2
    bath, Wref = _baths(kind, T)
    L, _, _, hloc, m, vs = _case("xxz")
    cases = [(m, hloc, site, v) for site, v in vs + [(0, ROT), (2, -ROT.T)]]
    Lb, _, _, hloc_b, mb, vs_b = _case("bose_hubbard")
    cases += [(mb, hloc_b, site, v) for site, v in vs_b]
    for mod, hl, site, v in cases:
        s = jr.OpenSystem(mod, [jr.Coupling(site, v, bath)])
        ref = R.lam_loc(hl[site], v, Wref, T)
        got = complex(jr.lam_loc(s, 0))
        assert abs(got - ref) < 1e-12 * abs(ref), (site, v, got, ref)
    # the rotation invariance itself, on the reference: (sx + sy)/sqrt(2) gives sigma^x's value
    assert abs(R.lam_loc(hloc[0], ROT, Wref, T) - R.lam_loc(hloc[0], R.SX, Wref, T)) < 1e-14


def test_convergence_warning_at_low_T():
    """SM B: transitions outside the Taylor radius sqrt(eps^2 + (2 pi T)^2) -> warning."""
    with pytest.warns(RuntimeWarning, match="radius"):
        jr.local_u(paper_system(4, T=0.3), 0, 2)
    with pytest.warns(RuntimeWarning, match="radius"):
        jr.adhoc_u(paper_system(4, T=0.3), 0, 2, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jr.local_u(paper_system(4, T=2.2), 0, 4)


def test_negative_order_rejected():
    with pytest.raises(ValueError, match="`order`"):
        jr.local_redfield(paper_system(3), -1)
    with pytest.raises(ValueError, match="`order`"):
        jr.adhoc_redfield(paper_system(3), 1.5, 0.0)
