"""Bad or awkward input through the expansions, baths and equation builders (issue 11):
eigenvector phases in lambda_loc, a user's W with a removable singularity, the SM B warning
of the ad-hoc expansion, non-Hermitian H, mu > 0, non-finite operators. References are
NumPy formulas and symmetries, not the library's own pieces."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.tuning import local_lindblad_with

from .conftest import paper_system

G, T = 0.25, 2.2


def ohmic_np(E, gamma=G, temp=T):
    """gamma E / (e^{E/T} - 1) in NumPy (E != 0)."""
    E = np.asarray(E, dtype=float)
    return gamma * E / np.expm1(E / temp)


def expm1_bath(gamma=G, temp=T):
    """The natural way to write the ohmic W: 0/0 at E = 0."""
    return jr.CallableBath(lambda E: gamma * E / jnp.expm1(E / temp), temperature=temp)


def rotated_sigmax(phi):
    """e^{-i phi sigma^z/2} sigma^x e^{i phi sigma^z/2} = cos(phi) sigma^x + sin(phi) sigma^y."""
    return np.cos(phi) * jr.sigmax() + np.sin(phi) * jr.sigmay()


def z_rotation(phi, L):
    """R = prod_j e^{-i phi sigma^z_j/2}: commutes with the XXZ Hamiltonian (U(1))."""
    r = np.diag(np.exp(-0.5j * phi * np.diag(jr.sigmaz()).real))
    out = np.ones((1, 1))
    for _ in range(L):
        out = np.kron(out, r)
    return out


# -- 1. lambda_loc is independent of eigenvector phases ----------------------------------------


def test_lam_loc_invariant_under_rotations_commuting_with_H():
    """Eq. (S.55) with the paper's real elements, in NumPy: site i has H^loc = h_i sigma^z,
    r = <k|sigma^x|q> e^{-(E_q - E_0)/T}. Every v = e^{-i phi sigma^z/2} sigma^x e^{i phi
    sigma^z/2} (a unitary commuting with H^loc) must give the same lambda_loc (the phase of
    sigma^y's elements gave 1.5e-9 (1 + i) before)."""
    m = jr.xxz_chain(4)
    for n, h in ((0, 1.0), (1, 1.0 + 3 * -0.07)):
        E = np.array([h, -h])  # sigma^z basis (up, down): real eigenvectors
        sx = np.real(jr.sigmax())
        r = sx * np.exp(-(E - E.min()) / T)[None, :]
        dE = E[:, None] - E[None, :]
        Wm = np.where(sx != 0, ohmic_np(np.where(sx != 0, dE, 1.0)), 0.0)
        ref = np.sqrt(np.sum((Wm * r) ** 2) / np.sum(r**2))
        for phi in (0.0, np.pi / 4, 1.0, 2.5, -np.pi / 2):
            s = jr.boundary_driven(m, jr.OhmicBath(G, T), jr.OhmicBath(G, T), op=rotated_sigmax(phi))
            got = complex(jr.lam_loc(s, n))
            assert abs(got - ref) < 1e-13 * ref, (phi, got, ref)
    assert abs(ref - 0.4779) < 1e-4  # site 3 of the paper chain (0.4425 on site 0)


def test_lam_loc_basis_invariant_in_degenerate_level():
    """A d = 3 site with H^loc = diag(0, 0, 1) (a degenerate pair): any unitary inside the pair
    commutes with H^loc. Reference, basis-free: lambda^2 = sum_{E,E'} W(E - E')^2
    ||P_E v P_E'||_F^2 e^{-2E'/T} / sum ||P_E v P_E'||_F^2 e^{-2E'/T} (eq. S.55 for a real v in
    a real eigenbasis), for a real v and for complex rotations of it."""
    rng = np.random.default_rng(5)
    hloc = np.diag([0.0, 0.0, 1.0])
    a = rng.normal(size=(3, 3))
    v = a + a.T
    bond = np.kron(v, v) * 0.1
    model = jr.LatticeModel.from_terms(2, 3, [((0,), hloc), ((1,), hloc), ((0, 1), bond)])
    P = {0.0: np.diag([1.0, 1.0, 0.0]), 1.0: np.diag([0.0, 0.0, 1.0])}
    num = den = 0.0
    for e1, p1 in P.items():
        for e2, p2 in P.items():
            f = np.linalg.norm(p1 @ v @ p2) ** 2 * np.exp(-2 * e2 / T)
            w = G * T if e1 == e2 else ohmic_np(e1 - e2)
            num, den = num + w**2 * f, den + f
    ref = np.sqrt(num / den)
    for _ in range(3):
        q2, _ = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))
        Q = np.eye(3, dtype=complex)
        Q[:2, :2] = q2
        vq = Q @ v @ Q.conj().T
        s = jr.OpenSystem(model, [jr.Coupling(0, vq, jr.OhmicBath(G, T))])
        assert abs(complex(jr.lam_loc(s, 0)) - ref) < 1e-13 * ref


