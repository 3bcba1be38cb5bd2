"""mcsolve(method=jr.MPS(...)): trajectories on matrix product states against the state-vector
engine (same keys: the same jumps) and against mesolve (statistics)."""

import dataclasses

import jax
import numpy as np
import pytest

import jaxredfield as jr

TS = np.linspace(0.0, 2.0, 5)


def _system(L):
    model = jr.xxz_chain(L)
    return model, jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))


# local Lindblad N = 1 and N = 2 are also checked with the same keys at L = 10 by
# benchmarks/validate_mps.py (results/mps_validation.md): in the slow run here
@pytest.mark.parametrize("build", [pytest.param("local_lindblad", marks=pytest.mark.slow), "signed",
                                   pytest.param("local_lindblad_2", marks=pytest.mark.slow)])
def test_same_jumps_as_the_state_vector_engine(build):
    """Bond dimension large enough to be exact (8 at L = 6) and a short TEBD step: the same
    keys give the same jumps as the Chebyshev engine and the same values to the time-step
    error, which is of second order in dt; signed runs also the same weights mu. Local
    Lindblad N = 2: jumps and damping terms on three sites at each end (TEBD blocks of 3).
    Signed: also 2 vmapped lanes against one lane (run unbatched): the same jumps and values
    to round-off."""
    model, system = _system(6)
    eq = {"local_lindblad": lambda: jr.local_lindblad(system, 1),
          "local_lindblad_2": lambda: jr.local_lindblad(system, 2),
          "signed": lambda: jr.pseudo_lindblad(jr.local_redfield(system, 1), jr.lam_loc(system))}[build]()
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in (0, 3, 5)] + [jr.spin_current(model, 2)]
    # 8 signed trajectories are far too few for a trace estimate: no trace-error stop here
    kw = dict(e_ops=e_ops, progress=False, keep_trajectories=True, max_trace_error=1e6)
    psi0 = jr.product_state(model, [0, 1, 0, 1, 0, 1])
    b = jr.mcsolve(eq, psi0, TS, 8, jax.random.key(4), **kw)
    assert b.stats["njumps"].sum() >= 8
    err = {}
    for dt in (0.02, 0.01):
        a = jr.mcsolve(eq, psi0, TS, 8, jax.random.key(4), method=jr.MPS(max_bond=8, dt=dt, cutoff=0.0), **kw)
        np.testing.assert_array_equal(a.stats["njumps"], b.stats["njumps"])
        err[dt] = np.abs(np.asarray(a.expect_trajectories) - np.asarray(b.expect_trajectories)).max()
    print(build, err)
    if build == "signed":  # 2 vmapped lanes against the CPU default of one unbatched lane
        c = jr.mcsolve(eq, psi0, TS, 8, jax.random.key(4), method=jr.MPS(max_bond=8, dt=0.01, cutoff=0.0),
                       batch_size=2, **kw)
        np.testing.assert_array_equal(a.stats["njumps"], c.stats["njumps"])
        np.testing.assert_allclose(np.asarray(a.expect_trajectories), np.asarray(c.expect_trajectories),
                                   rtol=0, atol=1e-12)
    # second order in dt (measured: 1.0e-2 -> 2.6e-3 -> 6.5e-4 at dt = 0.02, 0.01, 0.005, signed)
    assert err[0.01] < 5e-3 and 3 < err[0.02] / err[0.01] < 5.5, err


def test_same_jumps_as_the_state_vector_engine_at_L12():
    """Issue 29 item 4 at L = 12 (bond 64 is exact): the compile-once MPS program (one lane,
    run unbatched) gives the same keys the same jumps as the Chebyshev engine, and the same
    values to the TEBD step's error (measured 4.5e-4 at dt = 0.02, 1.1e-4 at 0.01: second order)."""
    model, system = _system(12)
    eq = jr.local_lindblad(system, 1)
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in (0, 6, 11)] + [jr.spin_current(model, 5)]
    kw = dict(e_ops=e_ops, progress=False, keep_trajectories=True)
    psi0 = jr.product_state(model, [0, 1] * 6)
    b = jr.mcsolve(eq, psi0, TS[:3], 4, jax.random.key(5), **kw)
    a = jr.mcsolve(eq, psi0, TS[:3], 4, jax.random.key(5), method=jr.MPS(max_bond=64, dt=0.02, cutoff=0.0), **kw)
    assert b.stats["njumps"].sum() >= 4
    np.testing.assert_array_equal(a.stats["njumps"], b.stats["njumps"])
    err = np.abs(np.asarray(a.expect_trajectories) - np.asarray(b.expect_trajectories)).max()
    assert err < 2e-3, err


