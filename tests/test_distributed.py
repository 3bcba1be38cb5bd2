"""Multi-host trajectories: mcsolve in two processes joined by jax.distributed (localhost, one
CPU device each) gives the one-process result -- identical by design, since trajectory n
uses fold_in(key, n) whatever process runs it (mcsolve docstring, "Devices")."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from .test_trajectories_checkpoint import CHAIN

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 240

# the run, shared by the test process (one process) and the two workers: the chain of
# test_trajectories_checkpoint.py, 32 trajectories with another key
SETUP = CHAIN + textwrap.dedent("""
    def run(**kw):
        # 32 trajectories in 2 chunks of 4 lanes x 4 (2 lanes per process); the shapes of
        # test_trajectories_checkpoint.py's run, so the one-process run compiles once per session
        return jr.mcsolve(eq, psi0, TS, 32, jax.random.key(11), e_ops=e_ops, batch_size=4,
                          progress=False, keep_trajectories=True, keep_final_states=True, **kw)
""")

WORKER = textwrap.dedent("""
    import sys, jax
    pid, port, out, ckpt = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    jax.distributed.initialize(coordinator_address="127.0.0.1:" + port, num_processes=2,
                               process_id=pid, initialization_timeout=60)
    assert jax.process_count() == 2 and len(jax.devices()) == 2 and len(jax.local_devices()) == 1
""") + SETUP + textwrap.dedent("""
    r = run(checkpoint=ckpt)
    np.savez(out, mean=np.asarray(r.expect), se=np.asarray(r.expect_stderr),
             ex=np.asarray(r.expect_trajectories), psi=np.asarray(r.final_state), nj=np.asarray(r.stats["njumps"]))
    print("WORKER", pid, "OK", flush=True)
""")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["JAX_PLATFORMS"] = "cpu"
    # one CPU device per process; one thread pool each (two workers share the machine)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    env.pop("JAX_NUM_CPU_DEVICES", None)
    return env


def _run_workers(tmp_path):
    """Start the two workers; kill both on timeout or when one fails."""
    port = str(_free_port())
    ckpt = str(tmp_path / "run.npz")
    procs = []
    for pid in range(2):
        out = str(tmp_path / f"out{pid}.npz")
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(pid), port, out, ckpt],
                                      env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while any(p.poll() is None for p in procs):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the two mcsolve workers did not finish within {TIMEOUT_S} s")
            if any(p.poll() not in (None, 0) for p in procs):
                time.sleep(2)  # let the other one report its side of the failure
                break
            time.sleep(0.2)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        logs = [p.communicate(timeout=30) for p in procs]
    for pid, (p, (so, se)) in enumerate(zip(procs, logs)):
        assert p.returncode == 0 and f"WORKER {pid} OK" in so, f"worker {pid} (rc {p.returncode}):\n{so}\n{se[-4000:]}"
    return [np.load(tmp_path / f"out{pid}.npz") for pid in range(2)], ckpt


@pytest.mark.slow  # ~35 s; two processes joined by jax.distributed against one process are also the
# default run's test_slurm_step_joins_and_matches_one_process (the same code after the initialization)
def test_two_processes_match_one_process(tmp_path):
    """Both processes of the 2-process run return the same result, equal (1e-12) to the
    one-process run of the same arguments; the checkpoint (written by process 0 only) is
    complete and equals the result."""
    (a, b), ckpt = _run_workers(tmp_path)
    ns = {}
    exec(SETUP, ns)
    ref = ns["run"]()
    for out in (a, b):
        np.testing.assert_allclose(out["mean"], np.asarray(ref.expect), rtol=0, atol=1e-12)
        np.testing.assert_allclose(out["se"], np.asarray(ref.expect_stderr), rtol=0, atol=1e-12)
        np.testing.assert_allclose(out["ex"], np.asarray(ref.expect_trajectories), rtol=0, atol=1e-12)
        np.testing.assert_allclose(out["psi"], np.asarray(ref.final_state), rtol=0, atol=1e-12)
        np.testing.assert_array_equal(out["nj"], ref.stats["njumps"])
    assert ref.stats["njumps"].sum() > 0  # jumps happened: the per-trajectory randomness is compared
    with np.load(ckpt, allow_pickle=False) as z:
        assert int(z["done"]) == 32 and bool(z["complete"])
        np.testing.assert_array_equal(z["mean"], a["mean"])
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []


# --- SLURM (issue 25, item 4): the environment an `srun -n 2` step gives its tasks -----------

SLURM_SCRIPT = textwrap.dedent("""
    import sys
    import jaxredfield as jr   # joins the step's tasks (jaxredfield._slurm)
    import jax
    assert jax.process_count() == 2, jax.process_count()
    out, ckpt = sys.argv[1], sys.argv[2]
""") + CHAIN + textwrap.dedent("""
    r = mcsolve(eq, psi0, TS, 96, jax.random.key(12), e_ops=e_ops, batch_size=1, progress=False,
                keep_trajectories=True, checkpoint=None if ckpt == "-" else ckpt)
    np.savez(out, mean=np.asarray(r.expect), ex=np.asarray(r.expect_trajectories),
             nj=np.asarray(r.stats["njumps"]))
    print("TASK", jax.process_index(), "OK", r.stats["workers"], flush=True)
