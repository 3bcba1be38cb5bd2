"""The paper's claims (Figs. 2 and 3) on its L = 6 chain (J = h, gamma = 0.25h, Delta = 0.7,
delta = -0.07h) and the error scaling of Fig. 3(a)."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr

from . import reference as R
from .conftest import paper_system


@pytest.fixture(scope="module")
def chain6():
    """The L = 6 chain and its exact Redfield steady state: for equal bath temperatures and
    detailed balance the Gibbs state exp(-H/T)/Z (DESIGN.md), built here from the NumPy H of
    eq. (5) (tests/reference.py); the library's exact-Redfield steady state must equal it."""
    s = paper_system(6, T=2.2)
    exact = R.gibbs(R.xxz(6)[0], 2.2)
    assert R.trace_norm(np.asarray(jr.steadystate(jr.redfield(s))) - exact) < 1e-10
    return s, exact


def dist(eq, exact):
    return float(jr.trace_distance(jr.steadystate(eq), exact))


def test_fig2_ordering_at_T_2p2(chain6):
    """Fig. 2(d) at T = 2.2h: local Redfield (N=4) < local Lindblad < standard local Lindblad."""
    s, exact = chain6
    d_lr4 = dist(jr.local_redfield(s, 4), exact)
    d_ll1 = dist(jr.local_lindblad(s, 1), exact)
    d_ll4 = dist(jr.local_lindblad(s, 4), exact)
    d_sll = dist(jr.standard_local_lindblad(s), exact)
    # the paper's ordering of Fig. 2(d); no magnitudes are pinned (the figure gives no numbers
    # to compare with). Measured: 7.3e-3, 5.6e-2, 4.0e-2, 0.84.
    assert d_lr4 < min(d_ll1, d_ll4) and max(d_ll1, d_ll4) < d_sll


# T = 4h is slow-marked to keep the default run under 15 min (~33 s; the same claim at other T
# and L is checked by tests/test_example_orders.py)
@pytest.mark.parametrize("T", [2.2, pytest.param(4.0, marks=pytest.mark.slow)])
def test_local_redfield_error_falls_with_order(T):
    s = paper_system(6, T=T)
    exact = jr.steadystate(jr.redfield(s))
    d = [dist(jr.local_redfield(s, N), exact) for N in (1, 2, 3, 4)]
    assert all(b < a for a, b in zip(d, d[1:])), d


def test_fig3a_error_scaling_with_bath_memory_time():
    """Fig. 3(a): the relaxation-averaged error d_tau_R (tau_R = 1/gamma) against
    tau_B/tau_S (tau_B = 1/(2 pi T), tau_S = 1/J). The paper draws power laws
    (tau_B/tau_S)^(N+1), the generic error of truncating eq. (2) after order N: the first
    dropped term carries W^(N+1)(eps) = gamma T^-N f^(N+1)(eps/T), f(x) = x/(e^x - 1).

    What is measured: the log-log slope between T = 4h and 8h at L = 4, N = 0..3. It is N+1
    for N = 0, 1, 3 and N+2 for N = 2: f^(n)(x) = B_n + B_(n+1) x + ..., and the odd Bernoulli
    number B_3 vanishes, so for even N >= 2 the dropped term is smaller by eps/T and the error
    falls one power faster than the paper's N+1 (which stays a lower bound). Tolerance 0.35:
    the prefactor drifts slowly with T because the dissipation rates ~ gamma T grow inside the
    fixed window tau_R (measured drift of the local slope: < 0.3 over T = 5h..40h).
    Measured slopes: 0.73, 2.10, 3.95, 3.85.
    """
    L, ts = 4, jnp.linspace(0, 4.0, 21)
    psi0 = np.ones(2**L) / np.sqrt(2**L)
    Ts = [4.0, 8.0]
    err = {N: [] for N in (0, 1, 2, 3)}
    for T in Ts:
        s = paper_system(L, T=T)
        ex = jr.mesolve(jr.redfield(s), psi0, ts, method=jr.Diffrax(rtol=1e-11, atol=1e-13)).states
        for N in err:
            st = jr.mesolve(jr.local_redfield(s, N), psi0, ts, method=jr.Diffrax(rtol=1e-11, atol=1e-13)).states
            err[N].append(np.mean([float(jr.trace_distance(a, b)) for a, b in zip(st, ex)]))
    x = np.log(1 / (2 * np.pi * np.array(Ts)))  # log tau_B/tau_S (J = 1)
    expected = {0: 1, 1: 2, 2: 4, 3: 4}  # N+1, except N+2 for N = 2 (B_3 = 0)
    for N, e in err.items():
        slope = np.diff(np.log(e))[0] / np.diff(x)[0]
        assert abs(slope - expected[N]) < 0.35, (N, slope, e)
        assert slope > N + 1 - 0.35  # the paper's (tau_B/tau_S)^(N+1): at least that fast


def test_equal_temperatures_field_gradient_current(chain6):
    """Main text / Fig. 3(c): with T_l = T_r and a field gradient the standard local Lindblad
    steady state carries a finite (unphysical) current; exact Redfield none; local Redfield
    does not suffer from it. Checked without pinned magnitudes: the exact steady state is the
    Gibbs state (reference), whose current vanishes; the standard local Lindblad current is the
    same on every bond (continuity: its dissipators act on the end sites only, so
    d<sigma^z_i>/dt = j_(i-1) - j_i = 0 in the bulk) and finite; local Redfield's (N = 4) is
    smaller on every bond. Measured: 0.094 (standard), <= 2.8e-4 (local Redfield)."""
    s, exact = chain6
    j = lambda rho: np.array([float(jr.expect(jr.spin_current(s.model, i), rho).real) for i in range(5)])
    j_ex = j(exact)
    j_lr4 = j(jr.steadystate(jr.local_redfield(s, 4)))
    j_sll = j(jr.steadystate(jr.standard_local_lindblad(s)))
    assert np.abs(j_ex).max() < 1e-12
    assert np.abs(j_sll - j_sll[0]).max() < 1e-9 * abs(j_sll[0])  # continuity
    assert abs(j_sll[0]) > 1e3 * np.abs(j_ex).max() + 1e-6  # finite, far above round-off
    assert np.abs(j_lr4).max() < np.abs(j_sll).min()
