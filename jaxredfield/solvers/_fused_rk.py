"""Explicit Runge-Kutta steps with the stage sums written out, for mesolve's density matrices
(private: :func:`jaxredfield.mesolve` uses ``FusedDopri8`` in place of ``diffrax.Dopri8()``,
its default, and ``FusedTsit5`` in place of ``diffrax.Tsit5()``).

The same methods as diffrax's -- their Butcher tableaus, first-same-as-last stage, error
estimates and dense output (diffrax's own interpolation classes), run by the same
``diffeqsolve`` with the same ``PIDController`` -- so each step agrees with diffrax's to
round-off (tests/test_fused_rk.py). Tsit5 then takes the same steps; Dopri8's step sizes can
follow the round-off of its error estimate (a sum with cancellation), so its save values agree
with diffrax's to the dense output's error, well inside the tolerance. Only the stage
arithmetic differs:

- diffrax's generic Runge-Kutta step forms every stage's y_i = y_0 + h sum_j a_ij f_j as a
  ``tensordot`` of a full tableau row with the whole (n, D, D) stage buffer (zeros included:
  n density matrices read per stage, n = 7 for Tsit5, 14 for Dopri8); here stage i is one
  fused elementwise pass over the stages it needs (a ``lax.switch`` over the stage index
  inside a ``fori_loop``, as the stage index is a loop counter);
- the right-hand side's value is kept in the loop carry as well as written into the stage
  buffer: with a single use XLA:CPU fuses the whole right-hand side into the buffer's
  dynamic-update-slice, which runs it at half speed (measured: 1.14 vs 0.59 ms per
  evaluation at L = 8).

Measured (2 CPU cores, float64; the paper's chain, local Lindblad N = 1, rtol 1e-8, atol 1e-10,
84 Tsit5 steps): a trivial right-hand side (84 steps at D = 256) 0.325 s -> 0.20 s of stage
arithmetic; ``mesolve`` at L = 8 0.90 s -> 0.77 s (dynamiqs 0.88 s), identical step count,
results within 7e-16. Dopri8's 14-stage tableau gains more (the generic step reads 14
matrices per stage where the fused one reads on average 6).

Tried and rejected: the stages unrolled in Python (XLA:CPU fuses each right-hand side into the
zero-padding of the next stage's input and evaluates it over the padded 640 x 640 array:
1.2 s), an optimization barrier between them (removed before fusion on CPU: no effect).
"""

from __future__ import annotations

import diffrax as dfx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from diffrax import RESULTS


def _stage(a, h):
    """y_0 + h sum_j a_j F[j] over the nonzero a_j (a Python list: one fused pass)."""
    def combine(y0, fs):
        def leaf(y, F):
            terms = [aj * F[j] for j, aj in enumerate(a) if aj != 0.0]
            return y + h * sum(terms[1:], terms[0]) if terms else y
        return jax.tree.map(leaf, y0, fs)
    return combine


class _FusedStep:
    """The step of a first-same-as-last explicit Runge-Kutta method whose solution is its last
    stage's point (``fsal`` and ``ssal``: Tsit5, Dopri8), with fused stage sums; ODE terms
    only. Mixed in before the diffrax solver class, whose tableau and interpolation it uses."""

    def step(self, terms, t0, t1, y0, args, solver_state, made_jump):
        tab = self.tableau
        assert tab.fsal and tab.ssal, "fused step: first-same-as-last tableaus only"
        first_step, f0 = solver_state
        # first-same-as-last: f(t0, y0) is the previous step's last stage unless this is the
        # first step or after a jump (diffrax's rule; the predicate is never batched)
        redo = eqxi.unvmap_any(first_step | made_jump)
        f0 = jax.lax.cond(redo, lambda: terms.vf(t0, y0, args), lambda: f0)
        h = terms.contr(t0, t1)
        rows = [[float(x) for x in a] for a in tab.a_lower]  # stages 1 ... n-1
        n = len(rows) + 1
        stages = [_stage(a, h) for a in rows]
        c = jnp.asarray(np.asarray(tab.c, dtype=np.float64))
        fs = jax.tree.map(lambda f: jnp.zeros((n,) + f.shape, f.dtype).at[0].set(f), f0)

        def body(i, carry):
            fs, _ = carry
            yi = jax.lax.switch(i - 1, stages, y0, fs)
            ci = c[i - 1]
            ti = jnp.where(ci == 1.0, t1, t0 + ci * (t1 - t0))  # diffrax's stage times
            fi = terms.vf(ti, yi, args)
            return jax.tree.map(lambda F, f: F.at[i].set(f), fs, fi), fi

        fs, f_last = jax.lax.fori_loop(1, n, body, (fs, f0))
        y1 = stages[-1](y0, fs)  # the last stage's point is the solution (tableau's b = a_n)
        b_err = [float(b) for b in tab.b_error]
        y_error = jax.tree.map(lambda F: h * sum(b * F[j] for j, b in enumerate(b_err) if b != 0.0), fs)
        dense_info = dict(y0=y0, y1=y1, k=jax.tree.map(lambda F: h * F, fs))
        return y1, y_error, dense_info, (False, f_last), RESULTS.successful


class FusedTsit5(_FusedStep, dfx.Tsit5):
    """``diffrax.Tsit5`` with fused stage sums (module docstring); ODE terms only."""


class FusedDopri8(_FusedStep, dfx.Dopri8):
    """``diffrax.Dopri8`` with fused stage sums (module docstring); ODE terms only."""


#: diffrax solver class -> its fused version (mesolve swaps these in)
FUSED = {dfx.Tsit5: FusedTsit5, dfx.Dopri8: FusedDopri8}
