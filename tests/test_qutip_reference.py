"""Exact Redfield (eq. 1) against QuTiP's non-secular Bloch-Redfield master equation.

Reference mapping (DESIGN.md): for a real W (pure ohmic bath, no Lamb shift),
``qutip.bloch_redfield_tensor(H, [[v, S]], sec_cutoff=-1)`` with the power spectrum
S(w) = 2 Re W(-w) is the same generator as our eq. (1). This holds for a
NONEQUILIBRIUM setup too, which is what is tested here: an XXZ chain (with the field
gradient, so the chain is not mirror symmetric and a reversed Kronecker order would show)
between two ohmic baths at T_l = 1.5 (site 0) and T_r = 4.0 (site L-1).

The QuTiP side is built independently of jaxredfield: H from ``qutip.tensor`` products
of Pauli matrices, S(w) from a NumPy closed form of the ohmic spectrum (its equality with
2 Re bath.W(-w) is asserted separately), observables as QuTiP operators.

Tolerances (why 1e-8 and 1e-10 are reachable):
- Liouvillian: both codes assemble the same D^2 x D^2 matrix from an eigendecomposition of
  the same 16 x 16 Hermitian H (entries <= ~10), so the entries agree to eigensolver
  round-off, ~1e-14 * ||L||; 1e-10 leaves four orders of margin (measured ~1e-14).
- Steady state: a direct solve of the trace-augmented Liouvillian. The Liouvillians agree
  to ~1e-14 and the Liouvillian gap is ~0.56 against ||L|| ~ 10, so the condition-number
  bound on the difference is ~1e-12; 1e-8 has a large margin (measured ~5e-16). The GMRES
  path (tol = 1e-12 relative residual) is held to the same bound.
- Dynamics: both integrators run with rtol = 1e-10, atol = 1e-12 over t in [0, 5] where
  the state's entries are O(1) and the generator's norm is ~10; the global error of each is
  then <~1e-9 (measured difference ~2e-10), below the 1e-8 bound.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
import qutip

import jaxredfield as jr

# diffrax warns once per compile that complex dtypes are "work in progress"; the comparison
# with QuTiP below is exactly what shows the complex-valued integration is right.
pytestmark = pytest.mark.filterwarnings("ignore:Complex dtype support in Diffrax:UserWarning")

L = 4
D = 2**L
GAMMA = 0.25
T_L, T_R = 1.5, 4.0
# xxz_chain defaults (paper eq. 5): J = 1, Delta = 0.7, h = 1, delta = -0.07
J, DELTA, H_FIELD, GRAD = 1.0, 0.7, 1.0, -0.07
TSAVE = np.linspace(0.0, 5.0, 26)
TOL_STATE = 1e-8
TOL_LIOUVILLIAN = 1e-10


# ------------------------------------------------------------------------------------------
# independent QuTiP-side construction
# ------------------------------------------------------------------------------------------
def q_site(op, i, n=L):
    """op on site i of n sites (site 0 leftmost, QuTiP tensor order)."""
    return qutip.tensor([op if k == i else qutip.qeye(2) for k in range(n)])


def q_xxz(n=L):
    sx, sy, sz = qutip.sigmax(), qutip.sigmay(), qutip.sigmaz()
    H = 0
    for i in range(n - 1):
        H += -J * (q_site(sx, i, n) * q_site(sx, i + 1, n) + q_site(sy, i, n) * q_site(sy, i + 1, n)
                   + DELTA * q_site(sz, i, n) * q_site(sz, i + 1, n))
    for i in range(n):
        H += (H_FIELD + i * GRAD) * q_site(sz, i, n)
    return H


def q_current(i, n=L):
    """j_i = -i [H^{i,i+1}, sigma^z_i] built in QuTiP."""
    sx, sy, sz = qutip.sigmax(), qutip.sigmay(), qutip.sigmaz()
    b = -J * (q_site(sx, i, n) * q_site(sx, i + 1, n) + q_site(sy, i, n) * q_site(sy, i + 1, n)
              + DELTA * q_site(sz, i, n) * q_site(sz, i + 1, n))
    szi = q_site(sz, i, n)
    return -1j * (b * szi - szi * b)


def ohmic_spectrum(gamma, T, sign=-1.0):
    """QuTiP power spectrum S(w) = 2 W(sign * w) for the ohmic W(E) = gamma E/(e^{E/T} - 1),
    in NumPy. sign = -1 is the correct mapping; sign = +1 is a deliberately wrong one.
    The parameter must be named ``w``: QuTiP 5 treats one-argument callables named ``w`` as
    spectra and anything else as a time-coefficient f(t, args)."""

    def S(w):
        E = sign * w
        if abs(E) < 1e-12 * T:
            return 2.0 * gamma * T
        return 2.0 * gamma * E / np.expm1(E / T)

    return S


def q_br_tensor(T_left=T_L, T_right=T_R, sign=-1.0, sec_cutoff=-1):
    a_ops = [[q_site(qutip.sigmax(), 0), ohmic_spectrum(GAMMA, T_left, sign)],
             [q_site(qutip.sigmax(), L - 1), ohmic_spectrum(GAMMA, T_right, sign)]]
    return qutip.bloch_redfield_tensor(q_xxz(), a_ops, sec_cutoff=sec_cutoff, fock_basis=True)


def colvec(rho):
    """QuTiP's column-stacking vec: vec(rho)[i + j*D] = rho[i, j]."""
    return np.asarray(rho).reshape(-1, order="F")


