"""Paper Fig. S.4 (SM C): local Redfield for a Bose-Hubbard chain with particle reservoirs.

Bose-Hubbard chain (eq. S.14) L = 4, U = 0.5J, V_i = 0.35 (i - L/2)^2 J, on-site cutoff
n_i <= 2, particle reservoirs (flat spectral density gamma = 0.25J, mu = -2.5T, which keeps the
particle number roughly fixed) on both end sites:

- (a) steady-state trace distance of local Redfield N = 1 (dashed) and N = 4 (solid) to exact
  Redfield vs T;
- (b),(c) eigenstate populations along the relaxation and in the steady state at T = 2J for
  N = 1, (d),(e) the same for N = 4, each against exact Redfield (dotted blue).

The Lindblad forms refuse the particle reservoir (its couplings pair a with a^dag), so only
the Redfield forms appear. The SM does not state the initial state: we start from the empty
chain |0000> (an eigenstate of H_S; the reservoirs fill it). The exact Redfield steady state
is the grand-canonical state e^{-(H - mu N)/T}/Z (checked and printed); it is also the initial
guess of the eigen-preconditioned GMRES steady-state solves (D = 81).

    python examples/figS4_bose_hubbard.py                      # paper: L = 4 (~5 min, 2 busy cores)
    python examples/figS4_bose_hubbard.py --nT 4 --tmax 20     # quick look (~2 min)

Writes figS4_bose_hubbard.csv (panel, equation, x, k, value) and .png into --out
(default: results/).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import fig2ab_populations
import jaxredfield as jr
from jaxredfield.app import paper


def grand_canonical_state(model, T, mu):
    """e^{-(H - mu N)/T}/Z in the Fock basis (N = total boson number, small L)."""
    n = np.indices((model.d,) * model.L).reshape(model.L, -1).sum(0)
    E, V = np.linalg.eigh(np.asarray(model.dense()) - mu * np.diag(n))
    p = np.exp(-(E - E[0]) / T)
    return (V * (p / p.sum())) @ V.conj().T


def solver(guess):
    """Eigen-preconditioned GMRES started from ``guess``."""
    return lambda eq: jr.steadystate(eq, rho0=guess, method=jr.GMRES(preconditioner="eigen"))


def distances(L, T, orders=(1, 4), nmax=2, J=1.0) -> dict:
    """Panel (a): {"local_redfield_N{N}": steady-state trace distance to exact Redfield} and
    "exact_vs_grand_canonical" (round-off: a check of the reference)."""
    system = paper.bose_hubbard_system(L, T, nmax, J)
    gc = grand_canonical_state(system.model, T, -2.5 * T)
    exact = solver(gc)(jr.redfield(system))
    builders = {f"local_redfield_N{N}": lambda N=N: jr.local_redfield(system, N) for N in orders}
    d = paper.steady_distances(builders, exact, solve=solver(gc))
    return {**d, "exact_vs_grand_canonical": float(jr.trace_distance(exact, gc))}


def populations(L=4, T=2.0, orders=(1, 4), nmax=2, J=1.0, tmax=60.0, nt=121):
    """Panels (b)-(e): (ts, E, {equation: (populations n_t x d^L, steady populations)}) from
    the empty chain, for exact Redfield and local Redfield at ``orders``."""
    system = paper.bose_hubbard_system(L, T, nmax, J)
    model = system.model
    gc = grand_canonical_state(model, T, -2.5 * T)
    eqs = {"exact Redfield": jr.redfield(system)}
    eqs.update({f"local Redfield N={N}": jr.local_redfield(system, N) for N in orders})
    psi0 = np.zeros(model.d**L)
    psi0[0] = 1.0  # |0 ... 0>
    ts = np.linspace(0.0, tmax, nt)
    out = {}
    for name, eq in eqs.items():
        E, pops = jr.eigenstate_populations(model, jr.mesolve(eq, psi0, ts).states)
        out[name] = (pops, jr.eigenstate_populations(model, solver(gc)(eq))[1])
    return ts, E, out


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=4)
    ap.add_argument("--nmax", type=int, default=2)
    ap.add_argument("--Tmin", type=float, default=0.5, help="panel (a), units of J")
    ap.add_argument("--Tmax", type=float, default=5.0)
    ap.add_argument("--nT", type=int, default=10)
    ap.add_argument("--T", type=float, default=2.0, help="temperature of panels (b)-(e)")
    ap.add_argument("--orders", type=int, nargs=2, default=[1, 4])
    ap.add_argument("--tmax", type=float, default=60.0)
    ap.add_argument("--nt", type=int, default=121)
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    rows = []
    dist = []
    for T in np.geomspace(args.Tmin, args.Tmax, args.nT):
        d = distances(args.L, float(T), args.orders, args.nmax)
        dist.append({"T": float(T), **d})
        rows += [["a", k, f"{T:.6g}", "", f"{v:.12g}"] for k, v in d.items()]
        print(f"T={T:.3f}J " + " ".join(f"{k}={v:.2e}" for k, v in d.items()), flush=True)
    ts, E, pops = populations(args.L, args.T, args.orders, args.nmax, tmax=args.tmax, nt=args.nt)
    for row in fig2ab_populations.csv_rows(ts, E, pops):
        name, k, _, t, p = row
        rows.append(["b-e", name, t, k, p])
    paper.write_csv(os.path.join(args.out, "figS4_bose_hubbard.csv"), rows,
                       ["panel", "equation", "x", "k", "value"])
    plt = paper.pyplot()
    if plt is None:
        return dist, (ts, E, pops)
    fig = plt.figure(figsize=(11, 6.4))
    grid = fig.add_gridspec(2, 3)
    a = fig.add_subplot(grid[:, 0])
    for N, ls in zip(args.orders, ("--", "-")):
        a.loglog([r["T"] for r in dist], [r[f"local_redfield_N{N}"] for r in dist], ls,
                 color="tab:red", marker="o", ms=3, label=f"local Redfield N={N}")
    from matplotlib.ticker import NullFormatter

    a.xaxis.set_minor_formatter(NullFormatter())
    a.set_xlabel("T / J")
    a.set_ylabel("steady-state trace distance to exact Redfield")
    a.set_title(f"(a) Bose-Hubbard L = {args.L}, n_i <= {args.nmax}", fontsize=9)
    a.legend(fontsize=7)
    for row, (N, tags) in enumerate(zip(args.orders, ("bc", "de"))):
        sel = {k: v for k, v in pops.items() if k in ("exact Redfield", f"local Redfield N={N}")}
        ax_t, ax_k = fig.add_subplot(grid[row, 1]), fig.add_subplot(grid[row, 2])
        fig2ab_populations.plot(ax_t, ax_k, ts, sel)
        ax_t.set_xlabel("t J")
        ax_t.set_title(f"({tags[0]}) N = {N}, T = {args.T}J", fontsize=9)
        ax_k.set_title(f"({tags[1]}) N = {N}, steady state", fontsize=9)
        ax_k.legend(fontsize=7)
    paper.save_figure(fig, os.path.join(args.out, "figS4_bose_hubbard.png"))
    return dist, (ts, E, pops)


if __name__ == "__main__":
    main()
