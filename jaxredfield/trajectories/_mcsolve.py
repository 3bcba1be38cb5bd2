r"""The driver of quantum-jump trajectories: :func:`mcsolve` and its result.

Each trajectory evolves the non-normalized state with the non-Hermitian Hamiltonian
H_nh = H - (i/2) sum_k L_k^dag L_k until ||psi||^2 falls to a uniform random number r, then
jumps (:mod:`._unravelling`; signed trajectories for pseudo-Lindblad equations). The pieces:

- :mod:`._backends` -- the state representation (dense vectors or MPS): initial state,
  operator checks, default lanes, unravelling, propagator, final statistics -- so this driver
  reads top to bottom without branching on it;
- :mod:`._propagators` -- exp(-i H_nh s) psi from the method object (``jr.Chebyshev()``,
  ``jr.Diffrax()``), one interface;
- :mod:`._unravelling` -- damping terms, channel signs, clock shift c, the jump and weight;
- :mod:`._loop` -- one trajectory (named loop state) and a vmapped chunk;
  :mod:`._rootfind` -- the jump time;
- :mod:`._observables` -- expectation values from reduced density matrices;
- :mod:`._statistics` -- mean and standard error (Chan/Welford, float64), trace-error stop;
- :mod:`._checkpoint` -- fingerprint, atomic save and resume;
- :mod:`._devices` -- sharding of a chunk over devices, multi-host gather;
- :mod:`jaxredfield._pool` -- chunks computed by helper processes on every core.
"""

from __future__ import annotations

import contextlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

from ..observables import as_e_ops
from .._checks import (check_equation_finite, check_positive, check_positive_int,
                       check_tsave, diffrax_complex_ok)
from .._checkpoint_file import check_path
from .._files import Owner, deferred_signals
from .._progress import bar
from ..equations import MasterEquation
from ..method import MPS, Chebyshev, Diffrax, Method, check_method
from ..result import MCSolveResult
from .. import _pool
from . import _checkpoint
from ._devices import batch_sharding, chunk_indices, chunk_size, to_host
from ._loop import chunk
from ._statistics import Tally
from ._backends import backend_for

#: trajectories each lane runs back to back per chunk (a chunk = batch_size * QUEUE
#: trajectories: the unit of progress and checkpoints); a lane that finishes one trajectory
#: starts its next at once instead of waiting for the other lanes
QUEUE = 4


