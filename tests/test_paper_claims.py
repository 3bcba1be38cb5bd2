"""The paper's claims (Figs. 2 and 3) on its L = 6 chain (J = h, gamma = 0.25h, Delta = 0.7,
delta = -0.07h) and the error scaling of Fig. 3(a)."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr

from .conftest import paper_system


@pytest.fixture(scope="module")
def chain6():
    s = paper_system(6, T=2.2)
    exact = jr.steadystate(jr.redfield(s))
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
    assert d_lr4 < min(d_ll1, d_ll4) and max(d_ll1, d_ll4) < d_sll
    # magnitudes measured: 7.3e-3, 5.6e-2, 4.0e-2, 0.84 -- factor-2 bands
    assert d_lr4 < 1.5e-2 and d_sll > 0.4


# T = 4h is slow-marked to keep the default run under 15 min (~33 s; the same claim at other T
# and L is checked by tests/test_example_orders.py)
@pytest.mark.parametrize("T", [2.2, pytest.param(4.0, marks=pytest.mark.slow)])
def test_local_redfield_error_falls_with_order(T):
    s = paper_system(6, T=T)
    exact = jr.steadystate(jr.redfield(s))
    d = [dist(jr.local_redfield(s, N), exact) for N in (1, 2, 3, 4)]
    assert all(b < a for a, b in zip(d, d[1:])), d


def test_fig3a_error_scaling_with_bath_memory_time():
    """Fig. 3(a): the relaxation-averaged error d_tau_R (tau_R = 1/gamma) scales as
    (tau_B/tau_S)^(N+1) with tau_B = 1/(2 pi T), tau_S = 1/J.

    The slope between T = 4h and 8h is compared with N+1 for odd N. For even N the
    (N+1)-th term carries W^(N+1)(eps) ~ B_{N+1} + O(eps/T), and odd Bernoulli numbers
    vanish, so the leading error is one order higher: slope N+2. Tolerance 0.35: the
    prefactor drifts slowly with T because the dissipation rates ~ gamma T grow inside the
    fixed window tau_R (measured drift of the local slope: < 0.3 over T = 5h..40h).
    """
    L, ts = 4, jnp.linspace(0, 4.0, 21)
    psi0 = np.ones(2**L) / np.sqrt(2**L)
    Ts = [4.0, 8.0]
    err = {N: [] for N in (0, 1, 2, 3)}
    for T in Ts:
        s = paper_system(L, T=T)
        ex = jr.mesolve(jr.redfield(s), psi0, ts, rtol=1e-11, atol=1e-13).states
        for N in err:
            st = jr.mesolve(jr.local_redfield(s, N), psi0, ts, rtol=1e-11, atol=1e-13).states
            err[N].append(np.mean([float(jr.trace_distance(a, b)) for a, b in zip(st, ex)]))
    x = np.log(1 / (2 * np.pi * np.array(Ts)))  # log tau_B/tau_S (J = 1)
    for N, e in err.items():
        slope = np.diff(np.log(e))[0] / np.diff(x)[0]
        expected = N + 1 if N % 2 == 1 else N + 2
        if N == 0:
            expected = 1  # W'(eps) ~ B_1 = -1/2 does not vanish
        assert abs(slope - expected) < 0.35, (N, slope, e)


def test_equal_temperatures_field_gradient_current(chain6):
    """Main text / Fig. 3(c): with T_l = T_r and a field gradient, the standard local Lindblad
    steady state carries an unphysical current; exact Redfield none; local Redfield a small one."""
    s, exact = chain6
    j = lambda rho: np.array([float(jr.expect(jr.spin_current(s.model, i), rho).real) for i in range(5)])
    j_ex = j(exact)
    j_lr4 = j(jr.steadystate(jr.local_redfield(s, 4)))
    j_sll = j(jr.steadystate(jr.standard_local_lindblad(s)))
    assert np.abs(j_ex).max() < 1e-12
    assert np.abs(j_sll).min() > 0.05  # measured 0.094 on every bond
    assert np.abs(j_lr4).max() < 1e-3  # measured 2.8e-4
    assert np.abs(j_lr4).max() < 0.01 * np.abs(j_sll).min()