""")


def _slurm_env(task, job_id):
    env = _env()
    env.pop("XLA_FLAGS", None)
    env.update(SLURM_JOB_ID=str(job_id), SLURM_STEP_NODELIST="localhost", SLURM_STEP_NUM_TASKS="2",
               SLURM_NTASKS="2", SLURM_PROCID=str(task), SLURM_LOCALID=str(task), SLURM_STEP_ID="0")
    env.pop("JAXREDFIELD_WORKERS", None)  # each task: its own cores (one, pinned below)
    return env


def _slurm_job_id():
    """A job id whose coordinator port (JAX: 61440 + id % 4096) is free here."""
    for job in range(os.getpid() % 4096, os.getpid() % 4096 + 4096):
        port = 61440 + job % 4096
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return job
    raise RuntimeError("no free port in 61440..65535")


def _start_step(tmp_path, ckpt, tag):
    """The two tasks of a step, each pinned to its own core (SLURM's --cpus-per-task=1)."""
    job = _slurm_job_id()
    cores = sorted(os.sched_getaffinity(0))
    return [subprocess.Popen(["taskset", "-c", str(cores[t % len(cores)]), sys.executable, "-c",
                              SLURM_SCRIPT, str(tmp_path / f"{tag}{t}.npz"), ckpt],
                             env=_slurm_env(t, job), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for t in range(2)]


def _wait(procs, timeout=TIMEOUT_S):
    deadline = time.monotonic() + timeout
    try:
        for p in procs:
            p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    logs = [p.communicate() for p in procs]
    for t, (p, (so, se)) in enumerate(zip(procs, logs)):
        assert p.returncode == 0 and f"TASK {t} OK 1" in so, f"task {t} (rc {p.returncode}):\n{so}\n{se[-4000:]}"


@pytest.fixture(scope="module")
def slurm_reference():
    ns = {}
    exec(CHAIN, ns)
    return ns["mcsolve"](ns["eq"], ns["psi0"], ns["TS"], 96, jax.random.key(12), e_ops=ns["e_ops"],
                         batch_size=1, progress=False, keep_trajectories=True, workers=1)


def _same(out, ref):
    np.testing.assert_array_equal(out["mean"], np.asarray(ref.expect))
    np.testing.assert_array_equal(out["ex"], np.asarray(ref.expect_trajectories))
    np.testing.assert_array_equal(out["nj"], np.asarray(ref.stats["njumps"]))


def test_slurm_step_joins_and_matches_one_process(tmp_path, slurm_reference):
    """Two processes with a 2-task srun step's environment join by themselves (no
    jax.distributed call in the script), each computes its share on its core, and both return
    the one-process result bitwise (24 chunks in rounds of 4, exchanged)."""
    _wait(_start_step(tmp_path, "-", "a"))
    for t in range(2):
        _same(np.load(tmp_path / f"a{t}.npz"), slurm_reference)
    assert slurm_reference.stats["njumps"].sum() > 0


def test_slurm_task_killed_then_job_resubmitted(tmp_path, slurm_reference):
    """kill -9 of task 1 mid-run (a node failure); the step dies (srun --kill-on-bad-exit; task 0,
    blocked in the exchange with task 1, is killed too). The checkpoint holds the last finished
    chunk, intact. A kill -9 that lands in a save leaves its temp file (nothing can hold that
    signal), so one is planted: the resubmitted job removes it and resumes to the
    uninterrupted result."""
    ckpt = str(tmp_path / "run.npz")
    procs = _start_step(tmp_path, ckpt, "k")
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while True:  # wait until the run is under way: a checkpoint with some chunks
            try:
                with np.load(ckpt) as z:
                    if int(z["done"]) >= 16:
                        break
            except (OSError, ValueError, KeyError, EOFError):
                pass
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "no checkpoint"
            time.sleep(0.02)
        procs[1].send_signal(signal.SIGKILL)
        procs[1].wait()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    with np.load(ckpt) as z:
        done = int(z["done"])
        assert 16 <= done < 96 and done % 4 == 0 and not bool(z["complete"])
    stale = tmp_path / "run.npz.k9Xq3bZw.tmp"  # what a SIGKILL mid-write leaves (atomic_write's name)
    stale.write_bytes(b"partial")
    _wait(_start_step(tmp_path, ckpt, "r"))
    for t in range(2):
        _same(np.load(tmp_path / f"r{t}.npz"), slurm_reference)
    with np.load(ckpt) as z:
        assert int(z["done"]) == 96 and bool(z["complete"])
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []


def test_slurm_detection_rules(monkeypatch):
    from jaxredfield import _slurm

    env = dict(SLURM_JOB_ID="7", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_STEP_NODELIST="n[01-02]",
               SLURM_STEP_NUM_TASKS="2")
    assert _slurm.step_tasks(env) == 2
    assert _slurm.step_tasks({k: v for k, v in env.items() if k != "SLURM_STEP_NUM_TASKS"}) == 1  # sbatch's own step
    assert _slurm.step_tasks({**env, "JAXREDFIELD_DISTRIBUTED": "0"}) == 1
    assert _slurm.step_tasks({**env, "SLURM_STEP_NUM_TASKS": "1"}) == 1
    assert not _slurm.initialize({})  # outside SLURM nothing happens
