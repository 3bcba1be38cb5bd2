"""Paper Figs. S.3, S.5, S.12, S.14: steady-state error maps of the ad-hoc local equations.

Trace distance d of the steady state of the ad-hoc local Redfield equation (eq. 3; Fig. S.3)
or of the ad-hoc local Lindblad equation (SM E/F, eq. S.52, L_+ only with lambda = W(eps0);
Fig. S.5) to the exact Redfield steady state, as a map over temperature T and the single
expansion energy eps0, one panel per truncation order N = 1, 2, 3, 4. Parameters of
Fig. 2(a): boundary-driven XXZ chain, L = 6, J = h, Delta = 0.7, delta = -0.07h, gamma = 0.25h.
The SM's finding: for T >~ 2h the error falls quickly with N over a wide range of eps0 (the
Taylor series of W around eps0 = 0 converges for |E| < 2 pi T); below T ~ 2h it diverges.
The ad-hoc Lindblad error is small already at N = 1 and barely improves beyond N = 2, 3.

- Fig. S.3:  --equation redfield                          (ohmic baths)
- Fig. S.5:  --equation lindblad                          (ohmic baths)
- Fig. S.12: --equation redfield --kind drude --E_D 30     (Drude-Lorentz baths, complex W)
- Fig. S.14: --equation redfield --kind drude --E_D 10 --L 4

    python examples/figS3_S5_adhoc_maps.py                      # Fig. S.3, L = 6 (13 min, 2 busy cores)
    python examples/figS3_S5_adhoc_maps.py --equation lindblad  # Fig. S.5 (not timed; at most as long)
    python examples/figS3_S5_adhoc_maps.py --L 4 --nT 4 --neps 5   # quick look (~1 min)
    jaxredfield reproduce figS12                                # = --kind drude --E_D 30

The T axis is log-spaced in [--Tmin, --Tmax], eps0 linear in [--epsmin, --epsmax] (units of h).
Writes figS3_S5_adhoc_<equation>_<bath>_L<L>.csv and .png into --out (default: results/).
Large d (>> 1) at low T is the diverging expansion, not a bug; NaN where no steady state
could be computed.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper

ORDERS = (1, 2, 3, 4)
BUILDERS = {"redfield": jr.adhoc_redfield, "lindblad": jr.adhoc_lindblad}


def adhoc_distances(L, J, T, eps_grid, equation="redfield", orders=ORDERS, kind="ohmic", E_D=None):
    """d[N index, eps index]: steady-state trace distance of the ad-hoc local ``equation``
    ("redfield": eq. (3); "lindblad": eq. (S.52)) to exact Redfield at one temperature."""
    build = BUILDERS[equation]
    eqs = {(N, i): (lambda s, N=N, e=float(e): build(s, N, e)) for N in orders for i, e in enumerate(eps_grid)}
    d = paper.xxz_distances(eqs, L, J, T, kind, E_D)
    return np.array([[d[(N, i)] for i in range(len(eps_grid))] for N in orders])


def _edges(x, log=False):
    """Cell edges around grid points (geometric midpoints on a log axis)."""
    y = np.log(x) if log else np.asarray(x, dtype=float)
    half = np.diff(y) / 2 if len(y) > 1 else np.array([0.5])
    e = np.concatenate([[y[0] - half[0]], y[:-1] + half, [y[-1] + half[-1]]])
    return np.exp(e) if log else e


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--equation", choices=tuple(BUILDERS), default="redfield",
                    help="ad-hoc local Redfield (Fig. S.3) or ad-hoc local Lindblad (Fig. S.5)")
    paper.add_bath_arguments(ap)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--J", type=float, default=1.0)
    ap.add_argument("--Tmin", type=float, default=0.5)
    ap.add_argument("--Tmax", type=float, default=5.0)
    ap.add_argument("--nT", type=int, default=8)
    ap.add_argument("--epsmin", type=float, default=-4.0)
    ap.add_argument("--epsmax", type=float, default=4.0)
    ap.add_argument("--neps", type=int, default=9)
    ap.add_argument("--orders", type=int, nargs="+", default=list(ORDERS))
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    tag = paper.bath_label(ap, args)
    Ts = np.geomspace(args.Tmin, args.Tmax, args.nT)
    eps = np.linspace(args.epsmin, args.epsmax, args.neps)
    d = np.empty((len(args.orders), len(Ts), len(eps)))
    for j, T in enumerate(Ts):
        d[:, j, :] = adhoc_distances(args.L, args.J, float(T), eps, args.equation, args.orders,
                                     args.kind, args.E_D)
        print(f"T={T:.3f} min_eps0 d: " + " ".join(f"N={N}:{np.nanmin(d[k, j]):.2e}"
                                                   for k, N in enumerate(args.orders)), flush=True)
    stem = f"figS3_S5_adhoc_{args.equation}_{tag}_L{args.L}"
    rows = [{"N": N, "T": float(T), "eps0": float(e), "d": d[k, j, i]}
            for k, N in enumerate(args.orders) for j, T in enumerate(Ts) for i, e in enumerate(eps)]
    os.makedirs(args.out, exist_ok=True)
    paper.write_csv(os.path.join(args.out, f"{stem}.csv"), rows)
    result = {"T": Ts, "eps0": eps, "orders": list(args.orders), "d": d}
    plt = paper.pyplot()
    if plt is None:
        return result
    from matplotlib.colors import LogNorm

    n = len(args.orders)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 1, 3.6), sharey=True, squeeze=False, layout="constrained")
    norm = LogNorm(vmin=1e-4, vmax=1e1)  # d > 10: diverged (clipped)
    for k, (ax, N) in enumerate(zip(axes[0], args.orders)):
        mesh = ax.pcolormesh(_edges(eps), _edges(Ts, log=True), np.clip(d[k], 1e-4, 1e1), norm=norm,
                             cmap="viridis")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\varepsilon_0$ / h")
        ax.set_title(f"({'abcdefgh'[k]}) N = {N}")
    axes[0, 0].set_ylabel("T / h")
    fig.suptitle(f"ad-hoc local {args.equation}, {tag}, L = {args.L}, J = {args.J}h",
                 fontsize=9)
    fig.colorbar(mesh, ax=list(axes[0]), label="trace distance d to exact Redfield")
    paper.save_figure(fig, os.path.join(args.out, f"{stem}.png"), tight=False)
    return result


if __name__ == "__main__":
    main()
