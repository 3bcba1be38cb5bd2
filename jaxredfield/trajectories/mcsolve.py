r"""Monte-Carlo wave-function trajectories (Mølmer–Castin–Dalibard, waiting-time form) for
Lindblad-form master equations

    d rho/dt = -i[H, rho] + sum_k D[L_k](rho).

Each trajectory evolves the *non-normalized* state with the non-Hermitian Hamiltonian

    H_nh = H - (i/2) sum_k L_k^dag L_k,      d psi/dt = -i H_nh psi,

matrix-free (every term is a :class:`LocalOperator` applied by tensor contraction), with
diffrax (Tsit5 + PIDController) until ||psi||^2 falls to a uniform random number r. The jump
time is located by a diffrax event (Newton root find on the dense interpolant); the jump
channel k is drawn with probability proportional to ||L_k psi||^2, psi -> L_k psi / ||L_k psi||,
and a new r is drawn (as in QuTiP's ``mcsolve``). Expectation values at the save times use
the normalized state.

Structure of one trajectory (a single jittable function): ``lax.scan`` over the save
intervals [t_i, t_{i+1}]; inside each interval a ``lax.while_loop`` of
diffeqsolve-with-event segments, each ending at the next jump or at t_{i+1}. Trajectory n
uses the key ``fold_in(key, n)``, so results do not depend on ``batch_size``. Trajectories run
in chunks of ``batch_size`` with ``jax.vmap`` inside a chunk; the mean and its standard error
are accumulated chunk by chunk with Chan's pairwise (Welford) update in float64.
"""

from __future__ import annotations

import sys
import time
import warnings

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx

