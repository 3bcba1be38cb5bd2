"""Paper Fig. 3(d) and Fig. 4: quantum trajectories of the boundary-driven XXZ chain at L = 19.

The local Lindblad equation of order N = 1 (L_+ only, lambda_loc; solid) against the standard
local Lindblad equation (dash-dotted), unravelled with ``jr.mcsolve``. Parameters of the paper:
J = h, Delta = 0.7, delta = -0.07h, gamma = 0.25h, T_l = T_r = 2.2h, |psi(0)> = |up,...,up>.

- Fig. 3(d): magnetization profile <sigma^z_i> at three times (the paper does not state its
  snapshot times; we use t_max/4, t_max/2 and t_max) with one standard error as a band.
- Fig. 4: site-resolved spin currents j_i(t) = -i<[H^{i,i+1}, sigma^z_i]> for both equations.

The paper averaged 5000 trajectories (~3 days on a 10-node cluster). The default here is a
quick laptop run; raise --ntraj for converged curves (about 8 s per trajectory and equation
at L = 19, t_max = 5/h on 2 CPU cores; `benchmarks/results/trajectories.md`). Each equation's
run is checkpointed into --out, so a killed run resumes where it stopped when rerun with the
same arguments.

    python examples/fig3d_fig4_trajectories.py                       # L = 19, 4 trajectories
    python examples/fig3d_fig4_trajectories.py --ntraj 5000 --batch-size 8
    python examples/fig3d_fig4_trajectories.py --L 8 --ntraj 200     # quick look

Writes fig3d_fig4.csv (means and standard errors) and fig3d_magnetization.png,
fig4_currents.png into --out (default: results/).
"""

from __future__ import annotations

import argparse
import os

import jax
import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper


def simulate(L, ntraj, tmax, nt, seed=0, batch_size=None, out=None, progress=True):
    model = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    psi0 = np.zeros(2**L)
    psi0[0] = 1.0  # |up, ..., up> (sigma^z = +1 on every site)
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]
    e_ops += [jr.spin_current(model, i) for i in range(L - 1)]
    ts = np.linspace(0.0, tmax, nt)
    res = {}
    for name, eq in (("local_lindblad_N1", jr.local_lindblad(system, 1)),
                     ("standard_local_lindblad", jr.standard_local_lindblad(system))):
        ckpt = None if out is None else os.path.join(out, f"fig3d_fig4_{name}_L{L}.ckpt.npz")
        r = jr.mcsolve(eq, psi0, ts, ntraj, jax.random.key(seed), e_ops=e_ops, batch_size=batch_size,
                       progress=progress, checkpoint=ckpt)
        res[name] = (np.asarray(r.expect), np.asarray(r.expect_stderr))
    return ts, res


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=19)
    ap.add_argument("--ntraj", type=int, default=4)
    ap.add_argument("--tmax", type=float, default=5.0)
    ap.add_argument("--nt", type=int, default=21)
    ap.add_argument("--batch-size", type=int, default=None, help="lanes (default: chosen per backend and L)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    L = args.L
    ts, res = simulate(L, args.ntraj, args.tmax, args.nt, args.seed, args.batch_size, args.out,
                       not args.no_progress)
    rows = []
    for name, (mean, se) in res.items():
        for k in range(mean.shape[0]):
            obs, site = ("sigma_z", k) if k < L else ("current", k - L)
            rows += [[name, obs, site, f"{t:.6g}", f"{mean[k, n]:.10g}", f"{se[k, n]:.3g}"]
                     for n, t in enumerate(ts)]
    paper.write_csv(os.path.join(args.out, "fig3d_fig4.csv"), rows,
                       ["equation", "observable", "site", "t", "mean", "stderr"])
    _plot(args.out, L, ts, res, args.ntraj)
    return ts, res


def _plot(out, L, ts, res, ntraj):
    plt = paper.pyplot()
    if plt is None:
        return
    snaps = [int(round(x * (len(ts) - 1))) for x in (0.25, 0.5, 1.0)]
    styles = {"local_lindblad_N1": ("-", "local Lindblad N=1"),
              "standard_local_lindblad": ("-.", "standard local Lindblad")}
    fig, ax = plt.subplots(figsize=(6, 4))
    sites = np.arange(L)
    for c, n in zip(("tab:red", "tab:green", "tab:blue"), snaps):
        for name, (mean, se) in res.items():
            ls, label = styles[name]
            ax.plot(sites, mean[:L, n], ls, color=c, label=f"{label}, t={ts[n]:.2g}/h")
            ax.fill_between(sites, mean[:L, n] - se[:L, n], mean[:L, n] + se[:L, n], color=c, alpha=0.15)
    ax.set_xlabel("site i")
    ax.set_ylabel(r"$\langle\sigma^z_i\rangle$")
    ax.set_title(f"Fig. 3(d): L={L}, {ntraj} trajectories")
    ax.legend(fontsize=6)
    paper.save_figure(fig, os.path.join(out, "fig3d_magnetization.png"))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    vmax = max(np.abs(m[L:]).max() for m, _ in res.values()) or 1.0
    for ax, (name, (mean, _)) in zip(axes, res.items()):
        im = ax.imshow(mean[L:], aspect="auto", origin="lower", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                       extent=[ts[0], ts[-1], -0.5, L - 1.5])
        ax.set_title(styles[name][1])
        ax.set_xlabel("t h")
    axes[0].set_ylabel("bond i")
    fig.colorbar(im, ax=axes, label=r"$j_i(t)$")
    fig.suptitle(f"Fig. 4: L={L}, {ntraj} trajectories")
    paper.save_figure(fig, os.path.join(out, "fig4_currents.png"), tight=False)


if __name__ == "__main__":
    main()