def mcsolve(eq: MasterEquation, psi0, tsave, ntraj: int, key, e_ops=None, *,
            method: Method = Chebyshev(), batch_size: int | None = None,
            keep_trajectories: bool = False,
            keep_final_states: bool = False, progress: bool | None = None, checkpoint=None,
            dtype=jnp.complex128, max_trace_error: float = 0.05,
            workers: int | None = None) -> MCSolveResult:
    r"""Monte-Carlo wave-function trajectories (Mølmer–Castin–Dalibard, waiting-time form) of a
    Lindblad-form master equation d rho/dt = -i[H, rho] + sum_k D[L_k](rho), or signed
    trajectories of a pseudo-Lindblad one.

    Each trajectory evolves the *non-normalized* state matrix-free with
    H_nh = H - (i/2) sum_k L_k^dag L_k, psi(t + s) = exp(-i H_nh s) psi(t), until ||psi||^2
    falls to a uniform random number r; the jump time is then the root of
    log||psi(t + s)||^2 = log r to 1e-8; the channel k is drawn with probability
    proportional to ||L_k psi||^2, psi -> L_k psi / ||L_k psi|| and a new r is drawn.
    Expectation values at the save times use the normalized state. For a pseudo-Lindblad
    equation (negative jumps M_m) the trajectories carry a real weight mu with a sign,
    rho(t) = E[mu |psi><psi|], which unravels it exactly (Becker, Netzer & Eckardt, PRL 131,
    160401 (2023); derivation in ``jaxredfield/trajectories/_unravelling.py``).

    **Arguments:**
    - `eq`: a :class:`MasterEquation` of Lindblad form (``local_lindblad``,
      ``standard_local_lindblad``, ``lindblad``), or of pseudo-Lindblad form with negative
      jumps (``pseudo_lindblad(local_redfield(system, N), lam)``, also of ``redfield`` or
      ``adhoc_redfield``): then signed trajectories unravel it exactly.
    - `psi0`: normalized initial ket, shape (d^L,) (array or ``Qobj``), or a
      :class:`~jaxredfield.ProductState` (``jr.product_state(model, states)``).
    - `tsave`: strictly increasing save times; the evolution starts at ``tsave[0]``.
    - `ntraj`: number of trajectories; `key`: a JAX PRNG key. Trajectory n uses
      ``jax.random.fold_in(key, n)``: results are independent of `batch_size` and of the
      number of devices.
    - `e_ops`: one observable or a list (:class:`LocalOperator`, d^L x d^L arrays or
      ``Qobj``); ``expect`` has shape (n_ops, n_t) either way.
    - `method`: ``jr.Chebyshev(atol)`` (default): the Chebyshev propagator, ``atol`` the
      rigorous truncation bound per propagation step of a unit state (default 1e-10); or
      ``jr.Diffrax(solver, rtol, atol, max_steps)``: a diffrax solver (default Dopri8) with a
      PIDController, the reference. Other methods raise ``TypeError``.
    - `batch_size`: lanes, i.e. trajectories in flight (vmapped); memory grows linearly in
      it. Each lane runs its trajectories back to back: a lane that finishes a trajectory
      starts its next one at once instead of waiting for the other lanes (lane b of a chunk
      runs trajectories start + b, start + b + batch_size, ...); a chunk, the unit of
      progress updates and checkpoints, holds ``4 * batch_size`` trajectories. ``None``
      (default): chosen per backend and dimension D = d^L (``default_batch_size``): on a CPU
      one lane (measured fastest or equal at L = 6...12), on an accelerator 2^24 / D (at
      most 1024). With several
      devices it is rounded up to a multiple of the device count.
    - `keep_trajectories`: also return every trajectory's expectation values.
    - `keep_final_states`: also return every trajectory's normalized state at ``tsave[-1]``.
    - `progress`: a tqdm bar on stderr (trajectories done / ntraj, rate, ETA; signed runs
      also the trace error); ``None`` follows :func:`jaxredfield.set_progress`.
    - `checkpoint`: ``None`` or a file path. After every finished chunk the accumulated state
      (float64 mean and sum of squared deviations, jump counts, kept trajectories / final
      states if requested, number of finished trajectories) and a SHA-256 fingerprint of the
      arguments that determine the results are written atomically (temp file in the same
      folder, fsync, ``os.replace``) in the data-only ``np.savez`` format (read with
      ``allow_pickle=False``). The fingerprint covers eq, psi0, tsave, e_ops, key, ntraj,
      batch_size, dtype, the keep_* flags, the method's name and its options
      (``method.options()``: ``atol`` for Chebyshev; solver, rtol, atol, max_steps for
      Diffrax; max_bond, dt, cutoff for MPS, whose psi0 enters as the product state's local
      vectors); not progress or max_trace_error. Calling ``mcsolve`` again with the same such
      arguments resumes after the last finished chunk and gives results identical to an
      uninterrupted run; a completed run's file is kept (marked complete), so a rerun returns
      at once. A file written for other arguments raises ``ValueError`` naming the arguments
      that differ (and is never overwritten), as does a corrupted file. The path is checked
      before the run starts: its folder must exist and be writable (``ValueError``
      otherwise). With ``keep_trajectories`` / ``keep_final_states`` the whole kept data is
      rewritten per chunk. *One owner:* the run holds an exclusive lock (``fcntl.flock`` on
      ``<checkpoint>.lock``, released on exit and by the kernel when the process dies) before
      it reads or writes the file; a second run on the path while it runs gets
      :class:`~jaxredfield.FileInUseError` at once. Each save first checks that the file on
      disk is still this run's. A failed save raises :class:`~jaxredfield.SaveError` (an
      ``OSError``) naming how many trajectories the intact file holds; SIGTERM and SIGINT are
      held during a save and raised after it (``SystemExit(143)`` / ``KeyboardInterrupt``).
    - `max_trace_error`: signed runs only. After every chunk, the standard error of the trace
      estimate E[mu] (exactly 1 in expectation) projected to ``ntraj`` trajectories, and at
      the end the actual one, must stay below this at every save time; otherwise the run
      stops with ``RuntimeError`` (the variance has exploded: the averages would be noise).
      Finished chunks stay in the checkpoint.
    - `workers`: processes computing trajectories. ``None`` (default): every core this
      process may use (``os.sched_getaffinity``) on a CPU backend, or ``$JAXREDFIELD_WORKERS``
      when set; 1 on an accelerator and when chunks are split over several JAX devices or
      processes. With n > 1, n helper processes, each pinned to its own core and single
      threaded, compute whole chunks while this process accumulates them in order: results
      are identical (bitwise) for every worker count, checkpoints included (a run may resume
      with another count). Helpers stay alive between calls and keep their compiled programs;
      the first call pays their start (import and compilation on one core each); a run of
      one chunk (at most ``batch_size`` x 4 trajectories) is computed in this process, its
      trajectories split over ``workers`` threads when ``batch_size`` is 1 (the CPU default;
      one compilation, the same numbers). A helper
      that dies is dropped with a ``RuntimeWarning`` and its chunks computed by the others.
      ``stats["workers"]``, ``stats["chunks_by_helpers"]`` and ``stats["threads"]`` (threads
      of a one-chunk run) report what ran.
    - `dtype`: ``jnp.complex128`` (default) or ``jnp.complex64`` for the states and operators
      (halves memory and bandwidth per trajectory); expectation values are accumulated in
      float64 either way. With complex64 use tolerances above single precision (e.g.
      ``jr.Chebyshev(atol=1e-6)``, or ``jr.Diffrax(rtol=1e-5, atol=1e-6)``). Measured
      (Chebyshev, local Lindblad N=1 of the paper's chain, sigma^z on every site and every
      current, 7 times, same key, complex64 with atol=1e-6 against complex128 defaults):
      L=4, 500 trajectories: max |mean difference| / stderr = 1.3e-5, largest
      per-trajectory difference 6.3e-6; L=10, 100 trajectories: 2.1e-4 and 3.9e-6; every
      trajectory had the same jumps. Far below the statistical error.

    **Returns:** an :class:`MCSolveResult` (``expect``, ``expect_stderr``,
    ``expect_trajectories``, ``final_state``, ``ntraj``, ``stats``, ``method``).

    **Finiteness.** The operators of `eq` and `e_ops` must be finite (``ValueError`` naming
    the term otherwise). Every chunk's values are checked before they are accumulated: a
    trajectory that returned NaN or inf raises ``FloatingPointError`` with its index (no NaN
    is returned). ``expect_stderr`` is NaN only for ``ntraj = 1`` (no sample variance).

    **Devices.** When ``jax.devices()`` has more than one device, each chunk's trajectory axis
    is split across them (a 1-d ``Mesh`` and ``NamedSharding`` on the batch axis; jit
    propagates it), so every device runs ``batch_size / n_devices`` trajectories per chunk.
    Results do not depend on the device count. *Multi-host:* call
    ``jax.distributed.initialize()`` in every process first (before any other JAX call; inside
    a multi-task SLURM step, ``srun -n N``, importing jaxredfield does it, see
    :mod:`jaxredfield._slurm`), then call ``mcsolve`` with identical arguments in every process.
    On CPUs each process computes every P-th chunk of a round with its own cores (its own
    ``workers``: helpers on the cores of its task) and the round's results are exchanged
    (``process_allgather``) and accumulated in chunk order by every process, so all processes
    return the same result, identical to one process's. On accelerators ``jax.devices()`` lists
    the devices of all hosts and each chunk's lanes are sharded over them (choose
    ``batch_size`` as a multiple of the global device count, or accept the rounding). Put a
    `checkpoint` path on a filesystem shared by all processes: only process 0 locks and writes
    it, every process reads it on resume. Checked on localhost: two CPU processes joined by
    ``jax.distributed`` (and two started with a SLURM step's environment) return the
    one-process result (``tests/test_distributed.py``).
    """
    if not isinstance(eq, MasterEquation):
        raise TypeError(f"`eq` must be a MasterEquation, got {type(eq).__name__}")
    if eq.redfield_terms:
        raise ValueError(
            f"`eq` ({eq.name}) is in Redfield form [u rho, v] + h.c.; trajectories need its "
            "pseudo-Lindblad form: mcsolve(jr.pseudo_lindblad(eq, lam), ...) runs signed "
            "trajectories of the same equation (lam > 0, e.g. jr.lam_loc(system)), or use the "
            "Lindblad approximation jr.local_lindblad."
        )
    method = check_method(method, (Chebyshev, Diffrax, MPS), "mcsolve", Chebyshev())
    signed = bool(eq.negative_jumps)
    check_positive(max_trace_error, "max_trace_error")
    ntraj = check_positive_int(ntraj, "ntraj")
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    key = _check_key(key)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.complex64), np.dtype(np.complex128)):
        raise ValueError(f"`dtype` must be jnp.complex128 or jnp.complex64, got {dtype}")
    backend = backend_for(eq, method, dtype)  # dense vectors or MPS (._backends)
    psi0_c, psi0_id = backend.initial(psi0)
    tsave = check_tsave(tsave)
    check_equation_finite(eq, "eq")
    ops, herm = as_e_ops(e_ops, eq.L, eq.d)
    backend.check_operators(ops)
    if batch_size is None:  # resolved before the fingerprint, which holds it
        batch_size = backend.default_lanes()
    fingerprint = None
    if checkpoint is not None:
        checkpoint = check_path(checkpoint)
        fingerprint = _checkpoint.fingerprint(eq, psi0_id, tsave, ntraj, batch_size, key, ops, method, dtype,
                                              keep_trajectories, keep_final_states)

    unr, damping = backend.unravelling()
    prop = backend.propagator(damping)
    ops_c = backend.program_ops(tuple(o.with_matrix(o.matrix.astype(dtype)) for o in ops))

    cpu = jax.default_backend() == "cpu"
    # jax.distributed on CPUs: each process computes its share of the chunks with its own
    # cores and the results are exchanged (_pool.run_spread); accelerators and several devices
    # of one process: the chunk's lanes are sharded over the devices (one SPMD program)
    spread = cpu and jax.process_count() > 1
    sharding = None if spread else batch_sharding()
    B = chunk_size(batch_size, ntraj, sharding)  # lanes
    workers = _pool.resolve_workers(
        workers, cpu=cpu, multi_process=(jax.process_count() > 1 and not spread) or sharding is not None,
        bytes_per_worker=backend.bytes_per_state * B * (8 + QUEUE * keep_final_states))
    q = QUEUE  # trajectories per lane and chunk (fixed: another ntraj compiles nothing new)
    lanes = chunk_indices(0, B, sharding)
    n_ops, n_t = len(ops), tsave.shape[0]
    n_rows = n_ops + backend.extra_rows + signed  # (MPS: the discarded weight); signed: mu last
    cdtype = np.float64 if all(herm) else np.complex128
    tally = Tally.empty(n_rows, n_t, backend.state_shape, cdtype, dtype)
    writer = checkpoint is not None and jax.process_index() == 0
    run_stats = {"workers": workers, "chunks_by_helpers": 0, "threads": 1}
    # one owner per checkpoint path: refused at once while another run holds it
    owner = Owner(checkpoint, "`checkpoint`").acquire() if writer else None
    try:
        if checkpoint is not None:
            tally = _checkpoint.load(checkpoint, fingerprint) or tally
        with deferred_signals() if writer else contextlib.nullcontext():
            _run_chunks(tally, ntraj, B, q, key, lanes, psi0_c, tsave, prop, unr, ops_c, herm,
                        keep_final_states, keep_trajectories, cdtype, method, dtype, signed,
                        max_trace_error, checkpoint, fingerprint, writer, progress, workers, run_stats,
                        spread)
    except (KeyboardInterrupt, SystemExit):
        if writer:
            kept = _checkpoint.on_disk(checkpoint)
            print(f"mcsolve stopped: the checkpoint {checkpoint!r} holds {0 if kept is None else kept[1]} "
                  f"of {ntraj} trajectories; call mcsolve again with the same arguments to resume.",
                  file=sys.stderr)
        raise
    finally:
        if owner is not None:
            owner.release()
    stderr = tally.stderr()
    stats = {"njumps": jnp.asarray(tally.njumps), **run_stats}
    trajectories, final = backend.finish(tally, n_ops, tsave, ops, herm, stats, keep_trajectories,
                                         keep_final_states)
    if signed:
        stats.update(tally.signed_stats())
    return MCSolveResult(
        tsave=tsave,
        expect=jnp.asarray(tally.mean[:n_ops]) if n_ops else None,
        expect_stderr=jnp.asarray(stderr[:n_ops]) if n_ops else None,
        expect_trajectories=trajectories,
        final_state=final,
        ntraj=ntraj,
        stats=stats,
        method=method,
    )