@pytest.mark.parametrize("build", ["local_lindblad", "standard_local_lindblad"])
def test_statistics_match_mesolve(build):
    """Default time step: the trajectory mean agrees with the density-matrix solution within
    the statistical errors (criterion of tests/test_trajectories.py)."""
    model, system = _system(5)
    eq = jr.local_lindblad(system, 1) if build == "local_lindblad" else jr.standard_local_lindblad(system)
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(5)]
    psi0 = jr.product_state(model, np.ones(2))
    ref = np.asarray(jr.mesolve(eq, psi0, TS, e_ops=e_ops, save_states=False).expect)
    res = jr.mcsolve(eq, psi0, TS, 200, jax.random.key(9), e_ops=e_ops, method=jr.MPS(max_bond=8),
                     progress=False)
    mean, se = np.asarray(res.expect), np.asarray(res.expect_stderr)
    # bond dimension 8 is exact at L = 5 (2^2 = 4 is the largest needed): only the default
    # cutoff cuts, at most 1e-12 per truncation (8 per step, 40 steps to t = 2, a few jumps)
    w = np.asarray(res.stats["discarded_weight"])
    assert w.shape == (len(TS),) and np.all(w < 1e-9), w
    assert np.max(np.abs(ref[:, -1] - ref[:, 0]) / se[:, -1]) > 10  # the dynamics is resolved
    z = (mean - ref)[:, 1:] / se[:, 1:]
    assert np.all(np.abs(z) < 5) and np.mean(np.abs(z) < 3) >= 0.9, z


def test_discarded_weight_is_reported_per_save_time():
    """A bond dimension too small for the state (2 at L = 6): the discarded weight grows with
    time and the values move away from the exact-bond run by more than round-off."""
    model, system = _system(6)
    eq = jr.local_lindblad(system, 1)
    psi0 = jr.product_state(model, np.ones(2))
    e_ops = [jr.operator_on(jr.sigmaz(), 2, model)]
    kw = dict(e_ops=e_ops, progress=False)
    with pytest.warns(jr.TruncationWarning, match=r"discarded weight reached"):  # w = 6.7e-3 by t = 2
        small = jr.mcsolve(eq, psi0, TS, 4, jax.random.key(1), method=jr.MPS(max_bond=2), **kw)
    exact = jr.mcsolve(eq, psi0, TS, 4, jax.random.key(1), method=jr.MPS(max_bond=8, cutoff=0.0), **kw)
    w = np.asarray(small.stats["discarded_weight"])
    assert w[0] == 0 and np.all(np.diff(w) >= 0) and w[-1] > 1e-4, w
    assert np.all(np.asarray(exact.stats["discarded_weight"]) < 1e-20)
    assert np.abs(np.asarray(small.expect) - np.asarray(exact.expect)).max() > 1e-4


def test_final_states_are_the_state_vector_engines():
    """keep_final_states with method=jr.MPS(): normalized MPS (tensors (ntraj, L, chi, d,
    chi)) equal, as dense vectors, to the Chebyshev engine's final states for the same keys
    (exact bond, short step: up to the O(dt^2) time-step error)."""
    from jaxredfield import mps as M

    model, system = _system(4)
    eq = jr.local_lindblad(system, 1)
    psi0 = jr.product_state(model, [0, 1, 0, 1])
    kw = dict(progress=False, keep_final_states=True)
    ref = jr.mcsolve(eq, psi0, TS, 4, jax.random.key(2), **kw)
    got = jr.mcsolve(eq, psi0, TS, 4, jax.random.key(2), method=jr.MPS(max_bond=4, dt=0.01, cutoff=0.0), **kw)
    np.testing.assert_array_equal(got.stats["njumps"], ref.stats["njumps"])
    assert isinstance(got.final_state, M.MatrixProductState) and got.final_state.tensors.shape == (4, 4, 4, 2, 4)
    for n in range(4):
        v = np.asarray(M.to_dense(M.MatrixProductState(got.final_state.tensors[n])))
        w = np.asarray(ref.final_state[n])
        assert abs(np.vdot(v, v).real - 1) < 1e-12
        assert 1 - abs(np.vdot(w, v)) ** 2 < 1e-4, n  # infidelity: the O(dt^2) TEBD error