def rowmajor_perm(dim):
    """P with M_rowmajor = M_colstack[P][:, P] (row-major index i*D+j <-> column-stacked
    index j*D+i)."""
    return np.arange(dim * dim).reshape(dim, dim).T.reshape(-1)


def plus_state(n=L):
    return qutip.tensor([(qutip.basis(2, 0) + qutip.basis(2, 1)).unit()] * n)


def jr_system(T_right=T_R, op=None):
    return jr.boundary_driven(jr.xxz_chain(L), jr.OhmicBath(GAMMA, T_L), jr.OhmicBath(GAMMA, T_right),
                              op=op)


# ------------------------------------------------------------------------------------------
# shared fixtures (each expensive object is built once per module)
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def eq():
    return jr.redfield(jr_system())


@pytest.fixture(scope="module")
def R():
    R = q_br_tensor()
    assert R.issuper and R.superrep == "super"
    return R


@pytest.fixture(scope="module")
def rho_ss_jr(eq):
    return np.asarray(jr.steadystate(eq))


@pytest.fixture(scope="module")
def rho_ss_q(R):
    return qutip.steadystate(R).full()


@pytest.fixture(scope="module")
def jr_dynamics(eq):
    model = jr.xxz_chain(L)
    e_ops = jr.magnetization(model) + [jr.spin_current(model, i) for i in range(L - 1)]
    psi0 = plus_state().full()[:, 0]
    return jr.mesolve(eq, psi0, TSAVE, e_ops=e_ops, method=jr.Diffrax(rtol=1e-10, atol=1e-12))


@pytest.fixture(scope="module")
def q_dynamics():
    e_ops = [q_site(qutip.sigmaz(), i) for i in range(L)] + [q_current(i) for i in range(L - 1)]
    a_ops = [[q_site(qutip.sigmax(), 0), ohmic_spectrum(GAMMA, T_L)],
             [q_site(qutip.sigmax(), L - 1), ohmic_spectrum(GAMMA, T_R)]]
    return qutip.brmesolve(q_xxz(), plus_state(), TSAVE, a_ops=a_ops, sec_cutoff=-1, e_ops=e_ops,
                           options={"atol": 1e-12, "rtol": 1e-10, "store_states": True})


# ------------------------------------------------------------------------------------------
# 0. the two sides describe the same system
# ------------------------------------------------------------------------------------------
def test_hamiltonian_and_spectrum_match_qutip_side():
    # H: same Kronecker order (site 0 leftmost) and same field gradient
    Hq = q_xxz().full()
    Hj = np.asarray(jr.xxz_chain(L).dense())
    assert np.max(np.abs(Hj - Hq)) < 1e-14
    # S(w) = 2 Re W(-w) at every Bohr frequency of H, and W is real (QuTiP has no Lamb shift)
    E = np.linalg.eigvalsh(Hq)
    w = (E[:, None] - E[None, :]).reshape(-1)
    for T in (T_L, T_R):
        bath = jr.OhmicBath(GAMMA, T)
        assert bath.is_real
        Wm = np.asarray(jax.jit(bath.W)(-w))
        assert np.max(np.abs(Wm.imag)) == 0.0
        S = np.array([ohmic_spectrum(GAMMA, T)(x) for x in w])
        assert np.max(np.abs(2 * Wm.real - S)) < 1e-13


