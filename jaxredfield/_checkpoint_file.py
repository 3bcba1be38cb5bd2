"""Checkpoint files of any solver (``mcsolve``'s trajectories, ``steadystate``'s MPS
relaxation): the `checkpoint` path check, the fingerprint of the arguments that determine a
run's results, and reading a checkpoint back with its format and fingerprint checked. Each
solver writes its own arrays beside ``format``, ``fingerprint`` and ``fingerprint_parts``
with :func:`jaxredfield._files.atomic_savez` while owning the path
(:class:`jaxredfield._files.Owner`); files hold data only (``allow_pickle=False``)."""

from __future__ import annotations

import hashlib
import os
import tempfile

import jax
import numpy as np


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


def digest(*trees) -> str:
    """SHA-256 of pytrees: their structure, and every leaf's dtype, shape and bytes."""
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


def fingerprint(fmt: str, arrays: dict, scalars: dict):
    """(fingerprint, parts): the SHA-256 of each argument by name (``arrays``: pytrees,
    :func:`digest`; ``scalars``: by their ``repr``), and one SHA-256 over the file format
    ``fmt`` and those."""
    parts = {k: digest(v) for k, v in arrays.items()}
    parts.update({k: digest(np.asarray(repr(v))) for k, v in scalars.items()})
    h = hashlib.sha256(fmt.encode())
    for k in sorted(parts):
        h.update(f"\x00{k}={parts[k]}".encode())
    return h.hexdigest(), parts


def header(fmt: str, fingerprint) -> dict:
    """The arrays every checkpoint file holds beside its own: format and fingerprint."""
    digest_, parts = fingerprint
    return {"format": np.asarray(fmt), "fingerprint": np.asarray(digest_),
            "fingerprint_parts": np.asarray([f"{k}={v}" for k, v in sorted(parts.items())])}


def read(path, fmt: str, fingerprint, what: str = "equation, initial state or options") -> dict | None:
    """The arrays of the checkpoint file at ``path`` (None when there is none), after checking
    that it is readable, of format ``fmt`` and of this run (``fingerprint``: the pair of
    :func:`fingerprint`); a ``ValueError`` naming the file, what differs and the fix
    otherwise (the file is left untouched)."""
    if not os.path.exists(path):
        return None
    fingerprint, parts = fingerprint
    try:
        with np.load(path, allow_pickle=False) as z:
            st = {k: z[k] for k in z.files}
        saved, fp = str(st["format"]), str(st["fingerprint"])
        saved_parts = dict(str(x).split("=", 1) for x in st.get("fingerprint_parts", np.zeros(0, str)))
    except Exception as err:  # noqa: BLE001 - any failure to read means corruption
        raise ValueError(
            f"checkpoint file {path!r} is corrupted or unreadable ({type(err).__name__}: {err}); "
            "delete it (or pass another `checkpoint` path) to start the run afresh"
        ) from err
    if saved != fmt:
        older = saved.startswith(fmt.rsplit("/", 1)[0] + "/")
        raise ValueError(
            f"checkpoint file {path!r} "
            + ("was written by another version of jaxredfield" if older
               else "was written by another solver" if saved.startswith("jaxredfield.")
               else "is corrupted or unreadable")
            + f" (format {saved!r}, expected {fmt!r}); delete it (or pass another "
            "`checkpoint` path) to start the run afresh"
        )
    if fp != fingerprint:
        differ = sorted(k for k in set(parts) | set(saved_parts) if parts.get(k) != saved_parts.get(k))
        raise ValueError(
            f"checkpoint file {path!r} belongs to a different run (its arguments differ from "
            f"this call's: {', '.join(differ) or what}); "
            "it was left untouched. Pass another `checkpoint` path or delete the file."
        )
    return st


__all__ = ["check_path", "digest", "fingerprint", "header", "read"]
