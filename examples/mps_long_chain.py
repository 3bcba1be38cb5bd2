"""The paper's chain far beyond state vectors: quantum trajectories on matrix product states.

The boundary-driven XXZ chain of the paper (eq. 5: J = h, Delta = 0.7, delta = -0.07h; ohmic
baths gamma = 0.25h through sigma^x on the two end sites) with a hotter right bath,
T_r = 3 T_l (T_l = 2.2h), at L = 100 by default: the local Lindblad equation of order N = 1
(L_+ only, lambda_loc; the paper's Fig. 3(d)/4 equation) against the standard local Lindblad
equation (the one of Fig. 3(c)), both unravelled with ``jr.mcsolve(...,
method=jr.MPS(max_bond, dt))`` from |up, ..., up>. Output: the magnetization profile
<sigma^z_i> and the bond currents j_i = -i<[H^{i,i+1}, sigma^z_i]>, each averaged over the
save times in [--tavg, --tmax] (a time average per trajectory, then the mean and standard
error over trajectories), and the mean discarded weight of the SVD truncations.

Cost (2 CPU cores, measured): ``--ntraj 8 --tmax 20 --tavg 10`` at L = 100, bond 32 took
10.9 minutes for both equations (~40 s per trajectory), and the discarded weight at t = 20/h
was 0.013 (local Lindblad N = 1) and 0.038 (standard) -- bond 32 is too small there, and the
bulk of a 100-site chain is not stationary by t = 20/h (the boundary fronts move at a few
sites per 1/h). Treat such a run as a first look; converged numbers need --max-bond 64 or
more, --tmax of a few hundred and more trajectories (hours). Each equation's run is
checkpointed into --out: a killed run resumes when rerun with the same arguments.

    python examples/mps_long_chain.py                          # L = 100, 2 trajectories
    python examples/mps_long_chain.py --L 40 --ntraj 50 --tmax 20 --tavg 10

Writes mps_long_chain.csv (time-averaged profile and currents with standard errors) into --out.
"""

from __future__ import annotations

import argparse
import os

import jax
import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper

EQUATIONS = ("local_lindblad_N1", "standard_local_lindblad")


def simulate(L, ntraj, tmax, nt, tavg, max_bond, dt, T_left=2.2, ratio=3.0, seed=0, out=None,
             progress=True):
    """{equation: (time-averaged values (2L - 1,), their standard errors, discarded weight at
    tmax)}; the values are <sigma^z_i> for i < L, then the bond currents."""
    model = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, T_left), jr.OhmicBath(0.25, ratio * T_left))
    e_ops = jr.magnetization(model) + [jr.spin_current(model, i) for i in range(L - 1)]
    ts = np.linspace(0.0, tmax, nt)
    window = ts >= tavg - 1e-12
    if not window.any():
        raise ValueError(f"`--tavg` {tavg} is after the last save time {tmax}")
    res = {}
    for name in EQUATIONS:
        eq = jr.local_lindblad(system, 1) if name == "local_lindblad_N1" else jr.standard_local_lindblad(system)
        ckpt = None if out is None else os.path.join(out, f"mps_long_chain_{name}_L{L}.ckpt.npz")
        r = jr.mcsolve(eq, jr.product_state(model, 0), ts, ntraj, jax.random.key(seed), e_ops=e_ops,
                       method=jr.MPS(max_bond=max_bond, dt=dt), keep_trajectories=True,
                       progress=progress, checkpoint=ckpt)
        per_traj = np.asarray(r.expect_trajectories)[:, :, window].real.mean(axis=2)  # (ntraj, n_ops)
        se = per_traj.std(axis=0, ddof=1) / np.sqrt(ntraj) if ntraj > 1 else np.full(per_traj.shape[1], np.nan)
        res[name] = (per_traj.mean(axis=0), se, float(np.asarray(r.stats["discarded_weight"])[-1]))
    return ts[window], res


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=100)
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
    os.makedirs(args.out, exist_ok=True)
    L = args.L
    tw, res = simulate(L, args.ntraj, args.tmax, args.nt, args.tavg, args.max_bond, args.dt, seed=args.seed,
                       out=args.out, progress=not args.no_progress)
    rows = []
    for name, (mean, se, w) in res.items():
        for k in range(mean.shape[0]):
            obs, site = ("sigma_z", k) if k < L else ("current", k - L)
            rows.append([name, obs, site, f"{mean[k]:.10g}", f"{se[k]:.3g}"])
        bulk = mean[L + L // 4: L + (3 * L) // 4]
        print(f"{name}: time average over t in [{tw[0]:.3g}, {tw[-1]:.3g}]/h, {args.ntraj} trajectories, "
              f"bond {args.max_bond}: mean bulk current {bulk.mean():+.4g}, "
              f"<sigma^z> at the ends {mean[0]:+.4f} / {mean[L - 1]:+.4f}, discarded weight {w:.2g}")
    paper.write_csv(os.path.join(args.out, "mps_long_chain.csv"), rows,
                    ["equation", "observable", "site", "time_average", "stderr"])
    return tw, res


if __name__ == "__main__":
    main()
