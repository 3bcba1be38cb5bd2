"""Paper Fig. S.17 (SM J): the main-text figures for a nonequilibrium setup, T_r = 3 T_l.

Boundary-driven XXZ chain (L = 6, J = h, Delta = 0.7, delta = -0.07h, gamma = 0.25h) with the
right bath hotter, T_r = 3 T_l, T_l = 2.2h, |psi(0)> = |+>^L; the steady state carries a
nonzero current. Each panel reuses a main-text script with T_r:

- (a) like Fig. 2(d): steady-state trace distance to exact Redfield vs T_l
  (:mod:`fig2cd_trace_distance`);
- (b) like Fig. 3(a): relaxation-averaged error vs tau_B/tau_S = J/(2 pi T_l)
  (:mod:`fig3a_memory_time`);
- (c) like Fig. 3(b): steady-state magnetization profile, (d) like Fig. 3(c): current j_2(t)
  (:mod:`fig3bc_magnetization_current`);
- (e),(f) like Fig. 2(a),(b): eigenstate populations (:mod:`fig2ab_populations`).

The defaults are coarser than the main-text scripts' (8 temperatures in (a), 4 in (b)) to keep
the whole figure at ~15 min (measured 14.5 min on 2 busy cores, 10 min CPU).

    python examples/figS17_nonequilibrium.py                               # paper: L = 6
    python examples/figS17_nonequilibrium.py --L 4 --nT 3 --memory-nT 2    # quick look (~1.5 min)
    python examples/figS17_nonequilibrium.py --panels cd                   # some panels only

Writes figS17_nonequilibrium.csv (long format: panel, equation, x, k, value; x is T_l in (a),
tau_B/tau_S in (b), the site in (c), t in (d),(e), "steady" in (f); k the eigenstate in
(e),(f)) and figS17_nonequilibrium.png into --out (default: results/).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import fig2ab_populations
import fig2cd_trace_distance
import fig3a_memory_time
import fig3bc_magnetization_current
import jaxredfield as jr
from jaxredfield.app import paper

#: panel (a) as Fig. 2(d): N = 1 dashed, N = 4 solid, standard local Lindblad dash-dotted
STYLES_A = {"local_redfield_N1": ("tab:red", "--"), "local_redfield_N4": ("tab:red", "-"),
            "local_lindblad_N1": ("tab:green", "--"), "local_lindblad_N4": ("tab:green", "-"),
            "standard_local_lindblad": ("k", "-.")}


def compute(args) -> dict:
    """{panel: result} for the panels in ``args.panels``: 'a', 'b', and 'cd', 'ef' (each pair
    shares one computation)."""
    f, L, T, J = args.T_r_factor, args.L, args.T, 1.0
    res = {}
    if "a" in args.panels:
        res["a"] = []
        for Tl in np.geomspace(args.Tmin, args.Tmax, args.nT):
            d = fig2cd_trace_distance.distances(L, J, float(Tl), orders=(1, 4), T_r=f * float(Tl))
            res["a"].append({"T": float(Tl), **d})
            print(f"(a) T_l={Tl:.3f} " + " ".join(f"{k}={v:.2e}" for k, v in d.items()), flush=True)
    if "b" in args.panels:
        Ts = np.geomspace(args.memory_Tmin, args.memory_Tmax, args.memory_nT)
        res["b"] = fig3a_memory_time.compute(L, J, Ts, args.orders, T_r_factor=f)
    if "c" in args.panels or "d" in args.panels:
        res["cd"] = fig3bc_magnetization_current.compute(L, T, J, 4, args.tmax, args.nt, T_r=f * T)
    if "e" in args.panels or "f" in args.panels:
        res["ef"] = fig2ab_populations.compute(L, T, J, 4, args.tmax, args.nt, T_r=f * T)
    return res


def csv_rows(res) -> list:
    """Long-format rows [panel, equation, x, k, value]."""
    rows = []
    for r in res.get("a", []):
        rows += [["a", k, f"{r['T']:.6g}", "", f"{v:.12g}"] for k, v in r.items() if k != "T"]
    for r in res.get("b", []):
        rows += [["b", f"local Redfield {k}", f"{r['tau_B/tau_S']:.6g}", "", f"{v:.12g}"]
                 for k, v in r.items() if k.startswith("N")]
    if "cd" in res:
        ts, out = res["cd"]
        for name, (mag, cur) in out.items():
            rows += [["c", name, i, "", f"{m:.12g}"] for i, m in enumerate(mag)]
            rows += [["d", name, f"{t:.6g}", "", f"{c:.12g}"] for t, c in zip(ts, cur)]
    if "ef" in res:
        for name, k, _, t, p in fig2ab_populations.csv_rows(*res["ef"]):
            rows.append(["f" if t == "steady" else "e", name, t, k, p])
    return rows


def plot(plt, res, args):
    panels = [p for p in ("a", "b", "c", "d", "e", "f") if p in args.panels]
    ncol = min(len(panels), 3)
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False)
    ax = dict(zip(panels, axes.flat))
    for extra in axes.flat[len(panels):]:
        extra.set_visible(False)
    title = f"L = {args.L}, T_r = {args.T_r_factor:g} T_l"
    if "a" in ax:
        for key, (color, ls) in STYLES_A.items():
            ax["a"].loglog([r["T"] for r in res["a"]], [r[key] for r in res["a"]], color=color, ls=ls, marker="o", ms=3,
                         label=key)
        from matplotlib.ticker import NullFormatter

        ax["a"].xaxis.set_minor_formatter(NullFormatter())
        ax["a"].set_xlabel("T_l / h")
        ax["a"].set_ylabel("trace distance to exact Redfield")
        ax["a"].legend(fontsize=6)
    if "b" in ax:
        fig3a_memory_time.plot(ax["b"], res["b"], args.orders)
        ax["b"].legend(fontsize=6)
    if "cd" in res:
        ts, out = res["cd"]
        for name, (mag, cur) in out.items():
            color, ls = fig2ab_populations.style(name)
            z = 3 if name == "exact Redfield" else 2
            if "c" in ax:
                ax["c"].plot(np.arange(len(mag)), mag, color=color, ls=ls, marker="o", ms=3, zorder=z, label=name)
            if "d" in ax:
                ax["d"].plot(ts, cur, color=color, ls=ls, zorder=z, label=name)
        if "c" in ax:
            ax["c"].set_xlabel("site i (0-based)")
            ax["c"].set_ylabel(r"steady $\langle\sigma^z_i\rangle$")
            ax["c"].legend(fontsize=6)
        if "d" in ax:
            ax["d"].set_xlabel("t h")
            ax["d"].set_ylabel(r"$j_2(t)$")
    if "ef" in res:
        ts, _, out = res["ef"]
        fig2ab_populations.plot(ax["e"], ax["f"], ts, out)
        ax["f"].legend(fontsize=6)
    for p, a in ax.items():
        a.set_title(f"({p}) {title}, T_l = {args.T}h" if p in "cdef" else f"({p}) {title}", fontsize=8)
    return fig


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--T", type=float, default=2.2, help="T_l of panels (c)-(f), units of h")
    ap.add_argument("--T_r-factor", dest="T_r_factor", type=float, default=3.0, help="T_r = factor * T_l")
    ap.add_argument("--Tmin", type=float, default=0.5, help="panel (a): T_l range")
    ap.add_argument("--Tmax", type=float, default=5.0)
    ap.add_argument("--nT", type=int, default=8)
    ap.add_argument("--memory-Tmin", dest="memory_Tmin", type=float, default=2.0, help="panel (b): T_l range")
    ap.add_argument("--memory-Tmax", dest="memory_Tmax", type=float, default=16.0)
    ap.add_argument("--memory-nT", dest="memory_nT", type=int, default=4)
    ap.add_argument("--orders", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="panel (b)")
    ap.add_argument("--tmax", type=float, default=20.0, help="panels (d),(e)")
    ap.add_argument("--nt", type=int, default=81)
    ap.add_argument("--panels", default="abcdef", help="which panels to compute (default: all)")
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    if not args.panels or set(args.panels) - set("abcdef"):
        ap.error(f"--panels must be letters of 'abcdef', got {args.panels!r}")
    if "e" in args.panels or "f" in args.panels:  # one computation, drawn together
        args.panels += "ef"
    os.makedirs(args.out, exist_ok=True)
    res = compute(args)
    paper.write_csv(os.path.join(args.out, "figS17_nonequilibrium.csv"), csv_rows(res),
                       ["panel", "equation", "x", "k", "value"])
    if "cd" in res:
        for name, (_, cur) in res["cd"][1].items():
            print(f"(d) {name:<26} j_2(t = {args.tmax:g}/h) = {cur[-1]:.4e}")
    plt = paper.pyplot()
    if plt is None:
        return res
    paper.save_figure(plot(plt, res, args), os.path.join(args.out, "figS17_nonequilibrium.png"))
    return res


if __name__ == "__main__":
    main()
