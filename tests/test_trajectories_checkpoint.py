"""mcsolve: checkpoint/resume, sharding over devices, complex64 option."""

import os
import subprocess
import sys
import textwrap

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.trajectories import mcsolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TS = np.linspace(0.0, 2.0, 5)
NTRAJ, BATCH = 48, 4  # 3 chunks of 4 lanes x 4 trajectories

# the chain and e_ops shared by the test process and the subprocess scripts (and by
# tests/test_distributed.py, which runs it in two processes)
CHAIN = textwrap.dedent("""
    import numpy as np, jax
    import jaxredfield as jr
    from jaxredfield.trajectories import mcsolve
    model = jr.xxz_chain(4)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    eq = jr.standard_local_lindblad(system)
    plus = np.ones(2) / np.sqrt(2)
    psi0 = np.kron(np.kron(plus, plus), np.kron(plus, plus))
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(4)] + [jr.spin_current(model, 1)]
    TS = np.linspace(0.0, 2.0, 5)
""")
SETUP = CHAIN + textwrap.dedent("""
    def run(**kw):
        return mcsolve(eq, psi0, TS, 48, jax.random.key(5), e_ops=e_ops, batch_size=4,
                       progress=False, **kw)
""")


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("XLA_FLAGS", None)
    env.update(extra)
    return env


def _script(body, **env):
    out = subprocess.run([sys.executable, "-c", SETUP + textwrap.dedent(body)], env=_env(**env),
                         capture_output=True, text=True, timeout=600)
    return out


@pytest.fixture(scope="module")
def setup():
    ns = {}
    exec(SETUP, ns)
    return ns


def test_checkpoint_resume_after_kill(setup, tmp_path):
    path = str(tmp_path / "run.ckpt.npz")
    # the subprocess is killed (kill -9: no cleanup, its lock file stays) right after its 2nd
    # checkpoint write; the kernel released its lock, so the resume below is not blocked
    out = _script(f"""
        import os, signal
        mod = __import__("jaxredfield.trajectories._checkpoint", fromlist=["x"])
        mod.after_write_hook = lambda n: os.kill(os.getpid(), signal.SIGKILL) if n == 2 else None
        run(checkpoint={path!r}, keep_trajectories=True, keep_final_states=True)
        raise SystemExit(0)
    """)
    assert out.returncode == -9, out.stderr
    with np.load(path, allow_pickle=False) as z:
        assert int(z["done"]) == 32 and not bool(z["complete"])
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []
    assert os.path.exists(path + ".lock")  # the stale lock file of the killed run
    run = setup["run"]
    resumed = run(checkpoint=path, keep_trajectories=True, keep_final_states=True)
    full = run(keep_trajectories=True, keep_final_states=True)
    for a, b in [(resumed.expect, full.expect), (resumed.expect_stderr, full.expect_stderr),
                 (resumed.expect_trajectories, full.expect_trajectories),
                 (resumed.final_state, full.final_state)]:
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(resumed.stats["njumps"], full.stats["njumps"])
    assert resumed.expect_trajectories.shape[0] == NTRAJ
    with np.load(path, allow_pickle=False) as z:
        assert int(z["done"]) == NTRAJ and bool(z["complete"])
    assert not os.path.exists(path + ".lock")  # released (and removed) by the resumed run
    # a completed checkpoint returns at once (no chunk runs: the hook would fire)
    mod = sys.modules["jaxredfield.trajectories._checkpoint"]
    calls = []
    mod.after_write_hook = calls.append
    try:
        again = run(checkpoint=path, keep_trajectories=True, keep_final_states=True)
    finally:
        mod.after_write_hook = None
    assert calls == []
    np.testing.assert_array_equal(np.asarray(again.expect), np.asarray(resumed.expect))


