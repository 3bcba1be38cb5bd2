r"""Quantum-jump trajectories as one jittable loop per *lane*, and a vmapped chunk of lanes.

Structure: a lane runs a queue of trajectories back to back (lane b of a chunk of B lanes
runs trajectories start + b, start + b + B, start + b + 2B, ...) in one ``lax.while_loop``
whose every iteration is one propagation from the current step start (a step, or a
root-finding trial); when a trajectory reaches a save time its values are recorded, and when
it reaches the last one the lane starts its next trajectory at once. Vmapped lanes step in
lock step, but a lane never waits for the others to finish their trajectories: only the
queue's end of the chunk is shared (continuous batching with a static queue per lane).
Since ||psi||^2 is non-increasing, a step holds a jump iff ||psi||^2 < r at its end. A step
that the log-norm's slope predicts to cross r ends at the predicted crossing; if it
overshoots, the jump time is found by :mod:`._rootfind`. Trajectory n uses the key
``fold_in(key, n)`` and its arithmetic does not depend on the other trajectories of its
chunk, so results do not depend on ``batch_size`` or the device count.

Memory per lane (Chebyshev): the step start psi, the recurrence vectors T_{n-1}, T_n
(overwritten in place), the sum, the trial result and the where-selected next state: 7.0
state vectors of 16 d^L bytes (complex128), measured by XLA's memory analysis of a compiled
chunk at L = 10...19 (``benchmarks/results/trajectories.md``), plus q final states with
``keep_final_states``."""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from ._observables import measurement
from ._rootfind import JUMP_TOL, Bracket


class State(NamedTuple):
    """One trajectory between save times: time ``t``, the unnormalized state ``psi``,
    log||psi||^2 and its slope at ``t``, the jump threshold ``r``, the number of jumps so far
    and the weight's jump factors (signed runs; 1 otherwise)."""

    t: jnp.ndarray
    psi: jnp.ndarray
    log_norm: jnp.ndarray
    log_norm_rate: jnp.ndarray
    r: jnp.ndarray
    njumps: jnp.ndarray
    weight: jnp.ndarray


class Lane(NamedTuple):
    """The loop state of one lane: its current trajectory (number ``k`` in the lane's queue,
    global number ``n``, next save index ``i``, :class:`State`, root-finding :class:`Bracket`) and the
    finished trajectories' records."""

    k: jnp.ndarray
    n: jnp.ndarray  # the trajectory's number (its key is fold_in(key, n))
    i: jnp.ndarray
    st: State
    br: Bracket
    ex: jnp.ndarray  # (q, n_rows, n_t)
    psi: jnp.ndarray | None  # (q, D) final normalized states, or None
    njumps: jnp.ndarray  # (q,)


