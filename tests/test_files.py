"""jaxredfield._files: one owner per path (flock), atomic writes that fail cleanly, signals held
during a save. Plain files and subprocesses; the mcsolve checkpoint cases are in
tests/test_checkpoint_ownership.py."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from jaxredfield import _files
from jaxredfield._files import FileInUseError, Owner, SaveError, atomic_write, atomic_write_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _holder_process(path, ready):
    """A child process that owns ``path`` and sleeps (until killed)."""
    code = textwrap.dedent(f"""
        import time, pathlib
        from jaxredfield._files import Owner
        o = Owner({str(path)!r}).acquire()
        pathlib.Path({str(ready)!r}).write_text("held")
        time.sleep(120)
    """)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.Popen([sys.executable, "-c", code], env=env)
    t0 = time.time()
    while not ready.exists():
        assert p.poll() is None and time.time() - t0 < 60, "holder did not start"
        time.sleep(0.05)
    return p


def test_second_owner_refused_in_the_same_process(tmp_path):
    path = tmp_path / "run.npz"
    with Owner(path, "`checkpoint`") as o:
        assert o.held and os.path.exists(str(path) + ".lock")
        with pytest.raises(FileInUseError, match=r"`checkpoint` '.*run\.npz' is in use by another run \(pid "
                                                 + str(os.getpid())):
            Owner(path, "`checkpoint`").acquire()
    assert not os.path.exists(str(path) + ".lock")  # released and removed
    with Owner(path):  # free again
        pass


def test_owner_in_another_process_refused_until_it_is_killed(tmp_path):
    """A lock held by a live process refuses at once; after ``kill -9`` (the lock file stays
    on disk) the kernel has released it and a new owner gets it."""
    path = tmp_path / "run.npz"
    p = _holder_process(path, tmp_path / "ready")
    try:
        t0 = time.perf_counter()
        with pytest.raises(FileInUseError, match=f"pid {p.pid} on "):
            Owner(path).acquire()
        assert time.perf_counter() - t0 < 5  # refused at once, no waiting
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert os.path.exists(str(path) + ".lock")  # stale file of the dead process
    with Owner(path) as o:
        assert o.held


def test_owning_removes_temp_files_of_a_killed_writer(tmp_path):
    path = tmp_path / "run.npz"
    stale = tmp_path / "run.npz.ab12CD_x.tmp"  # the pattern of atomic_write's mkstemp
    other = tmp_path / "other.npz.ab12CD_x.tmp"
    stale.write_bytes(b"half")
    other.write_bytes(b"not ours")
    with Owner(path):
        assert not stale.exists() and other.exists()
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "steady.csv.zz99YY00.tmp").write_text("half")
    with Owner(folder) as o:  # a folder: lock inside, every file's temps removed
        assert o.lock_path == str(folder / ".jaxredfield.lock")
        assert os.listdir(folder) == [".jaxredfield.lock"]


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")

    def full_disk(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(SaveError, match=r"could not write .*f\.txt.*No space left") as info:
        atomic_write(str(path), full_disk)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC
    assert path.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["f.txt"]
    # the folder removed: the same error type, naming the path
    gone = tmp_path / "gone"
    gone.mkdir()
    os.rmdir(gone)
    with pytest.raises(SaveError, match="gone"):
        atomic_write_text(gone / "x.txt", "y")


def test_signal_during_a_save_is_raised_after_it(tmp_path):
    """SIGTERM arriving inside a save: the save completes (the new file, no temp file), then
    ``SystemExit(143)``; outside a save it is raised at once. Handlers are restored after."""
    path = tmp_path / "a.npz"
    before = signal.getsignal(signal.SIGTERM)

    def write_and_get_killed(f):
        os.kill(os.getpid(), signal.SIGTERM)
        np.savez(f, x=np.arange(3))

    with pytest.raises(SystemExit) as info:
        with _files.deferred_signals():
            atomic_write(str(path), write_and_get_killed)
            pytest.fail("SIGTERM was not raised after the save")
    assert info.value.code == 143
    with np.load(path) as z:
        assert list(z["x"]) == [0, 1, 2]
    assert os.listdir(tmp_path) == ["a.npz"]
    with pytest.raises(KeyboardInterrupt):
        with _files.deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGTERM) is before
