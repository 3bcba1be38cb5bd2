r"""Monte-Carlo wave-function trajectories (Mølmer–Castin–Dalibard, waiting-time form) for
Lindblad-form master equations

    d rho/dt = -i[H, rho] + sum_k D[L_k](rho).

Each trajectory evolves the *non-normalized* state with the non-Hermitian Hamiltonian

    H_nh = H - (i/2) sum_k L_k^dag L_k,      psi(t + s) = exp(-i H_nh s) psi(t),

matrix-free, until ||psi||^2 falls to a uniform random number r. The propagator is, by
default, the Chebyshev expansion of :mod:`.chebyshev` (``method="chebyshev"``: steps of
R s <= tau_max with a rigorous truncation bound; ~R s products per step instead of ~6 per
much shorter Runge-Kutta step), or diffrax Tsit5 + PIDController (``method="diffrax"``, the
reference). Since ||psi||^2 is non-increasing, a step holds a jump iff ||psi||^2 < r at its
end. A step that the log-norm's slope predicts to cross r ends at the predicted crossing;
if it overshoots, the jump time is the root of f(s) = log||psi(t + s)||^2 - log r in the
bracket [0, s], found from the cubic Hermite interpolant of f and f' = -<Gamma> at the
bracket ends, every trial propagating from the step start, until |f| < 1e-8 (``JUMP_TOL``).
The jump channel k is drawn with probability proportional to ||L_k psi||^2 (from reduced
density matrices of the jump supports), psi -> L_k psi / ||L_k psi||, and a new r is drawn
(as in QuTiP's ``mcsolve``). Expectation values at the save times use the normalized state.

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
of ||psi||^2 under H - (i/2)(Gamma_s + c), so the same engine runs it (``damping_terms``): c
is the least shift that makes every merged local term of Gamma_s positive semidefinite and
keeps R >= CLOCK_FLOOR sum_m ||M_m||^2. For a pseudo-Lindblad pair
L_+^dag L_+ - L_-^dag L_- = u^dag v + v^dag u does not depend on lambda and is positive
definite on the paper's chain at T >~ 2h, so c = 0 there and mu changes only at jumps, by
(a + m)/(a - m) (a, m: the L_+ and L_- weights) -- to first order the growth rate 2<M^dag M>
of the natural scheme. The variance of the estimator grows with time; the result reports
the trace estimate E[mu] (exactly 1 in expectation) with its standard error, sqrt(E[mu^2])
and the fraction of negative weights at every save time, and a run whose trace error
exceeds ``max_trace_error`` stops with a message instead of returning noise.

Structure of one trajectory (a single jittable function): ``lax.scan`` over the save
intervals; inside each interval a ``lax.while_loop`` whose every iteration is one
propagation (a step, or a root-finding trial), so vmapped trajectories stay in lock step.
Trajectory n uses the key ``fold_in(key, n)`` and its arithmetic does not depend on the other
trajectories of its chunk, so results do not depend on ``batch_size`` or the device count.
Trajectories run in chunks of ``batch_size`` with ``jax.vmap`` inside a chunk; the mean and
its standard error are accumulated chunk by chunk with Chan's pairwise (Welford) update in
float64.

Memory per trajectory in flight (Chebyshev): the step start psi, the recurrence vectors
T_{n-1}, T_n (overwritten in place), the sum, the trial result and the where-selected next
state: 7.0 state vectors of 16 d^L bytes (complex128), measured by XLA's memory analysis of
a compiled chunk at L = 10...19 (``benchmarks/results/trajectories.md``)."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
import warnings

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_equation_finite, check_positive, check_positive_int, check_tsave, is_concrete
from ..equations import MasterEquation
from ..observables import hermitian_flags, to_local
from ..operators import LocalOperator, apply_left, embed, merge_terms
from ..operators._gather import apply_sum, fused_sum

from .chebyshev import ChebyshevPropagator

#: terms of the non-Hermitian Hamiltonian up to this dimension use the fused gather kernel
_GATHER_MAX_DIM = 16


class MCSolveResult(eqx.Module):
    """Result of :func:`mcsolve`.

    - ``tsave`` (n_t,): save times.
    - ``expect_mean`` (n_ops, n_t): trajectory average of <psi|O|psi>/<psi|psi> (real for
      Hermitian e_ops, else complex); ``None`` without e_ops.
    - ``expect_stderr`` (n_ops, n_t): standard error of that mean, sqrt(s^2 / ntraj) with
      the unbiased sample variance s^2 (for complex values s^2 = sum |x - mean|^2/(n-1));
      NaN for ntraj = 1.
    - ``expect_trajectories`` (ntraj, n_ops, n_t) with ``keep_trajectories=True``, else None.
    - ``final_states`` (ntraj, D): normalized states at ``tsave[-1]`` with
      ``keep_final_states=True``, else None.
    - ``ntraj``: number of trajectories; ``njumps`` (ntraj,): jumps of each trajectory.

    Signed (pseudo-Lindblad) runs only, else ``None``:

    - ``trace_mean``, ``trace_stderr`` (n_t,): the estimate E[mu] of Tr rho (exactly 1 in
      expectation) and its standard error -- a direct measure of the run's statistical
      quality at each time.
    - ``weight_rms`` (n_t,): sqrt(E[mu^2]), the growth of the estimator's variance: the
      standard error of any <O> is at most ||O|| weight_rms / sqrt(ntraj).
    - ``negative_fraction`` (n_t,): fraction of trajectories with mu < 0 at each time.
    """

    tsave: jnp.ndarray
    expect_mean: object
    expect_stderr: object
    expect_trajectories: object
    final_states: object
    ntraj: int
    njumps: np.ndarray
    trace_mean: object = None
    trace_stderr: object = None
    weight_rms: object = None
    negative_fraction: object = None


# --------------------------------------------------------------------------------------------
# operators


class DiffraxPropagator(eqx.Module):
    """psi -> exp(-i H_nh s) psi by diffrax (Tsit5 + PIDController), matrix-free; the
    reference integrator for :class:`ChebyshevPropagator` (``method="diffrax"``)."""

    gen: object  # GatherOperator or tuple of LocalOperators summing to -i H_nh
    rtol: float
    atol: float
    max_steps: int = eqx.field(static=True)
    max_step = float("inf")

    @classmethod
    def build(cls, eq: MasterEquation, rtol, atol, max_steps, dtype, damping) -> "DiffraxPropagator":
        terms = [h.scale(-1j) for h in eq.hamiltonian]
        terms += [LocalOperator(-0.5 * g.matrix, g.sites, eq.L, eq.d) for g in damping]
        return cls(fused_sum(terms, dtype, _GATHER_MAX_DIM), float(rtol), float(atol), int(max_steps))

    def propagate(self, psi, s, axis_name=None):
        def rhs(t, y, args):
            return apply_sum(self.gen, y)

        sol = dfx.diffeqsolve(
            dfx.ODETerm(rhs), dfx.Tsit5(), t0=jnp.zeros_like(s), t1=s, dt0=None, y0=psi,
            saveat=dfx.SaveAt(t1=True),
            stepsize_controller=dfx.PIDController(rtol=self.rtol, atol=self.atol),
            max_steps=self.max_steps,
        )
        return sol.ys[-1].astype(psi.dtype)


# --------------------------------------------------------------------------------------------
# one trajectory


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
    gdag = [LocalOperator(o.matrix.conj().T @ o.matrix, o.sites, o.L, o.d) for o in eq.jumps]
    if not eq.negative_jumps:
        return gdag, 0.0
    mdm = [LocalOperator(-(o.matrix.conj().T @ o.matrix), o.sites, o.L, o.d) for o in eq.negative_jumps]
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


def _support_groups(ops):
    """Unique supports (in first-seen order) and, per op, the index of its support."""
    supports, which = [], []
    for o in ops:
        if o.sites not in supports:
            supports.append(o.sites)
        which.append(supports.index(o.sites))
    return supports, which


def _reduced_dm(psi, sites, L, d):
    """rho_S[a, b] = sum_rest psi[a, rest] conj(psi[b, rest]) on the sites ``sites`` (in that
    order) of the unnormalized state: a (d^k, d^k) matrix."""
    k = len(sites)
    if tuple(sites) == tuple(range(sites[0], sites[0] + k)):
        # contiguous sites in order: a free reshape, no transpose of the state
        t = psi.reshape(d ** sites[0], d**k, -1)
        return jnp.einsum("xar,xbr->ab", t, t.conj())
    t = jnp.moveaxis(psi.reshape((d,) * L), sites, tuple(range(k))).reshape(d**k, -1)
    return t @ t.conj().T


def _reduced_dms(psi, supports, L, d):
    """Reduced density matrices of ``psi`` on each support (None where ``_small_support`` is
    False), computed one at a time: a ``fori_loop`` over a ``lax.switch`` of the supports
    (zero-padded to the largest), so only one support's full-size temporaries exist at a
    time (side by side, XLA kept ~1.5 state vectors per support alive: 22 for 14 sites)."""
    small = [k for k, s in enumerate(supports) if _small_support(s, L)]
    out = [None] * len(supports)
    if not small:
        return out
    n = max(d ** len(supports[k]) for k in small)

    def branch(sites):
        def f(p):
            r = _reduced_dm(p, sites, L, d)
            return jnp.pad(r, ((0, n - r.shape[0]), (0, n - r.shape[1])))
        return f

    branches = [branch(supports[k]) for k in small]
    acc = jnp.zeros((len(small), n, n), jnp.result_type(psi.dtype, jnp.complex64))
    acc = jax.lax.fori_loop(0, len(small), lambda k, a: a.at[k].set(jax.lax.switch(k, branches, psi)), acc)
    for pos, k in enumerate(small):
        m = d ** len(supports[k])
        out[k] = acc[pos, :m, :m]
    return out


def _small_support(sites, L):
    # a reduced density matrix is cheaper than O psi when (d^k)^2 <= d^L
    return 2 * len(sites) <= L


def _is_diagonal_contiguous(o) -> bool:
    k = len(o.sites)
    if isinstance(o.matrix, jax.core.Tracer) or o.sites != tuple(range(o.sites[0], o.sites[0] + k)):
        return False
    m = np.asarray(o.matrix)
    return bool(np.all(m == np.diag(np.diag(m))))


def _observable_plan(e_ops, L, d):
    """How :func:`_trajectory` evaluates each e_op: diagonal ones on contiguous sites from the
    probabilities |psi|^2 summed onto their sites (("diag", sites, diagonal)); the others
    from reduced density matrices of the supports not contained in another such support
    (("rdm", index of the support, matrix embedded there)). Returns (supports, plan)."""
    rest = [o for o in e_ops if not _is_diagonal_contiguous(o)]
    maximal = []
    for o in sorted(rest, key=lambda o: -len(o.sites)):
        if not any(set(o.sites) <= set(m) for m in maximal):
            maximal.append(tuple(sorted(o.sites)))
    plan = []
    for o in e_ops:
        if _is_diagonal_contiguous(o):
            plan.append(("diag", o.sites, jnp.diag(o.matrix)))
            continue
        w = next(i for i, m in enumerate(maximal) if set(o.sites) <= set(m))
        plan.append(("rdm", w, embed(o.matrix, o.sites, maximal[w], d)))
    return maximal, plan


#: |log ||psi(t_jump)||^2 - log r| at an accepted jump time (QuTiP's mcsolve accepts a
#: relative norm error of 1e-4): the jump time is then exact to ~1e-8 / (jump rate)
JUMP_TOL = 1e-8
_MAX_ROOT_ITERS = 60


def _hermite_root(a, fa, da, b, fb, db):
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


def _trajectory(key, psi0, tsave, propagate, max_step, jumps, e_ops, herm, L, d, axis_name=None,
                signs=None, shift=0.0):
    """One MCWF trajectory. Returns (expectations (n_ops, n_t), final normalized state,
    number of jumps). Pure and jittable; vmapped over ``key``.

    ``signs`` (one +-1 per jump, static; ``None``: all +1) and ``shift`` c: a signed
    trajectory (module docstring). ``propagate`` then includes the shifted damping, the clock
    rate is <sum_k s_k L_k^dag L_k> + c, every jump multiplies the weight by
    s_k sum_j ||L_j psi||^2 / (sum_j s_j ||L_j psi||^2 + c ||psi||^2), and the expectations
    returned are mu <O> with mu = e^{c (t - t_0)} prod(jump factors), followed by a row mu.

    ``propagate(psi, s)`` = exp(-i H_nh s) psi for 0 <= s <= ``max_step``. Each save interval
    is a ``lax.while_loop`` of a state machine whose every iteration is one propagation from
    the current step start: a step of min(max_step, t_end - t), or, after a step that
    crossed ||psi||^2 = r, one Illinois regula-falsi trial for the jump time within it. So
    vmapped trajectories stay in lock step (one propagation per iteration each), whatever
    their jump times. ``axis_name``: the vmap axis name, if vmapped (see the branches below).

    Memory notes: expectation values and jump probabilities use reduced density matrices of
    the operator supports (no full-size O psi temporaries); the jump is applied once per
    distinct jump support with the channel selected by a one-hot weighted sum of the local
    matrices (no vmapped ``lax.switch``, which evaluates every branch)."""
    K = len(jumps)
    signed = signs is not None and any(x < 0 for x in signs)
    sgn = jnp.asarray(signs if signed else [1.0] * K, jnp.float64)
    e_sup, e_plan = _observable_plan(e_ops, L, d)
    j_sup, j_which = _support_groups(jumps)
    jLdL = [Lk.matrix.conj().T @ Lk.matrix for Lk in jumps]

    def measure(psi):
        nrm2 = jnp.vdot(psi, psi).real
        rhos = _reduced_dms(psi, e_sup, L, d)
        prob = None
        vals = []
        for o, h, (kind, w, m) in zip(e_ops, herm, e_plan):
            if kind == "diag":  # sum_s |psi_s|^2 O_ss, marginalized onto the sites w
                if prob is None:
                    prob = (psi.real**2 + psi.imag**2).astype(jnp.float64)
                marg = prob.reshape(d ** w[0], d ** len(w), -1).sum(axis=(0, 2))
                v = jnp.sum(marg * m) / nrm2
            elif rhos[w] is not None:
                v = jnp.sum(m.astype(rhos[w].dtype) * rhos[w].T) / nrm2
            else:
                v = jnp.vdot(psi, apply_left(o, psi)) / nrm2
            vals.append(v.real if h else v)
        if not vals:
            return jnp.zeros((0,))
        dtype = jnp.result_type(*vals)
        return jnp.stack([v.astype(dtype) for v in vals])

    def jump_weights(psi):
        # ||L_k psi||^2 = Tr(L_k^dag L_k rho_S) from the reduced density matrix of its support
        rhos = [_reduced_dm(psi, s, L, d) for s in j_sup]
        return jnp.stack([jnp.sum(m * rhos[w].T).real for m, w in zip(jLdL, j_which)]).astype(jnp.float64)

    def do_jump(psi, nj):
        # the randomness of jump number nj comes from fold_in(trajectory key, nj + 1)
        kc, kr = jax.random.split(jax.random.fold_in(key, nj + 1))
        wts = jump_weights(psi)
        cum = jnp.cumsum(wts)
        u = jax.random.uniform(kc, dtype=jnp.float64) * cum[-1]
        k = jnp.minimum(jnp.sum(cum <= u), K - 1)
        new = None
        for si, s in enumerate(j_sup):
            m = sum(jnp.where(k == n, 1.0, 0.0).astype(Lk.matrix.dtype) * Lk.matrix
                    for n, (Lk, w) in enumerate(zip(jumps, j_which)) if w == si)
            part = apply_left(LocalOperator(m, s, L, d), psi)
            new = part if new is None else new + part
        # sum_j ||L_j psi||^2 = 0 happens only in signed runs whose clock ticks at the shift
        # c alone (psi dark to every jump): the weight factor below is then exactly 0 and the
        # trajectory contributes nothing more; keep psi (L_k psi / 0 would be NaN)
        nn = jnp.sqrt(jnp.vdot(new, new).real)
        new = jnp.where(nn > 0, new / jnp.where(nn > 0, nn, 1.0), psi / jnp.sqrt(jnp.vdot(psi, psi).real))
        r = jax.random.uniform(kr, dtype=jnp.float64)
        if not signed:
            return new, r, jnp.ones((), jnp.float64)
        # weight factor s_k (sum_j w_j) / (clock rate * ||psi||^2)
        n2 = jnp.vdot(psi, psi).real.astype(jnp.float64)
        return new, r, sgn[k] * cum[-1] / (jnp.sum(sgn * wts) + shift * n2)

    def log_norm_and_rate(y):
        """log||y||^2 and its time derivative -<y|Gamma|y>/<y|y>, Gamma = sum L_k^dag L_k
        (signed: sum_k s_k L_k^dag L_k + c)."""
        n2 = jnp.vdot(y, y).real.astype(jnp.float64)
        if not signed:
            return jnp.log(n2), -jnp.sum(jump_weights(y)) / n2
        return jnp.log(n2), -jnp.sum(sgn * jump_weights(y)) / n2 - shift

    zero, one = jnp.zeros((), jnp.float64), jnp.ones((), jnp.float64)

    def interval(carry, t_end):
        def cond(c):
            return c[0] < t_end

        def body(c):
            t, psi, ln0, dn0, r, nj, wgt, mode, s_lo, f_lo, d_lo, s_hi, f_hi, d_hi, it = c
            lr = jnp.log(r)
            last = t_end - t <= max_step
            s_step = jnp.where(last, t_end - t, max_step)
            rooting = mode == 1
            if K:
                # a step predicted (by the log-norm's slope) to cross ||psi||^2 = r ends at
                # the predicted crossing: the jump step is then useful progress, and a small
                # miss is mended by a short step or one trial in a short bracket
                s_pred = jnp.where(dn0 < 0, (ln0 - lr) / jnp.where(dn0 < 0, -dn0, 1.0), jnp.inf)
                full = s_pred >= s_step
                s_step = jnp.minimum(s_step, s_pred)
                last = last & full
            s = jnp.where(rooting, _hermite_root(s_lo, f_lo, d_lo, s_hi, f_hi, d_hi), s_step)
            psi_s = propagate(psi, s)
            if not K:
                return (jnp.where(last, t_end, t + s), psi_s, ln0, dn0, r, nj, wgt, mode, s_lo,
                        f_lo, d_lo, s_hi, f_hi, d_hi, it)
            # ||psi||^2 is non-increasing (H_nh has a negative semidefinite anti-Hermitian
            # part), so a step holds a jump iff ||psi(t + s)||^2 < r; its time solves
            # f(s) = log||psi(t + s)||^2 - log r = 0, bracketed in [0, s] with f and f' known
            # at both ends: each trial is the root of the cubic Hermite interpolant
            ln, dn = log_norm_and_rate(psi_s)
            f = ln - lr
            # a non-finite state (never from finite operators and a working propagator) ends
            # the interval at once, keeping the NaN: the driver then raises with the
            # trajectory's index (without this the loop would never advance t)
            bad = ~jnp.isfinite(f)
            hit = jnp.abs(f) < JUMP_TOL
            crossed = ~rooting & (f < 0) & ~hit
            accept = (~rooting & (f >= 0) & ~hit) | bad
            conv = ~bad & (hit | (rooting & ((s_hi - s_lo <= 1e-13 * jnp.maximum(1.0, jnp.abs(t)))
                                             | (it >= _MAX_ROOT_ITERS))))
            lo = f >= 0
            # a crossed step opens the bracket [0, s_step]
            s_lo = jnp.where(crossed, zero, jnp.where(rooting & lo, s, s_lo))
            f_lo = jnp.where(crossed, ln0 - lr, jnp.where(rooting & lo, f, f_lo))
            d_lo = jnp.where(crossed, dn0, jnp.where(rooting & lo, dn, d_lo))
            s_hi = jnp.where(crossed | (rooting & ~lo), s, s_hi)
            f_hi = jnp.where(crossed | (rooting & ~lo), f, f_hi)
            d_hi = jnp.where(crossed | (rooting & ~lo), dn, d_hi)
            it = jnp.where(rooting, it + 1, 0)
            def jump():
                pj, rj, fj = do_jump(psi_s, nj)
                return (pj,) + log_norm_and_rate(pj) + (rj, fj)

            # an unbatched predicate keeps this a real branch under vmap (a batched one
            # becomes a select that computes the jump of every trajectory every iteration)
            any_conv = conv if axis_name is None else jax.lax.pmax(conv.astype(jnp.int32), axis_name) > 0
            pj, lnj, dnj, rj, fj = jax.lax.cond(any_conv, jump, lambda: (psi_s, ln, dn, r, one))
            wgt = jnp.where(conv, wgt * fj, wgt)
            psi_new = jnp.where(accept, psi_s, jnp.where(conv, pj.astype(psi.dtype), psi))
            ln0 = jnp.where(accept, ln, jnp.where(conv, lnj, ln0))
            dn0 = jnp.where(accept, dn, jnp.where(conv, dnj, dn0))
            t_new = jnp.where(accept, jnp.where(last | bad, t_end, t + s), jnp.where(conv, t + s, t))
            r = jnp.where(conv, rj, r)
            mode = jnp.where(crossed, 1, jnp.where(conv | bad, 0, mode)).astype(mode.dtype)
            return (t_new, psi_new, ln0, dn0, r, nj + conv.astype(nj.dtype), wgt, mode, s_lo,
                    f_lo, d_lo, s_hi, f_hi, d_hi, it)

        i0 = jnp.zeros((), jnp.int32)
        c0 = carry + (i0, zero, one, zero, one, -one, zero, i0)
        c = jax.lax.while_loop(cond, body, c0)
        carry = c[:7]
        return carry, weighted(measure(carry[1]), carry[6], t_end)

    def weighted(vals, wgt, t):
        if not signed:
            return vals
        mu = wgt * jnp.exp(shift * (t - tsave[0]))
        dt = jnp.result_type(vals.dtype, jnp.float64)
        return jnp.concatenate([mu * vals.astype(dt), mu[None].astype(dt)])

    r0 = jax.random.uniform(jax.random.fold_in(key, 0), dtype=jnp.float64)
    ln_0, dn_0 = log_norm_and_rate(psi0) if K else (zero, zero)
    carry0 = (tsave[0], psi0, ln_0, dn_0, r0, jnp.zeros((), jnp.int32), one)
    carry, ex = jax.lax.scan(interval, carry0, tsave[1:])
    ex = jnp.concatenate([weighted(measure(psi0), one, tsave[0])[None], ex], axis=0).T  # (n_ops, n_t)
    psi = carry[1]
    return ex, psi / jnp.sqrt(jnp.vdot(psi, psi).real), carry[5]


@eqx.filter_jit
def _chunk(key, idx, psi0, tsave, prop, max_step, jumps, e_ops, herm, L, d, signs=None, shift=0.0):
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(idx)

    def propagate(psi, s):
        return prop.propagate(psi, s, axis_name="traj")

    return jax.vmap(
        lambda k: _trajectory(k, psi0, tsave, propagate, max_step, jumps, e_ops, herm, L, d, "traj",
                              signs, shift),
        axis_name="traj",
    )(keys)


# --------------------------------------------------------------------------------------------
# checks


def _as_ket(x, D: int):
    if hasattr(x, "full") and callable(x.full):
        x = x.full()
    a = jnp.asarray(x, dtype=jnp.complex128)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.shape != (D,):
        raise ValueError(
            f"`psi0` must be a state vector of shape ({D},) (or ({D}, 1)), got {a.shape}; "
            "trajectories start from pure states (sample a mixed rho0 into kets yourself)"
        )
    if is_concrete(a):
        if not bool(jnp.all(jnp.isfinite(a))):
            raise ValueError("`psi0` contains NaN or inf entries")
        n2 = float(jnp.vdot(a, a).real)
        if abs(n2 - 1) > 1e-8:
            raise ValueError(f"`psi0` is not normalized (<psi0|psi0> = {n2:.6g}); divide it by its norm")
    return a


def _check_finite_operators(eq, ops):
    """Every operator of the equation and every e_op must be finite (concrete ones are
    checked; a NaN would otherwise run through every trajectory)."""
    check_equation_finite(eq, "eq")
    for n, o in enumerate(ops):
        if is_concrete(o.matrix) and not np.all(np.isfinite(np.asarray(o.matrix))):
            raise ValueError(f"`e_ops[{n}]` has NaN or inf entries")


def _check_finite_chunk(ex, psi, start, tsave, method, dtype, n_kept, checkpoint):
    """Raise (before anything of the chunk is accumulated or saved) when a trajectory of the
    chunk starting at ``start`` returned a non-finite value."""
    bad = ~np.isfinite(ex).all(axis=1)  # (m, n_t)
    bad_psi = None if psi is None else ~np.isfinite(psi).all(axis=1)
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
        f"and the default tolerances, or method='diffrax', and report the case{kept}."
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


# --------------------------------------------------------------------------------------------
# checkpoints

_CKPT_FORMAT = "jaxredfield.mcsolve.checkpoint/3"  # /2: signed runs (nneg); /3: per-method fingerprint
#: test-only hook: called as ``_after_checkpoint_hook(n_chunks_written)`` after each write
_after_checkpoint_hook = None


def _check_checkpoint_path(path) -> str:
    """The `checkpoint` path as a string, checked before any work: not a folder, in an
    existing folder that this process can write to (process 0, the writer, probes it by
    creating and removing a temporary file there)."""
    try:
        path = os.fspath(path)
    except TypeError as err:
        raise TypeError(f"`checkpoint` must be None or a file path, got {type(path).__name__}") from err
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path or os.path.isdir(path):
        raise ValueError(f"`checkpoint` must be a file path, got the folder {path!r}; "
                         "pass e.g. os.path.join(folder, 'run.npz')")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(
            f"`checkpoint` {path!r} is in the folder {folder!r}, which does not exist; create it "
            "(os.makedirs(folder, exist_ok=True)) or pass a path in an existing folder"
        )
    if jax.process_index() == 0:
        try:
            fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
            os.close(fd)
            os.remove(tmp)
        except OSError as err:
            raise ValueError(
                f"`checkpoint` {path!r}: cannot write to its folder {folder!r} "
                f"({type(err).__name__}: {err}); pass a path in a writable folder"
            ) from err
    return path


def _fingerprint_parts(eq, psi0, tsave, ntraj, batch_size, key, ops, rtol, atol, max_steps, dtype,
                       keep_trajectories, keep_final_states, method) -> dict:
    """SHA-256 of each argument that determines the results of a run, by argument name. Only
    what the chosen method uses enters: ``rtol`` and ``max_steps`` only for ``"diffrax"``
    (the Chebyshev propagator uses ``atol`` alone). ``batch_size`` enters because it fixes
    the chunk boundaries, hence the order of the float64 accumulation of means (a resume is
    bitwise identical to an uninterrupted run); ``progress`` and ``max_trace_error`` do not
    change what is computed and stay out."""

    def digest(*trees):
        h = hashlib.sha256()

        def add_bytes(tag, b):
            h.update(tag.encode() + b"\x00" + len(b).to_bytes(8, "little") + b)

        for t, tree in enumerate(trees):
            leaves, treedef = jax.tree_util.tree_flatten(tree)
            add_bytes(f"{t}.treedef", str(treedef).encode())
            for n, x in enumerate(leaves):
                a = np.ascontiguousarray(np.asarray(x))
                add_bytes(f"{t}.{n}", f"{a.dtype.str}{a.shape}".encode() + a.tobytes())
        return h.hexdigest()

    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key_tree = (str(jax.random.key_impl(key)), jax.random.key_data(key))
    else:
        key_tree = key
    scalars = {"ntraj": int(ntraj), "batch_size": int(batch_size), "atol": float(atol),
               "dtype": np.dtype(dtype).str, "keep_trajectories": bool(keep_trajectories),
               "keep_final_states": bool(keep_final_states), "method": str(method)}
    if method == "diffrax":
        scalars.update(rtol=float(rtol), max_steps=int(max_steps))
    parts = {"eq": digest(eq), "psi0": digest(psi0), "tsave": digest(tsave),
             "e_ops": digest(tuple(ops)), "key": digest(key_tree)}
    parts.update({k: digest(np.asarray(repr(v))) for k, v in scalars.items()})
    return parts


def _fingerprint(*args):
    """(fingerprint, parts): one SHA-256 over the format and the per-argument digests of
    :func:`_fingerprint_parts` (same arguments)."""
    parts = _fingerprint_parts(*args)
    h = hashlib.sha256(_CKPT_FORMAT.encode())
    for k in sorted(parts):
        h.update(f"\x00{k}={parts[k]}".encode())
    return h.hexdigest(), parts


def _load_checkpoint(path, fingerprint):
    """The saved state dict, or None when ``path`` does not exist. ``fingerprint``: the
    (digest, parts) pair of :func:`_fingerprint`."""
    if not os.path.exists(path):
        return None
    fingerprint, parts = fingerprint
    try:
        with np.load(path, allow_pickle=False) as z:
            st = {k: z[k] for k in z.files}
        fmt, fp = str(st["format"]), str(st["fingerprint"])
        st["done"] = int(st["done"])
        st["complete"] = bool(st["complete"])
        for k in ("mean", "m2", "njumps", "ex", "psi", "nneg"):
            st[k] = np.asarray(st[k])
        saved_parts = dict(str(x).split("=", 1) for x in st.get("fingerprint_parts", np.zeros(0, str)))
    except Exception as err:  # noqa: BLE001 - any failure to read means corruption
        raise ValueError(
            f"checkpoint file {path!r} is corrupted or unreadable ({type(err).__name__}: {err}); "
            "delete it (or pass another `checkpoint` path) to start the run afresh"
        ) from err
    if fmt != _CKPT_FORMAT:
        older = fmt.startswith(_CKPT_FORMAT.rsplit("/", 1)[0] + "/")
        raise ValueError(
            f"checkpoint file {path!r} "
            + ("was written by another version of jaxredfield" if older else "is corrupted or unreadable")
            + f" (format {fmt!r}, expected {_CKPT_FORMAT!r}); delete it (or pass another "
            "`checkpoint` path) to start the run afresh"
        )
    if fp != fingerprint:
        differ = sorted(k for k in set(parts) | set(saved_parts) if parts.get(k) != saved_parts.get(k))
        raise ValueError(
            f"checkpoint file {path!r} belongs to a different run (its arguments differ from "
            f"this call's: {', '.join(differ) or 'equation, psi0, tsave, e_ops, key or options'}); "
            "it was left untouched. Pass another `checkpoint` path or delete the file."
        )
    return st


def _save_checkpoint(path, fingerprint, st):
    """Atomic write: temp file in the same folder, fsync, os.replace."""
    fingerprint, parts = fingerprint
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, format=np.asarray(_CKPT_FORMAT), fingerprint=np.asarray(fingerprint),
                     fingerprint_parts=np.asarray([f"{k}={v}" for k, v in sorted(parts.items())]),
                     done=np.asarray(st["done"], np.int64),
                     complete=np.asarray(st["complete"], bool),
                     mean=st["mean"], m2=st["m2"], njumps=st["njumps"], ex=st["ex"], psi=st["psi"],
                     nneg=st["nneg"])
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename durable too (best effort; not possible on every platform)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# --------------------------------------------------------------------------------------------
# sharding


def _batch_sharding():
    """NamedSharding of the trajectory (batch) axis over all devices, or None for one."""
    devs = jax.devices()
    if len(devs) == 1:
        return None
    mesh = jax.sharding.Mesh(np.asarray(devs), ("traj",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("traj"))


def _to_host(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        x = multihost_utils.process_allgather(x, tiled=True)
    return np.asarray(x)


# --------------------------------------------------------------------------------------------
# driver


def mcsolve(eq: MasterEquation, psi0, tsave, ntraj: int, key, e_ops=None, *, batch_size: int = 64,
            rtol: float = 1e-8, atol: float = 1e-10, keep_trajectories: bool = False,
            keep_final_states: bool = False, progress: bool = True,
            max_steps: int = 100_000, checkpoint=None, dtype=jnp.complex128,
            method: str = "chebyshev", max_trace_error: float = 0.05) -> MCSolveResult:
    """Monte-Carlo wave-function trajectories of a Lindblad-form equation (module docstring).

    **Arguments:**
    - `eq`: a :class:`MasterEquation` of Lindblad form (``local_lindblad``,
      ``standard_local_lindblad``, ``lindblad``), or of pseudo-Lindblad form with negative
      jumps (``pseudo_lindblad(local_redfield(system, N), lam)``, also of ``redfield`` or
      ``adhoc_redfield``): then signed trajectories (module docstring) unravel it exactly.
    - `psi0`: normalized initial ket, shape (d^L,) (array or ``Qobj``).
    - `tsave`: strictly increasing save times; the evolution starts at ``tsave[0]``.
    - `ntraj`: number of trajectories; `key`: a JAX PRNG key. Trajectory n uses
      ``jax.random.fold_in(key, n)``: results are independent of `batch_size` and of the
      number of devices.
    - `e_ops`: observables (:class:`LocalOperator`, d^L x d^L arrays or ``Qobj``).
    - `batch_size`: trajectories run together (vmapped) per chunk; memory grows linearly in it.
      With several devices it is rounded up to a multiple of the device count.
    - `method`: ``"chebyshev"`` (default; module docstring) or ``"diffrax"`` (Tsit5).
    - `atol`: absolute error bound per propagation step of a unit state; for
      ``"chebyshev"`` the rigorous truncation bound of the expansion (default 1e-10).
    - `rtol`, `max_steps`: PIDController tolerance and step limit of ``"diffrax"``.
    - `keep_trajectories`: also return every trajectory's expectation values.
    - `keep_final_states`: also return every trajectory's normalized state at ``tsave[-1]``.
    - `progress`: print trajectories done, rate and ETA after each chunk (to stderr).
    - `checkpoint`: ``None`` or a file path. After every finished chunk the accumulated state
      (float64 mean and sum of squared deviations, jump counts, kept trajectories / final
      states if requested, number of finished trajectories) and a SHA-256 fingerprint of the
      arguments that determine the results are written atomically (temp file in the same
      folder, fsync, ``os.replace``) in the data-only ``np.savez`` format (read with
      ``allow_pickle=False``). The fingerprint covers eq, psi0, tsave, e_ops, key, ntraj,
      batch_size, atol, dtype, method and the keep_* flags, plus rtol and max_steps with
      ``method="diffrax"`` only (Chebyshev does not use them); not progress or
      max_trace_error. Calling ``mcsolve`` again with the same such arguments resumes after
      the last finished chunk and gives results identical to an uninterrupted run; a
      completed run's file is kept (marked complete), so a rerun returns at once. A file
      written for other arguments raises ``ValueError`` naming the arguments that differ (and
      is never overwritten), as does a corrupted file. The path is checked before the run
      starts: its folder must exist and be writable (``ValueError`` otherwise). With
      ``keep_trajectories`` / ``keep_final_states`` the whole kept data is rewritten per chunk.
    - `max_trace_error`: signed runs only. After every chunk, the standard error of the trace
      estimate E[mu] (exactly 1 in expectation) projected to ``ntraj`` trajectories, and at
      the end the actual one, must stay below this at every save time; otherwise the run
      stops with ``RuntimeError`` (the variance has exploded: the averages would be noise).
      Finished chunks stay in the checkpoint.
    - `dtype`: ``jnp.complex128`` (default) or ``jnp.complex64`` for the states and operators
      (halves memory and bandwidth per trajectory); expectation values are accumulated in
      float64 either way. With complex64 use tolerances above single precision (e.g.
      ``atol=1e-6``; with ``method="diffrax"`` also ``rtol=1e-5``). Measured (Chebyshev,
      local Lindblad N=1 of the paper's chain, sigma^z on every site and every current,
      7 times, same key, complex64 with atol=1e-6 against complex128 defaults): L=4, 500
      trajectories: max |mean difference| / stderr = 1.3e-5, largest per-trajectory
      difference 6.3e-6; L=10, 100 trajectories: 2.1e-4 and 3.9e-6; every trajectory had
      the same jumps. Far below the statistical error.

    **Finiteness.** The operators of `eq` and `e_ops` must be finite (``ValueError`` naming
    the term otherwise). Every chunk's values are checked before they are accumulated: a
    trajectory that returned NaN or inf raises ``FloatingPointError`` with its index (no NaN
    is returned). ``expect_stderr`` is NaN only for ``ntraj = 1`` (no sample variance).

    **Devices.** When ``jax.devices()`` has more than one device, each chunk's trajectory axis
    is split across them (a 1-d ``Mesh`` and ``NamedSharding`` on the batch axis; jit
    propagates it), so every device runs ``batch_size / n_devices`` trajectories per chunk.
    Results do not depend on the device count. *Multi-host:* call
    ``jax.distributed.initialize()`` in every process first (before any other JAX call), then
    call ``mcsolve`` with identical arguments in every process: ``jax.devices()`` then lists the
    devices of all hosts, each process runs the trajectories of its own devices, and the
    per-chunk results are gathered to every process (``process_allgather``), so all processes
    return the same result. Choose ``batch_size`` as a multiple of the global device count
    (or accept the rounding), and put a `checkpoint` path on a filesystem shared by all
    processes: only process 0 writes it, every process reads it on resume. Checked on
    localhost: two CPU processes of one device each (``jax.distributed.initialize`` with a
    coordinator on 127.0.0.1; JAX's CPU collectives use Gloo) return the one-process result
    to 1e-12 (``tests/test_distributed.py``).
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
    signed = bool(eq.negative_jumps)
    check_positive(max_trace_error, "max_trace_error")
    ntraj = check_positive_int(ntraj, "ntraj")
    batch_size = check_positive_int(batch_size, "batch_size")
    max_steps = check_positive_int(max_steps, "max_steps")
    check_positive(rtol, "rtol")
    check_positive(atol, "atol")
    key = _check_key(key)
    if method not in ("chebyshev", "diffrax"):
        raise ValueError(f"`method` must be 'chebyshev' or 'diffrax', got {method!r}")
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.complex64), np.dtype(np.complex128)):
        raise ValueError(f"`dtype` must be jnp.complex128 or jnp.complex64, got {dtype}")
    D = eq.dim
    psi0 = _as_ket(psi0, D)
    tsave = check_tsave(tsave)
    ops = [] if e_ops is None else [to_local(o, eq.L, eq.d, f"e_ops[{n}]") for n, o in enumerate(e_ops)]
    _check_finite_operators(eq, ops)
    herm = hermitian_flags(ops, [f"e_ops[{n}]" for n in range(len(ops))])
    fingerprint = None
    if checkpoint is not None:
        checkpoint = _check_checkpoint_path(checkpoint)
        fingerprint = _fingerprint(eq, psi0, tsave, ntraj, batch_size, key, ops, rtol, atol,
                                   max_steps, dtype, keep_trajectories, keep_final_states, method)

    def cast(o):
        return LocalOperator(o.matrix.astype(dtype), o.sites, o.L, o.d)

    damping, shift = damping_terms(eq)
    if method == "chebyshev":
        prop = ChebyshevPropagator.build(eq.hamiltonian, eq.jumps, tol=float(atol), dtype=dtype,
                                         gather_max_dim=_GATHER_MAX_DIM, damping=damping)
    else:
        prop = DiffraxPropagator.build(eq, rtol, atol, max_steps, dtype, damping)
    jumps = tuple(cast(o) for o in eq.jumps + eq.negative_jumps)
    signs = (1.0,) * len(eq.jumps) + (-1.0,) * len(eq.negative_jumps) if signed else None
    ops_c = tuple(cast(o) for o in ops)
    psi0_c = psi0.astype(dtype)

    sharding = _batch_sharding()
    ndev = 1 if sharding is None else len(jax.devices())
    B = min(batch_size, ntraj)
    B = -(-B // ndev) * ndev
    n_ops, n_t = len(ops), tsave.shape[0]
    n_rows = n_ops + signed  # signed: the last row is the weight mu
    cdtype = np.float64 if all(herm) else np.complex128
    st = {"done": 0, "complete": False, "mean": np.zeros((n_rows, n_t), cdtype),
          "m2": np.zeros((n_rows, n_t)), "njumps": np.zeros((0,), np.int32),
          "ex": np.zeros((0, n_rows, n_t), cdtype), "psi": np.zeros((0, D), dtype),
          "nneg": np.zeros((n_t,))}
    if checkpoint is not None:
        loaded = _load_checkpoint(checkpoint, fingerprint)
        if loaded is not None:
            st = loaded
    writer = checkpoint is not None and jax.process_index() == 0
    n_written = 0
    t_start = time.perf_counter()
    done0 = st["done"]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]omplex dtype.*")
        for start in range(st["done"], ntraj, B):
            m = min(B, ntraj - start)
            # always a full chunk (one compilation); the padding trajectories are discarded
            idx_np = np.arange(start, start + B, dtype=np.int32)
            if sharding is None:
                idx = jnp.asarray(idx_np)
            else:
                idx = jax.make_array_from_callback(idx_np.shape, sharding, lambda i: idx_np[i])
            ex, psi, nj = _chunk(key, idx, psi0_c, tsave, prop, float(prop.max_step), jumps,
                                 ops_c, herm, eq.L, eq.d, signs, float(shift))
            ex = _to_host(ex)[:m].astype(cdtype)
            nj = _to_host(nj)[:m]
            psi = _to_host(psi)[:m] if keep_final_states else None
            _check_finite_chunk(ex, psi, start, tsave, method, dtype, st["done"], checkpoint)
            st["njumps"] = np.concatenate([st["njumps"], nj])
            if keep_trajectories:
                st["ex"] = np.concatenate([st["ex"], ex])
            if keep_final_states:
                st["psi"] = np.concatenate([st["psi"], psi])
            done = st["done"]
            if signed:
                st["nneg"] = st["nneg"] + (ex[:, -1].real < 0).sum(axis=0)
            if n_rows:
                # Chan et al. pairwise update of mean and sum of squared deviations
                cm = ex.mean(axis=0)
                cm2 = (np.abs(ex - cm) ** 2).sum(axis=0)
                n = done + m
                delta = cm - st["mean"]
                st["mean"] = st["mean"] + delta * (m / n)
                st["m2"] = st["m2"] + cm2 + np.abs(delta) ** 2 * (done * m / n)
            st["done"] = done = done + m
            st["complete"] = done >= ntraj
            if writer:
                _save_checkpoint(checkpoint, fingerprint, st)
                n_written += 1
                if _after_checkpoint_hook is not None:
                    _after_checkpoint_hook(n_written)
            if progress:
                el = time.perf_counter() - t_start
                rate = (done - done0) / el if el > 0 else float("inf")
                eta = (ntraj - done) / rate if rate > 0 else float("nan")
                extra = ""
                if signed and done > 1:
                    extra = f", trace error {np.sqrt(st['m2'][-1] / (done - 1) / done).max():.2g}"
                print(f"mcsolve: {done}/{ntraj} trajectories, {rate:.3g} traj/s, "
                      f"elapsed {el:.1f} s, ETA {eta:.1f} s{extra}"
                      + (" (first chunk includes compilation)" if start == done0 else ""),
                      file=sys.stderr, flush=True)
            if signed:
                _check_trace_error(st, ntraj, tsave, max_trace_error)
    if writer and not st["complete"]:  # ntraj already reached but the flag was not set
        st["complete"] = True
        _save_checkpoint(checkpoint, fingerprint, st)
    done = st["done"]
    m2 = st["m2"]
    stderr = np.sqrt(m2 / (done - 1) / done) if done > 1 else np.full((n_rows, n_t), np.nan)
    if n_ops:
        expect_mean, expect_stderr = jnp.asarray(st["mean"][:n_ops]), jnp.asarray(stderr[:n_ops])
    else:
        expect_mean = expect_stderr = None
    signed_fields = {}
    if signed:
        mu_mean = st["mean"][-1].real
        var = m2[-1] / max(done - 1, 1)
        signed_fields = dict(trace_mean=jnp.asarray(mu_mean), trace_stderr=jnp.asarray(stderr[-1]),
                             weight_rms=jnp.asarray(np.sqrt(var * (done - 1) / done + mu_mean**2)),
                             negative_fraction=jnp.asarray(st["nneg"] / done))
    return MCSolveResult(
        tsave=tsave,
        expect_mean=expect_mean,
        expect_stderr=expect_stderr,
        expect_trajectories=jnp.asarray(st["ex"]) if keep_trajectories else None,
        final_states=jnp.asarray(st["psi"]) if keep_final_states else None,
        ntraj=ntraj,
        njumps=st["njumps"],
        **signed_fields,
    )


