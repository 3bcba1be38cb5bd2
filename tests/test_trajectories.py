"""mcsolve: Monte-Carlo wave-function trajectories against the density-matrix solution."""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.equations import MasterEquation
from jaxredfield.trajectories import mcsolve
from jaxredfield.trajectories.chebyshev import ChebyshevPropagator
from jaxredfield.trajectories._unravelling import damping_terms

propagators_module = __import__("sys").modules["jaxredfield.trajectories._propagators"]

TS = np.linspace(0.0, 3.0, 7)


@pytest.fixture(scope="module")
def chain():
    model = jr.xxz_chain(4)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    plus = np.ones(2) / np.sqrt(2)
    psi0 = plus
    for _ in range(3):
        psi0 = np.kron(psi0, plus)
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(4)]
    e_ops += [jr.spin_current(model, i) for i in range(3)]
    return system, psi0, e_ops


def _within(mean, ref, se, nsig):
    """|mean - ref| <= nsig * se (plus round-off, for the exact t=0 point where se = 0)."""
    return np.abs(np.asarray(mean) - np.asarray(ref)) <= nsig * np.asarray(se) + 1e-9


@pytest.mark.parametrize("build", ["local_lindblad", "standard_local_lindblad"])
def test_trajectory_mean_matches_mesolve(chain, build):
    system, psi0, e_ops = chain
    eq = jr.local_lindblad(system, 1) if build == "local_lindblad" else jr.standard_local_lindblad(system)
    ref = np.asarray(jr.mesolve(eq, psi0, TS, e_ops=e_ops, save_states=False,
                                method=jr.Diffrax(rtol=1e-10, atol=1e-12)).expect)
    res = mcsolve(eq, psi0, TS, 500, jax.random.key(7), e_ops=e_ops, batch_size=128, progress=False)
    mean, se = np.asarray(res.expect), np.asarray(res.expect_stderr)
    assert mean.shape == se.shape == (len(e_ops), len(TS))
    assert mean.dtype == np.float64  # Hermitian observables -> real
    # t = 0 is deterministic: exact
    assert np.allclose(mean[:, 0], ref[:, 0], atol=1e-12) and np.all(se[:, 0] < 1e-12)
    # the dynamics is not trivial: the observables move by many standard errors
    assert np.max(np.abs(ref[:, -1] - ref[:, 0]) / (se[:, -1] + 1e-300)) > 10
    # 42 correlated comparisons per test. Over 20 independent 500-trajectory runs the largest
    # |z| of a run was 2.0-2.9 typically but once reached 4.0 (and 20000 trajectories show no
    # bias, all |z| < 1.6), so "all within 4 sigma" would fail for ~1 key in 20. Robust check:
    # all within 5 sigma, and at least 90% within 3 sigma (99.7% expected): a bias fails it.
    z = (mean - ref)[:, 1:] / se[:, 1:]
    assert np.all(np.abs(z) < 5), z
    assert np.mean(np.abs(z) < 3) >= 0.9, z
    assert res.ntraj == 500 and res.stats["njumps"].shape == (500,) and res.stats["njumps"].sum() > 0


@pytest.mark.parametrize("build", ["local_lindblad", "standard_local_lindblad"])
def test_L6_1000_trajectories_within_4_sigma_of_mesolve(build):
    """Issue 3's acceptance check: L = 6, 1000 trajectories, sigma^z on every site and every
    bond current, at three times, all within 4 standard errors of the density matrix."""
    L = 6
    model = jr.xxz_chain(L)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    eq = jr.local_lindblad(system, 1) if build == "local_lindblad" else jr.standard_local_lindblad(system)
    psi0 = np.ones(2**L) / np.sqrt(2**L)
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]
    e_ops += [jr.spin_current(model, i) for i in range(L - 1)]
    ts = np.array([0.0, 1.0, 2.5, 5.0])
    ref = np.asarray(jr.mesolve(eq, psi0, ts, e_ops=e_ops, save_states=False,
                                method=jr.Diffrax(rtol=1e-10, atol=1e-12)).expect)
    res = mcsolve(eq, psi0, ts, 1000, jax.random.key(2024), e_ops=e_ops, batch_size=250, progress=False)
    mean, se = np.asarray(res.expect), np.asarray(res.expect_stderr)
    z = (mean - ref)[:, 1:] / se[:, 1:]
    assert np.all(np.abs(z) < 4), z
    assert np.max(np.abs(ref[:, -1] - ref[:, 0]) / se[:, -1]) > 10  # the dynamics is resolved


