"""The paper's chain far beyond state vectors: quantum trajectories on matrix product states,
and the density matrix itself as a matrix product state.

The boundary-driven XXZ chain of the paper (eq. 5: J = h, Delta = 0.7, delta = -0.07h; ohmic
baths gamma = 0.25h through sigma^x on the two end sites) with a hotter right bath,
T_r = 3 T_l (T_l = 2.2h), at L = 100 by default: the local Lindblad equation of order N = 1
(L_+ only, lambda_loc; the paper's Fig. 3(d)/4 equation) against the standard local Lindblad
equation (the one of Fig. 3(c)), both unravelled with ``jr.mcsolve(...,
method=jr.MPS(max_bond, dt))`` from |up, ..., up>. Output: the magnetization profile
<sigma^z_i> and the bond currents j_i = -i<[H^{i,i+1}, sigma^z_i]>, each averaged over the
save times in [--tavg, --tmax] (a time average per trajectory, then the mean and standard
error over trajectories), and the mean discarded weight of the SVD truncations.

Second method (``--method density`` or ``both``): ``jr.mesolve(eq, rho0, ts, e_ops,
method=jr.MPS(max_bond, dt))``, the density matrix as an MPS of the doubled chain evolved by
TEBD under the master equation itself: no trajectories, no statistical error, truncation and
O(dt^2) are the only approximations. From the same |up, ..., up> it is an independent check
of the trajectories' time averages at L = 100. ``--start gibbs`` starts it from every site in
the local Gibbs state of its field h_i at the mean temperature (T_l + T_r)/2 -- an attempt at a
shorter way to the steady state than |up...up>, which must first lose ~L/2 spins through the
two ends; measured below, it is not one. Its run is checkpointed by save time (``--out``): a
killed run resumes where it stopped.

Note the model at L = 100: the paper's field gradient h_i = h + i delta (delta = -0.07h) runs
from h to -5.9h along the chain, so the right part is strongly polarized.

Cost and results (2 CPU cores, measured): ``--ntraj 16 --tmax 10 --tavg 5`` at L = 100, bond
32: trajectories 3.1 / 2.7 min, density MPS 1.5 min per equation; the two methods agree for
local Lindblad N = 1 (max |z| 2.2) and, with 64 trajectories, for the standard equation (max
|z| 2.1; 16 trajectories undersample the leading edge of the right front, max |z| 17 there).
The steady state is out of reach of this script on a CPU: from |up...up> the chain must lose
~L/2 spins through its ends (t of hundreds of 1/h); from ``--start gibbs`` the bulk is
quenched (bond currents ~ -0.2 at t = 5/h, bond 32 saturated, 3.6 s per TEBD step). Each run
is checkpointed into --out: a killed run resumes when rerun with the same arguments.

    python examples/mps_long_chain.py                          # L = 100, 2 trajectories + density
    python examples/mps_long_chain.py --L 40 --ntraj 50 --tmax 20 --tavg 10
    python examples/mps_long_chain.py --method density --start gibbs --tmax 100 --tavg 50 --dt 0.1

Writes mps_long_chain.csv (time-averaged profile and currents; standard errors for the
trajectories, none for the density matrix) into --out.
"""

from __future__ import annotations

import argparse
import os

import jax
import numpy as np

import jaxredfield as jr
from jaxredfield.mps import MatrixProductState
from jaxredfield.app import paper

EQUATIONS = ("local_lindblad_N1", "standard_local_lindblad")


def _setup(L, T_left, ratio):
    model = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, T_left), jr.OhmicBath(0.25, ratio * T_left))
    e_ops = jr.magnetization(model) + [jr.spin_current(model, i) for i in range(L - 1)]
    eqs = {"local_lindblad_N1": lambda: jr.local_lindblad(system, 1),
           "standard_local_lindblad": lambda: jr.standard_local_lindblad(system)}
    return model, e_ops, eqs


def local_gibbs(L, T, h=1.0, delta=-0.07):
    """exp(-h_i sigma^z / T) / Z on every site i (h_i = h + i delta, the fields of _setup's
    chain): (L, 2, 2)."""
    hi = h + delta * np.arange(L)
    p_up = 1.0 / (1.0 + np.exp(2.0 * hi / T))  # exp(-h/T) / (exp(-h/T) + exp(h/T))
    return np.stack([np.diag([p, 1.0 - p]) for p in p_up])


