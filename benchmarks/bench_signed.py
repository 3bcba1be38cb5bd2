"""Signed (pseudo-Lindblad) trajectories of local Redfield against the paper's Lindblad
trajectories of local Lindblad: cost per trajectory and trajectories needed for a given
standard error at t_f = 5/h (issue 5).

Problem: the paper's boundary-driven XXZ chain (J = h = 1, Delta = 0.7, delta = -0.07h,
gamma = 0.25h, T_l = T_r = 2.2h), |psi(0)> = |+>^L, 11 save times up to t_f = 5/h, e_ops =
sigma^z on every site, expansion order N = 1. Three runs per L, same key:

- ``lindblad``: local Lindblad (L_+ only, the paper's Fig. 3(d)/4 trajectories; not exact);
- ``signed lam_loc``: local Redfield (eq. 4) as pseudo-Lindblad with the paper's lambda_loc,
  L_- jumps flip the sign (exact in the mean);
- ``signed lam_tuned``: the same with lambda tuned by optax on ``negative_weight_loss`` (the
  L_- weight in the local thermal state) on a 4-site chain and transferred (LocalParams are
  relative to lambda_loc).

Reported per run: seconds per trajectory (after a warm-up run that compiles), the
per-trajectory standard deviation sigma of the sigma^z estimator at t_f (largest over sites;
sigma = stderr sqrt(ntraj)), trajectories needed for a standard error ``--target`` (sigma /
target)^2, the CPU/GPU time that takes, and for signed runs the rms weight sqrt(E[mu^2]) at
t_f. The estimates of sigma from ``--ntraj`` trajectories carry a relative error ~1/sqrt(2
ntraj) (and more for the heavy-tailed signed weights).

    python benchmarks/bench_signed.py [--sizes 12 19] [--ntraj 200] [--ntraj19 8]

Writes benchmarks/results/signed.json and signed.md.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _harness import describe, machine, timed, write_results  # noqa: E402

T_F, N_T, T, ORDER = 5.0, 11, 2.2, 1


def tuned_params(steps=100):
    import jaxredfield as jr
    from jaxredfield.app import paper

    small = paper.xxz_system(4, T=T)
    res = jr.tune(jr.negative_weight_loss(small, ORDER), jr.LocalParams.paper(small), steps=steps,
                  learning_rate=0.05, train=("log_lam",))
    return res.params, float(res.losses[0]), float(res.losses.min())


def equations(L, params):
    import jaxredfield as jr
    from jaxredfield.app import paper

    system = paper.xxz_system(L, T=T)
    red = jr.local_redfield(system, ORDER)
    return system, {
        "lindblad": jr.local_lindblad(system, ORDER),
        "signed lam_loc": jr.pseudo_lindblad(red, jr.lam_loc(system)),
        "signed lam_tuned": jr.pseudo_lindblad(red, list(params.lam(system))),
    }


def run(eq, L, ntraj, batch_size, seed=1):
    import jax

    import jaxredfield as jr
    from jaxredfield.app import paper

    model = paper.xxz_system(L).model
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]
    psi0 = np.ones(2**L) / np.sqrt(2**L)
    ts = np.linspace(0, T_F, N_T)
    kw = dict(e_ops=e_ops, batch_size=batch_size, progress=False, max_trace_error=np.inf)
    jr.mcsolve(eq, psi0, ts, min(batch_size, ntraj), jax.random.key(0), **kw)  # compile
    el, r = timed(lambda: jr.mcsolve(eq, psi0, ts, ntraj, jax.random.key(seed), **kw))
    sigma = float(np.max(np.asarray(r.expect_stderr)[:, -1]) * np.sqrt(ntraj))
    out = {"ntraj": ntraj, "s_per_traj": el / ntraj, "sigma_tf": sigma, "mean_jumps": float(np.mean(r.stats["njumps"])),
           "sz_mean_tf": np.asarray(r.expect)[:, -1].tolist()}
    if "weight_rms" in r.stats:  # signed runs
        out["weight_rms"] = np.asarray(r.stats["weight_rms"]).tolist()
        out["negative_fraction_tf"] = float(np.asarray(r.stats["negative_fraction"])[-1])
    return out


def lam_scan(L, ntraj, factors=(0.5, 0.7, 1.0, 1.2, 1.4, 2.0)):
    """Weight growth against lambda = factor x lambda_loc (both baths)."""
    import jaxredfield as jr
    from jaxredfield.app import paper

    system = paper.xxz_system(L, T=T)
    red = jr.local_redfield(system, ORDER)
    p0 = jr.LocalParams.paper(system)
    out = []
    for f in factors:
        scaled = jr.LocalParams(p0.log_lam + np.log(f), p0.d_eps)  # lambda = f lambda_loc
        r = run(jr.pseudo_lindblad(red, list(scaled.lam(system))), L, ntraj, 100)
        r["factor"] = f
        out.append(r)
        print(f"lambda scan L={L}: {f:g} x lambda_loc: weight rms(t_f) {r['weight_rms'][-1]:.3g}", flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[12, 19])
    ap.add_argument("--ntraj", type=int, default=200, help="trajectories per run (L < 19)")
    ap.add_argument("--ntraj19", type=int, default=8, help="trajectories per run at L >= 19")
    ap.add_argument("--batch-size", type=int, default=8, help="(L >= 19: 2)")
    ap.add_argument("--scan-L", type=int, default=6, help="chain of the lambda scan (0: none)")
    ap.add_argument("--scan-ntraj", type=int, default=1000)
    ap.add_argument("--target", type=float, default=0.01, help="standard error to reach at t_f")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    import jaxredfield as jr

    params, loss0, loss1 = tuned_params()
    meta = machine(T=T, N=ORDER, t_f=T_F, target_stderr=args.target,
                   tuned_log_lam=np.asarray(params.log_lam).tolist(), negative_weight_loss_L4=[loss0, loss1])
    rows = []
    for L in args.sizes:
        ntraj = args.ntraj19 if L >= 19 else args.ntraj
        system, eqs = equations(L, params)
        meta[f"lam_loc_L{L}"] = [float(np.real(x)) for x in jr.lam_loc(system)]
        for name, eq in eqs.items():
            r = run(eq, L, ntraj, min(2 if L >= 19 else args.batch_size, ntraj))
            r.update(L=L, run=name)
            r["ntraj_for_target"] = (r["sigma_tf"] / args.target) ** 2
            r["seconds_for_target"] = r["ntraj_for_target"] * r["s_per_traj"]
            rows.append(r)
            print(f"L={L} {name}: {r['s_per_traj']:.3g} s/traj, sigma(t_f)={r['sigma_tf']:.3g}, "
                  f"ntraj for stderr {args.target}: {r['ntraj_for_target']:.3g}"
                  + (f", weight rms(t_f)={r['weight_rms'][-1]:.3g}" if "weight_rms" in r else ""), flush=True)
    scan = lam_scan(args.scan_L, args.scan_ntraj) if args.scan_L else []
    os.makedirs(args.out, exist_ok=True)
    data = {"meta": meta, "target": args.target, "scan_L": args.scan_L, "scan_ntraj": args.scan_ntraj,
            "rows": rows, "lam_scan": scan}
    write_results(os.path.join(args.out, "signed.json"), os.path.join(args.out, "signed.md"), data, render)
    print(render(data))
    return rows


def render(data):
    meta, rows, scan, target = data["meta"], data["rows"], data["lam_scan"], data["target"]
    lines = ["# Signed trajectories (local Redfield, pseudo-Lindblad) vs Lindblad trajectories (local Lindblad)",
             "", describe(meta), "",
             f"XXZ chain of the paper, T = {T}h, N = {ORDER}, |+>^L, t_f = {T_F}/h; sigma = per-trajectory "
             f"standard deviation of the sigma^z estimator at t_f (largest over sites); needed = (sigma / "
             f"{target})^2 trajectories for standard error {target}; cost = needed x s/traj; "
             "ratio = cost / cost of the Lindblad run at the same L.", "",
             "| L | run | ntraj | s/traj | sigma(t_f) | weight rms (t_f) | needed | cost [s] | cost ratio |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = next(b for b in rows if b["L"] == r["L"] and b["run"] == "lindblad")
        w = f"{r['weight_rms'][-1]:.3g}" if "weight_rms" in r else "1"
        lines.append(f"| {r['L']} | {r['run']} | {r['ntraj']} | {r['s_per_traj']:.3g} | {r['sigma_tf']:.3g} | {w} | "
                     f"{r['ntraj_for_target']:.3g} | {r['seconds_for_target']:.3g} | "
                     f"{r['seconds_for_target'] / base['seconds_for_target']:.3g} |")
    if scan:
        lines += ["", f"lambda scan (L = {data['scan_L']}, {data['scan_ntraj']} trajectories, lambda = factor x "
                  "lambda_loc on both baths): rms weight sqrt(E[mu^2]) at t = 1, 2, 3, 5 and sigma(t_f)", "",
                  "| factor | weight rms t=1 | t=2 | t=3 | t=5 | sigma(t_f) |", "|---|---|---|---|---|---|"]
        for r in scan:
            w = r["weight_rms"]
            lines.append(f"| {r['factor']:g} | {w[2]:.3g} | {w[4]:.3g} | {w[6]:.3g} | {w[10]:.3g} | {r['sigma_tf']:.3g} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
