"""Chunk functions for the worker pool's own tests (:mod:`jaxredfield._pool`): a helper runs
only functions of this package, named by their import path, so the tests' probes live here."""

from __future__ import annotations

import os
import signal
import time


def squares_dying_once(args, start: int, m: int):
    """Items start ... start + m - 1 squared; ``args`` = (marker path, fatal item): the first
    process to reach the chunk starting at the fatal item kills itself (SIGKILL) while holding
    it (a helper that dies mid-run)."""
    marker, fatal = args
    time.sleep(0.05)
    if start == fatal and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return [i * i for i in range(start, start + m)]


def logged_after_sleep(args, start: int, m: int):
    """Sleep ``args[1]`` s, then append ``start`` to the file ``args[0]`` (which chunks ran)."""
    time.sleep(args[1])
    with open(args[0], "a") as f:
        f.write(f"{start}\n")
    return start
