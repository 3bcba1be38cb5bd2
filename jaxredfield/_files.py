"""Files a run owns: one owner per path (an exclusive lock), atomic writes, saves that survive
SIGTERM/SIGINT. The bottom floor of the package (imports nothing of it), used by the
trajectory checkpoints, the CLI's ``jaxredfield run`` outputs and the example scripts.

Guarantees (docs/usage.md, "Checkpoints: what a run guarantees"):

- :class:`Owner` -- a path has one owner at a time: ``fcntl.flock`` on ``<path>.lock``
  (exclusive, non-blocking), taken before the first write and released on exit. A second
  owner -- another process, or another call in the same process -- gets
  :class:`FileInUseError` at once, naming the path and the holder (pid, host, start time). The
  kernel drops a flock when its process dies (also ``kill -9``), so a stale lock file never
  blocks a resume. While the lock is held, temporary files left by a killed writer of the same
  path are removed.
- :func:`atomic_write` -- a temp file in the same folder, fsync, ``os.replace``: a reader sees
  the old file or the new one, never a half-written one, and a failed write (disk full,
  read-only filesystem, folder removed) leaves no temp file and the previous file intact.
- :func:`deferred_signals` -- SIGTERM and SIGINT arriving during a save are held until the save
  is done, then raised (SIGTERM as ``SystemExit(143)``, SIGINT as ``KeyboardInterrupt``).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import tempfile
import threading
import time

try:  # POSIX; on other platforms runs are not locked (documented)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None


class FileInUseError(RuntimeError):
    """Another run owns this path (it holds ``<path>.lock``)."""


class SaveError(OSError):
    """A save failed (no space, read-only filesystem, folder removed); the previous file is
    intact and no temporary file is left. ``errno`` is the underlying error's."""


def _holder(lock_path: str) -> str:
    try:
        with open(lock_path) as f:
            text = f.read().strip()
    except OSError:
        text = ""
    return text or "unknown"


class Owner:
    """Exclusive ownership of ``path`` for one run (a context manager; also ``acquire()`` /
    ``release()``). ``what`` names the argument in messages (e.g. "`checkpoint`"). For a file
    the lock is ``<path>.lock`` beside it; for a folder (a run's output folder) it is
    ``<folder>/.jaxredfield.lock`` and covers every file the run writes there."""

    def __init__(self, path: str, what: str = "the file"):
        self.path = os.path.abspath(os.fspath(path))
        self.folder = os.path.isdir(self.path)
        self.lock_path = os.path.join(self.path, ".jaxredfield.lock") if self.folder else self.path + ".lock"
        self.what = what
        self._fd = None

    def acquire(self) -> "Owner":
        if fcntl is None or self._fd is not None:
            return self
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise FileInUseError(
                    f"{self.what} {self.path!r} is in use by another run ({_holder(self.lock_path)}, "
                    f"holding {self.lock_path!r}); wait for it to finish, or pass another path. "
                    "A lock of a process that died is released by the kernel, so this run is "
                    "alive.") from None
            except OSError:
                os.close(fd)
                raise
            # the lock file may have been removed (and recreated) between open and flock by the
            # previous owner's release: hold a lock only on the file that is at the path now
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        self._fd = fd
        if self.folder:
            remove_stale_temps(os.path.join(self.path, ""), any_name=True)
        else:
            remove_stale_temps(self.path)
        return self

    def release(self):
        if self._fd is None:
            return
        try:
            os.remove(self.lock_path)  # while still held: a waiting opener re-checks the inode
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def remove_stale_temps(path: str, any_name: bool = False) -> list:
    """Remove the temp files that :func:`atomic_write` of ``path`` leaves when its process is
    killed mid-write (``any_name``: of every file in ``path``'s folder); call only while owning
    ``path``. Returns their names."""
    folder = os.path.dirname(os.path.abspath(path)) if not path.endswith(os.sep) else path
    base = r".+" if any_name else re.escape(os.path.basename(path))
    pat = re.compile(base + r"\.[A-Za-z0-9_]{8}\.tmp$")
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if pat.match(name):
            try:
                os.remove(os.path.join(folder, name))
                removed.append(name)
            except OSError:
                pass
    return removed


# --- signals: held during a save ---------------------------------------------------------

_pending: list = []
_saving = threading.local()


def _handler(signum, frame):
    if getattr(_saving, "depth", 0):
        _pending.append(signum)
        return
    _raise_for(signum)


def _raise_for(signum):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def deferred_signals():
    """Within: SIGTERM and SIGINT raise ``SystemExit(143)`` / ``KeyboardInterrupt`` at once,
    except during :func:`saving`, after which they are raised. Only the main thread can install
    handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in old:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextlib.contextmanager
def saving():
    """Signals that arrive inside are raised when it ends (see :func:`deferred_signals`)."""
    _saving.depth = getattr(_saving, "depth", 0) + 1
    try:
        yield
    finally:
        _saving.depth -= 1
        if not _saving.depth and _pending:
            signum = _pending.pop(0)
            _pending.clear()
            _raise_for(signum)


# --- atomic writes ------------------------------------------------------------------------

def atomic_write(path: str, write, mode: str = "wb"):
    """``write(f)`` into a temp file in ``path``'s folder, fsync, ``os.replace`` to ``path``.
    A failure leaves no temp file and the previous ``path`` intact and raises :class:`SaveError`
    (an ``OSError``) naming the path; signals during the write are held (:func:`saving`)."""
    folder = os.path.dirname(os.path.abspath(path))
    with saving():
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
            with os.fdopen(fd, mode, **({} if "b" in mode else {"newline": ""})) as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            tmp = None
        except OSError as err:
            raise SaveError(err.errno, f"could not write {path!r} ({type(err).__name__}: "
                                       f"{err.strerror or err}); the previous file is unchanged") from err
        finally:
            if tmp is not None and os.path.exists(tmp):
                os.remove(tmp)
    try:  # make the rename durable too (best effort; not possible on every platform)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def atomic_savez(path, **arrays):
    """``np.savez(path, **arrays)`` through :func:`atomic_write`."""
    import numpy as np

    return atomic_write(path, lambda f: np.savez(f, **arrays))


def atomic_write_text(path, text: str):
    """A text file through :func:`atomic_write`."""
    return atomic_write(path, lambda f: f.write(text), mode="w")