def test_chebyshev_and_diffrax_give_the_same_trajectories(chain):
    """Same key -> same random numbers: the two propagators must give the same jumps and the
    same expectation values up to their integration tolerances (an independent check of the
    Chebyshev propagator and of the jump-time root finding)."""
    system, psi0, e_ops = chain
    eq = jr.local_lindblad(system, 1)
    kw = dict(e_ops=e_ops, batch_size=32, progress=False, keep_trajectories=True)
    a = mcsolve(eq, psi0, TS, 32, jax.random.key(5), method=jr.Chebyshev(), **kw)
    b = mcsolve(eq, psi0, TS, 32, jax.random.key(5), method=jr.Diffrax(rtol=1e-10, atol=1e-12), **kw)
    np.testing.assert_array_equal(a.stats["njumps"], b.stats["njumps"])
    assert a.stats["njumps"].sum() > 32
    np.testing.assert_allclose(np.asarray(a.expect_trajectories), np.asarray(b.expect_trajectories), atol=1e-6)


def test_dense_save_grid_matches_mesolve_and_diffrax(chain):
    """Save times closer than a Chebyshev step (spacing 0.05 << max_step): the states at save
    times inside a step come from the step's own recurrence (dense output) and a step may end
    on a save time. Against mesolve (statistics) and the diffrax propagator (same jumps)."""
    system, psi0, e_ops = chain
    eq = jr.local_lindblad(system, 1)
    ts = np.linspace(0.0, 1.5, 31)
    kw = dict(e_ops=e_ops, batch_size=64, progress=False, keep_trajectories=True)
    a = mcsolve(eq, psi0, ts, 256, jax.random.key(11), **kw)
    P = ChebyshevPropagator.build(eq.hamiltonian, eq.jumps)
    assert P.max_step > 4 * (ts[1] - ts[0])  # several save times per step
    ref = np.asarray(jr.mesolve(eq, psi0, ts, e_ops=e_ops, save_states=False,
                                method=jr.Diffrax(rtol=1e-10, atol=1e-12)).expect)
    z = (np.asarray(a.expect) - ref)[:, 1:] / np.asarray(a.expect_stderr)[:, 1:]
    assert np.all(np.abs(z) < 5) and np.mean(np.abs(z) < 3) >= 0.9, z  # as in the test above
    b = mcsolve(eq, psi0, ts, 16, jax.random.key(11), method=jr.Diffrax(rtol=1e-10, atol=1e-12),
                **{**kw, "batch_size": 16})
    np.testing.assert_array_equal(a.stats["njumps"][:16], b.stats["njumps"])
    np.testing.assert_allclose(np.asarray(a.expect_trajectories)[:16], np.asarray(b.expect_trajectories),
                               atol=1e-6)