def _check_trace_error(st, ntraj, tsave, limit):
    """Stop a signed run whose trace estimate E[mu] has a standard error above ``limit``
    (projected to ``ntraj`` trajectories while running, the actual one at the end)."""
    done = st["done"]
    if done < min(ntraj, 16):
        return
    s = np.sqrt(st["m2"][-1] / (done - 1))
    err = s / np.sqrt(ntraj if done < ntraj else done)
    bad = np.nonzero(err > limit)[0]
    if bad.size:
        n = bad[0]
        need = int(np.ceil((s[n] / limit) ** 2))
        raise RuntimeError(
            f"signed trajectories: the variance of the estimator has exploded -- at t = "
            f"{float(tsave[n]):.4g} the standard error of the trace estimate (exactly 1 in "
            f"expectation) is {err[n]:.3g} with {ntraj} trajectories, above max_trace_error = "
            f"{limit} (sample rms weight {np.sqrt(s[n]**2 + 1):.3g}). "
            f"The averages would be noise. Use about {need} trajectories, a shorter time span, "
            "or a lambda that makes L_- smaller (jr.lam_loc, or tuned: jaxredfield.tuning); "
            f"{done} finished trajectories are kept in the checkpoint, if one was given."
        )


__all__ = ["MCSolveResult", "mcsolve"]