def _run_chunks(tally, ntraj, B, q, key, lanes, psi0_c, tsave, prop, unr, ops_c, herm,
                keep_final_states, keep_trajectories, cdtype, method, dtype, signed, max_trace_error,
                checkpoint, fingerprint, writer, progress, workers, run_stats, spread=False):
    """The chunks from ``tally.done`` on, computed by ``workers`` processes
    (:mod:`jaxredfield._pool`) and accumulated into ``tally`` in chunk order; each finished chunk saved
    to ``checkpoint`` by the writer (signals held during the save)."""
    n_written = 0
    count = lambda s: min(B * q, ntraj - s)  # noqa: E731
    problem = (trajectory_chunk, (key, lanes, q, psi0_c, tsave, prop, unr, ops_c, herm, keep_final_states))
    pbar = bar(ntraj, "mcsolve", "traj", progress, initial=tally.done)

    def accept(start, res):
        nonlocal n_written
        ex, psi, nj = res
        m = count(start)
        ex = ex.astype(cdtype)
        _check_finite_chunk(ex, psi, start, tsave, method, dtype, tally.done, checkpoint)
        tally.add(ex, nj, psi, ntraj, keep_trajectories, signed)
        if writer:
            _checkpoint.save(checkpoint, fingerprint, tally, ntraj)
            n_written += 1
            if _checkpoint.after_write_hook is not None:
                _checkpoint.after_write_hook(n_written)
        pbar.update(m)
        if signed and tally.done > 1:
            pbar.set_postfix_str(f"trace error {tally.trace_error():.2g}")
        if signed:
            tally.check_trace_error(ntraj, tsave, max_trace_error)

    with pbar:
        # start and m are traced: one compilation for every chunk, the last one included
        starts = range(tally.done, ntraj, B * q)
        if spread:
            _pool.run_spread(problem, starts, count, workers, accept, run_stats)
        else:  # one lane: a lone chunk's trajectories are split over threads (_pool.compute_split)
            _pool.run(problem, starts, count, workers, accept, run_stats, _join_rows if B == 1 else None)
    if writer and not tally.complete:  # ntraj already reached but the flag was not set
        tally.complete = True
        _checkpoint.save(checkpoint, fingerprint, tally, ntraj)


