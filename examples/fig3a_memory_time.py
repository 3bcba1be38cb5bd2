"""Paper Fig. 3(a): error of local Redfield vs the bath memory time tau_B / tau_S.

d_tau_R = (1/tau_R) int_0^tau_R ||rho_N(t) - rho_exact(t)|| dt, the trace distance between
local Redfield of order N (eq. 4) and exact Redfield (eq. 1) averaged over the initial
relaxation up to tau_R = 1/gamma = 4/h, against tau_B / tau_S = J / (2 pi T) (tau_B = 1/(2 pi T)
the bath memory time of the ohmic bath, SM D; tau_S = 1/J the operator-spreading time),
varied through T at J = h. Dashed lines: the paper's power laws (tau_B/tau_S)^(N+1); dotted:
(tau_B/tau_S)^(N+2) for even N >= 2.

Measured: the slopes are N+1 for odd N, but N+2 for even N >= 2 (the order-(N+1) term carries
W^(N+1)(0) ~ B_(N+1), and odd Bernoulli numbers vanish) and slightly below 1 for N = 0 (the
dissipation rates ~ gamma T grow inside the fixed window tau_R). At L = 6 between T = 4h and
32h (least squares): 0.73, 1.79, 3.82, 3.70, 5.79 for N = 0..4. Below T ~ 2h the expansion leaves its
asymptotic regime (SM B). Paper: boundary-driven XXZ chain L = 6, Delta = 0.7,
delta = -0.07h, gamma = 0.25h, |psi(0)> = |+>^L; --T_r-factor 3 gives Fig. S.17(b) (T_r = 3 T_l,
tau_B from T_l).

    python examples/fig3a_memory_time.py                      # paper: L = 6 (~9 min, 2 busy cores)
    python examples/fig3a_memory_time.py --L 4 --nT 5         # quick look (~40 s)

Writes fig3a_memory_time.csv (T, tau_B/tau_S, d_tau_R for each N) and .png into --out
(default: results/).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper


def relaxation_errors(L, J, T, orders=(0, 1, 2, 3, 4), T_r=None, nt=41, rtol=1e-11, atol=1e-13) -> dict:
    """{N: d_tau_R} for local Redfield of ``orders``: the trace distance to exact Redfield
    averaged (trapezoid rule on ``nt`` times) over t in [0, 1/gamma] from |+>^L. Tight
    tolerances: at high T the errors of N = 4 fall below 1e-9."""
    system = paper.xxz_system(L, J, T, T_r)
    psi0 = np.ones(2**L) / np.sqrt(2**L)
    ts = np.linspace(0.0, 1.0 / paper.GAMMA, nt)

    def states(eq):
        return np.asarray(jr.mesolve(eq, psi0, ts, method=jr.Diffrax(rtol=rtol, atol=atol)).states)

    exact = states(jr.redfield(system))
    out = {}
    for N in orders:
        d = np.linalg.svd(states(jr.local_redfield(system, N)) - exact, compute_uv=False).sum(-1)
        out[N] = float(np.trapezoid(d, ts) / ts[-1])
    return out


def slopes(rows, orders, fit_Tmin=0.0) -> dict:
    """{N: least-squares slope of log d_tau_R vs log tau_B/tau_S} over rows with T >= fit_Tmin."""
    sel = [r for r in rows if r["T"] >= fit_Tmin]
    x = np.log([r["tau_B/tau_S"] for r in sel])
    return {N: float(np.polyfit(x, np.log([r[f"N{N}"] for r in sel]), 1)[0]) for N in orders}


def compute(L=6, J=1.0, Ts=(2.0, 4.0, 8.0, 16.0, 32.0), orders=(0, 1, 2, 3, 4), T_r_factor=1.0, nt=41):
    """Rows {T, tau_B/tau_S, N0, N1, ...} of d_tau_R (T_r = T_r_factor * T)."""
    rows = []
    for T in Ts:
        T = float(T)
        d = relaxation_errors(L, J, T, orders, T_r=T_r_factor * T, nt=nt)
        rows.append({"T": T, "tau_B/tau_S": J / (2 * np.pi * T), **{f"N{N}": v for N, v in d.items()}})
        print(f"T={T:.3f} tau_B/tau_S={J / (2 * np.pi * T):.4f} "
              + " ".join(f"N={N}: {v:.2e}" for N, v in d.items()), flush=True)
    return rows


def plot(ax, rows, orders):
    """d_tau_R vs tau_B/tau_S on log axes, with the paper's dashed power laws
    (tau_B/tau_S)^(N+1) and, for even N >= 2, dotted (tau_B/tau_S)^(N+2), through each order's
    point at the smallest tau_B."""
    x = np.array([r["tau_B/tau_S"] for r in rows])
    colors = {}
    for N in orders:
        y = np.array([r[f"N{N}"] for r in rows])
        (line,) = ax.loglog(x, y, "o-", ms=3, label=f"N = {N}")
        colors[N] = line.get_color()
        i = np.argmin(x)
        ax.loglog(x, y[i] * (x / x[i]) ** (N + 1), "--", color=colors[N], lw=0.8)
        if N >= 2 and N % 2 == 0:  # the measured leading order of even N
            ax.loglog(x, y[i] * (x / x[i]) ** (N + 2), ":", color=colors[N], lw=0.8)
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"$\tau_B/\tau_S = J/(2\pi T)$")
    ax.set_ylabel(r"$d_{\tau_R}$")


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--J", type=float, default=1.0)
    ap.add_argument("--Tmin", type=float, default=2.0)
    ap.add_argument("--Tmax", type=float, default=32.0)
    ap.add_argument("--nT", type=int, default=9)
    ap.add_argument("--orders", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--T_r-factor", dest="T_r_factor", type=float, default=1.0,
                    help="T_r = factor * T_l (3 for Fig. S.17(b))")
    ap.add_argument("--nt", type=int, default=41, help="time points in [0, tau_R]")
    ap.add_argument("--fit-Tmin", dest="fit_Tmin", type=float, default=4.0,
                    help="fit the printed slopes over T >= this")
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    Ts = np.geomspace(args.Tmin, args.Tmax, args.nT)
    rows = compute(args.L, args.J, Ts, args.orders, args.T_r_factor, args.nt)
    paper.write_csv(os.path.join(args.out, "fig3a_memory_time.csv"), rows)
    fit = slopes(rows, args.orders, args.fit_Tmin)
    print(f"log-log slopes over T >= {args.fit_Tmin}: " + ", ".join(f"N={N}: {s:.2f}" for N, s in fit.items()))
    plt = paper.pyplot()
    if plt is None:
        return rows
    fig, ax = plt.subplots(figsize=(4.8, 3.8))
    plot(ax, rows, args.orders)
    ax.set_title(f"Fig. 3(a): L = {args.L}, J = {args.J}h, T_r = {args.T_r_factor:g} T_l", fontsize=9)
    ax.legend(fontsize=7)
    paper.save_figure(fig, os.path.join(args.out, "fig3a_memory_time.png"))
    return rows


if __name__ == "__main__":
    main()
