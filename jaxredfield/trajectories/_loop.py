r"""One quantum-jump trajectory as a single jittable function, and a vmapped chunk of them.

Structure: ``lax.scan`` over the save intervals; inside each interval a ``lax.while_loop``
whose every iteration is one propagation from the current step start (a step, or a
root-finding trial), so vmapped trajectories stay in lock step whatever their jump times.
Since ||psi||^2 is non-increasing, a step holds a jump iff ||psi||^2 < r at its end. A step
that the log-norm's slope predicts to cross r ends at the predicted crossing; if it
overshoots, the jump time is found by :mod:`._rootfind`. Trajectory n uses the key
``fold_in(key, n)`` and its arithmetic does not depend on the other trajectories of its
chunk, so results do not depend on ``batch_size`` or the device count.

Memory per trajectory in flight (Chebyshev): the step start psi, the recurrence vectors
T_{n-1}, T_n (overwritten in place), the sum, the trial result and the where-selected next
state: 7.0 state vectors of 16 d^L bytes (complex128), measured by XLA's memory analysis of
a compiled chunk at L = 10...19 (``benchmarks/results/trajectories.md``)."""

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


def trajectory(key, psi0, tsave, prop, unr, e_ops, herm, axis_name=None):
    """One trajectory. Returns (expectations (n_rows, n_t), final normalized state, number of
    jumps); for signed runs the rows are mu <O> followed by mu (see :mod:`._unravelling`).
    Pure and jittable; vmapped over ``key``.

    ``prop.propagate(psi, s, axis_name)`` = exp(-i H_nh s) psi for 0 <= s <= ``prop.max_step``.
    ``axis_name``: the vmap axis name, if vmapped (see the branches below)."""
    K = len(unr.jumps)
    L, d = unr.L, unr.d
    max_step = float(prop.max_step)
    measure = measurement(e_ops, herm, L, d)
    zero, one = jnp.zeros((), jnp.float64), jnp.ones((), jnp.float64)

    def interval(st: State, t_end):
        def cond(c):
            return c[0].t < t_end

        def body(c):
            st, br = c
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
                pj, rj, fj = unr.jump(psi_s, key, st.njumps)
                return (pj,) + unr.log_norm_and_rate(pj) + (rj, fj)

            # an unbatched predicate keeps this a real branch under vmap (a batched one
            # becomes a select that computes the jump of every trajectory every iteration)
            any_conv = conv if axis_name is None else jax.lax.pmax(conv.astype(jnp.int32), axis_name) > 0
            pj, lnj, dnj, rj, fj = jax.lax.cond(any_conv, jump, lambda: (psi_s, ln, dn, st.r, one))
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

        st, _ = jax.lax.while_loop(cond, body, (st, Bracket.closed()))
        return st, unr.weighted(measure(st.psi), st.weight, t_end, tsave[0])

    r0 = jax.random.uniform(jax.random.fold_in(key, 0), dtype=jnp.float64)
    ln_0, dn_0 = unr.log_norm_and_rate(psi0) if K else (zero, zero)
    st0 = State(tsave[0], psi0, ln_0, dn_0, r0, jnp.zeros((), jnp.int32), one)
    st, ex = jax.lax.scan(interval, st0, tsave[1:])
    ex = jnp.concatenate([unr.weighted(measure(psi0), one, tsave[0], tsave[0])[None], ex], axis=0).T
    return ex, st.psi / jnp.sqrt(jnp.vdot(st.psi, st.psi).real), st.njumps


@eqx.filter_jit
def chunk(key, idx, psi0, tsave, prop, unr, e_ops, herm):
    """The trajectories with indices ``idx`` (trajectory n uses ``fold_in(key, n)``), vmapped
    with the axis name "traj" (sharded over devices when ``idx`` is)."""
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(idx)
    return jax.vmap(lambda k: trajectory(k, psi0, tsave, prop, unr, e_ops, herm, "traj"),
                    axis_name="traj")(keys)