def test_results_independent_of_batch_size(chain):
    system, psi0, e_ops = chain
    eq = jr.standard_local_lindblad(system)
    a = mcsolve(eq, psi0, TS, 64, jax.random.key(3), e_ops=e_ops, batch_size=16, progress=False,
                keep_trajectories=True, keep_final_states=True)
    b = mcsolve(eq, psi0, TS, 64, jax.random.key(3), e_ops=e_ops, batch_size=50, progress=False,
                keep_trajectories=True, keep_final_states=True)
    # lanes run queues of trajectories back to back: 16 lanes x 4 (one chunk), 50 lanes (14
    # with two trajectories), 5 lanes (chunks of 20, the last one partial)
    d = mcsolve(eq, psi0, TS, 64, jax.random.key(3), e_ops=e_ops, batch_size=5, progress=False,
                keep_trajectories=True, keep_final_states=True)
    # one lane: run unbatched (no vmap of one), the same arithmetic as a vmapped lane
    e = mcsolve(eq, psi0, TS, 64, jax.random.key(3), e_ops=e_ops, batch_size=1, progress=False,
                keep_trajectories=True, keep_final_states=True)
    for other in (b, d, e):
        np.testing.assert_array_equal(a.stats["njumps"], other.stats["njumps"])
        np.testing.assert_allclose(np.asarray(a.expect_trajectories), np.asarray(other.expect_trajectories),
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.asarray(a.final_state), np.asarray(other.final_state), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(a.expect), np.asarray(b.expect), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(a.expect_stderr), np.asarray(b.expect_stderr), rtol=0, atol=1e-12)
    assert a.expect_trajectories.shape == (64, len(e_ops), len(TS))
    fs = np.asarray(a.final_state)
    assert fs.shape == (64, 16) and np.allclose(np.linalg.norm(fs, axis=1), 1, atol=1e-12)
    # the mean and stderr are those of the kept trajectories
    x = np.asarray(a.expect_trajectories)
    assert np.allclose(np.asarray(a.expect), x.mean(0), atol=1e-13)
    assert np.allclose(np.asarray(a.expect_stderr), x.std(0, ddof=1) / np.sqrt(64), atol=1e-13)
    # another key gives other trajectories
    c = mcsolve(eq, psi0, TS, 64, jax.random.key(4), e_ops=e_ops, batch_size=16, progress=False)
    assert not np.allclose(np.asarray(c.expect), np.asarray(a.expect))


def test_single_decaying_spin_jump_statistics():
    g = 0.7
    H = jr.LocalOperator(np.zeros((2, 2)), 0, 2, 2)
    eq = jr.lindblad(H, [jr.LocalOperator(np.sqrt(g) * jr.sigmam(), 0, 2, 2)], L=2, d=2)
    psi0 = np.zeros(4)
    psi0[0] = 1.0  # |up, up>
    ts = np.linspace(0.0, 4.0, 41)
    n = 2000
    res = mcsolve(eq, psi0, ts, n, jax.random.key(11), e_ops=[jr.LocalOperator(jr.sigmaz(), 0, 2, 2)],
                  batch_size=1000, progress=False, keep_trajectories=True)
    exact = 2 * np.exp(-g * ts) - 1
    mean, se = np.asarray(res.expect[0]), np.asarray(res.expect_stderr[0])
    assert _within(mean, exact, se, 4.0).all(), (mean - exact) / se
    # each trajectory is +1 until its single jump, -1 afterwards
    x = np.asarray(res.expect_trajectories)[:, 0, :]
    assert np.allclose(np.abs(x), 1, atol=1e-9)
    assert np.all(np.diff(x, axis=1) <= 1e-9)
    assert set(np.unique(res.stats["njumps"])) <= {0, 1}
    np.testing.assert_array_equal(x[:, -1] < 0, res.stats["njumps"] == 1)
    # Kolmogorov-Smirnov on the save grid: the empirical CDF of the jump time,
    # F(t_i) = fraction decayed by t_i, against 1 - exp(-g t); 1.63/sqrt(n) is the 1% level.
    # (Sensitive to the waiting-time rule: jumping at ||psi||^2 = 0.9 r instead of r fails.)
    F = np.mean(x < 0, axis=0)
    assert np.max(np.abs(F - (1 - np.exp(-g * ts)))) < 1.63 / np.sqrt(n)