def _join_rows(results):
    """(ex, psi or None, jumps) of consecutive trajectory ranges joined in trajectory order."""
    return tuple(None if xs[0] is None else np.concatenate(xs) for xs in zip(*results))


def trajectory_chunk(problem, start: int, m: int):
    """(expectations, final states or None, jumps) of trajectories start ... start + m - 1 as
    NumPy arrays (in this process or a helper, :mod:`jaxredfield._pool`); ``problem`` = (key,
    lanes, q, psi0, tsave, prop, unr, e_ops, herm, keep_states)."""
    key, lanes, q, psi0, tsave, prop, unr, ops, herm, keep = problem
    with diffrax_complex_ok():
        ex, psi, nj = chunk(key, lanes, jnp.int32(start), jnp.int32(m), q, psi0, tsave, prop, unr,
                            ops, herm, keep)
    return to_host(ex)[:m], (to_host(psi)[:m] if keep else None), to_host(nj)[:m]


def _check_finite_chunk(ex, psi, start, tsave, method, dtype, n_kept, checkpoint):
    """Raise (before anything of the chunk is accumulated or saved) when a trajectory of the
    chunk starting at ``start`` returned a non-finite value."""
    bad = ~np.isfinite(ex).all(axis=1)  # (m, n_t)
    bad_psi = None if psi is None else ~np.isfinite(psi.reshape(psi.shape[0], -1)).all(axis=1)
    if not bad.any() and (bad_psi is None or not bad_psi.any()):
        return
    if bad.any():
        i, n = map(int, np.argwhere(bad)[0])
        where = f"expectation values at t = {float(tsave[n]):.6g}"
    else:
        i = int(np.argmax(bad_psi))
        where = "its final state"
    kept = (f"; the {n_kept} trajectories before this chunk are kept in the checkpoint"
            if checkpoint and n_kept else "")
    raise FloatingPointError(
        f"mcsolve: trajectory {start + i} returned NaN or inf ({where}; "
        f"{int(bad.any(axis=1).sum())} of the chunk's {ex.shape[0]} trajectories are affected). "
        f"The operators are finite (checked before the run), so the propagation broke down "
        f"(method={method!r}, dtype={np.dtype(dtype).name}): rerun with dtype=jnp.complex128 "
        f"and the default tolerances, or method=jr.Diffrax(), and report the case{kept}."
    )


def _check_key(key):
    k = jnp.asarray(key) if not isinstance(key, jax.Array) else key
    if jnp.issubdtype(k.dtype, jax.dtypes.prng_key):
        if k.shape != ():
            raise ValueError(f"`key` must be a single PRNG key, got a key array of shape {k.shape}")
        return k
    if k.dtype != jnp.uint32 or k.ndim != 1:
        raise TypeError(
            "`key` must be a JAX PRNG key (jax.random.key(seed) or jax.random.PRNGKey(seed)), "
            f"got an array of dtype {k.dtype} and shape {k.shape}"
        )
    return k


__all__ = ["MCSolveResult", "mcsolve"]  # (MCSolveResult: jaxredfield/result.py)