from .._checks import is_concrete
from ..equations import MasterEquation
from ..observables import to_local
from ..operators import LocalOperator, apply_left
from ..operators import embed


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
    """

    tsave: jnp.ndarray
    expect_mean: object
    expect_stderr: object
    expect_trajectories: object
    final_states: object
    ntraj: int
    njumps: np.ndarray


# --------------------------------------------------------------------------------------------
# operators


def _merge_terms(terms):
    """Sum (sites, matrix) terms into as few LocalOperators as possible: every term whose
    support is a subset of a larger term's support is embedded into it (e.g. one-site fields
    and jump terms into the bond terms), equal supports are added. Never enlarges a support
    beyond the largest one present."""
    groups: list = []  # [sites (sorted tuple), matrix]
    for sites, m, L, d in sorted(terms, key=lambda x: -len(x[0])):
        for g in groups:
            if set(sites) <= set(g[0]):
                g[1] = g[1] + embed(m, sites, g[0], d)
                break
        else:
            target = tuple(sorted(sites))
            groups.append([target, embed(m, sites, target, d)])
    return [(s, m) for s, m in groups]


def _generator_ops(eq: MasterEquation):
    """LocalOperators A_j with sum_j A_j = -i H_nh, H_nh = H - (i/2) sum_k L_k^dag L_k."""
    terms = [(h.sites, -1j * h.matrix, eq.L, eq.d) for h in eq.hamiltonian]
    for Lk in eq.jumps:
        terms.append((Lk.sites, -0.5 * (Lk.matrix.conj().T @ Lk.matrix), eq.L, eq.d))
    merged = _merge_terms(terms)
    return tuple(LocalOperator(m, s, eq.L, eq.d) for s, m in merged)


def _is_hermitian(op: LocalOperator) -> bool:
    if not is_concrete(op.matrix):
        return False
    m = np.asarray(op.matrix)
    return bool(np.allclose(m, m.conj().T, atol=1e-12))


# --------------------------------------------------------------------------------------------
# one trajectory


def _trajectory(key, psi0, tsave, gen_ops, jumps, e_ops, herm, rtol, atol, max_steps):
    """One MCWF trajectory. Returns (expectations (n_ops, n_t), final normalized state,
    number of jumps). Pure and jittable; vmapped over ``key``."""
    K = len(jumps)

    def rhs(t, psi, args):
        out = apply_left(gen_ops[0], psi)
        for A in gen_ops[1:]:
            out = out + apply_left(A, psi)
        return out

    def measure(psi):
        nrm2 = jnp.vdot(psi, psi).real
        vals = []
        for o, h in zip(e_ops, herm):
            v = jnp.vdot(psi, apply_left(o, psi)) / nrm2
            vals.append(v.real if h else v)
        if not vals:
            return jnp.zeros((0,))
        dtype = jnp.result_type(*vals)
        return jnp.stack([v.astype(dtype) for v in vals])

    term = dfx.ODETerm(rhs)
    solver = dfx.Tsit5()
    controller = dfx.PIDController(rtol=rtol, atol=atol)
    if K:
        # ||psi||^2 - r crosses zero downwards at the jump time
        event = dfx.Event(
            lambda t, y, args, **kw: jnp.vdot(y, y).real - args,
            root_finder=optx.Newton(rtol=1e-12, atol=1e-12),
            direction=False,
        )
    else:
        event = None

    def do_jump(psi, nj):
        # the randomness of jump number nj comes from fold_in(trajectory key, nj + 1)
        kc, kr = jax.random.split(jax.random.fold_in(key, nj + 1))
        # ||L_k psi||^2 for every channel (one temporary state at a time)
        p = jnp.stack([jnp.vdot(v, v).real for v in (apply_left(Lk, psi) for Lk in jumps)])
        cum = jnp.cumsum(p)
        u = jax.random.uniform(kc, dtype=cum.dtype) * cum[-1]
        k = jnp.minimum(jnp.sum(cum <= u), K - 1)
        new = jax.lax.switch(k, [lambda x, Lk=Lk: apply_left(Lk, x) for Lk in jumps], psi)
        new = new / jnp.sqrt(jnp.vdot(new, new).real)
        r = jax.random.uniform(kr, dtype=cum.dtype)
        return new, r

    def interval(carry, t_end):
        def cond(c):
            return c[0] < t_end

        def body(c):
            t, psi, r, nj = c
            sol = dfx.diffeqsolve(
                term, solver, t0=t, t1=t_end, dt0=None, y0=psi, args=r,
                saveat=dfx.SaveAt(t1=True), stepsize_controller=controller,
                event=event, max_steps=max_steps,
            )
            t_new, psi_new = sol.ts[-1], sol.ys[-1]
            if event is None:
                return t_end, psi_new, r, nj
            jumped = sol.event_mask
            t_new = jnp.where(jumped, jnp.minimum(t_new, t_end), t_end)
            pj, rj = do_jump(psi_new, nj)
            psi_new = jnp.where(jumped, pj, psi_new)
            r = jnp.where(jumped, rj, r)
            return t_new, psi_new, r, nj + jumped.astype(nj.dtype)

        carry = jax.lax.while_loop(cond, body, carry)
        return carry, measure(carry[1])

    r0 = jax.random.uniform(jax.random.fold_in(key, 0), dtype=jnp.float64)
    carry0 = (tsave[0], psi0, r0, jnp.zeros((), jnp.int32))
    carry, ex = jax.lax.scan(interval, carry0, tsave[1:])
    ex = jnp.concatenate([measure(psi0)[None], ex], axis=0).T  # (n_ops, n_t)
    psi = carry[1]
    return ex, psi / jnp.sqrt(jnp.vdot(psi, psi).real), carry[3]


@eqx.filter_jit
def _chunk(key, idx, psi0, tsave, gen_ops, jumps, e_ops, herm, rtol, atol, max_steps):
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(idx)
    return jax.vmap(
        lambda k: _trajectory(k, psi0, tsave, gen_ops, jumps, e_ops, herm, rtol, atol, max_steps)
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


def _check_pos_int(x, name):
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x <= 0:
        raise ValueError(f"`{name}` must be a positive integer, got {x!r}")
    return int(x)


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
# driver


def mcsolve(eq: MasterEquation, psi0, tsave, ntraj: int, key, e_ops=None, *, batch_size: int = 64,
            rtol: float = 1e-8, atol: float = 1e-10, keep_trajectories: bool = False,
            keep_final_states: bool = False, progress: bool = True,
            max_steps: int = 100_000) -> MCSolveResult:
    """Monte-Carlo wave-function trajectories of a Lindblad-form equation (module docstring).

    **Arguments:**
    - `eq`: a :class:`MasterEquation` with ``eq.is_lindblad`` (e.g. ``local_lindblad``,
      ``standard_local_lindblad``, ``lindblad``).
    - `psi0`: normalized initial ket, shape (d^L,) (array or ``Qobj``).
    - `tsave`: strictly increasing save times; the evolution starts at ``tsave[0]``.
    - `ntraj`: number of trajectories; `key`: a JAX PRNG key. Trajectory n uses
      ``jax.random.fold_in(key, n)``: results are independent of `batch_size`.
    - `e_ops`: observables (:class:`LocalOperator`, d^L x d^L arrays or ``Qobj``).
    - `batch_size`: trajectories run together (vmapped) per chunk; memory grows linearly in it.
    - `rtol`, `atol`: diffrax PIDController tolerances; `max_steps`: per segment.
    - `keep_trajectories`: also return every trajectory's expectation values.
    - `keep_final_states`: also return every trajectory's normalized state at ``tsave[-1]``.
    - `progress`: print trajectories done, rate and ETA after each chunk (to stderr).
    """
    if not isinstance(eq, MasterEquation):
        raise TypeError(f"`eq` must be a MasterEquation, got {type(eq).__name__}")
    if not eq.is_lindblad:
        raise ValueError(
            f"`eq` ({eq.name}) is not of Lindblad form (it has Redfield terms or negative-rate "
            "jumps), so standard quantum-jump trajectories cannot unravel it. Redfield-form "
            "equations need pseudo-Lindblad (signed) trajectories, which are not implemented "
            "yet: use jr.mesolve for the density matrix, or a Lindblad approximation such as "
            "jr.local_lindblad / jr.standard_local_lindblad."
        )
    ntraj = _check_pos_int(ntraj, "ntraj")
    batch_size = _check_pos_int(batch_size, "batch_size")
    max_steps = _check_pos_int(max_steps, "max_steps")
    key = _check_key(key)
    D = eq.dim
    psi0 = _as_ket(psi0, D)
    tsave = jnp.asarray(tsave, dtype=jnp.float64)
    if tsave.ndim != 1 or tsave.shape[0] < 1:
        raise ValueError("`tsave` must be a 1-d array of save times")
    if not bool(jnp.all(jnp.isfinite(tsave))):
        raise ValueError("`tsave` contains NaN or inf")
    if tsave.shape[0] > 1 and not bool(jnp.all(jnp.diff(tsave) > 0)):
        raise ValueError("`tsave` must be strictly increasing")
    ops = [] if e_ops is None else [to_local(o, eq.L, eq.d, f"e_ops[{n}]") for n, o in enumerate(e_ops)]
    herm = tuple(_is_hermitian(o) for o in ops)
    gen_ops = _generator_ops(eq)
    jumps = tuple(eq.jumps)

    B = min(batch_size, ntraj)
    n_ops, n_t = len(ops), tsave.shape[0]
    cdtype = np.float64 if all(herm) else np.complex128
    mean = np.zeros((n_ops, n_t), cdtype)
    m2 = np.zeros((n_ops, n_t))
    done = 0
    all_ex, all_psi, njumps = [], [], []
    t_start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Cc]omplex dtype.*")
        for start in range(0, ntraj, B):
            m = min(B, ntraj - start)
            # always a full chunk (one compilation); the padding trajectories are discarded
            idx = jnp.arange(start, start + B, dtype=jnp.int32)
            ex, psi, nj = _chunk(key, idx, psi0, tsave, gen_ops, jumps, tuple(ops), herm,
                                 float(rtol), float(atol), max_steps)
            ex = np.asarray(ex)[:m]
            nj = np.asarray(nj)[:m]
            njumps.append(nj)
            if keep_trajectories:
                all_ex.append(ex)
            if keep_final_states:
                all_psi.append(np.asarray(psi)[:m])
            if n_ops:
                # Chan et al. pairwise update of mean and sum of squared deviations
                cm = ex.mean(axis=0)
                cm2 = (np.abs(ex - cm) ** 2).sum(axis=0)
                n = done + m
                delta = cm - mean
                mean = mean + delta * (m / n)
                m2 = m2 + cm2 + np.abs(delta) ** 2 * (done * m / n)
            done += m
            if progress:
                el = time.perf_counter() - t_start
                rate = done / el if el > 0 else float("inf")
                eta = (ntraj - done) / rate if rate > 0 else float("nan")
                print(f"mcsolve: {done}/{ntraj} trajectories, {rate:.3g} traj/s, "
                      f"elapsed {el:.1f} s, ETA {eta:.1f} s"
                      + (" (first chunk includes compilation)" if start == 0 else ""),
                      file=sys.stderr, flush=True)
    if n_ops:
        stderr = np.sqrt(m2 / (done - 1) / done) if done > 1 else np.full((n_ops, n_t), np.nan)
        expect_mean, expect_stderr = jnp.asarray(mean), jnp.asarray(stderr)
    else:
        expect_mean = expect_stderr = None
    return MCSolveResult(
        tsave=tsave,
        expect_mean=expect_mean,
        expect_stderr=expect_stderr,
        expect_trajectories=jnp.asarray(np.concatenate(all_ex)) if keep_trajectories else None,
        final_states=jnp.asarray(np.concatenate(all_psi)) if keep_final_states else None,
        ntraj=ntraj,
        njumps=np.concatenate(njumps),
    )


__all__ = ["MCSolveResult", "mcsolve"]
