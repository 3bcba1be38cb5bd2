"""Paper Fig. 2(c),(d): steady-state trace distance to exact Redfield vs temperature.

Local Redfield (eq. 4) and local Lindblad at orders N = 1 (dashed) and N = 4 (solid), and the
standard local Lindblad equation (dash-dotted), for the boundary-driven XXZ chain
(gamma = 0.25h, Delta = 0.7, delta = -0.07h) at J = 0.3h (c) and J = h (d).

    python examples/fig2cd_trace_distance.py                 # paper: L = 6 (~15 min, 2 cores)
    python examples/fig2cd_trace_distance.py --L 4 --nT 6    # quick look (~1 min)

Writes fig2cd_trace_distance.csv and .png into --out (default: results/).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper


def distances(L: int, J: float, T: float, orders=(1, 4), T_r=None, kind="ohmic", E_D=None) -> dict:
    """Steady-state trace distances to exact Redfield of local Redfield / local Lindblad at
    ``orders`` and of the standard local Lindblad equation (T_r: right bath, SM J)."""
    system = paper.xxz_system(L, J, T, T_r, kind, E_D)
    builders = {}
    for N in orders:
        builders[f"local_redfield_N{N}"] = lambda N=N: jr.local_redfield(system, N)
        builders[f"local_lindblad_N{N}"] = lambda N=N: jr.local_lindblad(system, N)
    builders["standard_local_lindblad"] = lambda: jr.standard_local_lindblad(system)
    return paper.steady_distances(builders, jr.steadystate(jr.redfield(system)))


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--Tmin", type=float, default=0.5)
    ap.add_argument("--Tmax", type=float, default=5.0)
    ap.add_argument("--nT", type=int, default=10)
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    Ts = np.geomspace(args.Tmin, args.Tmax, args.nT)
    rows = []
    for J in (0.3, 1.0):
        for T in Ts:
            d = distances(args.L, J, float(T))
            rows.append({"J": J, "T": float(T), **d})
            print(f"J={J} T={T:.3f} " + " ".join(f"{k}={v:.2e}" for k, v in d.items()), flush=True)
    paper.write_csv(os.path.join(args.out, "fig2cd_trace_distance.csv"), rows)
    plt = paper.pyplot()
    if plt is None:
        return rows
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    styles = {"local_redfield_N1": ("tab:red", "--"), "local_redfield_N4": ("tab:red", "-"),
              "local_lindblad_N1": ("tab:green", "--"), "local_lindblad_N4": ("tab:green", "-"),
              "standard_local_lindblad": ("k", "-.")}
    for ax, J, tag in zip(axes, (0.3, 1.0), "cd"):
        sel = [r for r in rows if r["J"] == J]
        for key, (c, ls) in styles.items():
            ax.loglog([r["T"] for r in sel], [r[key] for r in sel], color=c, ls=ls, label=key)
        ax.set_xlabel("T / h")
        ax.set_title(f"({tag}) J = {J}h, L = {args.L}")
    axes[0].set_ylabel("trace distance to exact Redfield")
    axes[1].legend(fontsize=7)
    paper.save_figure(fig, os.path.join(args.out, "fig2cd_trace_distance.png"))
    return rows


if __name__ == "__main__":
    main()
