"""Progress bars for long runs (trajectories, GMRES, mesolve, tuning): tqdm to stderr.

One switch turns every bar off: ``jaxredfield.set_progress(False)`` (or the environment
variable ``JAXREDFIELD_PROGRESS=0``); a solver's own ``progress=`` argument overrides it
per call (``None``: follow the switch).

A bar appears only once its work has run for ``JAXREDFIELD_PROGRESS_DELAY`` seconds (default
2: quick solves, such as the demo's steady states, print nothing between a table's rows) and is
removed when done (``leave=False``); it counts real units (trajectories, GMRES iterations,
save points), never a fixed total.
"""

from __future__ import annotations

import os
import sys

_ENABLED = os.environ.get("JAXREDFIELD_PROGRESS", "1").lower() not in ("0", "false", "no", "off")


def _delay() -> float:
    """Seconds before a bar is shown (``$JAXREDFIELD_PROGRESS_DELAY``, default 2)."""
    try:
        return max(0.0, float(os.environ.get("JAXREDFIELD_PROGRESS_DELAY", "2")))
    except ValueError:
        raise ValueError("$JAXREDFIELD_PROGRESS_DELAY must be a number of seconds, got "
                         f"{os.environ['JAXREDFIELD_PROGRESS_DELAY']!r}") from None


def set_progress(enabled: bool) -> None:
    """Turn all progress bars on or off (default: on, or ``JAXREDFIELD_PROGRESS``)."""
    global _ENABLED
    _ENABLED = bool(enabled)


def progress_enabled(progress=None) -> bool:
    """A call's ``progress`` argument, or the global switch when it is None."""
    return _ENABLED if progress is None else bool(progress)


def bar(total, desc: str, unit: str, progress=None, initial: int = 0, bar_format=None):
    """A tqdm bar on stderr, or a silent stand-in with the same ``update``/``set_postfix_str``
    /``close`` methods when progress is off (``bar_format``: tqdm's, None for its default)."""
    if not progress_enabled(progress):
        return _Silent()
    from tqdm.auto import tqdm

    class _Bar(tqdm):
        def set_postfix_str(self, s="", refresh=True):
            # tqdm's refresh would show the bar before its delay: held back until then
            super().set_postfix_str(s, refresh=refresh and self._time() - self.start_t >= self.delay)

    return _Bar(total=total, desc=desc, unit=unit, initial=initial, file=sys.stderr,
                dynamic_ncols=True, leave=False, delay=_delay(), bar_format=bar_format)


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