def test_checkpoint_mismatch_and_corruption(setup, tmp_path):
    eq, psi0, e_ops = setup["eq"], setup["psi0"], setup["e_ops"]
    path = str(tmp_path / "a.npz")
    small = dict(eq=eq, psi0=psi0, tsave=TS[:2], ntraj=4, e_ops=e_ops, batch_size=4, progress=False)
    mcsolve(key=jax.random.key(1), checkpoint=path, **small)
    before = open(path, "rb").read()
    with pytest.raises(ValueError, match="a.npz.*belongs to a different run.*differ from this call's: key\\)"):
        mcsolve(key=jax.random.key(2), checkpoint=path, **small)
    with pytest.raises(ValueError, match="differ from this call's: ntraj\\)"):
        mcsolve(key=jax.random.key(1), checkpoint=path, **{**small, "ntraj": 5})
    with pytest.raises(ValueError, match="differ from this call's: atol"):
        mcsolve(key=jax.random.key(1), checkpoint=path, method=jr.Chebyshev(atol=1e-9), **small)
    assert open(path, "rb").read() == before  # never overwritten
    # same arguments: returns the stored (complete) result
    mcsolve(key=jax.random.key(1), checkpoint=path, **small)
    for bad in (before[: len(before) // 2], b"", b"not a checkpoint at all"):
        with open(path, "wb") as f:
            f.write(bad)
        with pytest.raises(ValueError, match="corrupted or unreadable"):
            mcsolve(key=jax.random.key(1), checkpoint=path, **small)
    # an npz without the checkpoint fields
    np.savez(path, x=np.zeros(3))
    with pytest.raises(ValueError, match="corrupted or unreadable"):
        mcsolve(key=jax.random.key(1), checkpoint=path, **small)


# the MPS run slow-marked (~65 s, two fresh processes compiling the MPS engine); the sharding code
# path is the same for both engines (the MPS one also in tests/test_workers.py, 2 workers)
@pytest.mark.parametrize("engine", ["chebyshev", pytest.param("mps", marks=pytest.mark.slow)])
def test_sharded_over_4_devices_matches_1_device(engine):
    """Each chunk's trajectory axis split over 4 (virtual CPU) devices gives the 1-device result.
    The MPS engine (bond 2 at L = 4: the SVDs truncate) also chooses its bond sizes per batch,
    a max over the lanes, across devices when sharded; any size that holds the bonds gives the
    same values, so this checks the sharded run, not which size the collective picked."""
    mps = ("psi0 = jr.product_state(model, plus)\n"
           "run = (lambda run: lambda **kw: run(method=jr.MPS(max_bond=2), **kw))(run)\n")
    body = (mps if engine == "mps" else "") + textwrap.dedent("""
        import jax
        r = run(keep_trajectories=True)
        np.save(OUT, np.concatenate([np.asarray(r.expect).ravel(), np.asarray(r.expect_stderr).ravel(),
                                     np.asarray(r.expect_trajectories).ravel(), np.asarray(r.stats["njumps"]).ravel()]))
        print("NDEV", len(jax.devices()))
    """)
    res = {}
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        for n, flags in ((1, None), (4, "--xla_force_host_platform_device_count=4")):
            out_path = os.path.join(d, f"out{n}.npy")
            env = {"XLA_FLAGS": flags} if flags else {}
            out = _script(f"OUT = {out_path!r}\n" + body, **env)
            assert out.returncode == 0, out.stderr
            assert f"NDEV {n}" in out.stdout
            res[n] = np.load(out_path)
    assert np.all(np.isfinite(res[1]))  # (assert_allclose counts NaN == NaN as equal)
    np.testing.assert_allclose(res[4], res[1], rtol=0, atol=1e-12)


def test_complex64_close_to_complex128(setup):
    run = setup["run"]
    a = run(method=jr.Chebyshev(atol=1e-7))
    b = run(method=jr.Chebyshev(atol=1e-7), dtype=jnp.complex64)
    assert np.asarray(b.expect).dtype == np.float64
    se = np.asarray(a.expect_stderr)[:, 1:]
    z = np.abs(np.asarray(b.expect) - np.asarray(a.expect))[:, 1:] / se
    assert np.max(z) < 0.1, z
    with pytest.raises(ValueError, match="dtype"):
        run(dtype=jnp.float32)


def _stop_after_first_chunk(n):
    raise KeyboardInterrupt("stopped after the first checkpoint write")


def test_fingerprint_holds_only_the_methods_options(setup, tmp_path):
    """Only the chosen method's options enter the fingerprint: a Chebyshev run (atol only)
    interrupted after its first chunk resumes with the method spelled out and gives the
    uninterrupted result exactly; another atol is refused, naming it. Under jr.Diffrax() rtol
    and max_steps are options: refused, naming them; switching the method names the options
    that differ."""
    eq, psi0, e_ops = setup["eq"], setup["psi0"], setup["e_ops"]
    # the shapes of test_checkpoint_mismatch_and_corruption's run (compiled once)
    kw = dict(eq=eq, psi0=psi0, tsave=TS[:2], ntraj=8, key=jax.random.key(4), e_ops=e_ops,
              batch_size=1, progress=False, keep_trajectories=True)  # 2 chunks of 4
    path = str(tmp_path / "cheb.npz")
    mod = sys.modules["jaxredfield.trajectories._checkpoint"]
    mod.after_write_hook = _stop_after_first_chunk
    try:
        with pytest.raises(KeyboardInterrupt):
            mcsolve(checkpoint=path, **kw)
    finally:
        mod.after_write_hook = None
    with np.load(path, allow_pickle=False) as z:
        assert int(z["done"]) == 4 and not bool(z["complete"])
    with pytest.raises(ValueError, match="differ from this call's: atol\\)"):
        mcsolve(checkpoint=path, method=jr.Chebyshev(atol=1e-8), **kw)
    resumed = mcsolve(checkpoint=path, method=jr.Chebyshev(atol=1e-10), **kw)
    full = mcsolve(**kw)
    np.testing.assert_array_equal(np.asarray(resumed.expect_trajectories), np.asarray(full.expect_trajectories))
    np.testing.assert_array_equal(np.asarray(resumed.expect), np.asarray(full.expect))
    np.testing.assert_array_equal(resumed.stats["njumps"], full.stats["njumps"])
    assert full.stats["njumps"].sum() > 0

    # diffrax: a cheap file to be refused (one decaying spin, 1 trajectory, 2 save times)
    dpath = str(tmp_path / "diffrax.npz")
    H = jr.LocalOperator(np.zeros((2, 2)), 0, 2, 2)
    spin = jr.lindblad(H, [jr.LocalOperator(np.sqrt(0.7) * jr.sigmam(), 0, 2, 2)], L=2, d=2)
    dkw = dict(eq=spin, psi0=np.array([1.0, 0, 0, 0]), tsave=TS[:2], ntraj=1, key=jax.random.key(4),
               batch_size=1, progress=False, method=jr.Diffrax())
    mcsolve(checkpoint=dpath, **dkw)
    mcsolve(checkpoint=dpath, max_trace_error=1.0, **dkw)  # not in the fingerprint
    with pytest.raises(ValueError, match="differ from this call's: rtol\\)"):
        mcsolve(checkpoint=dpath, **{**dkw, "method": jr.Diffrax(rtol=1e-6)})
    with pytest.raises(ValueError, match="differ from this call's: max_steps\\)"):
        mcsolve(checkpoint=dpath, **{**dkw, "method": jr.Diffrax(max_steps=1000)})
    with pytest.raises(ValueError, match="differ from this call's: solver\\)"):
        mcsolve(checkpoint=dpath, **{**dkw, "method": jr.Diffrax(solver=diffrax.Dopri5())})
    with pytest.raises(ValueError, match="differ from this call's: max_steps, method, rtol, solver\\)"):
        mcsolve(checkpoint=dpath, **{**dkw, "method": jr.Chebyshev()})


def _unwritable_folder(tmp_path):
    """A folder where creating a file fails: a read-only folder, or for root (who may write
    there anyway) /sys (Linux); None if there is none."""
    import tempfile

    ro = tmp_path / "read_only"
    ro.mkdir()
    os.chmod(ro, 0o555)
    for folder in (str(ro), "/sys"):
        if not os.path.isdir(folder):
            continue
        try:
            fd, name = tempfile.mkstemp(dir=folder)
        except OSError:
            return folder
        os.close(fd)
        os.remove(name)
    return None


def test_checkpoint_path_checked_before_the_run(setup, tmp_path):
    """A checkpoint in a missing or unwritable folder, or a folder as the path, is refused
    before any trajectory runs (no chunk: the hook would fire)."""
    eq, psi0, e_ops = setup["eq"], setup["psi0"], setup["e_ops"]
    kw = dict(eq=eq, psi0=psi0, tsave=TS[:2], ntraj=4, key=jax.random.key(1), e_ops=e_ops,
              batch_size=4, progress=False)
    mod = sys.modules["jaxredfield.trajectories._checkpoint"]
    calls = []
    mod.after_write_hook = calls.append
    try:
        with pytest.raises(ValueError, match="`checkpoint`.*no_such_folder.*does not exist.*os.makedirs"):
            mcsolve(checkpoint=tmp_path / "no_such_folder" / "run.npz", **kw)
        with pytest.raises(ValueError, match="`checkpoint` must be a file path.*folder"):
            mcsolve(checkpoint=tmp_path, **kw)
        with pytest.raises(TypeError, match="`checkpoint` must be None or a file path"):
            mcsolve(checkpoint=3, **kw)
        ro = _unwritable_folder(tmp_path)
        if ro is not None:
            with pytest.raises(ValueError, match="`checkpoint`.*cannot write to its folder"):
                mcsolve(checkpoint=os.path.join(ro, "run.npz"), **kw)
        assert calls == []
    finally:
        mod.after_write_hook = None
        if (tmp_path / "read_only").exists():
            os.chmod(tmp_path / "read_only", 0o755)


def test_checkpoint_with_the_default_batch_size(setup, tmp_path):
    """batch_size=None (the default) is resolved before the checkpoint's fingerprint (it was
    a TypeError); the run and its resume from the finished file equal a run without one."""
    s = setup
    kw = dict(e_ops=s["e_ops"], progress=False)
    path = tmp_path / "run.npz"
    a = mcsolve(s["eq"], s["psi0"], s["TS"], 12, jax.random.key(2), checkpoint=path, **kw)
    b = mcsolve(s["eq"], s["psi0"], s["TS"], 12, jax.random.key(2), checkpoint=path, **kw)  # resumed
    c = mcsolve(s["eq"], s["psi0"], s["TS"], 12, jax.random.key(2), **kw)
    assert path.exists()
    for r in (b, c):
        np.testing.assert_array_equal(np.asarray(a.expect), np.asarray(r.expect))
