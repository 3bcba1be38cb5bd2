r"""Every core: the chunks of a run (trajectories, the points of a parameter sweep) computed by
helper processes, one per usable core (issue 25, items 1 and 2). The floor of the package
(imports nothing of it at module level; the helpers import :mod:`jaxredfield`).

Why processes: XLA:CPU runs one trajectory's loop (small kernels, data-dependent control flow)
on about one core, and neither vmapped lanes (a lane pays for the others' branches) nor
several host devices in one process (the lanes' loop synchronizes every step) turn a second
core into throughput (measured: ``default_batch_size``, issue 25). Independent processes, each
pinned to its own core, do: each runs whole chunks with the same compiled program.

Design:

- ``workers = 1``: this process computes every chunk (as before). A run of one chunk is
  computed in this process whatever ``workers`` (helpers would first start and compile), its
  items split over ``workers`` threads when the caller can join their results
  (:func:`compute_split`: mcsolve with one lane per chunk, the CPU default; a compiled
  program runs without the GIL). ``workers = n > 1``: n
  helper processes compute, each pinned (``os.sched_setaffinity``, before it imports JAX, so
  its thread pools have one thread) to its own core of ``os.sched_getaffinity(0)``, so
  workers x threads never exceeds the usable cores; this process only hands out chunks and
  accumulates (an unpinned computing caller beside pinned helpers was measured 6x slower: its
  XLA thread pool waits for threads the helpers' cores run). The default is every usable core
  on a CPU backend (one process on accelerators and when chunks are already split over JAX
  devices or ``jax.distributed`` processes); ``mcsolve(workers=n)`` or
  ``JAXREDFIELD_WORKERS=n`` caps it.
- Helpers are started as ``python -c "...; _serve()"`` (no re-import of the caller's
  ``__main__``: safe in scripts without a main guard and in notebooks), in their own session
  (Ctrl-C goes to the caller only), and exit when the caller's pipe closes (also when the
  caller is killed). They stay alive between calls and keep their compiled programs: the first
  call pays their start (import and compilation on one core each), a repeated run with the
  same shapes compiles nothing new.
- The problem (``(func, args)``: for mcsolve the keys, initial state, propagator,
  unravelling and operators; for :func:`jaxredfield.sweep` the function -- its import
  path, or ``jax.jit`` of it exported as a StableHLO program -- and its values) is written once per run to a temp file as **data**
  (:func:`_encode` with ``refs``: arrays, numbers, and the package's functions and equinox
  Modules named by import path with their fields as data; nothing is unpickled, no Python code
  travels); a helper loads it only when its SHA-256 matches the digest in an
  HMAC-authenticated message (the wire below); a chunk is named by its first trajectory.
  Messages and results travel as data too (a JSON header and the arrays' bytes). A helper holds one chunk
  until it has returned one (compiled), then up to two; when nothing is left to hand out, a
  chunk held by a helper still compiling is given to a warm one too, and an idle warm helper
  takes over the chunk queued behind another helper's current one (the tail of a run), which
  is cancelled there: a helper reads every waiting message before it starts a chunk and skips
  a cancelled one. Where both computed a chunk the first result is used (they are identical);
  chunks still queued when a run ends are cancelled, so the next run finds its cores free. Results are accepted **in chunk order**, so the accumulation, the
  checkpoints and every number are the same as with one process (trajectory n uses
  ``fold_in(key, n)``; the same compiled program on the same CPU; tested bitwise).
- A helper that dies (killed, out of memory) is dropped with a warning and its chunks are
  computed by the others; an error inside a helper is raised here with its traceback.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import hmac
import io
import os
import secrets
import selectors
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import types
import uuid
import warnings

ENV = "JAXREDFIELD_WORKERS"
#: chunks a helper holds at once (the next one is waiting while it computes)
DEPTH = 2
#: memory a helper needs besides its lanes (the JAX runtime and compiled programs), bytes
HELPER_BASE_BYTES = 600 * 2**20


def usable_cores() -> list:
    """The cores this process may run on (``os.sched_getaffinity``; all CPUs elsewhere)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def _available_memory() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:  # pragma: no cover
        pass
    return None


