"""Checkpoints of a trajectory run: the path check, the fingerprint of the arguments that
determine the results (the method's ``options()`` plus the run's arguments), and the atomic,
data-only ``np.savez`` file of the accumulated :class:`~._statistics.Tally`. Ownership (one run
per path), atomic writes and signals during a save: :mod:`jaxredfield._files`."""

from __future__ import annotations

import hashlib
import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from .._files import FileInUseError, SaveError, atomic_savez
from ._statistics import ARRAYS, Tally

#: /2: signed runs (nneg); /3: per-method fingerprint; /4: fingerprint from the method object
FORMAT = "jaxredfield.mcsolve.checkpoint/4"
#: test-only hook: called as ``after_write_hook(n_chunks_written)`` after each chunk's write
after_write_hook = None


def check_path(path) -> str:
    """The `checkpoint` path as a string, checked before any work: not a folder, in an
    existing folder that this process can write to (process 0, the writer, probes it by
    creating and removing a temporary file there)."""
    try:
        path = os.fspath(path)
    except TypeError as err:
        raise TypeError(f"`checkpoint` must be None or a file path, got {type(path).__name__}") from err
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path or os.path.isdir(path):
        raise ValueError(f"`checkpoint` must be a file path, got the folder {path!r}; "
                         "pass e.g. os.path.join(folder, 'run.npz')")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(
            f"`checkpoint` {path!r} is in the folder {folder!r}, which does not exist; create it "
            "(os.makedirs(folder, exist_ok=True)) or pass a path in an existing folder"
        )
    if jax.process_index() == 0:
        try:
            fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
            os.close(fd)
            os.remove(tmp)
        except OSError as err:
            raise ValueError(
                f"`checkpoint` {path!r}: cannot write to its folder {folder!r} "
                f"({type(err).__name__}: {err}); pass a path in a writable folder"
            ) from err
    return path


def _digest(*trees):
    h = hashlib.sha256()

    def add_bytes(tag, b):
        h.update(tag.encode() + b"\x00" + len(b).to_bytes(8, "little") + b)

    for t, tree in enumerate(trees):
        leaves, treedef = jax.tree_util.tree_flatten(tree)
        add_bytes(f"{t}.treedef", str(treedef).encode())
        for n, x in enumerate(leaves):
            a = np.ascontiguousarray(np.asarray(x))
            add_bytes(f"{t}.{n}", f"{a.dtype.str}{a.shape}".encode() + a.tobytes())
    return h.hexdigest()


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
    parts = {"eq": _digest(eq), "psi0": _digest(psi0), "tsave": _digest(tsave),
             "e_ops": _digest(tuple(ops)), "key": _digest(key_tree)}
    parts.update({k: _digest(np.asarray(repr(v))) for k, v in scalars.items()})
    h = hashlib.sha256(FORMAT.encode())
    for k in sorted(parts):
        h.update(f"\x00{k}={parts[k]}".encode())
    return h.hexdigest(), parts


def load(path, fingerprint) -> Tally | None:
    """The saved tally, or None when ``path`` does not exist. ``fingerprint``: the
    (digest, parts) pair of :func:`fingerprint`."""
    if not os.path.exists(path):
        return None
    fingerprint, parts = fingerprint
    try:
        with np.load(path, allow_pickle=False) as z:
            st = {k: z[k] for k in z.files}
        fmt, fp = str(st["format"]), str(st["fingerprint"])
        tally = Tally(done=int(st["done"]), complete=bool(st["complete"]),
                      **{k: np.asarray(st[k]) for k in ARRAYS})
        saved_parts = dict(str(x).split("=", 1) for x in st.get("fingerprint_parts", np.zeros(0, str)))
    except Exception as err:  # noqa: BLE001 - any failure to read means corruption
        raise ValueError(
            f"checkpoint file {path!r} is corrupted or unreadable ({type(err).__name__}: {err}); "
            "delete it (or pass another `checkpoint` path) to start the run afresh"
        ) from err
    if fmt != FORMAT:
        older = fmt.startswith(FORMAT.rsplit("/", 1)[0] + "/")
        raise ValueError(
            f"checkpoint file {path!r} "
            + ("was written by another version of jaxredfield" if older else "is corrupted or unreadable")
            + f" (format {fmt!r}, expected {FORMAT!r}); delete it (or pass another "
            "`checkpoint` path) to start the run afresh"
        )
    if fp != fingerprint:
        differ = sorted(k for k in set(parts) | set(saved_parts) if parts.get(k) != saved_parts.get(k))
        raise ValueError(
            f"checkpoint file {path!r} belongs to a different run (its arguments differ from "
            f"this call's: {', '.join(differ) or 'equation, psi0, tsave, e_ops, key or options'}); "
            "it was left untouched. Pass another `checkpoint` path or delete the file."
        )
    return tally


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
        atomic_savez(path, format=np.asarray(FORMAT), fingerprint=np.asarray(digest),
                     fingerprint_parts=np.asarray([f"{k}={v}" for k, v in sorted(parts.items())]),
                     done=np.asarray(tally.done, np.int64),
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
