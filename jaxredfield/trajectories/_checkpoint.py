"""Checkpoints of a trajectory run: the fingerprint of the arguments that determine the
results (the method's ``options()`` plus the run's arguments), and the atomic, data-only ``np.savez`` file of the accumulated :class:`~._statistics.Tally`. Ownership (one run
per path), atomic writes and signals during a save: :mod:`jaxredfield._files`; the path
check, digests and the checked read: :mod:`jaxredfield._checkpoint_file`."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checkpoint_file as _file
from .._files import FileInUseError, SaveError, atomic_savez
from ._statistics import ARRAYS, Tally

#: /2: signed runs (nneg); /3: per-method fingerprint; /4: fingerprint from the method object
FORMAT = "jaxredfield.mcsolve.checkpoint/4"
#: test-only hook: called as ``after_write_hook(n_chunks_written)`` after each chunk's write
after_write_hook = None


def fingerprint(eq, psi0, tsave, ntraj, batch_size, key, ops, method, dtype, keep_trajectories,
                keep_final_states):
    """(fingerprint, parts): SHA-256 of each argument that determines the results of a run, by
    argument name, and one SHA-256 over the format and those. Of the method only its name and
    ``method.options()`` enter (``Chebyshev``: atol; ``Diffrax``: solver, rtol, atol,
    max_steps), each under its field name. ``batch_size`` enters because it fixes the chunk
    boundaries, hence the order of the float64 accumulation of means (a resume is bitwise
    identical to an uninterrupted run); ``progress`` and ``max_trace_error`` do not change
    what is computed and stay out."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key_tree = (str(jax.random.key_impl(key)), jax.random.key_data(key))
    else:
        key_tree = key
    scalars = {"ntraj": int(ntraj), "batch_size": int(batch_size), "dtype": np.dtype(dtype).str,
               "keep_trajectories": bool(keep_trajectories),
               "keep_final_states": bool(keep_final_states), "method": type(method).__name__}
    scalars.update(method.options())
    arrays = {"eq": eq, "psi0": psi0, "tsave": tsave, "e_ops": tuple(ops), "key": key_tree}
    return _file.fingerprint(FORMAT, arrays, scalars)


def load(path, fingerprint) -> Tally | None:
    """The saved tally, or None when ``path`` does not exist. ``fingerprint``: the
    (digest, parts) pair of :func:`fingerprint`."""
    st = _file.read(path, FORMAT, fingerprint, "equation, psi0, tsave, e_ops, key or options")
    if st is None:
        return None
    try:
        return Tally(done=int(st["done"]), complete=bool(st["complete"]),
                     **{k: np.asarray(st[k]) for k in ARRAYS})
    except Exception as err:  # noqa: BLE001 - any failure to read means corruption
        raise ValueError(
            f"checkpoint file {path!r} is corrupted or unreadable ({type(err).__name__}: {err}); "
            "delete it (or pass another `checkpoint` path) to start the run afresh"
        ) from err


def on_disk(path):
    """(fingerprint, finished trajectories) of the checkpoint file at ``path``, or None when
    there is none (or it cannot be read)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return str(z["fingerprint"]), int(z["done"])
    except Exception:  # noqa: BLE001 - missing or unreadable: nothing of this run to protect
        return None


def save(path, fingerprint, tally: Tally, ntraj: int):
    """Atomic write of the tally and its fingerprint (:func:`jaxredfield._files.atomic_savez`),
    after checking that the file on disk is still this run's. Raises
    :class:`~jaxredfield._files.FileInUseError` when another run's file replaced it (it is left
    as it is) and :class:`~jaxredfield._files.SaveError` (an ``OSError``) when the write fails,
    naming what the intact file on disk holds and how to resume."""
    digest, parts = fingerprint
    disk = on_disk(path)
    if disk is not None and disk[0] != digest:
        raise FileInUseError(
            f"checkpoint {path!r} was replaced by another run's file while this run was going "
            f"(it holds {disk[1]} trajectories of other arguments); it was left as it is and "
            "this run stops. Give each run its own `checkpoint` path.")
    try:
        atomic_savez(path, **_file.header(FORMAT, fingerprint), done=np.asarray(tally.done, np.int64),
                     complete=np.asarray(tally.complete, bool),
                     **{k: getattr(tally, k) for k in ARRAYS})
    except SaveError as err:
        kept = 0 if disk is None else disk[1]
        raise SaveError(
            err.errno,
            f"mcsolve could not save the checkpoint {path!r} ({err.__cause__}); the file on disk "
            + (f"still holds {kept} of {ntraj} finished trajectories and is intact"
               if disk is not None else "does not exist yet (no chunk was saved)")
            + f" ({tally.done - kept} computed trajectories were not saved). Free space or fix the "
            "folder, then call mcsolve again with the same arguments to resume from the file."
        ) from err
