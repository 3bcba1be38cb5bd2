"""One checkpoint, one owner (issue 28): a second run on a path in use is refused at once, a
failed save names what the intact file holds, SIGTERM leaves a valid checkpoint, and every
resume equals the uninterrupted run. The stale lock of a ``kill -9``ed run:
tests/test_trajectories_checkpoint.py::test_checkpoint_resume_after_kill; the file-level
guarantees: tests/test_files.py."""

import errno
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from jaxredfield._files import FileInUseError, SaveError
from jaxredfield.trajectories import _checkpoint

from .test_trajectories_checkpoint import NTRAJ, SETUP, _env


@pytest.fixture(scope="module")
def setup():
    ns = {}
    exec(SETUP, ns)
    ns["full"] = ns["run"]()  # the uninterrupted result (48 trajectories, key 5)
    return ns


def _start(tmp_path, body):
    """A child process running SETUP + body; returns (Popen, a function waiting for a file)."""
    p = subprocess.Popen([sys.executable, "-c", SETUP + textwrap.dedent(body)], env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(name, timeout=300):
        f = tmp_path / name
        t0 = time.time()
        while not f.exists():
            if p.poll() is not None:
                raise AssertionError(f"child exited {p.returncode}: {p.stderr.read()[-3000:]}")
            assert time.time() - t0 < timeout, f"child never wrote {name}"
            time.sleep(0.05)

    return p, wait_for


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a.expect), np.asarray(b.expect))
    np.testing.assert_array_equal(np.asarray(a.expect_stderr), np.asarray(b.expect_stderr))
    np.testing.assert_array_equal(np.asarray(a.stats["njumps"]), np.asarray(b.stats["njumps"]))


def test_second_run_on_a_path_in_use_is_refused(setup, tmp_path):
    """Two runs on one path, the first in another process: the second (same arguments or another
    key) is refused at once naming the path and the holder; the first finishes with its own
    result, and its file is complete and intact."""
    path = str(tmp_path / "run.npz")
    p, wait_for = _start(tmp_path, f"""
        import os, time, pathlib
        import numpy as np
        mod = __import__("jaxredfield.trajectories._checkpoint", fromlist=["x"])
        def hold(n):  # after the first chunk: tell the test, wait for its go
            if n == 1:
                pathlib.Path({str(tmp_path / "ready")!r}).write_text("1")
                while not os.path.exists({str(tmp_path / "go")!r}):
                    time.sleep(0.05)
        mod.after_write_hook = hold
        r = run(checkpoint={path!r})
        np.save({str(tmp_path / "first.npy")!r}, np.asarray(r.expect))
    """)
    try:
        wait_for("ready")
        run = setup["run"]
        for kw in ({}, {"key": None}):
            t0 = time.perf_counter()
            with pytest.raises(FileInUseError, match=rf"`checkpoint` '{path}' is in use by another run "
                                                     rf"\(pid {p.pid} on "):
                if kw:
                    import jaxredfield as jr
                    jr.mcsolve(setup["eq"], setup["psi0"], setup["TS"], 48, jax.random.key(6),
                               e_ops=setup["e_ops"], batch_size=4, progress=False, checkpoint=path)
                else:
                    run(checkpoint=path)
            assert time.perf_counter() - t0 < 10  # at once: before any trajectory
        (tmp_path / "go").write_text("1")
        assert p.wait(timeout=300) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
    np.testing.assert_array_equal(np.load(tmp_path / "first.npy"), np.asarray(setup["full"].expect))
    with np.load(path, allow_pickle=False) as z:
        assert int(z["done"]) == NTRAJ and bool(z["complete"])
    _checkpoint.after_write_hook = lambda n: pytest.fail("a complete file was recomputed")
    try:
        _same(setup["run"](checkpoint=path), setup["full"])  # the first run's file, intact
    finally:
        _checkpoint.after_write_hook = None