def test_refusals_name_the_argument():
    model, system = _system(4)
    eq = jr.local_lindblad(system, 1)
    psi0 = jr.product_state(model, 0)
    run = lambda **kw: jr.mcsolve(**{"eq": eq, "psi0": psi0, "tsave": TS, "ntraj": 2, "key": jax.random.key(0),
                                     "method": jr.MPS(max_bond=4), "progress": False, **kw})
    with pytest.raises(TypeError, match=r"`psi0` of method=jr.MPS\(\) must be a product state"):
        run(psi0=np.eye(16)[0])
    gap = jr.LocalOperator(np.eye(4), (0, 2), 4, 2)
    with pytest.raises(ValueError, match=r"an e_op on sites \(0, 2\): method=jr.MPS\(\) supports"):
        run(e_ops=[gap])
    gap_jump = jr.LocalOperator(np.eye(4), (1, 3), 4, 2)
    with pytest.raises(ValueError, match=r"a jump operator on sites \(1, 3\)"):
        run(eq=dataclasses.replace(eq, jumps=(gap_jump,)))
    with pytest.raises(ValueError, match=r"`MPS\(max_bond=...\)` must be a positive integer"):
        jr.MPS(max_bond=0)
    with pytest.raises(ValueError, match=r"`MPS\(dt=...\)` must be > 0"):
        jr.MPS(dt=-0.1)
    with pytest.raises(ValueError, match=r"MPS\(cutoff=...\) must be a number in \[0, 1\)"):
        jr.MPS(cutoff=1.5)


def test_checkpoint_resume_and_refusal(tmp_path):
    """A run stopped after its first checkpointed chunk resumes to the uninterrupted result
    exactly (values, jumps, discarded weights); the file names the MPS options in its
    fingerprint (and psi0 as the product state's vectors, not the MPS padded to max_bond):
    another max_bond, cutoff or product state is refused, naming only it."""
    import sys

    model, system = _system(4)
    kw = dict(eq=jr.local_lindblad(system, 1), psi0=jr.product_state(model, 0), tsave=TS[:3], ntraj=8,
              key=jax.random.key(7), e_ops=[jr.operator_on(jr.sigmaz(), 0, model)], batch_size=1,
              progress=False, keep_trajectories=True, method=jr.MPS(max_bond=4))  # 2 chunks of 4
    path = str(tmp_path / "mps.npz")
    mod = sys.modules["jaxredfield.trajectories._checkpoint"]

    def stop(n):
        raise KeyboardInterrupt("stopped after the first checkpoint write")

    mod.after_write_hook = stop
    try:
        with pytest.raises(KeyboardInterrupt):
            jr.mcsolve(checkpoint=path, **kw)
    finally:
        mod.after_write_hook = None
    with np.load(path, allow_pickle=False) as z:
        assert 0 < int(z["done"]) < 8 and not bool(z["complete"])
    with pytest.raises(ValueError, match=r"differ from this call's: max_bond\)"):
        jr.mcsolve(checkpoint=path, **{**kw, "method": jr.MPS(max_bond=8)})
    with pytest.raises(ValueError, match=r"differ from this call's: cutoff\)"):
        jr.mcsolve(checkpoint=path, **{**kw, "method": jr.MPS(max_bond=4, cutoff=1e-6)})
    with pytest.raises(ValueError, match=r"differ from this call's: psi0\)"):
        jr.mcsolve(checkpoint=path, **{**kw, "psi0": jr.product_state(model, 1)})
    writes = []
    mod.after_write_hook = writes.append
    try:
        resumed = jr.mcsolve(checkpoint=path, **kw)
    finally:
        mod.after_write_hook = None
    assert len(writes) == 1  # only the second chunk ran: the first one was resumed from the file
    full = jr.mcsolve(**kw)
    np.testing.assert_array_equal(np.asarray(resumed.expect), np.asarray(full.expect))
    np.testing.assert_array_equal(np.asarray(resumed.expect_stderr), np.asarray(full.expect_stderr))
    np.testing.assert_array_equal(np.asarray(resumed.expect_trajectories), np.asarray(full.expect_trajectories))
    np.testing.assert_array_equal(resumed.stats["njumps"], full.stats["njumps"])
    np.testing.assert_array_equal(np.asarray(resumed.stats["discarded_weight"]),
                                  np.asarray(full.stats["discarded_weight"]))
    assert full.stats["njumps"].sum() > 0
