r"""Quantum-jump trajectories as one jittable loop per *lane*, and a vmapped chunk of lanes.

Structure: a lane runs a queue of trajectories back to back (lane b of a chunk of B lanes
runs trajectories start + b, start + b + B, start + b + 2B, ...) in one ``lax.while_loop``
whose every iteration is one propagation from the trajectory's current time (a step, or a
root-finding trial); when it reaches the last save time the lane starts its next trajectory
at once. Vmapped lanes step in lock step, but a lane never waits for the others to finish
their trajectories: only the queue's end of the chunk is shared (continuous batching with a
static queue per lane).

Steps are not cut at every save time: a step ends at the save after next at the latest, and
the state at the save time inside it comes from the same Chebyshev recurrence (dense output,
``propagate(..., s_save=...)``); when the step ends on the next save time, both are recorded
in one iteration. Since ||psi||^2 is non-increasing, a step holds a jump iff ||psi||^2 < r at
its end (and a save point inside it is valid iff ||psi||^2 >= r there). A step that the
log-norm's slope predicts to cross r ends at the predicted crossing; if it overshoots, the
jump time is found by :mod:`._rootfind`, the trajectory moving to the bracket end nearest
each trial (backwards when that is past the crossing), so a trial is a short propagation.
Trajectory n uses the key ``fold_in(key, n)`` and its arithmetic does not depend on the other
trajectories of its chunk, so results do not depend on ``batch_size`` or the device count.
A chunk of one lane (the CPU default) runs the lane unbatched: no vmap of one, whose batching
re-traces every nested loop body and turns the loops' branches into selects. Measured on the
MPS engine at L = 100, bond 64 (fresh process, 2 cores): trace 3.2 -> 1.0 s, XLA compile
10.6 -> 6.2 s, first call 19.5 -> 12.1 s, warm 2.17 -> 1.90 s per trajectory
(``benchmarks/bench_compile.py`` for every engine and L).

Memory per lane (Chebyshev): the step start psi, the recurrence vectors T_{n-1}, T_n
(overwritten in place), the two sums (step end and save point), the trial result and the
where-selected next state: 8.0 state vectors of 16 d^L bytes (complex128), measured by XLA's
memory analysis of a compiled chunk at L = 10 and 14 (``bench_trajectories.py``; 7.0 at
L = 10...19 before the save-point sum), plus q final states with ``keep_final_states``."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from ._rootfind import JUMP_TOL, Bracket, hermite_root


AXIS = "traj"  # the vmap axis name of a chunk's lanes


def _sel(c, a, b):
    """``jnp.where(c, a, b)`` for a state (a vector, or a pytree: an MPS), in b's dtype."""
    return jax.tree_util.tree_map(lambda x, y: jnp.where(c, x.astype(y.dtype), y), a, b)


class State(NamedTuple):
    """One trajectory between save times: time ``t``, the unnormalized state ``psi``,
    log||psi||^2 and its slope at ``t``, the jump threshold ``r``, the number of jumps so far
    and the weight's jump factors (signed runs; 1 otherwise)."""

    t: jnp.ndarray
    psi: jnp.ndarray  # a state vector, or a pytree (an MPS: ``method=jr.MPS()``)
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
    psi: jnp.ndarray | None  # (q, D) final normalized states (MPS: tensors), or None
    njumps: jnp.ndarray  # (q,)