def test_sigterm_leaves_a_valid_checkpoint_and_resumes(setup, tmp_path):
    """SIGTERM (a batch system's time limit) mid-run: exit status 143, a message naming the
    file and what it holds, the last finished chunk on disk, no temp file, the lock released;
    the rerun equals the uninterrupted run."""
    path = str(tmp_path / "run.npz")
    p, wait_for = _start(tmp_path, f"""
        import time, pathlib
        mod = __import__("jaxredfield.trajectories._checkpoint", fromlist=["x"])
        def wait(n):
            if n == 2:
                pathlib.Path({str(tmp_path / "ready")!r}).write_text("1")
                time.sleep(300)
        mod.after_write_hook = wait
        run(checkpoint={path!r})
    """)
    try:
        wait_for("ready")
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 143
    finally:
        if p.poll() is None:
            p.kill()
    err = p.stderr.read()
    assert f"the checkpoint '{path}' holds 32 of 48 trajectories; call mcsolve again" in err, err
    with np.load(path, allow_pickle=False) as z:
        assert int(z["done"]) == 32 and not bool(z["complete"])
    assert sorted(os.listdir(tmp_path)) == ["ready", "run.npz"]  # no temp file, no lock
    _same(setup["run"](checkpoint=path), setup["full"])


def test_failed_save_names_what_the_file_holds(setup, tmp_path, monkeypatch):
    """No space left at the second save: a SaveError (an OSError, errno ENOSPC) naming the path,
    the 16 trajectories the intact file holds and how to resume; no temp file; the resume
    equals the uninterrupted run."""
    path = str(tmp_path / "run.npz")
    real, calls = np.savez, []

    def savez(f, **arrays):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(f, **arrays)

    monkeypatch.setattr(np, "savez", savez)
    with pytest.raises(SaveError) as info:
        setup["run"](checkpoint=path)
    msg = str(info.value)
    assert info.value.errno == errno.ENOSPC
    assert f"could not save the checkpoint '{path}'" in msg and "No space left on device" in msg
    assert "still holds 16 of 48 finished trajectories and is intact" in msg
    assert "call mcsolve again with the same arguments to resume" in msg
    assert sorted(os.listdir(tmp_path)) == ["run.npz"]  # no temp file; the lock released
    with np.load(path, allow_pickle=False) as z:
        assert int(z["done"]) == 16
    monkeypatch.setattr(np, "savez", real)
    _same(setup["run"](checkpoint=path), setup["full"])


def test_file_replaced_by_another_run_is_not_overwritten(setup, tmp_path):
    """Each save re-checks the file on disk: replaced by another run's file (a run on another
    host of a filesystem without locks), this run stops and leaves that file as it is."""
    path = str(tmp_path / "run.npz")
    other = str(tmp_path / "other.npz")
    import jaxredfield as jr

    jr.mcsolve(setup["eq"], setup["psi0"], setup["TS"][:2], 4, jax.random.key(9), e_ops=setup["e_ops"],
               batch_size=4, progress=False, checkpoint=other)
    theirs = pathlib.Path(other).read_bytes()
    _checkpoint.after_write_hook = lambda n: pathlib.Path(path).write_bytes(theirs) if n == 1 else None
    try:
        with pytest.raises(FileInUseError, match="was replaced by another run's file"):
            setup["run"](checkpoint=path)
    finally:
        _checkpoint.after_write_hook = None
    assert pathlib.Path(path).read_bytes() == theirs


def test_run_output_folder_has_one_owner(tmp_path, capsys):
    """``jaxredfield run``: a folder another run writes to is refused (exit 2, naming it),
    nothing is written; the MPS example's density checkpoints likewise."""
    from jaxredfield._files import Owner
    from jaxredfield.app.cli import main

    from .test_runconfig import small_config

    out = tmp_path / "out"
    out.mkdir()
    cfg = tmp_path / "c.toml"
    cfg.write_text(small_config(out))
    with Owner(out):
        assert main(["run", str(cfg)]) == 2
    assert "the output folder `run.out`" in capsys.readouterr().err
    assert os.listdir(out) == []

    from .test_examples import load

    ex = load("mps_long_chain")
    kw = dict(L=4, tmax=0.1, nt=2, tavg=0.0, max_bond=4, dt=0.05, progress=False)
    tag = "L4_b4_dt0.05_t0.1_n2_up_T2.2x3"
    held = tmp_path / f"mps_long_chain_density_local_lindblad_N1_{tag}.npz"
    with Owner(held):
        with pytest.raises(FileInUseError, match="the checkpoint"):
            ex.simulate_density(out=str(tmp_path), **kw)