def test_one_observable_progress_bar_and_summary(capsys, monkeypatch):
    """e_ops may be one operator: expect then has shape (1, n_t), equal to the list of it; the
    progress bar reports trajectories on stderr; the result prints a short summary."""
    H = jr.LocalOperator(np.zeros((2, 2)), 0, 2, 2)
    eq = jr.lindblad(H, [jr.LocalOperator(np.sqrt(0.7) * jr.sigmam(), 0, 2, 2)], L=2, d=2)
    psi0, ts, sz = np.array([1.0, 0, 0, 0]), np.linspace(0.0, 2.0, 3), jr.LocalOperator(jr.sigmaz(), 0, 2, 2)
    monkeypatch.setenv("JAXREDFIELD_PROGRESS_DELAY", "0")  # shown at once (default: after 2 s)
    one = mcsolve(eq, psi0, ts, 8, jax.random.key(1), e_ops=sz, batch_size=4, progress=True)
    assert re.search(r"mcsolve: .*\| 8/8 ", capsys.readouterr().err)  # trajectories done / ntraj
    listed = mcsolve(eq, psi0, ts, 8, jax.random.key(1), e_ops=[sz], batch_size=4, progress=False)
    assert one.expect.shape == (1, 3)
    np.testing.assert_array_equal(np.asarray(one.expect), np.asarray(listed.expect))
    assert one.final_state is None and one.expect_trajectories is None
    assert isinstance(one.method, jr.Chebyshev) and isinstance(one.stats["njumps"], jax.Array)
    assert "MCSolveResult" in repr(one) and "njumps" in repr(one)


