"""steadystate (dense and matrix-free GMRES) and mesolve (diffrax)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import jaxredfield as jr

from .conftest import paper_system


def test_dense_and_iterative_steady_states_agree():
    s = paper_system(4, T=1.8, Tr=3.0)
    eq = jr.local_redfield(s, 2)
    a = jr.steadystate(eq, method="dense")
    b = jr.steadystate(eq, method="iterative", tol=1e-12)
    assert float(jr.trace_distance(a, b)) < 1e-9
    assert np.abs(np.asarray(eq(b))).max() < 1e-10
    assert abs(complex(jnp.trace(b)) - 1) < 1e-13


def test_mesolve_matches_matrix_exponential():
    s = paper_system(3, T=1.5, Tr=2.5)
    eq = jr.local_lindblad(s, 1)
    M = np.asarray(jr.liouvillian_matrix(eq))
    psi0 = np.ones(8) / np.sqrt(8)
    rho0 = np.outer(psi0, psi0)
    ts = np.linspace(0, 3, 7)
    res = jr.mesolve(eq, psi0, ts, e_ops=[jr.operator_on(jr.sigmaz(), 0, s.model)], rtol=1e-10, atol=1e-12)
    for t, rho in zip(ts, np.asarray(res.states)):
        ref = (scipy.linalg.expm(M * t) @ rho0.reshape(-1)).reshape(8, 8)
        assert np.abs(rho - ref).max() < 1e-8
    sz0 = np.kron(jr.sigmaz(), np.eye(4))
    assert np.allclose(np.asarray(res.expect[0]), [np.trace(sz0 @ r).real for r in np.asarray(res.states)], atol=1e-12)
    assert res.expect.dtype == jnp.float64  # Hermitian e_op -> real


def test_mesolve_trace_and_states_off():
    s = paper_system(4)
    eq = jr.local_redfield(s, 1)
    psi0 = np.zeros(16); psi0[0] = 1
    res = jr.mesolve(eq, psi0, jnp.linspace(0, 2, 5), e_ops=[np.eye(16)], save_states=False)
    assert res.states is None
    assert np.allclose(np.asarray(res.expect[0]), 1.0, atol=1e-10)


@pytest.mark.slow  # superseded in the default run by tests/test_gradients.py (same routes, 3 parameters)
def test_gradients_match_finite_differences():
    """d<sigma^z_0>(t)/dT_r through mesolve and d<sigma^z_0>_ss/dT_r through steadystate."""
    m = jr.xxz_chain(3)
    psi0 = np.ones(8) / np.sqrt(8)
    sz0 = jr.operator_on(jr.sigmaz(), 0, m)

    def dyn(Tr):
        s = jr.boundary_driven(m, jr.OhmicBath(0.25, 1.5), jr.OhmicBath(0.25, Tr))
        r = jr.mesolve(jr.local_redfield(s, 2), psi0, jnp.array([0.0, 2.0]), e_ops=[sz0],
                       save_states=False, rtol=1e-11, atol=1e-13)
        return r.expect[0, -1]

    def stat(Tr):
        s = jr.boundary_driven(m, jr.OhmicBath(0.25, 1.5), jr.OhmicBath(0.25, Tr))
        return jnp.real(jr.expect(sz0, jr.steadystate(jr.local_redfield(s, 2), method="dense")))

    for f in (dyn, stat):
        g = float(jax.grad(f)(3.0))
        h = 1e-4
        fd = (float(f(3.0 + h)) - float(f(3.0 - h))) / (2 * h)
        assert abs(g - fd) <= 1e-5 * abs(fd), (f.__name__, g, fd)
        assert abs(fd) > 1e-4  # non-trivial derivative


def test_bad_inputs():
    s = paper_system(3)
    eq = jr.local_redfield(s, 1)
    with pytest.raises(ValueError, match="not normalized"):
        jr.mesolve(eq, np.ones(8), [0.0, 1.0])
    with pytest.raises(ValueError, match="rho0"):
        jr.mesolve(eq, np.ones(4) / 2, [0.0, 1.0])
    with pytest.raises(ValueError, match="increasing"):
        jr.mesolve(eq, np.ones(8) / np.sqrt(8), [0.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="`method`"):
        jr.steadystate(eq, method="lu")
    with pytest.raises(TypeError, match="MasterEquation"):
        jr.steadystate(np.eye(4))
    with pytest.raises(MemoryError, match="iterative"):
        jr.liouvillian_matrix(jr.local_redfield(paper_system(9), 1))


def test_iterative_progress_and_failure(capsys):
    s = paper_system(4, T=2.0)
    eq = jr.local_redfield(s, 1)
    rho = jr.steadystate(eq, method="iterative", progress=True, restart=10)
    assert "GMRES" in capsys.readouterr().out
    assert float(jr.trace_distance(rho, jr.steadystate(eq, method="dense"))) < 1e-9
    with pytest.raises(RuntimeError, match="maxiter"):
        jr.steadystate(eq, method="iterative", maxiter=3, restart=3)


def test_mesolve_refuses_huge_density_matrix():
    eq = jr.local_lindblad(paper_system(14), 1)
    psi0 = np.zeros(2**14); psi0[0] = 1
    with pytest.raises(MemoryError, match="trajectories"):
        jr.mesolve(eq, psi0, [0.0, 1.0])


def test_eigen_preconditioner_gives_same_state():
    s = paper_system(5, T=2.2, Tr=3.0)
    eq = jr.local_lindblad(s, 2)
    a = jr.steadystate(eq, method="iterative", preconditioner="eigen")
    b = jr.steadystate(eq, method="dense")
    assert float(jr.trace_distance(a, b)) < 1e-9
    with pytest.raises(ValueError, match="`preconditioner`"):
        jr.steadystate(eq, method="iterative", preconditioner="ilu")