def test_qutip_accepts_bath_W_as_spectrum():
    """The DESIGN.md recipe verbatim: S(w) = 2 Re bath.W(-w) passed as a plain function of w
    gives the same QuTiP tensor as the NumPy closed form."""
    baths = [jr.OhmicBath(GAMMA, T_L), jr.OhmicBath(GAMMA, T_R)]

    def spec(bath):
        Wj = jax.jit(bath.W)

        def S(w):
            return 2.0 * float(np.real(Wj(-w)))

        return S

    a_ops = [[q_site(qutip.sigmax(), 0), spec(baths[0])], [q_site(qutip.sigmax(), L - 1), spec(baths[1])]]
    R_w = qutip.bloch_redfield_tensor(q_xxz(), a_ops, sec_cutoff=-1, fock_basis=True)
    assert np.max(np.abs(R_w.full() - q_br_tensor().full())) < 1e-13


# ------------------------------------------------------------------------------------------
# 1. exact Redfield == QuTiP non-secular Bloch-Redfield (nonequilibrium)
# ------------------------------------------------------------------------------------------
def test_liouvillian_matches_bloch_redfield_tensor(eq, R):
    M = np.asarray(jr.liouvillian_matrix(eq))  # row-major vec
    Rf = R.full()  # column-stacking vec
    P = rowmajor_perm(D)
    assert np.max(np.abs(M - Rf[np.ix_(P, P)])) < TOL_LIOUVILLIAN
    # the generator itself (not only its matrix) on a random non-Hermitian matrix
    rng = np.random.default_rng(0)
    X = rng.normal(size=(D, D)) + 1j * rng.normal(size=(D, D))
    GX = np.asarray(eq(X))
    assert np.max(np.abs(colvec(GX) - Rf @ colvec(X))) < TOL_LIOUVILLIAN * np.max(np.abs(X)) * D


def test_steadystate_matches_qutip(eq, rho_ss_jr, rho_ss_q):
    assert np.max(np.abs(rho_ss_jr - rho_ss_q)) < TOL_STATE
    assert float(jr.trace_distance(rho_ss_jr, rho_ss_q)) < TOL_STATE
    # the matrix-free GMRES steady state reaches the same state
    rho_it = np.asarray(jr.steadystate(eq, method=jr.GMRES()))
    assert float(jr.trace_distance(rho_it, rho_ss_q)) < TOL_STATE
    # the state is a genuine nonequilibrium one: far from the Gibbs state at either
    # temperature, and it carries a (bond-independent) spin current
    model = jr.xxz_chain(L)
    for T in (T_L, T_R):
        assert float(jr.trace_distance(rho_ss_jr, jr.gibbs_state(model, T))) > 1e-2
    currents = [float(np.real(np.trace(q_current(i).full() @ rho_ss_q))) for i in range(L - 1)]
    # the right end is hotter, so its <sz> is higher (less polarized against h > 0):
    # magnetization flows right to left, a negative current j_i (positive = i -> i+1)
    assert currents[0] < -1e-2
    # in the steady state d<sz_i>/dt = 0 in the bulk, so the current is the same on each bond
    assert np.ptp(currents) < 1e-8