def test_bad_inputs_raise(chain):
    system, psi0, e_ops = chain
    eq = jr.standard_local_lindblad(system)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="not normalized"):
        mcsolve(eq, 2 * psi0, TS, 4, key, progress=False)
    with pytest.raises(ValueError, match="shape"):
        mcsolve(eq, psi0[:8], TS, 4, key, progress=False)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="ntraj"):
            mcsolve(eq, psi0, TS, bad, key, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        mcsolve(eq, psi0, TS, 4, key, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="strictly increasing"):
        mcsolve(eq, psi0, [0.0, 1.0, 1.0], 4, key, progress=False)
    with pytest.raises(ValueError, match="atol"):
        mcsolve(eq, psi0, TS, 4, key, progress=False, method=jr.Chebyshev(atol=0.0))
    with pytest.raises(TypeError, match="`method` of mcsolve is a method object.*'rk4'"):
        mcsolve(eq, psi0, TS, 4, key, progress=False, method="rk4")
    with pytest.raises(TypeError, match=r"mcsolve supports method=jr.Chebyshev\(\), jr.Diffrax\(\), jr.MPS\(\); got GMRES"):
        mcsolve(eq, psi0, TS, 4, key, progress=False, method=jr.GMRES())
    for old in (dict(atol=1e-8), dict(rtol=1e-6), dict(max_steps=10)):  # removed: in the method
        with pytest.raises(TypeError, match="unexpected keyword"):
            mcsolve(eq, psi0, TS, 4, key, progress=False, **old)
    with pytest.raises(TypeError, match="PRNG key"):
        mcsolve(eq, psi0, TS, 4, 123, progress=False)
    with pytest.raises(ValueError, match="Redfield form.*pseudo_lindblad"):
        mcsolve(jr.local_redfield(system, 1), psi0, TS, 4, key, progress=False)
    with pytest.raises(ValueError, match="max_trace_error"):
        mcsolve(jr.pseudo_lindblad(jr.local_redfield(system, 1), 1.0), psi0, TS, 4, key, progress=False,
                max_trace_error=0.0)


def test_non_finite_operators_refused(chain):
    """A NaN in any operator of the equation or of e_ops is refused before the run, naming it
    (it would otherwise run through every trajectory)."""
    system, psi0, e_ops = chain
    eq = jr.standard_local_lindblad(system)
    key = jax.random.key(0)
    bad = jr.LocalOperator(np.array([[0.0, np.nan], [0.0, 0.0]]), 0, 4, 2)
    for field, kind in (("jumps", "jump operator 1"), ("hamiltonian", "Hamiltonian term 0"),
                        ("negative_jumps", "negative jump operator 0")):
        ops = list(getattr(eq, field))
        if field == "jumps":
            ops[1] = bad
        else:
            ops = [bad] + ops[1:]
        broken = eqx.tree_at(lambda e: getattr(e, field), eq, tuple(ops))
        with pytest.raises(ValueError, match=f"`eq`.*{kind} on sites \\(0,\\) has NaN or inf"):
            mcsolve(broken, psi0, TS, 4, key, progress=False)
    with pytest.raises(ValueError, match=r"`e_ops\[1\]` has NaN or inf"):
        mcsolve(eq, psi0, TS, 4, key, e_ops=[e_ops[0], bad], progress=False)


def test_dark_state_of_a_signed_clock_stays_finite():
    """Signed trajectories whose clock ticks at the shift c alone: psi0 = |down, up> is dark
    to every jump (L = sigma^- on site 0, M = sigma^-/2 there), so a clock event has total
    jump weight 0 and must kill the weight (factor 0), not make psi = 0/0 (before: NaN, and
    the NaN state never let the loop advance -- mcsolve hung). Exact: rho(t) = rho(0), so
    E[mu] = e^{ct} P(no event by t) = 1 and E[mu sigma^z_0] = -E[mu] for every sample."""
    L = 2
    sm, sz = np.asarray(jr.sigmam()), np.asarray(jr.sigmaz())
    H = (jr.LocalOperator(0.7 * sz, (0,), L, 2), jr.LocalOperator(0.3 * sz, (1,), L, 2))
    eq = MasterEquation(H, (), (jr.LocalOperator(sm, (0,), L, 2),),
                        (jr.LocalOperator(0.5 * sm, (0,), L, 2),), L, 2, "dark clock")
    assert damping_terms(eq)[1] > 0  # the clock has the shift c > 0
    psi0 = np.zeros(4)
    psi0[2] = 1.0  # site 0 down (sigma^- psi0 = 0), site 1 up
    ts = np.array([0.0, 2.0, 8.0])
    res = mcsolve(eq, psi0, ts, 64, jax.random.key(0), e_ops=[jr.LocalOperator(sz, (0,), L, 2)],
                  batch_size=64, progress=False, max_trace_error=10.0)
    mean, tr, tse = (np.asarray(x) for x in (res.expect[0], res.stats["trace_mean"], res.stats["trace_stderr"]))
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(tr))
    assert res.stats["njumps"].sum() > 0  # clock events happened
    np.testing.assert_allclose(mean, -tr, rtol=0, atol=1e-12)
    assert np.all(np.abs(tr - 1) <= 4 * tse + 1e-12), (tr, tse)


class _NaNPropagator(ChebyshevPropagator):
    def propagate(self, psi, s, axis_name=None, s_save=None):
        return jax.tree_util.tree_map(lambda x: x * jnp.nan, super().propagate(psi, s, axis_name, s_save))


def test_nan_from_the_propagator_raises_not_returns(chain, monkeypatch, tmp_path):
    """A propagation that breaks down (simulated: a propagator returning NaN) ends the
    trajectory (before: the loop never advanced t and mcsolve hung) and mcsolve raises
    FloatingPointError naming the trajectory, before accumulating or saving the chunk."""
    system, psi0, e_ops = chain
    eq = jr.standard_local_lindblad(system)
    monkeypatch.setattr(propagators_module, "ChebyshevPropagator", _NaNPropagator)
    ck = tmp_path / "run.npz"
    with pytest.raises(FloatingPointError, match="trajectory 0 returned NaN or inf.*t = 0.5;.*4 of the chunk's 4"):
        mcsolve(eq, psi0, TS[:2], 4, jax.random.key(0), e_ops=e_ops[:1], batch_size=4, progress=False,
                checkpoint=ck)
    assert not ck.exists()
