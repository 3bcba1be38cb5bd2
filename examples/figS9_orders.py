"""Paper Figs. S.9, S.13, S.15: steady-state error of the local equations at orders N = 1..4.

Trace distance d of the steady state of (a),(b) the local Redfield equation (eq. 4) and
(c),(d) the local Lindblad equation (L_+ only, lambda_loc of SM H) at orders N = 1, 2, 3, 4 to
the exact Redfield steady state, vs temperature T, at (a),(c) J = 0.3h and (b),(d) J = h.
Boundary-driven XXZ chain of Fig. 2 (L = 6, Delta = 0.7, delta = -0.07h, gamma = 0.25h).
The SM's finding (G, H): local Redfield converges fast with N at intermediate and high T;
local Lindblad is essentially converged at N = 1 (its residual error is the dropped L_-).

- Fig. S.9:  ohmic baths (default)
- Fig. S.13: --kind drude --E_D 30   (Drude-Lorentz baths, complex W with Lamb shift)
- Fig. S.15: --kind drude --E_D 10   (much slower convergence with N, SM I)

    python examples/figS9_orders.py                         # Fig. S.9, L = 6 (9 min, 2 busy cores)
    python examples/figS9_orders.py --kind drude --E_D 10   # Fig. S.15 (not timed; similar)
    python examples/figS9_orders.py --L 4 --nT 4            # quick look (~1 min)

Writes figS9_orders_<bath>_L<L>.csv and .png into --out (default: results/).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper

ORDERS = (1, 2, 3, 4)
EQUATIONS = {"local_redfield": jr.local_redfield, "local_lindblad": jr.local_lindblad}


def order_distances(L, J, T, orders=ORDERS, kind="ohmic", E_D=None) -> dict:
    """{"local_redfield_N<N>" / "local_lindblad_N<N>": steady-state trace distance to exact
    Redfield} at one temperature."""
    eqs = {f"{name}_N{N}": (lambda s, f=f, N=N: f(s, N)) for name, f in EQUATIONS.items() for N in orders}
    return paper.xxz_distances(eqs, L, J, T, kind, E_D)


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    paper.add_bath_arguments(ap)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--J", type=float, nargs="+", default=[0.3, 1.0])
    ap.add_argument("--Tmin", type=float, default=0.5)
    ap.add_argument("--Tmax", type=float, default=5.0)
    ap.add_argument("--nT", type=int, default=10)
    ap.add_argument("--orders", type=int, nargs="+", default=list(ORDERS))
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    tag = paper.bath_label(ap, args)
    Ts = np.geomspace(args.Tmin, args.Tmax, args.nT)
    rows = []
    for J in args.J:
        for T in Ts:
            d = order_distances(args.L, J, float(T), args.orders, args.kind, args.E_D)
            rows.append({"J": J, "T": float(T), **d})
            print(f"J={J} T={T:.3f} " + " ".join(f"{k}={v:.2e}" for k, v in d.items()), flush=True)
    stem = f"figS9_orders_{tag}_L{args.L}"
    os.makedirs(args.out, exist_ok=True)
    paper.write_csv(os.path.join(args.out, f"{stem}.csv"), rows)
    plt = paper.pyplot()
    if plt is None:
        return rows
    nJ = len(args.J)
    fig, axes = plt.subplots(2, nJ, figsize=(4.5 * nJ, 6.4), sharex=True, sharey="row", squeeze=False)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.85, len(args.orders)))
    for row, name in enumerate(EQUATIONS):
        for col, J in enumerate(args.J):
            ax = axes[row, col]
            sel = [r for r in rows if r["J"] == J]
            for c, N in zip(colors, args.orders):
                ax.loglog([r["T"] for r in sel], [r[f"{name}_N{N}"] for r in sel], color=c, label=f"N = {N}")
            ax.set_title(f"({'abcdefgh'[row * nJ + col]}) {name.replace('_', ' ')}, J = {J}h", fontsize=9)
            if row == 1:
                ax.set_xlabel("T / h")
        axes[row, 0].set_ylabel("trace distance d")
    axes[0, -1].legend(fontsize=7)
    fig.suptitle(f"{tag}, L = {args.L}", fontsize=9)
    paper.save_figure(fig, os.path.join(args.out, f"{stem}.png"))
    return rows


if __name__ == "__main__":
    main()
