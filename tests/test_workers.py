"""mcsolve on every core (issue 25, item 1; jaxredfield/_pool.py): helper
processes give the same numbers as one process -- bitwise, for the Chebyshev, signed and MPS
engines --, survive a killed helper, resume a checkpoint written with another worker count,
and refuse bad worker counts. (The suite runs with JAXREDFIELD_WORKERS=1, tests/conftest.py;
these tests ask for workers=2 explicitly. Throughput: benchmarks/bench_parallel.py.)"""

import os
import signal

import jax
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield import _pool as _workers
from jaxredfield.trajectories import _checkpoint
from jaxredfield._probes import logged_after_sleep, squares_dying_once

TS = np.linspace(0.0, 2.0, 5)
needs_two = pytest.mark.skipif(len(_workers.usable_cores()) < 2, reason="needs 2 usable cores")


def _system(L):
    model = jr.xxz_chain(L)
    return model, jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 6.6))


def _equal(a, b):
    for x, y in [(a.expect, b.expect), (a.expect_stderr, b.expect_stderr),
                 (a.expect_trajectories, b.expect_trajectories), (a.stats["njumps"], b.stats["njumps"])]:
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    if a.final_state is not None:
        fa = getattr(a.final_state, "tensors", a.final_state)
        fb = getattr(b.final_state, "tensors", b.final_state)
        np.testing.assert_array_equal(np.asarray(fa), np.asarray(fb))


CASES = {
    "lindblad": lambda m, s: (jr.local_lindblad(s, 1), np.ones(2**m.L) / 2 ** (m.L / 2), {}),
    "signed": lambda m, s: (jr.pseudo_lindblad(jr.local_redfield(s, 1), jr.lam_loc(s)),
                            np.ones(2**m.L) / 2 ** (m.L / 2), {"max_trace_error": 1.0}),
    "mps": lambda m, s: (jr.standard_local_lindblad(s), jr.product_state(m, [0, 1, 0, 1]),
                         {"method": jr.MPS(max_bond=4, dt=0.1)}),
}


@needs_two
# signed slow-marked (~22 s): it runs the same pool and chunk code as the Lindblad case
@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c == "signed" else c for c in CASES])
def test_two_workers_equal_one(case):
    """Same key -> the same jumps and values, bitwise, with 1 and 2 worker processes; the
    helpers did compute (chunks_by_helpers > 0)."""
    model, system = _system(4)
    eq, psi0, kw = CASES[case](model, system)
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(4)] + [jr.spin_current(model, 1)]
    run = lambda w: jr.mcsolve(eq, psi0, TS, 40, jax.random.key(3), e_ops, batch_size=1, workers=w,
                               keep_trajectories=True, keep_final_states=True, progress=False, **kw)
    one, two = run(1), run(2)
    assert one.stats["workers"] == 1 and one.stats["chunks_by_helpers"] == 0
    assert two.stats["workers"] == 2 and two.stats["chunks_by_helpers"] == 10  # all 10 chunks
    _equal(one, two)
    assert int(np.sum(one.stats["njumps"])) > 0


@needs_two
@pytest.mark.parametrize("case", ["lindblad", "mps"])
def test_one_chunk_split_over_threads_equals_one(case):
    """A run of one chunk (4 trajectories, one lane) is computed in this process, its
    trajectories split over 2 threads (_pool.compute_split): bitwise the numbers of one thread,
    no helper started."""
    model, system = _system(4)
    eq, psi0, kw = CASES[case](model, system)
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(4)]
    run = lambda w: jr.mcsolve(eq, psi0, TS, 4, jax.random.key(5), e_ops, batch_size=1, workers=w,
                               keep_trajectories=True, keep_final_states=True, progress=False, **kw)
    one, two = run(1), run(2)
    assert one.stats["threads"] == 1
    assert two.stats["threads"] == 2 and two.stats["chunks_by_helpers"] == 0
    _equal(one, two)
    assert int(np.sum(one.stats["njumps"])) > 0


