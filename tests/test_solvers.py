"""steadystate (dense and matrix-free GMRES) and mesolve (diffrax)."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import jaxredfield as jr

from jaxredfield._checks import as_density_matrix
from jaxredfield.solvers import SteadyStateResult

from .conftest import paper_system


def test_dense_and_iterative_steady_states_agree():
    s = paper_system(4, T=1.8, Tr=3.0)
    eq = jr.local_redfield(s, 2)
    a = jr.steadystate(eq, method=jr.Direct())
    b = jr.steadystate(eq, method=jr.GMRES(tol=1e-12))
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
    res = jr.mesolve(eq, psi0, ts, e_ops=[jr.operator_on(jr.sigmaz(), 0, s.model)],
                     method=jr.Diffrax(rtol=1e-10, atol=1e-12))
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


def test_mesolve_single_e_op_final_state_and_summary():
    """One operator (LocalOperator, array or Qobj) is accepted as e_ops and gives expect of
    shape (1, n_t), the same values as the one-element list; final_state is the state at
    tsave[-1] with or without save_states; the result prints a short summary."""
    s = paper_system(3)
    eq = jr.local_redfield(s, 1)
    psi0 = np.ones(8) / np.sqrt(8)
    ts = jnp.linspace(0, 1, 3)
    sz0 = jr.operator_on(jr.sigmaz(), 0, s.model)
    ref = jr.mesolve(eq, psi0, ts, e_ops=[sz0])
    for op in (sz0, np.kron(jr.sigmaz(), np.eye(4))):
        one = jr.mesolve(eq, psi0, ts, e_ops=op, save_states=False)
        assert one.expect.shape == (1, 3) and one.states is None
        np.testing.assert_allclose(np.asarray(one.expect), np.asarray(ref.expect), rtol=0, atol=1e-13)
        np.testing.assert_allclose(np.asarray(one.final_state), np.asarray(ref.states[-1]), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(ref.final_state), np.asarray(ref.states[-1]))
    assert ref.method == jr.Diffrax() and int(ref.stats["num_steps"]) > 0
    text = repr(ref)
    assert text.startswith("==== MESolveResult ====") and "final_state" in text and "num_steps=" in text
    with pytest.raises(ValueError, match=r"`e_ops` must have shape \(8, 8\)"):
        jr.mesolve(eq, psi0, ts, e_ops=np.eye(4))


@pytest.mark.slow  # superseded in the default run by tests/test_gradients.py (same routes, 3 parameters)
def test_gradients_match_finite_differences():
    """d<sigma^z_0>(t)/dT_r through mesolve and d<sigma^z_0>_ss/dT_r through steadystate."""
    m = jr.xxz_chain(3)
    psi0 = np.ones(8) / np.sqrt(8)
    sz0 = jr.operator_on(jr.sigmaz(), 0, m)

    def dyn(Tr):
        s = jr.boundary_driven(m, jr.OhmicBath(0.25, 1.5), jr.OhmicBath(0.25, Tr))
        r = jr.mesolve(jr.local_redfield(s, 2), psi0, jnp.array([0.0, 2.0]), e_ops=[sz0],
                       save_states=False, method=jr.Diffrax(rtol=1e-11, atol=1e-13))
        return r.expect[0, -1]

    def stat(Tr):
        s = jr.boundary_driven(m, jr.OhmicBath(0.25, 1.5), jr.OhmicBath(0.25, Tr))
        return jnp.real(jr.expect(sz0, jr.steadystate(jr.local_redfield(s, 2), method=jr.Direct())))

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
    with pytest.raises(TypeError, match="`method`.*jr.Direct\\(\\), jr.GMRES\\(\\)"):
        jr.steadystate(eq, method="lu")
    with pytest.raises(TypeError, match="mesolve supports method=jr.Diffrax\\(\\)"):
        jr.mesolve(eq, np.ones(8) / np.sqrt(8), [0.0, 1.0], method=jr.Direct())
    with pytest.raises(TypeError, match="MasterEquation"):
        jr.steadystate(np.eye(4))
    with pytest.raises(MemoryError, match="GMRES"):
        jr.liouvillian_matrix(jr.local_redfield(paper_system(9), 1))


def test_iterative_progress_and_failure(capsys, monkeypatch):
    """A bar counts the restart cycles GMRES ran (not a fixed total) and appears only for
    work longer than $JAXREDFIELD_PROGRESS_DELAY seconds (default 2: this solve is quicker)."""
    s = paper_system(4, T=2.0)
    eq = jr.local_redfield(s, 1)
    jr.steadystate(eq, method=jr.GMRES(restart=10), progress=True)  # compiles (may pass 2 s)
    capsys.readouterr()
    jr.steadystate(eq, method=jr.GMRES(restart=10), progress=True)
    assert capsys.readouterr().err == ""  # compiled and quick: no bar at the default delay
    monkeypatch.setenv("JAXREDFIELD_PROGRESS_DELAY", "0")
    rho = jr.steadystate(eq, method=jr.GMRES(restart=10, maxiter=5000), progress=True)
    err = capsys.readouterr().err
    counts = [int(n) for n in re.findall(r"steadystate GMRES: +\d+%\|[^|]*\| (\d+)/5000 ", err)]
    assert counts and 0 < counts[-1] < 200, err  # the cycles it ran (measured ~75), of at most 5000
    assert float(jr.trace_distance(rho, jr.steadystate(eq, method=jr.Direct()))) < 1e-9
    with pytest.raises(RuntimeError, match="maxiter"):
        jr.steadystate(eq, method=jr.GMRES(maxiter=3, restart=3))


def test_mesolve_progress_bar(capsys, monkeypatch):
    """progress=True shows the percentage of the interval integrated on stderr, but only for a
    solve longer than $JAXREDFIELD_PROGRESS_DELAY seconds (default 2: this one is quicker and
    prints nothing, as each call of a finite difference in examples/gradients_current.py);
    None follows the global switch (off in the tests: conftest)."""
    eq = jr.redfield(paper_system(2))
    jr.mesolve(eq, np.ones(4) / 2, [0.0, 1.0], progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("JAXREDFIELD_PROGRESS_DELAY", "0")
    jr.mesolve(eq, np.ones(4) / 2, [0.0, 1.0], progress=True)
    err = capsys.readouterr().err
    assert "mesolve: 0% of t" in err and "%/s" not in err, err  # not diffrax's "100.00%|...%/s" lines
    jr.mesolve(eq, np.ones(4) / 2, [0.0, 1.0])
    assert capsys.readouterr().err == ""


def test_mesolve_refuses_huge_density_matrix():
    eq = jr.local_lindblad(paper_system(14), 1)
    psi0 = np.zeros(2**14); psi0[0] = 1
    with pytest.raises(MemoryError, match="trajectories"):
        jr.mesolve(eq, psi0, [0.0, 1.0])


def test_eigen_preconditioner_gives_same_state():
    s = paper_system(5, T=2.2, Tr=3.0)
    eq = jr.local_lindblad(s, 2)
    a = jr.steadystate(eq, method=jr.GMRES(preconditioner="eigen"))
    b = jr.steadystate(eq, method=jr.Direct())
    assert float(jr.trace_distance(a, b)) < 1e-9
    with pytest.raises(ValueError, match="`GMRES\\(preconditioner=...\\)`"):
        jr.GMRES(preconditioner="ilu")


def _sz_system(L):
    """The XXZ chain with both baths coupled through sigma^z: total S^z is conserved."""
    m = jr.xxz_chain(L)
    return jr.OpenSystem(m, [jr.Coupling(0, jr.sigmaz(), jr.OhmicBath(0.25, 2.2)),
                             jr.Coupling(L - 1, jr.sigmaz(), jr.OhmicBath(0.25, 3.0))])


def test_non_unique_steady_state_is_refused():
    """sigma^z couplings conserve S^z = sum_i sigma^z_i / 2 (checked with NumPy: it commutes
    with H and every v), so every magnetization sector holds its own steady state: the
    kernel of G has dimension L + 1 = 3. Before the check the dense solve returned NaN and
    GMRES one of the states, both without an error."""
    s = _sz_system(2)
    Sz = np.kron(np.diag([1.0, -1.0]), np.eye(2)) + np.kron(np.eye(2), np.diag([1.0, -1.0]))
    H = np.asarray(s.model.dense())
    v0 = np.kron(np.diag([1.0, -1.0]), np.eye(2))
    assert np.abs(H @ Sz - Sz @ H).max() < 1e-13 and np.abs(v0 @ Sz - Sz @ v0).max() == 0
    eq = jr.redfield(s)
    M = np.asarray(jr.liouvillian_matrix(eq))
    assert np.linalg.matrix_rank(M, tol=1e-10) == 16 - 3  # the premise: a 3-dim kernel
    for method in (jr.Direct(), jr.GMRES()):
        with pytest.raises(ValueError, match="not unique.*S\\^z"):
            jr.steadystate(eq, method=method)
    # without the check: GMRES returns one of the stationary states, the dense LU a NaN
    info = jr.steadystate(eq, method=jr.GMRES(), check_unique=False, return_info=True)
    assert info.stats["residual"] < 1e-14 and info.stats["kernel_test"] is None
    with pytest.raises(RuntimeError, match="NaN"):
        jr.steadystate(eq, method=jr.Direct(), check_unique=False)


def test_nearly_broken_symmetry_is_unique():
    """v = sigma^z + 1e-3 sigma^x breaks S^z conservation weakly: the steady state is unique
    (relative sigma_min ~1e-8, far above the refusal threshold 16 eps = 3.6e-15) and is
    accepted; the returned state solves G(rho) = 0 (NumPy, on the Liouvillian matrix)."""
    m = jr.xxz_chain(2)
    v = jr.sigmaz() + 1e-3 * jr.sigmax()
    s = jr.OpenSystem(m, [jr.Coupling(0, v, jr.OhmicBath(0.25, 2.2)), jr.Coupling(1, v, jr.OhmicBath(0.25, 3.0))])
    eq = jr.redfield(s)
    info = jr.steadystate(eq, method=jr.Direct(), return_info=True)
    rho = info.state
    assert isinstance(info, SteadyStateResult) and info.method == jr.Direct()
    assert 1e-10 < float(info.stats["sigma_min"]) < 1e-6, float(info.stats["sigma_min"])
    M = np.asarray(jr.liouvillian_matrix(eq))
    assert np.abs(M @ np.asarray(rho).reshape(-1)).max() < 1e-12
    assert float(info.stats["residual"]) < 1e-14


def test_non_unique_steady_state_under_jit_raises():
    """Inside jax.jit (system built from a traced temperature) the check is a runtime error."""
    def rho(T):
        m = jr.xxz_chain(2)
        s = jr.OpenSystem(m, [jr.Coupling(0, jr.sigmaz(), jr.OhmicBath(0.25, T)),
                              jr.Coupling(1, jr.sigmaz(), jr.OhmicBath(0.25, 3.0))])
        return jr.steadystate(jr.redfield(s), method=jr.Direct())

    with pytest.raises(Exception, match="not unique"):  # (JaxRuntimeError under jax.jit)
        jax.jit(rho)(2.2).block_until_ready()


def test_steadystate_refuses_non_finite_equation():
    eq = jr.local_redfield(paper_system(3), 1)
    bad = eqx.tree_at(lambda e: e.redfield_terms[1][0].matrix, eq,
                      eq.redfield_terms[1][0].matrix.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match=r"Redfield term 1 \(u\)"):
        jr.steadystate(bad)
    with pytest.raises(ValueError, match=r"`eq`.*Redfield term 1 \(u\)"):
        jr.mesolve(bad, np.ones(8) / np.sqrt(8), [0.0, 1.0])


def test_mesolve_refuses_non_density_matrix_rho0():
    """rho0 of trace 1 that is not Hermitian, or has a negative eigenvalue, is no state."""
    eq = jr.redfield(paper_system(2))
    nonherm = np.diag([0.5, 0.5, 0.0, 0.0]).astype(complex)
    nonherm[0, 1] = 0.1
    with pytest.raises(ValueError, match="`rho0` is not Hermitian"):
        jr.mesolve(eq, nonherm, [0.0, 1.0])
    negative = np.diag([0.7, 0.5, -0.2, 0.0])  # trace 1, eigenvalue -0.2
    with pytest.raises(ValueError, match="`rho0` is not positive semidefinite.*-0.2"):
        jr.mesolve(eq, negative, [0.0, 1.0])
    with pytest.raises(ValueError, match="`rho0` contains NaN"):
        jr.mesolve(eq, np.diag([np.nan, 1.0, 0.0, 0.0]), [0.0, 1.0])
    # a valid mixed state with eigenvalues 0 (round-off below 1e-10) is accepted, and a ket
    ok = np.diag([0.5, 0.5, 0.0, 0.0]) + 1e-13 * np.diag([1.0, -1.0, -1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(as_density_matrix(ok, 4)), ok)
    np.testing.assert_allclose(np.asarray(as_density_matrix(np.ones(4) / 2, 4)), np.full((4, 4), 0.25))


def test_mesolve_failed_integration_is_a_clear_error():
    """max_steps reached: a RuntimeError naming the cause (was an opaque EquinoxRuntimeError)."""
    eq = jr.redfield(paper_system(2))
    with pytest.raises(RuntimeError, match="maximum number of solver steps"):
        jr.mesolve(eq, np.ones(4) / 2, [0.0, 50.0], method=jr.Diffrax(max_steps=3))


def test_mesolve_under_jit_gives_real_expectations():
    """e_ops built from traced parameters (the model inside jax.jit) keep real expectation
    values (the builders declare them Hermitian), equal to the eager result; an undeclared
    traced operator is refused instead of silently returning complex values."""
    psi0 = np.ones(4) / 2

    def run(J):
        s = paper_system(2, J=J)
        ops = jr.magnetization(s.model)[:1] + [jr.spin_current(s.model, 0)]
        res = jr.mesolve(jr.redfield(s), psi0, jnp.array([0.0, 1.0]), e_ops=ops,
                         save_states=False)
        return res.expect

    eager, jitted = run(1.0), jax.jit(run)(1.0)
    assert eager.dtype == jitted.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=0, atol=1e-12)
    assert abs(float(eager[1, 1])) > 1e-3  # a non-trivial current

    def undeclared(J):
        s = paper_system(2, J=J)
        op = jr.LocalOperator(s.model.bond(0).matrix, (0, 1), 2, 2)
        return jr.mesolve(jr.redfield(s), psi0, jnp.array([0.0, 1.0]), e_ops=[op]).expect

    with pytest.raises(ValueError, match=r"`e_ops\[0\]`.*hermitian=True"):
        jax.jit(undeclared)(1.0)


def test_gmres_is_independent_of_the_time_unit():
    """G -> cG (energies and rates in another unit) has the same steady state; GMRES solves
    the system in units of the rate bound g >= ||G||, so it takes the same number of restart
    cycles (to round-off: measured 35, 34, 32 for c = 1, 0.01, 100) and meets the same
    relative residual. With the former fixed trace scale s = 1 the c = 100 case never
    converged (lineax's absolute tolerance on the off-diagonal entries of b = s I/D)."""
    eq = jr.local_redfield(paper_system(3, T=2.0), 1)
    ref = np.asarray(jr.steadystate(eq, method=jr.Direct()))
    counts = []
    for c in (1.0, 0.01, 100.0):
        eq_c = eqx.tree_at(lambda e: (e.hamiltonian, e.redfield_terms), eq,
                           (tuple(h.scale(c) for h in eq.hamiltonian),
                            tuple((u.scale(c), v) for u, v in eq.redfield_terms)))
        info = jr.steadystate(eq_c, method=jr.GMRES(restart=10, maxiter=200),
                              check_unique=False, return_info=True)
        counts.append(int(info.stats["iterations"]))
        assert float(info.stats["residual"]) < 1e-14
        assert np.abs(np.asarray(info.state) - ref).max() < 1e-12
    assert max(counts) <= 1.2 * min(counts), counts