def lane(key, first, stride, count, q, psi0, tsave, prop, unr, e_ops, herm, keep_states,
         axis_name=None):
    """The trajectories first + j stride < first + ``count`` (at most q of them; ``first``,
    ``count`` may be traced), run back to back. Returns (expectations
    (q, n_rows, n_t), final normalized states (q, D) or None, jumps (q,)); for signed runs the
    rows are mu <O> followed by mu (see :mod:`._unravelling`). Trajectory n uses the key
    ``fold_in(key, n)`` and its arithmetic does not depend on the other trajectories (of the
    lane or of the chunk), so results do not depend on ``batch_size`` or the device count.

    ``prop.propagate(psi, s, axis_name)`` = exp(-i H_nh s) psi for 0 <= s <= ``prop.max_step``.
    ``axis_name``: the vmap axis name, if vmapped (see the branches below)."""
    K = len(unr.jumps)
    L, d = unr.L, unr.d
    n_t = tsave.shape[0]
    max_step = float(prop.max_step)
    measure = measurement(e_ops, herm, L, d)
    zero, one = jnp.zeros((), jnp.float64), jnp.ones((), jnp.float64)
    ex0 = unr.weighted(measure(psi0), one, tsave[0], tsave[0])  # every trajectory's t = t0 row
    ln_0, dn_0 = unr.log_norm_and_rate(psi0) if K else (zero, zero)

    def any_lane(x):
        """An unbatched predicate keeps a ``lax.cond`` a real branch under vmap (a batched
        one becomes a select that computes both branches for every lane)."""
        return x if axis_name is None else jax.lax.pmax(x.astype(jnp.int32), axis_name) > 0

    n_own = jnp.minimum((count + stride - 1) // stride, q)  # this lane's share of the chunk

    def start(j):
        """Trajectory j of the lane: its number n and initial State."""
        n = first + j * stride
        r0 = jax.random.uniform(jax.random.fold_in(jax.random.fold_in(key, n), 0), dtype=jnp.float64)
        return n, State(tsave[0], psi0, ln_0, dn_0, r0, jnp.zeros((), jnp.int32), one)

    def step(st: State, br: Bracket, t_end, n):
        t, psi = st.t, st.psi
        lr = jnp.log(st.r)
        last = t_end - t <= max_step
        s_step = jnp.where(last, t_end - t, max_step)
        rooting = br.rooting == 1
        if K:
            # a step predicted (by the log-norm's slope) to cross ||psi||^2 = r ends at
            # the predicted crossing: the jump step is then useful progress, and a small
            # miss is mended by a short step or one trial in a short bracket
            dn0 = st.log_norm_rate
            s_pred = jnp.where(dn0 < 0, (st.log_norm - lr) / jnp.where(dn0 < 0, -dn0, 1.0), jnp.inf)
            full = s_pred >= s_step
            s_step = jnp.minimum(s_step, s_pred)
            last = last & full
        s = jnp.where(rooting, br.trial(), s_step)
        psi_s = prop.propagate(psi, s, axis_name)
        if not K:
            return st._replace(t=jnp.where(last, t_end, t + s), psi=psi_s), br
        # ||psi||^2 is non-increasing (H_nh has a negative semidefinite anti-Hermitian
        # part), so a step holds a jump iff ||psi(t + s)||^2 < r; its time solves
        # f(s) = log||psi(t + s)||^2 - log r = 0, bracketed in [0, s] with f and f' known
        # at both ends: each trial is the root of the cubic Hermite interpolant
        ln, dn = unr.log_norm_and_rate(psi_s)
        f = ln - lr
        # a non-finite state (never from finite operators and a working propagator) ends
        # the interval at once, keeping the NaN: the driver then raises with the
        # trajectory's index (without this the loop would never advance t)
        bad = ~jnp.isfinite(f)
        hit = jnp.abs(f) < JUMP_TOL
        crossed = ~rooting & (f < 0) & ~hit
        accept = (~rooting & (f >= 0) & ~hit) | bad
        conv = ~bad & (hit | (rooting & br.exhausted(t)))
        # a trial that lands before the crossing is progress: the trajectory moves there
        # and the next trial starts from it (a shorter propagation) instead of from the
        # step start
        advance = rooting & (f >= 0) & ~conv & ~bad
        br = br.update(crossed, s, f, dn, st.log_norm - lr, st.log_norm_rate, advance)

        def jump():
            pj, rj, fj = unr.jump(psi_s, jax.random.fold_in(key, n), st.njumps)
            return (pj,) + unr.log_norm_and_rate(pj) + (rj, fj)

        pj, lnj, dnj, rj, fj = jax.lax.cond(any_lane(conv), jump, lambda: (psi_s, ln, dn, st.r, one))
        st = State(
            t=jnp.where(accept, jnp.where(last | bad, t_end, t + s), jnp.where(conv | advance, t + s, t)),
            psi=jnp.where(accept | advance, psi_s, jnp.where(conv, pj.astype(psi.dtype), psi)),
            log_norm=jnp.where(accept | advance, ln, jnp.where(conv, lnj, st.log_norm)),
            log_norm_rate=jnp.where(accept | advance, dn, jnp.where(conv, dnj, st.log_norm_rate)),
            r=jnp.where(conv, rj, st.r),
            njumps=st.njumps + conv.astype(st.njumps.dtype),
            weight=jnp.where(conv, st.weight * fj, st.weight),
        )
        rooting_new = jnp.where(crossed, 1, jnp.where(conv | bad, 0, br.rooting))
        return st, br._replace(rooting=rooting_new.astype(br.rooting.dtype))

    def cond(c: Lane):
        return c.k < n_own

    def body(c: Lane):
        t_end = tsave[c.i]
        st, br = step(c.st, c.br, t_end, c.n)
        saved = (st.t >= t_end) & (br.rooting == 0)  # the save time is reached
        vals = jax.lax.cond(any_lane(saved), lambda: unr.weighted(measure(st.psi), st.weight, t_end, tsave[0]),
                            lambda: jnp.zeros_like(ex0))
        ex = jnp.where(saved, c.ex.at[c.k, :, c.i].set(vals), c.ex)
        done = saved & (c.i == n_t - 1)  # the trajectory is finished
        nj = jnp.where(done, c.njumps.at[c.k].set(st.njumps), c.njumps)
        psi_rec = c.psi
        if keep_states:
            psi_n = st.psi / jnp.sqrt(jnp.vdot(st.psi, st.psi).real)
            psi_rec = jnp.where(done, c.psi.at[c.k].set(psi_n.astype(c.psi.dtype)), c.psi)
        k = c.k + done.astype(c.k.dtype)
        n_new, st_new = start(k)
        pick = lambda a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(done, x, y), a, b)
        return Lane(
            k=k,
            n=jnp.where(done, n_new, c.n),
            i=jnp.where(done, 1, jnp.where(saved, c.i + 1, c.i)),
            st=pick(st_new, st),
            br=pick(Bracket.closed(), br),
            ex=ex, psi=psi_rec, njumps=nj,
        )

    n_rows = ex0.shape[0]
    ex_init = jnp.zeros((q, n_rows, n_t), ex0.dtype).at[:, :, 0].set(ex0)
    psi_init = jnp.zeros((q,) + psi0.shape, psi0.dtype) if keep_states else None
    n_0, st_0 = start(jnp.zeros((), jnp.int32))
    c = Lane(jnp.zeros((), jnp.int32), n_0, jnp.ones((), jnp.int32), st_0, Bracket.closed(),
             ex_init, psi_init, jnp.zeros((q,), jnp.int32))
    if n_t == 1:  # nothing to evolve
        nj = jnp.zeros((q,), jnp.int32)
        return ex_init, (jnp.broadcast_to(psi0 / jnp.linalg.norm(psi0), (q,) + psi0.shape) if keep_states else None), nj
    c = jax.lax.while_loop(cond, body, c)
    return c.ex, c.psi, c.njumps


@eqx.filter_jit
def chunk(key, lanes, start, count, q, psi0, tsave, prop, unr, e_ops, herm, keep_states):
    """Trajectories start ... start + count - 1 (count <= B q) on B vmapped lanes (``lanes`` =
    arange(B), sharded over devices when given so; axis name "traj"): lane b runs
    start + b + j B. ``start`` and ``count`` are traced (one compilation for every chunk).
    Returns (expectations, final states or None, jumps) in trajectory order, B q rows (the
    rows from ``count`` on are unused)."""
    B = lanes.shape[0]
    ex, psi, nj = jax.vmap(
        lambda b: lane(key, start + b, B, count - b, q, psi0, tsave, prop, unr, e_ops, herm,
                       keep_states, "traj"),
        axis_name="traj")(lanes)
    order = lambda x: None if x is None else jnp.swapaxes(x, 0, 1).reshape((B * q,) + x.shape[2:])
    return order(ex), order(psi), order(nj)