def test_compute_split_joins_in_order_and_raises():
    """compute_split: the ranges' results joined in item order; an error in a thread is raised
    in the caller."""
    def items(args, start, m):
        if args == "fail" and start > 0:
            raise ArithmeticError(f"range at {start}")
        return [start + i for i in range(m)]

    join = lambda parts: [x for p in parts for x in p]  # noqa: E731
    for threads in (1, 2, 3, 7):
        assert _workers.compute_split((items, None), 10, 5, threads, join) == [10, 11, 12, 13, 14]
    with pytest.raises(ArithmeticError, match="range at"):
        _workers.compute_split((items, "fail"), 0, 4, 2, join)


@needs_two
def test_killed_helper_and_resume_with_another_worker_count(tmp_path):
    """A helper killed mid-run (kill -9): a warning, its chunks computed by the other, the same
    result. A checkpointed run stopped after its first chunk under 2 workers resumes under 1 to
    the same numbers (the worker count is not part of the fingerprint)."""
    model, system = _system(4)
    eq, psi0, _ = CASES["lindblad"](model, system)
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(4)]
    kw = dict(batch_size=1, keep_trajectories=True, progress=False)
    ref = jr.mcsolve(eq, psi0, TS, 400, jax.random.key(8), e_ops, workers=1, **kw)
    jr.mcsolve(eq, psi0, TS, 8, jax.random.key(8), e_ops, workers=2, **kw)  # both helpers compiled
    killed = []

    def kill_one(n):  # after the 3rd chunk: each helper holds 2 chunks that are still needed
        if n == 3:
            h = max(_workers.pool().helpers, key=lambda h: len(h.held))
            killed.append(len(h.held))
            os.kill(h.pid, signal.SIGKILL)

    _checkpoint.after_write_hook = kill_one
    try:
        # how many chunks it still held depends on timing (results it wrote before the kill are
        # still read from its pipe); test_pool_recomputes_a_killed_helpers_chunks pins one
        with pytest.warns(RuntimeWarning, match=r"helper process \d+ \(core \d+\) stopped .*; its "
                                                r"\d chunk\(s\) are computed by the others"):
            got = jr.mcsolve(eq, psi0, TS, 400, jax.random.key(8), e_ops, workers=2,
                             checkpoint=str(tmp_path / "a.npz"), **kw)
    finally:
        _checkpoint.after_write_hook = None
    assert killed
    _equal(got, ref)
    assert len(_workers.pool().helpers) == 1 and got.stats["chunks_by_helpers"] == 100

    class Stop(Exception):
        pass

    def stop(n):
        raise Stop

    path = str(tmp_path / "b.npz")
    _checkpoint.after_write_hook = stop
    try:
        with pytest.raises(Stop):
            jr.mcsolve(eq, psi0, TS, 400, jax.random.key(8), e_ops, workers=2, checkpoint=path, **kw)
    finally:
        _checkpoint.after_write_hook = None
    with np.load(path) as z:
        assert int(z["done"]) == 4
    _equal(jr.mcsolve(eq, psi0, TS, 400, jax.random.key(8), e_ops, workers=1, checkpoint=path, **kw), ref)


@needs_two
def test_pool_recomputes_a_killed_helpers_chunks(tmp_path):
    """A helper killed while computing a chunk: a warning naming it and the chunks it held
    (at least that one), which the other helper computes; every chunk accepted once, in order.
    (The probe lives in the package: a helper runs only functions of it, named by import path.)"""

    got = []
    stats = {}
    with pytest.warns(RuntimeWarning, match=r"helper process \d+ \(core \d+\) stopped \(exit status -9\); "
                                            r"its [12] chunk\(s\) are computed by the others"):
        _workers.run((squares_dying_once, (str(tmp_path / "died"), 6)), range(0, 20, 2), lambda s: 2, 2,
                     lambda s, r: got.append((s, r)), stats)
    assert (tmp_path / "died").exists()
    assert got == [(s, [s * s, (s + 1) ** 2]) for s in range(0, 20, 2)]
    assert stats["chunks_by_helpers"] == 10 and len(_workers.pool().helpers) == 1