def simulate_density(L, tmax, nt, tavg, max_bond, dt, T_left=2.2, ratio=3.0, start="up", out=None,
                     progress=True):
    """{equation: (time-averaged values (2L - 1,), discarded weight at tmax, the values at every
    save time (2L - 1, nt))} from mesolve(method=jr.MPS()); checkpointed by save time into
    ``out`` (the doubled-chain MPS and the values so far): a rerun with the same arguments
    continues."""
    model, e_ops, eqs = _setup(L, T_left, ratio)
    ts = np.linspace(0.0, tmax, nt)
    window = ts >= tavg - 1e-12
    if not window.any():
        raise ValueError(f"`--tavg` {tavg} is after the last save time {tmax}")
    rho0 = jr.product_state(model, 0) if start == "up" else local_gibbs(L, 0.5 * (1 + ratio) * T_left)
    method = jr.MPS(max_bond=max_bond, dt=dt)
    res = {}
    for name, build in eqs.items():
        eq = build()
        tag = f"L{L}_b{max_bond}_dt{dt:g}_t{tmax:g}_n{nt}_{start}_T{T_left:g}x{ratio:g}"
        ckpt = None if out is None else os.path.join(out, f"mps_long_chain_density_{name}_{tag}.npz")
        run = f"{tag} {method!r} jaxredfield {jr.__version__}"  # what the values depend on
        vals, cut, k, state = [], [0.0], 0, rho0
        owner = paper.Owner(ckpt, "the checkpoint").acquire() if ckpt is not None else None  # one run per file
        # SIGTERM/SIGINT: raised between saves, never inside one (no temp file, no torn file)
        signals = paper.deferred_signals()
        signals.__enter__()
        try:
            if ckpt is not None and os.path.exists(ckpt):
                z = np.load(ckpt, allow_pickle=False)
                if str(z["run"]) != run:
                    raise ValueError(f"checkpoint {ckpt!r} was written by another run ({z['run']}); "
                                     "delete it or pass another --out")
                vals, cut, k = list(z["vals"].T), list(z["cut"]), int(z["k"])
                state = MatrixProductState(z["tensors"])
            while k < nt - 1 or not vals:
                seg = ts[k:min(k + 10, nt - 1) + 1] if nt > 1 else ts
                r = jr.mesolve(eq, state, seg, e_ops, method=method, progress=progress)
                ex = np.asarray(r.expect)
                vals += list(ex.T) if not vals else list(ex.T[1:])
                w = np.asarray(r.stats["discarded_weight"])
                cut += list(cut[-1] + w[1:])
                state, k = r.final_state, k + len(seg) - 1
                if ckpt is not None:  # atomic: a killed run never leaves a half-written file
                    paper.atomic_savez(ckpt, run=np.asarray(run), vals=np.array(vals).T, cut=np.array(cut),
                                       k=np.asarray(k), tensors=np.asarray(state.tensors))
                if nt == 1:
                    break
        finally:
            signals.__exit__(None, None, None)
            if owner is not None:
                owner.release()
        v = np.array(vals).T  # (2L - 1, nt)
        res[name] = (v[:, window].mean(axis=1), float(cut[-1]), v)
        if progress:
            print(f"{name} (density MPS): done to t = {tmax}, discarded weight {cut[-1]:.2g}")
    return ts[window], res


def simulate(L, ntraj, tmax, nt, tavg, max_bond, dt, T_left=2.2, ratio=3.0, seed=0, out=None,
             progress=True):
    """{equation: (time-averaged values (2L - 1,), their standard errors, discarded weight at
    tmax)}; the values are <sigma^z_i> for i < L, then the bond currents."""
    model, e_ops, eqs = _setup(L, T_left, ratio)
    ts = np.linspace(0.0, tmax, nt)
    window = ts >= tavg - 1e-12
    if not window.any():
        raise ValueError(f"`--tavg` {tavg} is after the last save time {tmax}")
    res = {}
    for name in EQUATIONS:
        eq = eqs[name]()
        ckpt = None if out is None else os.path.join(out, f"mps_long_chain_{name}_L{L}.ckpt.npz")
        r = jr.mcsolve(eq, jr.product_state(model, 0), ts, ntraj, jax.random.key(seed), e_ops=e_ops,
                       method=jr.MPS(max_bond=max_bond, dt=dt), keep_trajectories=True,
                       progress=progress, checkpoint=ckpt)
        per_traj = np.asarray(r.expect_trajectories)[:, :, window].real.mean(axis=2)  # (ntraj, n_ops)
        se = per_traj.std(axis=0, ddof=1) / np.sqrt(ntraj) if ntraj > 1 else np.full(per_traj.shape[1], np.nan)
        res[name] = (per_traj.mean(axis=0), se, float(np.asarray(r.stats["discarded_weight"])[-1]))
    return ts[window], res


