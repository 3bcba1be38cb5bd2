"""Persistent XLA compilation cache: compiled programs saved to disk and reused by later runs.

JAX compiles every jitted solver the first time it meets a new shape, which for the paper's
problems takes seconds to tens of seconds per run. With the persistent cache on, a second run
of the same script loads the compiled programs from disk instead (see
``benchmarks/results/compile_cache.md``; tracing and lowering still run, XLA compilation does
not).

- The command line (``jaxredfield ...``) and the example scripts in ``examples/`` turn it on.
- Importing :mod:`jaxredfield` leaves it off (a library should not write to the user's disk
  unasked); call :func:`enable_compilation_cache` to turn it on, or set ``JAXREDFIELD_CACHE=1``
  to have the import do so.
- ``JAXREDFIELD_CACHE=0`` turns it off everywhere, including explicit calls.
- Folder: the ``path`` argument, else ``$JAXREDFIELD_CACHE_DIR``, else
  ``$XDG_CACHE_HOME/jaxredfield/xla`` (``~/.cache/jaxredfield/xla``). The cache is trusted
  code: do not point it at a folder other users can write to. Deleting the folder is safe.
"""

from __future__ import annotations

import os

import jax

_OFF = ("0", "false", "no", "off")
_ON = ("1", "true", "yes", "on")


def _env_switch() -> str | None:
    """'on', 'off' or None (unset / unrecognised) from ``$JAXREDFIELD_CACHE``."""
    v = os.environ.get("JAXREDFIELD_CACHE", "").strip().lower()
    return "off" if v in _OFF else "on" if v in _ON else None


def default_cache_dir() -> str:
    """``$JAXREDFIELD_CACHE_DIR``, else ``$XDG_CACHE_HOME/jaxredfield/xla``, else
    ``~/.cache/jaxredfield/xla``."""
    env = os.environ.get("JAXREDFIELD_CACHE_DIR")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxredfield", "xla")


def enable_compilation_cache(path: str | os.PathLike | None = None, *,
                             min_compile_time_secs: float = 0.0) -> str | None:
    """Turn on JAX's persistent compilation cache for this process; return its folder.

    Args:
        path: cache folder (created if missing). Default: ``$JAXREDFIELD_CACHE_DIR``, else
            ``~/.cache/jaxredfield/xla`` (``$XDG_CACHE_HOME`` respected).
        min_compile_time_secs: programs that compile faster than this are not written
            (JAX's default is 1 s; the default 0 also saves the many sub-second programs a
            solver run compiles, which add up).

    Returns the folder, or None when ``JAXREDFIELD_CACHE=0`` keeps the cache off (then nothing
    is changed). Safe to call more than once; calling it with another folder switches the
    cache to that folder. Only programs compiled after the call are saved or loaded.
    """
    if _env_switch() == "off":
        return None
    folder = os.path.abspath(os.path.expanduser(os.fspath(path))) if path is not None \
        else default_cache_dir()
    os.makedirs(folder, exist_ok=True)
    current = jax.config.jax_compilation_cache_dir
    if current is not None and os.path.abspath(current) != folder:
        # JAX opens its cache once per process; point it at the new folder.
        from jax.experimental.compilation_cache import compilation_cache

        compilation_cache.reset_cache()
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # no size threshold
    jax.config.update("jax_enable_compilation_cache", True)
    return folder


def _enable_on_import() -> None:
    """Called by ``import jaxredfield``: on only when ``JAXREDFIELD_CACHE=1`` asks for it."""
    if _env_switch() == "on":
        enable_compilation_cache()