def test_bad_worker_counts(monkeypatch):
    model, system = _system(3)
    eq = jr.local_lindblad(system, 1)
    psi0 = np.ones(8) / np.sqrt(8)
    run = lambda **k: jr.mcsolve(eq, psi0, TS[:2], 2, jax.random.key(0), progress=False, **k)
    cores = len(_workers.usable_cores())
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="`workers` must be a positive integer"):
            run(workers=bad)
    with pytest.raises(ValueError, match=rf"`workers` = {cores + 1} exceeds the {cores} cores this process may use"):
        run(workers=cores + 1)
    monkeypatch.setenv("JAXREDFIELD_WORKERS", "many")
    with pytest.raises(ValueError, match=r"\$JAXREDFIELD_WORKERS must be a positive integer"):
        run()
    monkeypatch.setenv("JAXREDFIELD_WORKERS", "1")
    assert run().stats["workers"] == 1


def test_default_is_every_usable_core(monkeypatch):
    monkeypatch.delenv("JAXREDFIELD_WORKERS", raising=False)
    cores = len(_workers.usable_cores())
    assert _workers.resolve_workers(None, cpu=True, multi_process=False, bytes_per_worker=0) == cores
    assert _workers.resolve_workers(None, cpu=False, multi_process=False, bytes_per_worker=0) == 1
    assert _workers.resolve_workers(None, cpu=True, multi_process=True, bytes_per_worker=0) == 1
    if cores > 1:  # helpers that would not fit in memory: fewer, with a warning
        with pytest.warns(RuntimeWarning, match="more than the .* GiB available; using 1"):
            assert _workers.resolve_workers(2, cpu=True, multi_process=False, bytes_per_worker=2.0**50) == 1


def test_wire_refuses_unauthenticated_messages(tmp_path):
    """A helper decodes only what carries its parent's HMAC, and loads a problem file only
    when its SHA-256 matches the authenticated digest."""
    import hashlib
    import io
    import pickle

    key = b"k" * 32
    buf = io.BytesIO()
    _workers._send(buf, ("chunk", "run", 0, 4), key)
    assert _workers._recv(io.BytesIO(buf.getvalue()), key) == ("chunk", "run", 0, 4)
    with pytest.raises(_workers.WireError, match="not authenticated"):
        _workers._recv(io.BytesIO(buf.getvalue()), b"x" * 32)
    path = tmp_path / "p.bin"
    path.write_bytes(_workers._encode([1, 2], refs=True))
    assert _workers._load_problem(str(path), hashlib.sha256(path.read_bytes()).hexdigest()) == [1, 2]
    with pytest.raises(_workers.WireError, match="does not match its digest"):
        _workers._load_problem(str(path), "0" * 64)
    path.write_bytes(pickle.dumps([1, 2]))  # a pickle is not a problem file, whatever its digest
    with pytest.raises(_workers.WireError):
        _workers._load_problem(str(path), hashlib.sha256(path.read_bytes()).hexdigest())


@pytest.mark.parametrize("method", ["chebyshev", "diffrax", "mps"])
def test_problem_file_is_data(method, monkeypatch):
    """mcsolve's problem (its chunk function, typed PRNG key, propagator, unravelling and
    operators) written as data and read back: the same pytree, bit-identical leaves; what
    would make a helper run code not of this package is refused on both ends."""
    import equinox as eqx

    from jaxredfield.trajectories import _mcsolve

    _, system = _system(4)
    eq = jr.local_lindblad(system, 1)
    meth = {"chebyshev": jr.Chebyshev(), "diffrax": jr.Diffrax(), "mps": jr.MPS(max_bond=8)}[method]
    psi0 = jr.product_state(jr.xxz_chain(4), 0) if method == "mps" else np.eye(16)[0]
    seen = []

    class Captured(Exception):
        pass

    def capture(problem, *a, **k):  # the problem as the pool gets it; nothing is computed
        seen.append(problem)
        raise Captured

    monkeypatch.setattr(_workers, "run", capture)
    with pytest.raises(Captured):
        jr.mcsolve(eq, psi0, TS[:2], 2, jax.random.key(3), jr.magnetization(jr.xxz_chain(4)),
                   method=meth, workers=1, progress=False)
    monkeypatch.undo()
    problem = seen[0]
    back = _workers._decode(_workers._encode(problem, refs=True), refs=True)
    assert back[0] is _mcsolve.trajectory_chunk
    leaves, tree = jax.tree_util.tree_flatten(problem)
    leaves2, tree2 = jax.tree_util.tree_flatten(back)
    assert tree == tree2 and len(leaves) > 10
    for a, b in zip(leaves, leaves2):
        if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            a, b = jax.random.key_data(a), jax.random.key_data(b)
        assert type(a) is type(b) or isinstance(b, jax.Array)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    class Mine(eqx.Module):  # a Module of the user's: its class would have to be imported
        x: float = 1.0

    for bad in (lambda: 0, os.path.join, Mine(), (np.sum, 1)):
        with pytest.raises(TypeError, match="cannot be sent between processes"):
            _workers._encode(bad, refs=True)
    import json
    import struct

    for m, q in (("os", "system"), ("jaxredfield._pool", "os.system"), ("jaxredfield", "<lambda>"),
                 ("jaxredfield.trajectories._mcsolve", "jnp.zeros")):  # outside, an alias, no name
        head = json.dumps({"t": "fn", "m": m, "q": q}).encode()
        with pytest.raises(_workers.WireError):
            _workers._decode(struct.pack("<Q", len(head)) + head, refs=True)
    with pytest.raises(_workers.WireError, match="unknown item"):  # messages never hold references
        _workers._decode(_workers._encode(problem, refs=True))