def test_dynamics_match_brmesolve(jr_dynamics, q_dynamics, rho_ss_jr):
    sj = np.asarray(jr_dynamics.states)
    sq = np.array([s.full() for s in q_dynamics.states])
    assert sj.shape == sq.shape == (len(TSAVE), D, D)
    dev = np.max(np.abs(sj - sq), axis=(1, 2))
    assert np.all(dev < TOL_STATE), f"max deviation per time: {dev}"
    for k in (len(TSAVE) // 2, len(TSAVE) - 1):
        assert float(jr.trace_distance(sj[k], sq[k])) < TOL_STATE
    # expectation values (magnetizations, spin currents) against QuTiP's own e_ops
    ej = np.asarray(jr_dynamics.expect)
    eqt = np.array(q_dynamics.expect)
    assert ej.shape == eqt.shape
    assert np.max(np.abs(ej - eqt.real)) < TOL_STATE
    # non-trivial evolution: the state moves by O(0.1), and is not yet stationary
    assert np.max(np.abs(sj[-1] - sj[0])) > 0.1
    assert np.max(np.abs(sj[-1] - rho_ss_jr)) > 1e-3


# ------------------------------------------------------------------------------------------
# 2. QuTiP objects as inputs
# ------------------------------------------------------------------------------------------
def test_qutip_objects_as_inputs(eq):
    model = jr.xxz_chain(L)
    bl, br = jr.OhmicBath(GAMMA, T_L), jr.OhmicBath(GAMMA, T_R)
    sys_q = jr.OpenSystem(model, [jr.Coupling(0, qutip.sigmax(), bl),
                                  jr.Coupling(L - 1, qutip.sigmax(), br)])
    eq_q = jr.redfield(sys_q)
    assert np.max(np.abs(np.asarray(jr.liouvillian_matrix(eq_q))
                         - np.asarray(jr.liouvillian_matrix(eq)))) < 1e-14
    eq_q2 = jr.redfield(jr_system(op=qutip.sigmax()))  # boundary_driven with a Qobj op
    assert np.max(np.abs(np.asarray(eq_q2.redfield_terms[1][0].matrix)
                         - np.asarray(eq.redfield_terms[1][0].matrix))) < 1e-14

    # mesolve: Qobj ket + full-dimension Qobj e_ops vs NumPy ket + NumPy matrices
    ts = TSAVE[:4]
    psi_q = plus_state()
    ops_q = [q_site(qutip.sigmaz(), 0), q_site(qutip.sigmaz(), L - 1), q_current(0)]
    res_q = jr.mesolve(eq_q, psi_q, ts, e_ops=ops_q, method=jr.Diffrax(rtol=1e-10, atol=1e-12))
    res_n = jr.mesolve(eq, psi_q.full()[:, 0], ts, e_ops=[o.full() for o in ops_q],
                      method=jr.Diffrax(rtol=1e-10, atol=1e-12))
    assert np.max(np.abs(np.asarray(res_q.states) - np.asarray(res_n.states))) < 1e-12
    assert np.max(np.abs(np.asarray(res_q.expect) - np.asarray(res_n.expect))) < 1e-12
    # ... and the numbers are the physical ones: <O> = Tr(O rho(t)) from QuTiP on jr's states
    for o, ex in zip(ops_q, np.asarray(res_q.expect)):
        ref = [qutip.expect(o, qutip.Qobj(np.asarray(s), dims=o.dims)) for s in res_q.states]
        assert np.max(np.abs(ex - np.real(ref))) < 1e-12
    # a Qobj density matrix as rho0 gives the same evolution as the ket
    res_dm = jr.mesolve(eq_q, qutip.ket2dm(psi_q), ts, e_ops=ops_q, method=jr.Diffrax(rtol=1e-10, atol=1e-12))
    assert np.max(np.abs(np.asarray(res_dm.states) - np.asarray(res_q.states))) < 1e-12
    # trace_distance on Qobj inputs
    rho = qutip.Qobj(np.asarray(res_q.states[-1]), dims=psi_q.proj().dims)
    assert abs(float(jr.trace_distance(rho, qutip.ket2dm(psi_q)))
               - float(jr.trace_distance(np.asarray(res_q.states[-1]), psi_q.proj().full()))) < 1e-14


# ------------------------------------------------------------------------------------------
# 3. the agreement is not vacuous: each ingredient of the mapping is visible
# ------------------------------------------------------------------------------------------
def test_reference_detects_wrong_physics(rho_ss_jr, rho_ss_q):
    # a different right-bath temperature on the jaxredfield side
    rho_T3 = np.asarray(jr.steadystate(jr.redfield(jr_system(T_right=3.0))))
    assert np.max(np.abs(rho_T3 - rho_ss_q)) > 1e-4
    # sign convention of the mapping: S(w) = 2 W(+w) instead of 2 W(-w)
    rho_sign = qutip.steadystate(q_br_tensor(sign=+1.0)).full()
    assert np.max(np.abs(rho_ss_jr - rho_sign)) > 1e-4
    # baths swapped between the chain's ends (Kronecker order / site labelling)
    rho_swap = qutip.steadystate(q_br_tensor(T_left=T_R, T_right=T_L)).full()
    assert np.max(np.abs(rho_ss_jr - rho_swap)) > 1e-4
    # QuTiP's default secular approximation is a different equation
    rho_sec = qutip.steadystate(q_br_tensor(sec_cutoff=0.1)).full()
    assert np.max(np.abs(rho_ss_jr - rho_sec)) > 1e-4