def resolve_workers(workers, *, cpu: bool, multi_process: bool, bytes_per_worker: float) -> int:
    """How many processes compute chunks (per ``jax.distributed`` process: each uses its own
    cores): ``workers`` if given (checked against the usable cores), else
    ``$JAXREDFIELD_WORKERS``, else every usable core on a CPU backend; 1 on an accelerator or when
    the chunks are already split over several JAX devices of one program (``multi_process``).
    Reduced, with a warning, when the helpers would not fit in the available memory."""
    cores = len(usable_cores())
    source = "`workers`"
    if workers is None:
        env = os.environ.get(ENV, "").strip()
        if env:
            source = f"${ENV}"
            try:
                workers = int(env)
            except ValueError:
                raise ValueError(f"${ENV} must be a positive integer (processes computing trajectories), "
                                 f"got {env!r}") from None
        else:
            workers = cores if cpu and not multi_process else 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"{source} must be a positive integer (processes computing trajectories), got {workers!r}")
    if workers > cores:
        raise ValueError(
            f"{source} = {workers} exceeds the {cores} cores this process may use "
            f"(os.sched_getaffinity); pass at most {cores}, or None for all of them")
    if workers > 1 and (not cpu or multi_process):
        raise ValueError(
            f"{source} = {workers}: helper processes run on a CPU backend in a single-process run; "
            + ("on an accelerator the lanes (`batch_size`) use the device" if not cpu else
               "this run's chunks are already split over several JAX devices or jax.distributed "
               "processes (start one process per core instead)")
            + "; pass workers=1 or None")
    avail = _available_memory()
    if workers > 1 and avail is not None:
        fit = 1 + int(0.8 * avail // (HELPER_BASE_BYTES + bytes_per_worker))
        if fit < workers:
            warnings.warn(
                f"{workers} worker processes would need ~"
                f"{(workers - 1) * (HELPER_BASE_BYTES + bytes_per_worker) / 2**30:.1f} GiB beside this one, "
                f"more than the {avail / 2**30:.1f} GiB available; using {max(fit, 1)}. Pass a smaller "
                f"`workers` or `batch_size` to choose.", RuntimeWarning, stacklevel=3)
            workers = max(fit, 1)
    return workers


# --- one chunk, the same code in this process and in a helper -----------------------------

def compute_chunk(problem, start: int, m: int):
    """``func(args, start, m)`` of ``problem = (func, args)``: items start ... start + m - 1 of a
    run (``func`` a module-level function, so a helper finds it by name)."""
    func, args = problem
    return func(args, start, m)


def compute_split(problem, start: int, m: int, threads: int = 1, merge=None):
    """:func:`compute_chunk` in this process; with ``threads`` > 1 and ``merge``, its m items
    split into min(threads, m) contiguous ranges computed by as many threads, their results
    joined by ``merge`` (a list of results in item order -> one). A compiled JAX program runs
    without the GIL, and JAX traces and compiles a function once when several threads call it
    first together, so a run too small for helper processes (one chunk: their start and
    compilation would cost more than the chunk) still uses every core: measured, the first
    call of 2 MPS trajectories at L = 200 (``benchmarks/bench_compile.py``). The same
    results as one call: each item's arithmetic does not depend on the others of its range
    (mcsolve merges only one-lane chunks, whose trajectories are independent programs)."""
    n = min(int(threads), int(m)) if merge is not None else 1
    if n <= 1:
        return compute_chunk(problem, start, m)
    import threading

    cuts = [start + (m * i) // n for i in range(n + 1)]
    out, errors = [None] * n, []

    def work(i):
        try:
            out[i] = compute_chunk(problem, cuts[i], cuts[i + 1] - cuts[i])
        except BaseException as e:  # raised in the caller below
            errors.append(e)

    # daemon threads: an interrupted caller does not wait for them at exit
    ts = [threading.Thread(target=work, args=(i,), daemon=True, name=f"jaxredfield-chunk-{i}")
          for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise errors[0]
    return merge(out)


# --- the wire: authenticated, length-prefixed, data-only messages over pipes ---------------
# A message is data: strings, numbers, None, arrays and tuples/lists/dicts of them, encoded as
# a JSON header plus the arrays' raw bytes (:func:`_encode`; nothing is unpickled, no code
# travels). Every message also carries an HMAC-SHA256 under a key the parent gives the helper
# as the first bytes of its stdin (an anonymous pipe). The problem file is data of the same
# kind plus references (functions and equinox Modules of this package or diffrax, by import
# path); a helper loads it only when its SHA-256 matches the digest in an authenticated message.

KEY_BYTES = 32


class WireError(ValueError):
    """A message that is not authenticated or not data (refused, never decoded)."""


def _encode(msg, dry: bool = False, refs: bool = False) -> bytes:
    """``msg`` (str, int, float, complex, bool, None, NumPy/JAX arrays and scalars, and tuples,
    lists, dicts with str/int keys of these) as bytes: an 8-byte header length, a JSON header
    describing the structure, the arrays' bytes. TypeError for anything else (``dry``: only
    this check, nothing copied). ``refs`` (the problem file): also JAX PRNG keys, functions of
    this package and ``equinox.Module`` objects of this package or diffrax, each named by its
    import path with its fields as data (:func:`_ref_name`); no code travels."""
    import json

    import numpy as np

    bufs, offset = [], 0

    def enc(x):
        nonlocal offset
        if refs:
            r = _enc_ref(x, enc)
            if r is not None:
                return r
        if x is None or isinstance(x, (bool, str)):
            return x
        if isinstance(x, int) and not isinstance(x, np.generic):
            return {"t": "i", "v": str(x)}  # any size, exactly
        if isinstance(x, float):
            return {"t": "f", "v": x.hex()}  # exact, inf and nan included
        if isinstance(x, complex):
            return {"t": "c", "v": [x.real.hex(), x.imag.hex()]}
        if type(x) in (tuple, list):  # exactly: a namedtuple would arrive as a tuple
            return {"t": "tuple" if isinstance(x, tuple) else "list", "v": [enc(y) for y in x]}
        if type(x) is dict:
            if not all(type(k) in (str, int) for k in x):
                raise TypeError("a dict sent between processes needs str or int keys")
            return {"t": "dict", "k": [enc(k) for k in x], "v": [enc(y) for y in x.values()]}
        if hasattr(x, "__array__") and not isinstance(x, type):
            a = np.asarray(x)
            if a.dtype.hasobject or a.dtype.fields is not None:
                raise TypeError(f"arrays of dtype {a.dtype} cannot be sent between processes")
            data = b"" if dry else np.ascontiguousarray(a).tobytes()
            bufs.append(data)
            out = {"t": "a", "d": a.dtype.str, "s": list(a.shape), "o": offset, "n": len(data),
                   "g": isinstance(x, np.generic), "j": refs and not isinstance(x, (np.ndarray, np.generic))}
            offset += len(data)
            return out
        raise TypeError(f"a {type(x).__name__} cannot be sent between processes: only arrays, "
                        "numbers, strings, None and plain tuples/lists/dicts of them")

    tree = enc(msg)
    if dry:
        return b""
    head = json.dumps(tree, separators=(",", ":")).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(bufs)


#: packages whose functions and equinox Modules a problem file may name (by import path)
REF_PACKAGES = ("jaxredfield", "diffrax")


def _ref_name(obj) -> tuple[str, str]:
    """(module, qualname) of a module-level function or class of :data:`REF_PACKAGES`;
    TypeError otherwise."""
    m, q = getattr(obj, "__module__", None) or "", getattr(obj, "__qualname__", "")
    if m.split(".")[0] not in REF_PACKAGES or "<" in q:
        raise TypeError(f"{obj!r} cannot be sent between processes: a helper runs only functions "
                        f"and classes of {'/'.join(REF_PACKAGES)} named by their import path")
    return m, q


def import_name(m: str, q: str):
    """The object of qualified name ``q`` in module ``m`` (imported)."""
    import importlib

    obj = importlib.import_module(m)
    for part in q.split("."):
        obj = getattr(obj, part)
    return obj


def _resolve(m: str, q: str):
    """The object named (module ``m``, qualname ``q``), only inside :data:`REF_PACKAGES`."""
    if m.split(".")[0] not in REF_PACKAGES or "<" in q:
        raise WireError(f"{m}:{q} is not a function or class of {'/'.join(REF_PACKAGES)}: refused")
    obj = import_name(m, q)
    if (getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)) != (m, q):
        raise WireError(f"{m}:{q} names an alias, not the object itself: refused")
    return obj


def _enc_ref(x, enc):
    """The problem file's items beyond plain data (None when ``x`` is plain data): a PRNG key
    array (its impl and data), a function (by name) or an equinox Module (class by name,
    fields as data)."""

    import equinox as eqx
    import jax

    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(x)
        return {"t": "key", "impl": getattr(impl, "name", str(impl)), "v": enc(jax.random.key_data(x))}
    if isinstance(x, types.FunctionType):
        m, q = _ref_name(x)
        return {"t": "fn", "m": m, "q": q}
    if isinstance(x, eqx.Module):
        m, q = _ref_name(type(x))
        fields = [f.name for f in dataclasses.fields(x)]
        return {"t": "mod", "m": m, "q": q, "k": fields, "v": [enc(getattr(x, f)) for f in fields]}
    return None


def _dec_ref(x, dec):
    """The object of :func:`_enc_ref`'s item ``x``; a Module is rebuilt field by field (no
    ``__init__`` runs: the fields are those of a valid object of the parent)."""

    import equinox as eqx
    import jax

    t = x["t"]
    if t == "key":
        return jax.random.wrap_key_data(dec(x["v"]), impl=str(x["impl"]))
    obj = _resolve(x["m"], x["q"])
    if t == "fn":
        if not isinstance(obj, types.FunctionType):
            raise WireError(f"{x['m']}:{x['q']} is not a function: refused")
        return obj
    if not (isinstance(obj, type) and issubclass(obj, eqx.Module)):
        raise WireError(f"{x['m']}:{x['q']} is not an equinox Module: refused")
    names = [f.name for f in dataclasses.fields(obj)]
    if list(x["k"]) != names:
        raise WireError(f"fields of {x['m']}:{x['q']} differ here: refused")
    out = object.__new__(obj)
    for k, v in zip(names, x["v"]):
        object.__setattr__(out, k, dec(v))
    return out


def _decode(data: bytes, refs: bool = False):
    """The message of :func:`_encode` (WireError if the bytes are not such a message; ``refs``:
    as :func:`_encode`'s, the problem file's references resolved by :func:`_dec_ref`)."""
    import json

    import numpy as np

    try:
        n = struct.unpack("<Q", data[:8])[0]
        head, body = json.loads(data[8:8 + n]), memoryview(data)[8 + n:]
    except (struct.error, ValueError) as e:
        raise WireError(f"not a message: {e}") from None

    def dec(x):
        if not isinstance(x, dict):
            return x
        t = x["t"]
        if t == "i":
            return int(x["v"])
        if t == "f":
            return float.fromhex(x["v"])
        if t == "c":
            return complex(float.fromhex(x["v"][0]), float.fromhex(x["v"][1]))
        if t in ("tuple", "list"):
            items = [dec(y) for y in x["v"]]
            return tuple(items) if t == "tuple" else items
        if t == "dict":
            return {dec(k): dec(y) for k, y in zip(x["k"], x["v"])}
        if t == "a":
            dt = np.dtype(x["d"])
            if dt.hasobject:
                raise WireError("object arrays are refused")
            a = np.frombuffer(body[x["o"]:x["o"] + x["n"]], dtype=dt).reshape(x["s"]).copy()
            if x.get("j") and refs:  # a JAX array in the parent: the same here
                import jax.numpy as jnp

                return jnp.asarray(a)
            return a[()] if x["g"] else a
        if refs and t in ("key", "fn", "mod"):
            return _dec_ref(x, dec)
        raise WireError(f"unknown item {t!r}")

    try:
        return dec(head)
    except (KeyError, TypeError, ValueError, AttributeError, ImportError) as e:
        raise WireError(f"malformed message: {e}") from None


def _send(f, msg, key: bytes, data: bytes | None = None):
    """Send ``msg`` (or its encoding ``data``, when already made)."""
    data = _encode(msg) if data is None else data
    mac = hmac.new(key, data, hashlib.sha256).digest()
    f.write(struct.pack("<Q", len(data)) + mac + data)
    f.flush()


def _recv(f, key: bytes):
    head = f.read(8 + 32)
    if len(head) < 40:
        raise EOFError
    n = struct.unpack("<Q", head[:8])[0]
    data = f.read(n)
    if len(data) < n:
        raise EOFError
    if not hmac.compare_digest(head[8:], hmac.new(key, data, hashlib.sha256).digest()):
        raise WireError("message not authenticated (wrong HMAC): refused, not decoded")
    return _decode(data)


def _load_problem(path: str, digest: str):
    """The problem written at ``path`` (``_encode(problem, refs=True)``), only if its SHA-256
    is ``digest``."""
    with open(path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != digest:
        raise WireError(f"problem file {path!r} does not match its digest: refused")
    return _decode(data, refs=True)


class _Helper:
    """One helper process pinned to ``core``."""

    def __init__(self, core: int):
        self.core = core
        self.log = tempfile.TemporaryFile()
        env = dict(os.environ)
        env[ENV] = "1"  # no helpers of helpers
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        import jax

        cache = jax.config.jax_compilation_cache_dir if jax.config.jax_enable_compilation_cache else None
        if cache:  # the caller's persistent cache: a helper may reuse what is compiled there
            env["JAXREDFIELD_CACHE"], env["JAXREDFIELD_CACHE_DIR"] = "1", str(cache)
        # pinned before anything imports JAX (its thread pools follow the affinity); no
        # preexec_fn: a fork of this multithreaded process is what JAX warns against
        boot = (f"import os; os.sched_setaffinity(0, {{{int(core)}}}); "
                "from jaxredfield._pool import _serve; _serve()")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", boot], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, env=env, start_new_session=True)
        self.key = secrets.token_bytes(KEY_BYTES)
        self.proc.stdin.write(self.key)  # the helper's first read: its message key
        self.proc.stdin.flush()
        self.run_id = None
        self.held = collections.deque()  # chunk starts sent and not yet returned
        self.cancelled = set()  # of the current run

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def submit(self, run_id, problem, start, m):
        """``problem`` = (path, SHA-256 of the file)."""
        if self.run_id != run_id:
            _send(self.proc.stdin, ("problem", run_id) + tuple(problem), self.key)
            self.run_id = run_id
        _send(self.proc.stdin, ("chunk", run_id, start, m), self.key)
        self.held.append(start)

    def cancel(self, run_id, start):
        """Skip chunk ``start`` if it has not started (the helper answers "skipped"; one that
        has started is finished and answered as usual)."""
        if start not in self.cancelled:
            self.cancelled.add(start)
            try:
                _send(self.proc.stdin, ("cancel", run_id, start), self.key)
            except (OSError, ValueError):  # it died meanwhile: seen by collect
                pass

    def stderr_tail(self, n=2000) -> str:
        try:
            self.log.seek(0)
            return self.log.read().decode(errors="replace")[-n:]
        except (OSError, ValueError):
            return ""

    def stop(self):
        try:
            if self.alive():
                self.proc.stdin.close()  # EOF: the helper exits
                self.proc.wait(timeout=5)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.log):
            try:
                f.close()
            except (OSError, ValueError):
                pass


class Pool:
    """The helpers of this process, kept between runs (:func:`pool`)."""

    def __init__(self):
        self.helpers: list = []
        self.problem_file = None

    def set_problem_file(self, path):
        """The current run's problem file; the previous one is removed."""
        if self.problem_file and os.path.exists(self.problem_file):
            os.remove(self.problem_file)
        self.problem_file = path

    def resize(self, n_helpers: int) -> list:
        """``n_helpers`` live helpers, each on its own usable core."""
        self.helpers = [h for h in self.helpers if h.alive() or h.stop()]
        cores = usable_cores()
        while len(self.helpers) > n_helpers:
            self.helpers.pop().stop()
        used = {h.core for h in self.helpers}
        free = [c for c in cores if c not in used]
        while len(self.helpers) < n_helpers and free:
            self.helpers.append(_Helper(free.pop(0)))
        return self.helpers

    def shutdown(self):
        while self.helpers:
            self.helpers.pop().stop()
        self.set_problem_file(None)


_POOL = None


def pool() -> Pool:
    global _POOL
    if _POOL is None:
        import atexit

        _POOL = Pool()
        atexit.register(_POOL.shutdown)
    return _POOL


def run(problem, starts, count, workers: int, accept, stats: dict | None = None, merge=None):
    """Compute the chunks ``starts`` (chunk s holds ``count(s)`` items) with ``workers``
    processes and call ``accept(s, result)`` in the order of ``starts``; ``result`` as
    :func:`compute_chunk`. ``stats`` (optional) gets ``chunks_by_helpers``. ``merge``
    (optional): joins the results of consecutive item ranges into the result of their union
    (then a run of one chunk is split over ``workers`` threads here, :func:`compute_split`)."""
    starts = list(starts)
    # one chunk: computed here -- a helper would pay its start and compilation (on one core)
    # for work this process can start at once
    # (measured: the first call of a 2-trajectory MPS run at L = 200, 20.1 s in a helper,
    # 15.0 s here)
    n_helpers = min(workers, len(starts)) if workers > 1 and len(starts) > 1 else 0
    if not n_helpers:
        threads = workers if merge is not None and len(starts) == 1 else 1
        for s in starts:
            accept(s, compute_split(problem, s, count(s), threads, merge))
        if stats is not None:
            stats["threads"] = min(threads, count(starts[0])) if starts else 1
        return
    the_pool = pool()
    helpers = the_pool.resize(n_helpers)
    run_id = uuid.uuid4().hex
    fd, path = tempfile.mkstemp(prefix="jaxredfield-problem-", suffix=".bin")
    # kept until the next run: a helper may still read it for a chunk of this run it holds
    the_pool.set_problem_file(path)
    sel = selectors.DefaultSelector()
    ok = False
    try:
        blob = _encode(problem, refs=True)
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        path = (path, hashlib.sha256(blob).hexdigest())  # what submit sends
        for h in helpers:
            h.held.clear()
            h.cancelled.clear()
            sel.register(h.proc.stdout, selectors.EVENT_READ, h)
        pending = collections.deque(starts)
        needed = set(starts)  # not yet computed (by anyone)
        done, order = {}, collections.deque(starts)
        warm = set()  # helpers that returned a chunk (compiled): they hold up to DEPTH

        def flush():
            while order and order[0] in done:
                s = order.popleft()
                accept(s, done.pop(s))

        def drop(h, why):
            sel.unregister(h.proc.stdout)
            helpers.remove(h)
            warm.discard(h)
            lost = sorted(s for s in h.held if s in needed)
            warnings.warn(f"helper process {h.pid} (core {h.core}) {why}; its "
                          f"{len(lost)} chunk(s) are computed by the others", RuntimeWarning, stacklevel=4)
            pending.extendleft(reversed(lost))
            h.held.clear()
            h.stop()

        def collect(timeout):
            for sk, _ in sel.select(timeout):
                h = sk.data
                try:
                    msg = _recv(h.proc.stdout, h.key)
                except (EOFError, OSError, WireError):
                    drop(h, f"stopped (exit status {h.proc.wait()})")
                    continue
                kind, rid, s = msg[:3]
                if rid != run_id:  # a chunk of an earlier run that was still queued there
                    continue
                if kind == "error":
                    raise RuntimeError(f"helper process {h.pid} failed on the chunk starting at "
                                       f"item {s}:\n{msg[3]}")
                h.held.remove(s)
                if kind == "skipped":  # cancelled before it started: another helper returned it
                    continue
                chunk_time.append(time.perf_counter() - sent[s])  # the fastest: a compiled helper's
                warm.add(h)
                if s in needed:  # else this process computed it meanwhile (identical)
                    needed.discard(s)
                    done[s] = msg[3]
                    tally["chunks_by_helpers"] += 1
                    for o in helpers:  # a copy queued elsewhere is not started
                        if o is not h and s in o.held:
                            o.cancel(run_id, s)

        def compute_here(s):
            if s in needed:
                needed.discard(s)
                done[s] = compute_chunk(problem, s, count(s))

        tally = {"chunks_by_helpers": 0}
        sent, chunk_time = {}, []  # when each chunk was handed out; warm chunks' durations
        while order:
            for h in list(helpers):
                while pending and len(h.held) < (DEPTH if h in warm else 1) and h.alive():
                    s = pending.popleft()
                    try:
                        h.submit(run_id, path, s, count(s))
                        sent[s] = time.perf_counter()
                    except (OSError, ValueError):
                        pending.appendleft(s)
                        drop(h, "could not be reached")
                        break
            # chunks that only a helper still starting (importing, compiling) holds
            cold = sorted(s for h in helpers if h not in warm for s in h.held if s in needed
                          and not any(s in w.held for w in warm))
            if not helpers:  # every helper gone: the rest here
                if pending:
                    compute_here(pending.popleft())
            else:
                # the helpers compute; nothing left to hand out: a warm helper with room also
                # takes a chunk that a cold one has held for more than twice a warm chunk's time
                now = time.perf_counter()
                slow = [s for s in cold if chunk_time and now - sent[s] > 2 * min(chunk_time) + 0.5]
                # the tail: a warm helper with nothing to do takes over the chunk waiting
                # (not yet started) behind another helper's current one; that one is told to
                # skip it (if it has started it meanwhile, the first result is used)
                queued = {h.held[-1]: h for h in helpers if len(h.held) > 1 and h.held[-1] in needed
                          and h.held[-1] not in h.cancelled}
                for s in (slow + list(queued)) if warm and not pending else ():
                    w = min(warm, key=lambda h: len(h.held))
                    if (len(w.held) < DEPTH if s in slow else not w.held) and s not in w.held:
                        try:
                            w.submit(run_id, path, s, count(s))
                            sent[s] = now
                        except (OSError, ValueError):  # it died meanwhile: seen by collect
                            continue
                        if s in queued:
                            queued[s].cancel(run_id, s)
                collect(0.2)
            flush()
        for h in helpers:  # copies still queued in a helper would delay the next run
            for s in list(h.held):
                h.cancel(run_id, s)
        ok = True
    finally:
        sel.close()
        if not ok:  # interrupted or failed: helpers may hold work of this run; start afresh
            pool().shutdown()
    if stats is not None:
        stats.update(tally)


def run_spread(problem, starts, count, workers: int, accept, stats: dict | None = None):
    """:func:`run` over the ``jax.process_count()`` processes of a ``jax.distributed`` run (CPU):
    the chunks go in rounds of P x workers x DEPTH; process p computes the round's chunks
    p, p + P, ... with its own ``workers`` (helpers on its own cores), then every process
    receives every result of the round (``process_allgather``) and calls ``accept`` in the order
    of ``starts`` -- the same order, so the same numbers, as one process."""
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    P, p = jax.process_count(), jax.process_index()
    starts = list(starts)
    R = P * max(workers, 1) * DEPTH
    template = None
    for r0 in range(0, len(starts), R):
        rnd = starts[r0:r0 + R]
        mine = rnd[p::P]
        got = {}
        if not mine and template is None:  # a process without a chunk still needs the shapes
            run(problem, rnd[:1], count, 1, got.__setitem__)
            template, got = got[rnd[0]], {}
        run(problem, mine, count, workers, got.__setitem__, stats)
        full = max(count(s) for s in rnd)

        def pad(x):
            return None if x is None else np.concatenate(
                [x, np.zeros((full - x.shape[0],) + x.shape[1:], x.dtype)]) if x.shape[0] < full else x

        slots = [jax.tree_util.tree_map(pad, got[s]) for s in mine]
        template = template if template is not None else slots[0]
        n_slots = -(-len(rnd) // P)
        while len(slots) < n_slots:
            slots.append(jax.tree_util.tree_map(np.zeros_like, template))
        stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *slots)
        everyone = multihost_utils.process_allgather(stacked, tiled=False)  # (P, n_slots, full, ...)
        for i, s in enumerate(rnd):
            accept(s, jax.tree_util.tree_map(lambda a: np.asarray(a[i % P, i // P][:count(s)]), everyone))


# --- the helper's side ----------------------------------------------------------------------

class _Inbox:
    """A helper's view of its stdin: frames read as they arrive (``os.read`` on the raw pipe,
    so ``select`` sees exactly what is unread), to drain every waiting message -- a cancel
    behind a chunk included -- before the next chunk starts."""

    def __init__(self, fd: int):
        self.fd, self.buf, self.eof = fd, bytearray(), False

    def _fill(self, timeout) -> None:
        import select

        if self.eof or not select.select([self.fd], [], [], timeout)[0]:
            return
        data = os.read(self.fd, 1 << 20)
        self.buf += data
        self.eof = not data

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n and not self.eof:
            self._fill(None)
        out, self.buf[:n] = bytes(self.buf[:n]), b""
        return out

    def messages(self, key: bytes, block: bool) -> list:
        """The complete messages waiting (at least one if ``block``; EOFError at the end)."""
        self._fill(0)
        while True:
            out = []
            while len(self.buf) >= 40:
                n = struct.unpack("<Q", self.buf[:8])[0]
                if len(self.buf) < 40 + n:
                    break
                frame, self.buf[:40 + n] = bytes(self.buf[:40 + n]), b""
                out.append(_recv(io.BytesIO(frame), key))
            if out or not block:
                return out
            if self.eof:
                raise EOFError
            self._fill(None)


def _serve():
    """A helper's loop: read a problem, compute chunks, send results; exit on EOF. Before each
    chunk every waiting message is read, so a chunk cancelled meanwhile (another helper
    returned it first) is skipped, not computed."""
    inbox = _Inbox(sys.stdin.fileno())
    fout = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not reach the wire
    import jaxredfield  # (float64, XLA flags: as in the caller)

    jaxredfield.set_progress(False)  # a helper's bars would only reach its log

    problems = {}
    debug = os.environ.get("JAXREDFIELD_WORKER_LOG") == "1"  # timings to the helper's log
    key = inbox.read_exact(KEY_BYTES)
    if len(key) < KEY_BYTES:
        return
    queue, cancelled = collections.deque(), set()
    while True:
        try:
            waiting = inbox.messages(key, block=not queue)
        except EOFError:
            return
        for msg in waiting:
            if msg[0] == "problem":
                _, rid, path, digest = msg
                try:
                    t0 = time.perf_counter()
                    problems = {rid: _load_problem(path, digest)}  # the latest run only
                    if debug:
                        print(f"helper {os.getpid()}: problem loaded in {time.perf_counter() - t0:.3f} s",
                              file=sys.stderr, flush=True)
                except OSError:  # that run has ended (its file is removed): its chunks are not needed
                    problems = {}
                queue = collections.deque(c for c in queue if c[1] == rid)
                cancelled = set()
            elif msg[0] == "cancel":
                cancelled.add(msg[1:3])
            else:
                queue.append(msg)
        if not queue:
            continue
        _, rid, start, m = queue.popleft()
        data = None
        if (rid, start) in cancelled:
            reply = ("skipped", rid, start)
        else:
            try:
                t0 = time.perf_counter()
                if rid not in problems:
                    raise RuntimeError(f"the problem of run {rid} could not be read")
                out = compute_chunk(problems[rid], start, m)
                if debug:
                    print(f"helper {os.getpid()}: chunk {start} ({m}) in {time.perf_counter() - t0:.3f} s "
                          f"(ended {time.time():.3f})",
                          file=sys.stderr, flush=True)
                reply = ("done", rid, start, out)
                data = _encode(reply)  # what cannot be sent is reported as the chunk's error
            except Exception:  # noqa: BLE001 - reported to the caller
                reply = ("error", rid, start, traceback.format_exc())
                data = None
        try:
            _send(fout, reply, key, data)
        except (BrokenPipeError, OSError):
            return


if __name__ == "__main__":
    _serve()
