"""Paper Fig. 2(a),(b): populations of the many-body eigenstates k (ascending energy).

(a) <k|rho(t)|k> along the relaxation from |psi(0)> = [(|up> + |down>)/sqrt(2)]^L and
(b) the steady-state populations, for exact Redfield (dotted blue), local Redfield N = 4 (solid
red), local Lindblad N = 4 (solid green) and the standard local Lindblad equation
(dash-dotted black); with equal bath temperatures also the Gibbs state exp(-H/T)/Z (SM,
Fig. S.6), the exact Redfield steady state. Paper: boundary-driven XXZ chain L = 6, J = h,
Delta = 0.7, delta = -0.07h, gamma = 0.25h, T_l = T_r = 2.2h (--T_r for SM J / Fig. S.17).

    python examples/fig2ab_populations.py                 # paper: L = 6 (~1.6 min, 2 cores)
    python examples/fig2ab_populations.py --L 4           # quick look (~30 s)

Writes fig2ab_populations.csv (equation, k, energy, t, population; t = "steady" for (b)) and
fig2ab_populations.png into --out (default: results/).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper

#: equation -> (color, line style) of the paper's Fig. 2
STYLES = {"exact Redfield": ("tab:blue", ":"), "local Redfield": ("tab:red", "-"),
          "local Lindblad": ("tab:green", "-"), "standard local Lindblad": ("k", "-."),
          "Gibbs": ("tab:gray", "")}


def style(name):
    """(color, line style) of an equation name such as 'local Redfield N=4'."""
    return STYLES[name.split(" N=")[0]]


def compute(L=6, T=2.2, J=1.0, order=4, tmax=20.0, nt=81, T_r=None):
    """Eigenstate populations along mesolve from |+>^L and in the steady state.

    **Returns:** (ts, E, {equation: (populations n_t x 2^L, steady populations 2^L)}); with
    T_r = T (default) also "Gibbs": (None, Gibbs populations)."""
    system = paper.xxz_system(L, J, T, T_r)
    model = system.model
    eqs = {"exact Redfield": jr.redfield(system),
           f"local Redfield N={order}": jr.local_redfield(system, order),
           f"local Lindblad N={order}": jr.local_lindblad(system, order),
           "standard local Lindblad": jr.standard_local_lindblad(system)}
    psi0 = np.ones(2**L) / np.sqrt(2**L)
    ts = np.linspace(0.0, tmax, nt)
    out = {}
    for name, eq in eqs.items():
        E, pops = jr.eigenstate_populations(model, jr.mesolve(eq, psi0, ts).states)
        out[name] = (pops, jr.eigenstate_populations(model, jr.steadystate(eq))[1])
    if T_r is None or T_r == T:
        out["Gibbs"] = (None, jr.eigenstate_populations(model, jr.gibbs_state(model, T))[1])
    return ts, E, out


def csv_rows(ts, E, res):
    """Rows [equation, k, energy, t, population] (t = 'steady' for the steady state)."""
    rows = []
    for name, (pops, steady) in res.items():
        if pops is not None:
            rows += [[name, k, f"{E[k]:.12g}", f"{t:.6g}", f"{p:.12g}"]
                     for i, t in enumerate(ts) for k, p in enumerate(pops[i])]
        rows += [[name, k, f"{E[k]:.12g}", "steady", f"{p:.12g}"] for k, p in enumerate(steady)]
    return rows


def plot(ax_t, ax_k, ts, res):
    """(a) populations vs t on ``ax_t`` (one line per k), (b) steady populations vs k on ``ax_k``."""
    for name, (pops, steady) in res.items():
        color, ls = style(name)
        z = 3 if name == "exact Redfield" else 2  # the paper draws exact Redfield on top
        if pops is not None:
            lines = ax_t.plot(ts, pops, color=color, ls=ls, lw=0.8, zorder=z)
            lines[0].set_label(name)
        gibbs = dict(marker="o", mfc="none", ms=5) if name == "Gibbs" else dict(marker=".", ms=3)
        ax_k.plot(np.arange(len(steady)), steady, color=color, ls=ls or "none", lw=0.8, zorder=z,
                  label=name, **gibbs)
    ax_t.set_xlabel("t h")
    ax_t.set_ylabel(r"$\rho_{kk}(t)$")
    ax_k.set_xlabel("eigenstate k (ascending energy)")
    ax_k.set_ylabel(r"steady $\rho_{kk}$")
    ax_k.set_yscale("log")


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--T", type=float, default=2.2, help="left bath temperature T_l / h")
    ap.add_argument("--T_r", type=float, default=None, help="right bath temperature / h (default: T)")
    ap.add_argument("--J", type=float, default=1.0)
    ap.add_argument("--order", type=int, default=4)
    ap.add_argument("--tmax", type=float, default=20.0)
    ap.add_argument("--nt", type=int, default=81)
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    ts, E, res = compute(args.L, args.T, args.J, args.order, args.tmax, args.nt, args.T_r)
    paper.write_csv(os.path.join(args.out, "fig2ab_populations.csv"), csv_rows(ts, E, res),
                       ["equation", "k", "energy", "t", "population"])
    for name, (_, steady) in res.items():
        print(f"{name:<26} sum_k |p_k - p_k(exact Redfield)| = "
              f"{np.abs(steady - res['exact Redfield'][1]).sum():.2e}")
    plt = paper.pyplot()
    if plt is None:
        return ts, E, res
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    plot(a, b, ts, res)
    T_r = args.T if args.T_r is None else args.T_r
    a.set_title(f"Fig. 2(a): L = {args.L}, J = {args.J}h, T_l = {args.T}h, T_r = {T_r}h", fontsize=9)
    b.set_title("Fig. 2(b)", fontsize=9)
    b.legend(fontsize=7)
    paper.save_figure(fig, os.path.join(args.out, "fig2ab_populations.png"))
    return ts, E, res


if __name__ == "__main__":
    main()
