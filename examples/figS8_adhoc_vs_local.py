"""Paper Fig. S.8: ad-hoc vs local Redfield, steady-state error vs temperature.

Trace distance d of the steady state of the ad-hoc local Redfield equation (eq. 3, one
expansion energy eps0 = 2J) and of the local Redfield equation (eq. 4) to the exact Redfield
steady state, at orders N = 1 (dashed) and N = 4 (solid), for (a) weak interaction J = 0.3h
and (b) J = h. Boundary-driven XXZ chain of Fig. 2 (L = 6, Delta = 0.7, delta = -0.07h, ohmic
baths gamma = 0.25h). The SM's finding (G): for weak J (H_S^resid << H_S) the local Redfield
equation beats the ad-hoc one by orders of magnitude.

    python examples/figS8_adhoc_vs_local.py              # paper: L = 6 (3.5 min, 2 busy cores)
    python examples/figS8_adhoc_vs_local.py --L 4 --nT 4 # quick look (~1 min)

Writes figS8_adhoc_vs_local.csv and .png into --out (default: results/).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper


def adhoc_vs_local(L, J, T, orders=(1, 4)) -> dict:
    """{"adhoc_redfield_N<N>" (eps0 = 2J) / "local_redfield_N<N>": steady-state trace distance
    to exact Redfield}."""
    eqs = {}
    for N in orders:
        eqs[f"adhoc_redfield_N{N}"] = lambda s, N=N: jr.adhoc_redfield(s, N, 2 * J)
        eqs[f"local_redfield_N{N}"] = lambda s, N=N: jr.local_redfield(s, N)
    return paper.xxz_distances(eqs, L, J, T)


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--J", type=float, nargs="+", default=[0.3, 1.0])
    ap.add_argument("--Tmin", type=float, default=0.5)
    ap.add_argument("--Tmax", type=float, default=5.0)
    ap.add_argument("--nT", type=int, default=10)
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    Ts = np.geomspace(args.Tmin, args.Tmax, args.nT)
    rows = []
    for J in args.J:
        for T in Ts:
            d = adhoc_vs_local(args.L, J, float(T))
            rows.append({"J": J, "T": float(T), **d})
            print(f"J={J} T={T:.3f} " + " ".join(f"{k}={v:.2e}" for k, v in d.items()), flush=True)
    os.makedirs(args.out, exist_ok=True)
    paper.write_csv(os.path.join(args.out, "figS8_adhoc_vs_local.csv"), rows)
    plt = paper.pyplot()
    if plt is None:
        return rows
    fig, axes = plt.subplots(1, len(args.J), figsize=(4.5 * len(args.J), 3.6), sharey=True, squeeze=False)
    for ax, J, tag in zip(axes[0], args.J, "abcdefgh"):
        sel = [r for r in rows if r["J"] == J]
        for name, color in (("adhoc_redfield", "tab:blue"), ("local_redfield", "tab:red")):
            for N, ls in ((1, "--"), (4, "-")):
                ax.loglog([r["T"] for r in sel], [r[f"{name}_N{N}"] for r in sel], color=color, ls=ls,
                          label=f"{name.replace('_', ' ')} N = {N}")
        ax.set_xlabel("T / h")
        ax.set_title(f"({tag}) J = {J}h, L = {args.L}" + r", ad-hoc $\varepsilon_0 = 2J$", fontsize=9)
    axes[0, 0].set_ylabel("trace distance d to exact Redfield")
    axes[0, -1].legend(fontsize=7)
    paper.save_figure(fig, os.path.join(args.out, "figS8_adhoc_vs_local.png"))
    return rows


if __name__ == "__main__":
    main()
