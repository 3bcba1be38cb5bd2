r"""The jump time of a step that crossed ||psi||^2 = r: the root of
f(s) = log||psi(t + s)||^2 - log r in a bracket [s_lo, s_hi] with f and f' = -<Gamma> known at
both ends; each trial is the root of the cubic Hermite interpolant of f, propagating from the
bracket's low end (the trajectory advances to every trial that lands before the crossing),
until |f| < ``JUMP_TOL``."""

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

    def update(self, crossed, s, f, df, f0, df0, advance=False):
        """After a propagation of length ``s`` with f, f' = ``f``, ``df`` at its end: a step
        that ``crossed`` the threshold opens the bracket [0, s] (f0, df0: at the step start);
        a trial replaces the end on its side. ``advance``: the trajectory moved to the trial
        point (a trial on the low side), so the bracket's origin moves with it: [0, s_hi - s]."""
        rooting = self.rooting == 1
        lo = f >= 0
        zero = jnp.zeros((), jnp.float64)
        hi_side = crossed | (rooting & ~lo)
        s_hi = jnp.where(hi_side, s, self.s_hi)
        return self._replace(
            s_lo=jnp.where(crossed | advance, zero, jnp.where(rooting & lo, s, self.s_lo)),
            f_lo=jnp.where(crossed, f0, jnp.where(rooting & lo, f, self.f_lo)),
            d_lo=jnp.where(crossed, df0, jnp.where(rooting & lo, df, self.d_lo)),
            s_hi=jnp.where(advance, s_hi - s, s_hi),
            f_hi=jnp.where(hi_side, f, self.f_hi),
            d_hi=jnp.where(hi_side, df, self.d_hi),
            iters=jnp.where(rooting, self.iters + 1, 0),
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
