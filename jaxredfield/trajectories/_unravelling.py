r"""The unravelling of a Lindblad or pseudo-Lindblad equation into jumps: the damping terms of
the non-Hermitian Hamiltonian, the channel signs, the clock shift c, the jump and the weight.

**Lindblad form** -i[H, rho] + sum_k D[L_k](rho) (Mølmer–Castin–Dalibard, waiting-time
form): the *non-normalized* state evolves with H_nh = H - (i/2) sum_k L_k^dag L_k until
||psi||^2 falls to a uniform random number r; the jump channel k is drawn with probability
proportional to ||L_k psi||^2 (from reduced density matrices of the jump supports),
psi -> L_k psi / ||L_k psi||, and a new r is drawn (as in QuTiP's ``mcsolve``).

**Signed trajectories** (pseudo-Lindblad form -i[H, rho] + sum_k D[L_k] - sum_m D[M_m], SM E;
after Becker, Netzer & Eckardt, PRL 131, 160401 (2023), ref. [83] of the paper): the Redfield
equation itself, e.g. ``pseudo_lindblad(local_redfield(system, N), lam_loc(system))``, is
unravelled exactly by trajectories that carry a real weight mu (with a sign):
rho(t) = E[mu(t) |psi(t)><psi(t)|] with psi normalized. Derivation (jump times at any rate R
with channel probabilities p_k stay unbiased if the weight is corrected): the normalized state
evolves with H_nh = H - (i/2) Gamma_s, Gamma_s = sum_k L_k^dag L_k - sum_m M_m^dag M_m (the
signed one: L_- adds anti-damping); jumps come at the clock rate R = <Gamma_s> + c, channel j
(positive or negative) drawn with probability ~ ||L_j psi||^2, and then

    mu -> s_j mu (sum_j ||L_j psi||^2) / (R ||psi||^2)      (s_j = -1 for the M_m),

and between jumps mu grows as e^{c t}. With Gamma_s + c >= 0 the clock is again the decay
of ||psi||^2 under H - (i/2)(Gamma_s + c), so the same engine runs it (:func:`damping_terms`):
c is the least shift that makes every merged local term of Gamma_s positive semidefinite and
keeps R >= CLOCK_FLOOR sum_m ||M_m||^2. For a pseudo-Lindblad pair
L_+^dag L_+ - L_-^dag L_- = u^dag v + v^dag u does not depend on lambda and is positive
definite on the paper's chain at T >~ 2h, so c = 0 there and mu changes only at jumps, by
(a + m)/(a - m) (a, m: the L_+ and L_- weights) -- to first order the growth rate 2<M^dag M>
of the natural scheme. The variance of the estimator grows with time; ``mcsolve`` reports
the trace estimate E[mu] (exactly 1 in expectation) with its standard error, sqrt(E[mu^2])
and the fraction of negative weights at every save time, and stops a run whose trace error
exceeds ``max_trace_error`` instead of returning noise."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..equations import MasterEquation
from ..operators import LocalOperator, apply_left, merge_terms
from ._observables import measurement, reduced_dm, support_groups

#: signed trajectories: the clock rate is kept >= CLOCK_FLOOR * sum_m ||M_m||^2, which bounds
#: every jump factor (module docstring)
CLOCK_FLOOR = 0.25


def damping_terms(eq: MasterEquation):
    """The positive semidefinite local terms G_j of H_nh = H - (i/2) sum_j G_j and the scalar
    shift c (module docstring). Lindblad equations: G = {L_k^dag L_k}, c = 0. With negative
    jumps: the terms of Gamma_s = sum_k L_k^dag L_k - sum_m M_m^dag M_m merged per support
    (for a pseudo-Lindblad pair L_+-: L_+^dag L_+ - L_-^dag L_- = u^dag v + v^dag u), each
    raised by max(0, -lambda_min) to be positive semidefinite, plus a constant that keeps
    the clock rate <Gamma_s> + c >= CLOCK_FLOOR sum_m ||M_m||^2 > 0; c is the sum of the
    raises. Where Gamma_s is positive definite enough (the paper's chain at T >~ 2h), c = 0."""
    gdag = [o.with_matrix(o.matrix.conj().T @ o.matrix) for o in eq.jumps]
    if not eq.negative_jumps:
        return gdag, 0.0
    mdm = [o.with_matrix(-(o.matrix.conj().T @ o.matrix)) for o in eq.negative_jumps]
    C = sum(float(np.linalg.norm(np.asarray(o.matrix), 2)) ** 2 for o in eq.negative_jumps)
    terms, c, floor = [], 0.0, 0.0
    for g in merge_terms(gdag + mdm):
        G = np.asarray(g.matrix)
        G = 0.5 * (G + G.conj().T)
        lo = float(np.linalg.eigvalsh(G)[0])
        raise_ = max(0.0, -lo)
        c += raise_
        floor += max(lo, 0.0)
        terms.append([G + raise_ * np.eye(G.shape[0]), g.sites])
    extra = max(0.0, CLOCK_FLOOR * C - floor)
    terms[0][0] = terms[0][0] + extra * np.eye(terms[0][0].shape[0])
    c += extra
    return [LocalOperator(G, sites, eq.L, eq.d) for G, sites in terms], c


class Unravelling(eqx.Module):
    """The jump channels of one run (positive channels, then the negative ones, in the run's
    dtype), their signs (``None``: Lindblad form, all +1) and the clock shift c.

    Build with :meth:`build`, which also returns the damping terms of H_nh for the
    propagator. The methods are pure and jittable (one trajectory's state)."""

    jumps: tuple
    signs: tuple | None = eqx.field(static=True)
    shift: float = eqx.field(static=True)
    L: int = eqx.field(static=True)
    d: int = eqx.field(static=True)

    @classmethod
    def build(cls, eq: MasterEquation, dtype):
        """(unravelling, damping terms G_j of H_nh = H - (i/2) sum_j G_j)."""
        damping, shift = damping_terms(eq)
        jumps = tuple(o.with_matrix(o.matrix.astype(dtype)) for o in eq.jumps + eq.negative_jumps)
        signs = ((1.0,) * len(eq.jumps) + (-1.0,) * len(eq.negative_jumps)
                 if eq.negative_jumps else None)
        return cls(jumps, signs, float(shift), eq.L, eq.d), damping

    @property
    def signed(self) -> bool:
        return self.signs is not None and any(x < 0 for x in self.signs)

    def _sgn(self):
        return jnp.asarray(self.signs if self.signed else [1.0] * len(self.jumps), jnp.float64)

    def measurement(self, e_ops, herm):
        """``measure(psi)``: the values <psi|O|psi>/<psi|psi> of the e_ops (real where
        ``herm``) of one trajectory's state."""
        return measurement(e_ops, herm, self.L, self.d)

    def normalized(self, psi):
        """The state ``psi`` normalized, as an array (what ``keep_final_states`` returns)."""
        return psi / jnp.sqrt(jnp.vdot(psi, psi).real)

    def jump_weights(self, psi):
        """||L_k psi||^2 = Tr(L_k^dag L_k rho_S), from the reduced density matrix of each
        distinct jump support."""
        sup, which = support_groups(self.jumps)
        rhos = [reduced_dm(psi, s, self.L, self.d) for s in sup]
        return jnp.stack([jnp.sum((Lk.matrix.conj().T @ Lk.matrix) * rhos[w].T).real
                          for Lk, w in zip(self.jumps, which)]).astype(jnp.float64)

    def log_norm_and_rate(self, y):
        """log||y||^2 and its time derivative -<y|Gamma|y>/<y|y>, Gamma = sum L_k^dag L_k
        (signed: sum_k s_k L_k^dag L_k + c)."""
        n2 = jnp.vdot(y, y).real.astype(jnp.float64)
        if not self.signed:
            return jnp.log(n2), -jnp.sum(self.jump_weights(y)) / n2
        return jnp.log(n2), -jnp.sum(self._sgn() * self.jump_weights(y)) / n2 - self.shift

    def draw_channel(self, psi, key, nj):
        """(channel k drawn with probability ~ ||L_k psi||^2 from fold_in(key, nj + 1), the
        weights, their cumulative sum, the key of the next threshold r)."""
        kc, kr = jax.random.split(jax.random.fold_in(key, nj + 1))
        wts = self.jump_weights(psi)
        cum = jnp.cumsum(wts)
        u = jax.random.uniform(kc, dtype=jnp.float64) * cum[-1]
        return jnp.minimum(jnp.sum(cum <= u), len(self.jumps) - 1), wts, cum, kr

    def jump(self, psi, key, nj, axis_name=None):
        """(normalized state after jump number ``nj`` + 1 of the trajectory with key ``key``,
        the next random threshold r, the weight factor (1 unless signed)); ``axis_name``: the
        vmap axis of trajectories (used by the MPS jump). The randomness of
        the jump comes from fold_in(key, nj + 1). The jump is applied once per distinct jump
        support with the channel selected by a one-hot weighted sum of the local matrices
        (no vmapped ``lax.switch``, which evaluates every branch)."""
        sgn = self._sgn()
        sup, which = support_groups(self.jumps)
        k, wts, cum, kr = self.draw_channel(psi, key, nj)
        new = None
        for si, s in enumerate(sup):
            m = sum(jnp.where(k == n, 1.0, 0.0).astype(Lk.matrix.dtype) * Lk.matrix
                    for n, (Lk, w) in enumerate(zip(self.jumps, which)) if w == si)
            part = apply_left(LocalOperator(m, s, self.L, self.d), psi)
            new = part if new is None else new + part
        # sum_j ||L_j psi||^2 = 0 happens only in signed runs whose clock ticks at the shift
        # c alone (psi dark to every jump): the weight factor below is then exactly 0 and the
        # trajectory contributes nothing more; keep psi (L_k psi / 0 would be NaN)
        nn = jnp.sqrt(jnp.vdot(new, new).real)
        new = jnp.where(nn > 0, new / jnp.where(nn > 0, nn, 1.0), psi / jnp.sqrt(jnp.vdot(psi, psi).real))
        r = jax.random.uniform(kr, dtype=jnp.float64)
        if not self.signed:
            return new, r, jnp.ones((), jnp.float64)
        # weight factor s_k (sum_j w_j) / (clock rate * ||psi||^2)
        n2 = jnp.vdot(psi, psi).real.astype(jnp.float64)
        return new, r, sgn[k] * cum[-1] / (jnp.sum(sgn * wts) + self.shift * n2)

    def weighted(self, vals, wgt, t, t0):
        """Signed runs: mu <O> with mu = e^{c (t - t0)} wgt, followed by a row mu; else vals."""
        if not self.signed:
            return vals
        mu = wgt * jnp.exp(self.shift * (t - t0))
        dt = jnp.result_type(vals.dtype, jnp.float64)
        return jnp.concatenate([mu * vals.astype(dt), mu[None].astype(dt)])