def test_wire_is_data_only():
    """Messages are data (JSON header + raw array bytes), never pickles: a chunk's results
    (nested tuples, lists, dicts, None, arrays of every dtype used, scalars) come back exactly
    with their types; code-carrying objects are refused when sending, malformed bytes when
    receiving."""
    import collections
    import pickle

    msg = ("done", "run", 3, (np.arange(6.0).reshape(2, 3), None,
                              [np.array([1 + 2j, np.nan], np.complex128), np.int32(7)],
                              {"a": np.zeros((0, 4), np.float32), 5: True},
                              2**70, -0.0, float("inf"), 1j, np.bool_(True)))
    back = _workers._decode(_workers._encode(msg))
    assert back[:3] == msg[:3]
    (a, none, (c, i32), d, big, mz, inf, cj, b) = back[3]
    np.testing.assert_array_equal(a, msg[3][0])
    assert a.dtype == np.float64 and none is None
    assert c.dtype == np.complex128 and c[0] == 1 + 2j and np.isnan(c[1])
    assert type(i32) is np.int32 and i32 == 7
    assert d["a"].shape == (0, 4) and d["a"].dtype == np.float32 and d[5] is True
    assert big == 2**70 and str(mz) == "-0.0" and inf == float("inf") and cj == 1j
    assert type(b) is np.bool_
    P = collections.namedtuple("P", "x")
    for bad in (lambda: 0, P(1), np.array([object()]), {(1, 2): 3}):
        with pytest.raises(TypeError, match="cannot be sent|str or int keys"):
            _workers._encode(bad)
    with pytest.raises(_workers.WireError):
        _workers._decode(pickle.dumps(("done", "run", 0, None)))


def test_helper_skips_a_chunk_cancelled_while_queued(tmp_path):
    """The tail of a run: a chunk queued behind a helper's current one and then cancelled
    (another helper took it over) is answered "skipped", never computed; a cancel that comes
    after a chunk has started does not interrupt it (the result is sent as usual)."""
    import hashlib

    log = tmp_path / "computed"
    blob = _workers._encode((logged_after_sleep, (str(log), 1.0)), refs=True)
    path = tmp_path / "problem.bin"
    path.write_bytes(blob)
    problem = (str(path), hashlib.sha256(blob).hexdigest())
    h = _workers._Helper(_workers.usable_cores()[0])
    try:
        h.submit("run", problem, 0, 1)
        h.submit("run", problem, 1, 1)
        h.submit("run", problem, 2, 1)
        h.cancel("run", 1)  # arrives while chunk 0 runs (1 s each)
        replies = [_workers._recv(h.proc.stdout, h.key)[:3] for _ in range(3)]
        h.cancel("run", 2)  # chunk 2 has started (or finished): computed all the same
    finally:
        h.stop()
    assert replies == [("done", "run", 0), ("skipped", "run", 1), ("done", "run", 2)]
    assert log.read_text().split() == ["0", "2"]