def compare(traj, dens, se_min=1e-4):
    """(z-scores (trajectory mean - density value) / standard error over the entries whose
    standard error exceeds ``se_min``, the largest |difference| over the others (where every
    trajectory has the same value: no jump has reached them))."""
    mean, se, _ = traj
    d = dens[0]
    sto = se > se_min
    z = (mean - d)[sto] / se[sto]
    det = float(np.abs(mean - d)[~sto].max()) if (~sto).any() else 0.0
    return z, det


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=100)
    ap.add_argument("--method", choices=("trajectories", "density", "both"), default="both")
    ap.add_argument("--start", choices=("up", "gibbs"), default="up",
                    help="density method's initial state: |up...up> or the local Gibbs product")
    ap.add_argument("--ntraj", type=int, default=2)
    ap.add_argument("--tmax", type=float, default=10.0)
    ap.add_argument("--tavg", type=float, default=5.0, help="time averages over save times >= this")
    ap.add_argument("--nt", type=int, default=21)
    ap.add_argument("--max-bond", type=int, default=32)
    ap.add_argument("--dt", type=float, default=0.05, help="TEBD step (the jr.MPS default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    if args.method == "trajectories" and args.start != "up":
        ap.error("--start gibbs is for --method density (the trajectories start from |up...up>)")
    os.makedirs(args.out, exist_ok=True)
    L = args.L
    rows, tw, res = [], None, {}
    if args.method in ("trajectories", "both"):
        tw, res = simulate(L, args.ntraj, args.tmax, args.nt, args.tavg, args.max_bond, args.dt, seed=args.seed,
                           out=args.out, progress=not args.no_progress)
        for name, (mean, se, w) in res.items():
            for k in range(mean.shape[0]):
                obs, site = ("sigma_z", k) if k < L else ("current", k - L)
                rows.append([name, "trajectories", obs, site, f"{mean[k]:.10g}", f"{se[k]:.3g}"])
            bulk = mean[L + L // 4: L + (3 * L) // 4]
            print(f"{name}: time average over t in [{tw[0]:.3g}, {tw[-1]:.3g}]/h, {args.ntraj} trajectories, "
                  f"bond {args.max_bond}: mean bulk current {bulk.mean():+.4g}, "
                  f"<sigma^z> at the ends {mean[0]:+.4f} / {mean[L - 1]:+.4f}, discarded weight {w:.2g}")
    if args.method in ("density", "both"):
        tw, dres = simulate_density(L, args.tmax, args.nt, args.tavg, args.max_bond, args.dt, start=args.start,
                                    out=args.out, progress=not args.no_progress)
        for name, (mean, w, _) in dres.items():
            res["density", name] = dres[name]
            for k in range(mean.shape[0]):
                obs, site = ("sigma_z", k) if k < L else ("current", k - L)
                rows.append([name, "density", obs, site, f"{mean[k]:.10g}", ""])
            bulk = mean[L + L // 4: L + (3 * L) // 4]
            print(f"{name} (density MPS, from {args.start}): time average over t in [{tw[0]:.3g}, {tw[-1]:.3g}]/h, "
                  f"bond {args.max_bond}: mean bulk current {bulk.mean():+.4g}, <sigma^z> at the ends "
                  f"{mean[0]:+.4f} / {mean[L - 1]:+.4f}, discarded weight {w:.2g}")
    for name in EQUATIONS:  # the two methods against each other (same start, same window)
        if name in res and ("density", name) in res:
            z, det = compare(res[name], res["density", name])
            if not z.size:  # one trajectory, or none differs from the others
                print(f"{name}: trajectories vs density MPS: max |difference| {det:.2g} (no standard errors)")
                continue
            print(f"{name}: trajectories vs density MPS: max |z| {np.abs(z).max():.2f} over {z.size} "
                  f"stochastic entries ({np.mean(np.abs(z) < 2):.0%} within 2 standard errors), max "
                  f"|difference| {det:.2g} where the trajectories agree among themselves")
    paper.write_csv(os.path.join(args.out, "mps_long_chain.csv"), rows,
                    ["equation", "method", "observable", "site", "time_average", "stderr"])
    return tw, res


if __name__ == "__main__":
    main()