def lane(key, first, stride, count, q, psi0, tsave, prop, unr, e_ops, herm, keep_states,
         axis_name=None):
    """The trajectories first + j stride < first + ``count`` (at most q of them; ``first``,
    ``count`` may be traced), run back to back. Returns (expectations
    (q, n_rows, n_t), final normalized states (q, D) (MPS: (q, L, chi, d, chi)) or None,
    jumps (q,)); for signed runs the rows are mu <O> followed by mu (see :mod:`._unravelling`). Trajectory n uses the key
    ``fold_in(key, n)`` and its arithmetic does not depend on the other trajectories (of the
    lane or of the chunk), so results do not depend on ``batch_size`` or the device count.

    ``prop.propagate(psi, s, axis_name)`` = exp(-i H_nh s) psi for 0 <= s <= ``prop.max_step``.
    ``axis_name``: the vmap axis name, if vmapped (see the branches below)."""
    K = len(unr.jumps)
    n_t = tsave.shape[0]
    max_step = float(prop.max_step)
    measure = unr.measurement(e_ops, herm)
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

    def step(st: State, br: Bracket, i, n):
        """One propagation from the current time: a step, or a root-finding trial. A step
        ends at the save after next at the latest, so at most one save time lies inside it;
        the state there comes from the same Chebyshev recurrence (dense output) instead of a
        restart. Returns (State, Bracket, saved, psi at the save time, at t_lim)."""
        t, psi = st.t, st.psi
        lr = jnp.log(st.r)
        t_sv = tsave[i]  # the next save time
        t_lim = tsave[jnp.minimum(i + 1, n_t - 1)]  # the step ends here at the latest
        last = t_lim - t <= max_step
        s_step = jnp.where(last, t_lim - t, max_step)
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
        t_next = jnp.where(last, t_lim, t + s)  # the step's end (trials: never a save time)
        want = ~rooting & (t_sv <= t_next)  # the save time lies in (t, t_next]
        s_sv = jnp.where(t_sv >= t_next, s, jnp.clip(t_sv - t, 0.0, s))
        inside = want & (s_sv > 0) & (s_sv < s)
        psi_s, psi_sv = jax.lax.cond(
            any_lane(inside), lambda: prop.propagate(psi, s, axis_name, s_save=s_sv),
            lambda: (lambda p: (p, p))(prop.propagate(psi, s, axis_name)))
        # the end points exactly, whichever branch the batch took
        psi_sv = _sel(s_sv <= 0, psi, _sel(s_sv >= s, psi_s, psi_sv))
        if not K:
            return st._replace(t=t_next, psi=psi_s), br, want, psi_sv, last
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
        # the log-norm at a save point inside the step is needed only when the step crossed
        # (it decides on which side of the crossing the save point lies); at the step's ends
        # it is known
        ln_v, dn_v = jax.lax.cond(any_lane(crossed & inside),
                                  lambda: unr.log_norm_and_rate(psi_sv), lambda: (ln, dn))
        ln_v = jnp.where(s_sv <= 0, st.log_norm, jnp.where(s_sv >= s, ln, ln_v))
        dn_v = jnp.where(s_sv <= 0, st.log_norm_rate, jnp.where(s_sv >= s, dn, dn_v))
        f_v = ln_v - lr
        accept = (~rooting & (f >= 0) & ~hit) | bad
        conv = ~bad & (hit | (rooting & br.exhausted(t)))
        # the save time is reached without a jump before it; in a step that crossed, a
        # save point before the crossing is the bracket's low end, one past it the high end
        saved = (want & (~crossed | (f_v >= 0))) | bad
        sv_lo = crossed & (f_v >= 0)
        sv_hi = crossed & (f_v < 0)
        lo = (jnp.where(sv_lo, s_sv, 0.0), jnp.where(sv_lo, f_v, st.log_norm - lr),
              jnp.where(sv_lo, dn_v, st.log_norm_rate))
        hi = (jnp.where(sv_hi, s_sv, s), jnp.where(sv_hi, f_v, f), jnp.where(sv_hi, dn_v, dn))
        # ... and the trajectory moves to the end nearer the first trial (it propagates
        # backwards from the high end when that is nearer)
        go_hi = hi[0] - hermite_root(*lo, *hi) < hermite_root(*lo, *hi) - lo[0]
        p_cr = jnp.where(go_hi, hi[0], lo[0])
        opened = Bracket.opened(lo[0] - p_cr, lo[1], lo[2], hi[0] - p_cr, hi[1], hi[2])
        pick = lambda p, a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(p, x, y), a, b)
        moving = rooting & ~conv & ~bad  # a trial that did not converge: move there
        br = pick(crossed, opened, pick(moving, br.moved(s, f, dn), Bracket.closed()))
        # the crossed step's state at p_cr: the step start, the save point or the step end
        at_end = go_hi & ~sv_hi
        at_sv = (go_hi & sv_hi) | (~go_hi & sv_lo)
        psi_cr = _sel(at_end, psi_s, _sel(at_sv, psi_sv, psi))
        ln_cr = jnp.where(at_end, ln, jnp.where(at_sv, ln_v, st.log_norm))
        dn_cr = jnp.where(at_end, dn, jnp.where(at_sv, dn_v, st.log_norm_rate))

        def jump():
            pj, rj, fj = unr.jump(psi_s, jax.random.fold_in(key, n), st.njumps, axis_name)
            return (pj,) + unr.log_norm_and_rate(pj) + (rj, fj)

        pj, lnj, dnj, rj, fj = jax.lax.cond(any_lane(conv), jump, lambda: (psi_s, ln, dn, st.r, one))
        moved = accept | moving  # to the end of the propagation, without a jump
        st = State(
            t=jnp.where(accept, jnp.where(bad, t_lim, t_next),
                        jnp.where(conv, jnp.where(rooting, t + s, t_next),
                                  jnp.where(moving, t + s, t + p_cr))),
            psi=_sel(moved, psi_s, _sel(conv, pj, psi_cr)),
            log_norm=jnp.where(moved, ln, jnp.where(conv, lnj, ln_cr)),
            log_norm_rate=jnp.where(moved, dn, jnp.where(conv, dnj, dn_cr)),
            r=jnp.where(conv, rj, st.r),
            njumps=st.njumps + conv.astype(st.njumps.dtype),
            weight=jnp.where(conv, st.weight * fj, st.weight),
        )
        # the trajectory sits at t_lim (a save time) without a jump
        return st, br, saved, psi_sv, accept & last & ~bad

    def cond(c: Lane):
        return c.k < n_own

    def body(c: Lane):
        st, br, saved, psi_sv, at_lim = step(c.st, c.br, c.i, c.n)
        # the values at the save time (before a jump at the end of the step, if any), and
        # at t_lim when the step ended there (it is the next save time)
        second = saved & at_lim & (c.i + 1 < n_t)
        rec = lambda p, w, j: unr.weighted(measure(p), w, tsave[j], tsave[0])
        v1 = jax.lax.cond(any_lane(saved), lambda: rec(psi_sv, c.st.weight, c.i), lambda: jnp.zeros_like(ex0))
        j2 = jnp.minimum(c.i + 1, n_t - 1)
        v2 = jax.lax.cond(any_lane(second), lambda: rec(st.psi, st.weight, j2), lambda: jnp.zeros_like(ex0))
        ex = jnp.where(saved, c.ex.at[c.k, :, c.i].set(v1), c.ex)
        ex = jnp.where(second, ex.at[c.k, :, j2].set(v2), ex)
        i_new = c.i + saved.astype(c.i.dtype) + second.astype(c.i.dtype)
        done = i_new >= n_t  # the trajectory is finished
        nj = jnp.where(done, c.njumps.at[c.k].set(st.njumps), c.njumps)
        psi_rec = c.psi
        if keep_states:
            psi_n = unr.normalized(_sel(second, st.psi, psi_sv))
            psi_rec = jnp.where(done, c.psi.at[c.k].set(psi_n.astype(c.psi.dtype)), c.psi)
        k = c.k + done.astype(c.k.dtype)
        n_new, st_new = start(k)
        pick = lambda a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(done, x, y), a, b)
        return Lane(
            k=k,
            n=jnp.where(done, n_new, c.n),
            i=jnp.where(done, 1, i_new),
            st=pick(st_new, st),
            br=pick(Bracket.closed(), br),
            ex=ex, psi=psi_rec, njumps=nj,
        )

    n_rows = ex0.shape[0]
    ex_init = jnp.zeros((q, n_rows, n_t), ex0.dtype).at[:, :, 0].set(ex0)
    final0 = unr.normalized(psi0)  # the shape and dtype of a kept final state
    psi_init = jnp.zeros((q,) + final0.shape, final0.dtype) if keep_states else None
    n_0, st_0 = start(jnp.zeros((), jnp.int32))
    c = Lane(jnp.zeros((), jnp.int32), n_0, jnp.ones((), jnp.int32), st_0, Bracket.closed(),
             ex_init, psi_init, jnp.zeros((q,), jnp.int32))
    if n_t == 1:  # nothing to evolve
        nj = jnp.zeros((q,), jnp.int32)
        return ex_init, (jnp.broadcast_to(final0, (q,) + final0.shape) if keep_states else None), nj
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
    if B == 1:
        # one lane (the CPU default): the lane itself with a leading axis of 1, not a vmap of
        # one -- batching re-traces every nested loop's body (60 % of the MPS chunk's trace)
        # and turns the loops' branches into selects; the same arithmetic per trajectory
        b = lanes[0]
        out = lane(key, start + b, 1, count - b, q, psi0, tsave, prop, unr, e_ops, herm, keep_states)
        ex, psi, nj = jax.tree_util.tree_map(lambda x: x[None], out)
    else:
        if hasattr(unr, "axis_name"):  # an unravelling whose own methods need the lanes' axis (MPS)
            unr = dataclasses.replace(unr, axis_name=AXIS)
        ex, psi, nj = jax.vmap(
            lambda b: lane(key, start + b, B, count - b, q, psi0, tsave, prop, unr, e_ops, herm,
                           keep_states, AXIS),
            axis_name=AXIS)(lanes)
    order = lambda x: None if x is None else jnp.swapaxes(x, 0, 1).reshape((B * q,) + x.shape[2:])
    return order(ex), order(psi), order(nj)
