"""Progress bars for long runs (trajectories, GMRES, mesolve, tuning): tqdm to stderr.

One switch turns every bar off: ``jaxredfield.set_progress(False)`` (or the environment
variable ``JAXREDFIELD_PROGRESS=0``); a solver's own ``progress=`` argument overrides it
per call (``None``: follow the switch).
"""

from __future__ import annotations

import os
import sys

_ENABLED = os.environ.get("JAXREDFIELD_PROGRESS", "1").lower() not in ("0", "false", "no", "off")


def set_progress(enabled: bool) -> None:
    """Turn all progress bars on or off (default: on, or ``JAXREDFIELD_PROGRESS``)."""
    global _ENABLED
    _ENABLED = bool(enabled)


def progress_enabled(progress=None) -> bool:
    """A call's ``progress`` argument, or the global switch when it is None."""
    return _ENABLED if progress is None else bool(progress)


def bar(total, desc: str, unit: str, progress=None, initial: int = 0):
    """A tqdm bar on stderr, or a silent stand-in with the same ``update``/``set_postfix_str``
    /``close`` methods when progress is off."""
    if not progress_enabled(progress):
        return _Silent()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=sys.stderr,
                dynamic_ncols=True, leave=False)


class _Silent:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s="", refresh=True):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["set_progress", "progress_enabled", "bar"]
