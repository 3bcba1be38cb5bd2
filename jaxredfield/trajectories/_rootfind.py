r"""The jump time of a step that crossed ||psi||^2 = r: the root of
f(s) = log||psi(t + s)||^2 - log r in a bracket [s_lo, s_hi] with f and f' = -<Gamma> known at
both ends; each trial is the root of the cubic Hermite interpolant of f, until
|f| < ``JUMP_TOL``. The trajectory always sits at one end of the bracket (offsets are relative
to its time t, so s_lo = 0 or s_hi = 0) and moves to every trial point: the next trial is a
short propagation from the nearest end, backwards (s < 0) when the trajectory sits past the
crossing, instead of a propagation over the whole bracket from its low end."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

#: |log ||psi(t_jump)||^2 - log r| at an accepted jump time (QuTiP's mcsolve accepts a
#: relative norm error of 1e-4): the jump time is then exact to ~1e-8 / (jump rate)
JUMP_TOL = 1e-8
#: root-finding trials before the bracket is accepted as it is
MAX_ROOT_ITERS = 60


class Bracket(NamedTuple):
    """The root-finding state of one trajectory: ``rooting`` (1 while a bracket is open, else
    0), the ends s_lo (f >= 0) and s_hi (f < 0) with their values f and slopes df, and the
    number of trials so far."""

    rooting: jnp.ndarray
    s_lo: jnp.ndarray
    f_lo: jnp.ndarray
    d_lo: jnp.ndarray
    s_hi: jnp.ndarray
    f_hi: jnp.ndarray
    d_hi: jnp.ndarray
    iters: jnp.ndarray

    @classmethod
    def closed(cls) -> "Bracket":
        i0, zero, one = jnp.zeros((), jnp.int32), jnp.zeros((), jnp.float64), jnp.ones((), jnp.float64)
        return cls(i0, zero, one, zero, one, -one, zero, i0)

    def trial(self):
        """The next trial step length within the bracket."""
        return hermite_root(self.s_lo, self.f_lo, self.d_lo, self.s_hi, self.f_hi, self.d_hi)

    @classmethod
    def opened(cls, s_lo, f_lo, d_lo, s_hi, f_hi, d_hi) -> "Bracket":
        """The bracket [s_lo, s_hi] (relative to the trajectory's time) of a step that crossed
        the threshold, with f and f' at both ends."""
        return cls(jnp.ones((), jnp.int32), s_lo, f_lo, d_lo, s_hi, f_hi, d_hi, jnp.zeros((), jnp.int32))

    def moved(self, s, f, df):
        """After a trial at offset ``s`` with f, f' = ``f``, ``df`` there, to which the
        trajectory moves: the trial replaces the end on its side and the origin moves to it."""
        lo = f >= 0
        return self._replace(
            s_lo=jnp.where(lo, 0.0, self.s_lo - s),
            f_lo=jnp.where(lo, f, self.f_lo),
            d_lo=jnp.where(lo, df, self.d_lo),
            s_hi=jnp.where(lo, self.s_hi - s, 0.0),
            f_hi=jnp.where(lo, self.f_hi, f),
            d_hi=jnp.where(lo, self.d_hi, df),
            iters=self.iters + 1,
        )

    def exhausted(self, t):
        """The bracket is as narrow as round-off allows at time t, or the trials are used up."""
        return (self.s_hi - self.s_lo <= 1e-13 * jnp.maximum(1.0, jnp.abs(t))) | (self.iters >= MAX_ROOT_ITERS)


def hermite_root(a, fa, da, b, fb, db):
    """Root in [a, b] of the cubic Hermite interpolant of f (values fa > 0 > fb, slopes da, db):
    Newton from the secant point, falling back to the secant point when Newton leaves the
    bracket or fails. Scalar work only."""
    w = b - a
    u_sec = jnp.clip(fa / (fa - fb), 0.0, 1.0)
    ga, gb = w * da, w * db

    def p(u):
        u2, u3 = u * u, u * u * u
        return ((2 * u3 - 3 * u2 + 1) * fa + (u3 - 2 * u2 + u) * ga + (-2 * u3 + 3 * u2) * fb
                + (u3 - u2) * gb)

    def dp(u):
        u2 = u * u
        return (6 * u2 - 6 * u) * fa + (3 * u2 - 4 * u + 1) * ga + (6 * u - 6 * u2) * fb + (3 * u2 - 2 * u) * gb

    u = u_sec
    for _ in range(8):
        u = jnp.clip(u - p(u) / dp(u), 0.0, 1.0)
    ok = jnp.isfinite(u) & (jnp.abs(p(u)) <= jnp.abs(p(u_sec)))
    u = jnp.where(ok, u, jnp.where(jnp.isfinite(u_sec), u_sec, 0.5))
    return a + u * w