def test_local_lindblad_steady_state_covariant_under_z_rotation():
    """The sigma^x physics rotated about z: v(phi) = R sigma^x R^dag with R commuting with H,
    so rho_ss(phi) = R rho_ss(0) R^dag for the local Lindblad equation (before, the rotated
    coupling's steady state was 1.26 away from exact Redfield instead of 0.057, L = 4)."""
    L = 3
    m = jr.xxz_chain(L)
    rhos = []
    for phi in (0.0, np.pi / 4):
        s = jr.boundary_driven(m, jr.OhmicBath(G, T), jr.OhmicBath(G, 1.5 * T), op=rotated_sigmax(phi))
        rhos.append(np.asarray(jr.steadystate(jr.local_lindblad(s, 1), method=jr.Direct())))
    R = z_rotation(np.pi / 4, L)
    assert np.abs(rhos[1] - R @ rhos[0] @ R.conj().T).max() < 1e-10
    for i in range(L):  # <sigma^z_i> is invariant under R
        sz = np.kron(np.kron(np.eye(2**i), jr.sigmaz()), np.eye(2 ** (L - i - 1)))
        assert abs(np.trace(sz @ rhos[1]) - np.trace(sz @ rhos[0])) < 1e-10


def test_local_params_paper_equals_local_lindblad_for_complex_w():
    """LocalParams.paper is the paper's equation also for a Drude bath, whose lambda_loc is
    complex (the real part alone gave trace distance 0.48)."""
    m = jr.xxz_chain(3, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    s = jr.boundary_driven(m, jr.DrudeLorentzBath(G, 2.0, 10.0), jr.DrudeLorentzBath(G, 3.0, 10.0))
    p = jr.LocalParams.paper(s)
    lams = np.asarray(p.lam(s))
    assert np.all(np.abs(lams.imag) > 0.1)  # the Lamb shift makes lambda_loc complex
    np.testing.assert_allclose(lams, [complex(x) for x in jr.lam_loc(s)], rtol=1e-14)
    a = jr.steadystate(local_lindblad_with(s, 1, p), method=jr.Direct())
    b = jr.steadystate(jr.local_lindblad(s, 1), method=jr.Direct())
    assert float(jr.trace_distance(a, b)) < 1e-12


# -- 2. a W with a removable singularity --------------------------------------------------------


@pytest.fixture(scope="module")
def ohm_and_user():
    m = jr.xxz_chain(3)
    ohm = jr.boundary_driven(m, jr.OhmicBath(G, T), jr.OhmicBath(G, 1.5 * T))
    usr = jr.boundary_driven(m, expm1_bath(), expm1_bath(temp=1.5 * T))
    return ohm, usr


def test_expm1_w_equals_ohmic_where_w0_is_not_needed(ohm_and_user):
    """sigma^x couplings on the XXZ chain never need W(0): g E/expm1(E/T) gives the ohmic
    results (it gave NaN in lambda_loc, every u and the steady state before). The order-0
    local u is checked against NumPy: W(2h) sigma^+ + W(-2h) sigma^-."""
    ohm, usr = ohm_and_user
    u0 = np.asarray(jr.local_u(usr, 0, 0).matrix)
    up, dn = np.array([1.0, 0.0]), np.array([0.0, 1.0])  # sigma^z = diag(1, -1): E_up = +h
    ref = ohmic_np(2.0) * np.outer(up, dn) + ohmic_np(-2.0) * np.outer(dn, up)
    assert np.abs(u0 - ref).max() < 1e-14
    for n in range(2):
        assert abs(complex(jr.lam_loc(usr, n)) - complex(jr.lam_loc(ohm, n))) < 1e-14
        for order in (1, 2):
            a, b = jr.local_u(usr, n, order).matrix, jr.local_u(ohm, n, order).matrix
            assert np.abs(np.asarray(a - b)).max() < 1e-12
        a, b = jr.exact_u(usr, n).matrix, jr.exact_u(ohm, n).matrix
        assert np.abs(np.asarray(a - b)).max() < 1e-12
    for build in (jr.redfield, lambda s: jr.local_lindblad(s, 1)):
        ra = np.asarray(jr.steadystate(build(usr), method=jr.Direct()))
        rb = np.asarray(jr.steadystate(build(ohm), method=jr.Direct()))
        assert np.all(np.isfinite(ra)) and np.abs(ra - rb).max() < 1e-12


def test_expm1_w_gradient_is_finite():
    """Under jax.grad (model parameter h traced, so the zero-weight mask is traced too) the
    discarded W(0) = NaN must not leak into the gradient ("double where"). Eager grad of
    lambda_loc = W(2h) sqrt(2/(1 + e^{-4h/T})) (SM H for sigma^x on h sigma^z) against a NumPy
    central difference of that formula; jit(grad) of u's through eqs. (1), (4) against the
    ohmic bath's."""

    def lam_np(h):
        return ohmic_np(2 * h) * np.sqrt(2 / (1 + np.exp(-4 * h / T)))

    def system(h, bath):
        return jr.boundary_driven(jr.xxz_chain(2, h=h), bath, bath)

    g = jax.grad(lambda h: jnp.real(jr.lam_loc(system(h, expm1_bath()), 0)))(1.0)
    fd = (lam_np(1.0 + 1e-5) - lam_np(1.0 - 1e-5)) / 2e-5
    assert abs(g - fd) < 1e-9 * abs(fd)

    def f(h, bath):
        s = system(h, bath)
        return (jnp.sum(jnp.abs(jr.local_u(s, 0, 1).matrix) ** 2)
                + jnp.sum(jnp.abs(jr.exact_u(s, 0).matrix) ** 2))

    user, ohm = expm1_bath(), jr.OhmicBath(G, T)
    g_user, g_ohm = jax.jit(lambda h: (jax.grad(f)(h, user), jax.grad(f)(h, ohm)))(1.0)
    assert np.isfinite(g_user) and abs(g_user - g_ohm) < 1e-12 * abs(g_ohm)


def test_needed_w0_that_is_not_finite_raises_a_clear_error(ohm_and_user):
    """A sigma^z coupling needs W(0) (its components have eps = 0); so does the ad-hoc
    expansion at eps0 = 0. Each builder names the coupling, the energy and the fix."""
    m = jr.xxz_chain(3)
    sz = jr.OpenSystem(m, [jr.Coupling(0, jr.sigmaz(), expm1_bath())])
    _, usr = ohm_and_user
    match = r"coupling 0 \(site 0, CallableBath\).*E = 0\b.*bose_x_over_expm1"
    for call in (lambda: jr.local_redfield(sz, 1), lambda: jr.redfield(sz),
                 lambda: jr.lam_loc(sz, 0), lambda: jr.standard_local_lindblad(sz),
                 lambda: jr.local_lindblad(sz, 0, lam=1.0), lambda: jr.adhoc_redfield(usr, 1, 0.0),
                 lambda: jr.adhoc_lindblad(usr, 0, 0.0)):
        with pytest.raises(ValueError, match=match):
            call()
    # the same W written with its removable singularity removed works and equals the ohmic W
    fixed = jr.CallableBath(lambda E: G * T * jr.baths.bose_x_over_expm1(E / T), temperature=T)
    good = jr.OpenSystem(m, [jr.Coupling(0, jr.sigmaz(), fixed)])
    ref = jr.OpenSystem(m, [jr.Coupling(0, jr.sigmaz(), jr.OhmicBath(G, T))])
    a, b = jr.local_u(good, 0, 1).matrix, jr.local_u(ref, 0, 1).matrix
    assert np.abs(np.asarray(a - b)).max() < 1e-14


def test_needed_nonfinite_w_under_jit_raises():
    """Traced (h under jit): the check runs at run time (eqx.error_if) with the same words."""

    def f(h):
        s = jr.OpenSystem(jr.xxz_chain(2, h=h), [jr.Coupling(0, jr.sigmaz(), expm1_bath())])
        return jnp.sum(jnp.abs(jr.local_u(s, 0, 1).matrix))

    with pytest.raises(Exception, match="not finite at a transition or expansion energy"):
        jax.block_until_ready(jax.jit(f)(1.0))


def test_callable_bath_with_pole_at_default_probe_point():
    """A W with a pole at E = 0.3 (the reservoir's W_2 at mu = -0.3) used to be refused at
    construction; it is finite where the Bose-Hubbard site needs it (transitions 0.5, 1.0)."""
    m = jr.bose_hubbard_chain(2, J=0.3, U=0.5, nmax=2)
    s = jr.OpenSystem(m, jr.particle_reservoir(0, 2, 0.1, 1.0, -0.3))
    assert s.couplings[1].bath.regular_energy != 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # SM B: the pole is close (radius 0.8)
        u = np.asarray(jr.local_u(s, 1, 1).matrix)
    assert np.all(np.isfinite(u)) and np.abs(u).max() > 0


# -- 3. the convergence warning of the ad-hoc expansion -------------------------------------------


def _adhoc_error(s, order):
    ex = np.asarray(jr.exact_u(s, 0).matrix)
    u = jr.adhoc_u(s, 0, order, 0.0)
    return np.abs(np.asarray(u.on(tuple(range(s.model.L))).matrix) - ex).max()


def test_adhoc_convergence_warning_uses_transition_energies():
    """SM B for eq. (3): at J = 0.3, T = 0.5, eps0 = 0 the transitions +-2h (+- the spread
    from the bond) lie outside W's Taylor radius 2 pi T = 3.14 around 0: warn (before, eps0
    was passed as the transition energy and nothing warned). At T = 2.2 (radius 13.8) the
    series converges and nothing warns."""
    with pytest.warns(RuntimeWarning, match=r"coupling 0 \(site 0\): transitions up to 3\.\d+ away"):
        jr.adhoc_u(paper_system(3, T=0.5, J=0.3), 0, 2, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jr.adhoc_u(paper_system(3, T=2.2, J=0.3), 0, 2, 0.0)


@pytest.mark.slow
def test_adhoc_warning_is_warranted():
    """The warned case diverges: the error to exact u (eq. 1) grows from N = 4 to N = 6
    (measured 0.066 -> 0.077, L = 3); the quiet case converges (8.2e-5 -> 4.9e-6)."""
    cold, warm = paper_system(3, T=0.5, J=0.3), paper_system(3, T=2.2, J=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _adhoc_error(cold, 6) > 1.1 * _adhoc_error(cold, 4)
    assert _adhoc_error(warm, 6) < 0.1 * _adhoc_error(warm, 4)


# -- 4-6. Hermitian H, mu, finite operators -----------------------------------------------------


def test_lindblad_refuses_non_hermitian_h():
    L, d = 2, 2
    A = jr.LocalOperator(jr.sigmap(), 0, L, d)
    jump = [jr.LocalOperator(0.3 * jr.sigmam(), 1, L, d)]
    with pytest.raises(ValueError, match="`H` is not Hermitian"):
        jr.lindblad(A, jump, L, d)
    with pytest.raises(ValueError, match="`H` is not Hermitian"):
        jr.lindblad([jr.LocalOperator(jr.sigmaz(), 0, L, d), A], jump, L, d)
    eq = jr.lindblad([A, A.dag()], jump, L, d)  # A + A^dag = sigma^x: Hermitian in total
    rho = np.eye(4) / 4
    assert np.allclose(np.trace(np.asarray(eq(rho))), 0)


def test_lindblad_refuses_nonfinite_operators():
    L, d = 2, 2
    H = jr.LocalOperator(jr.sigmaz(), 0, L, d)
    bad = jr.LocalOperator(np.array([[0, np.nan], [0, 0]]), 1, L, d)
    with pytest.raises(ValueError, match="jump operator 0 .*NaN or inf"):
        jr.lindblad(H, [bad], L, d)
    s = paper_system(3)
    with pytest.raises(ValueError, match="`lam` for coupling 0 is not finite"):
        jr.local_lindblad(s, 1, lam=np.nan)


def test_particle_reservoir_refuses_positive_mu():
    with pytest.raises(ValueError, match="`mu`"):
        jr.particle_reservoir(0, 2, 0.1, 1.0, 0.2)
    assert len(jr.particle_reservoir(0, 2, 0.1, 1.0, 0.0)) == 2
