"""Multi-host trajectories: mcsolve in two processes joined by jax.distributed (localhost, one
CPU device each) gives the one-process result -- identical by design, since trajectory n
uses fold_in(key, n) whatever process runs it (mcsolve docstring, "Devices")."""

import os
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np

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
