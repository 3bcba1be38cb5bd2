"""Non-equilibrium steady states of the paper's chain on matrix product states, checkpointed.

The boundary-driven XXZ chain of the paper (eq. 5: J = h, Delta = 0.7, delta = -0.07h; ohmic
baths gamma = 0.25h through sigma^x on the end sites; T_l = 2.2h, T_r = 3 T_l = 6.6h) for three
equations the density MPS holds: local Lindblad N = 1 (L_+ only, lambda_loc), the standard local
Lindblad equation, and local Redfield N = 2 as its pseudo-Lindblad form (L_+ and L_-).
``jr.steadystate(eq, method=jr.MPS(max_bond, dt), checkpoint=...)`` relaxes the infinite-
temperature state under TEBD until every two-site marginal changes by at most ``--tol`` per
unit time, at dt and dt/2, and extrapolates in dt (Richardson; the solver's docstring). Output:
the magnetization profile <sigma^z_i> and the bond currents j_i for each equation and bond
dimension, with the solver's own convergence measures (converged, change per unit time,
discarded weight, Trotter correction).

Each (equation, bond) run writes its progress into --out after every window of 4 time units
(``ness_L{L}_{equation}_chi{bond}.npz``): a killed run continues from its last window when the
script is run again with the same arguments, and a finished one is read back without
evolving. A progress bar shows the windows, the time evolved and the change per unit time.

Cost (2 CPU cores, ``benchmarks/results/ness_long_chains.md``, bond 64 at dt = 0.05): L = 4
in 3-13 s, L = 6 in 2-8 min per equation; at L = 8 the relaxation stalls at a change of
2.6e-6 per unit time with bond 64 (warned, not converged; 20 min). Longer chains need the
relaxation time tau ~ L^1.5 ... L^2.6 (``benchmarks/results/relaxation_time.md``): L = 100 is
out of reach of this method on a CPU (issue 26 stays open for it).

    python examples/ness_long_chain.py                         # L = 6, bond 32, three equations
    python examples/ness_long_chain.py --L 8 --bonds 64 128 --equations local_lindblad_N1

Writes ness_long_chain.csv (profile and currents per equation and bond) and
ness_long_chain.png into --out.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper

EQUATIONS = {
    "local_lindblad_N1": lambda s: jr.local_lindblad(s, 1),
    "standard_local_lindblad": jr.standard_local_lindblad,
    "local_redfield_N2": lambda s: jr.pseudo_lindblad(jr.local_redfield(s, 2), jr.lam_loc(s)),
}


def system(L: int, T_l: float = 2.2, ratio: float = 3.0):
    """The paper's chain with baths at T_l and ratio x T_l on its end sites."""
    model = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    return jr.boundary_driven(model, jr.OhmicBath(0.25, T_l), jr.OhmicBath(0.25, ratio * T_l))


def steady(L: int, equation: str, bond: int, dt: float, tol: float, max_time: float, out, progress=True):
    """(profile <sigma^z_i>, currents j_i, stats) of one steady state, checkpointed in ``out``."""
    s = system(L)
    eq = EQUATIONS[equation](s)
    ckpt = None if out is None else os.path.join(out, f"ness_L{L}_{equation}_chi{bond}.npz")
    res = jr.steadystate(eq, method=jr.MPS(max_bond=bond, dt=dt), tol=tol, max_time=max_time,
                         checkpoint=ckpt, progress=progress, return_info=True)
    z = np.array([float(np.real(jr.expect(o, res.state))) for o in jr.magnetization(s.model)])
    j = np.array([float(np.real(jr.expect(jr.spin_current(s.model, i), res.state))) for i in range(L - 1)])
    return z, j, res.stats


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--equations", nargs="*", default=list(EQUATIONS), choices=list(EQUATIONS))
    ap.add_argument("--bonds", nargs="*", type=int, default=[32], help="bond dimensions (two: a check)")
    ap.add_argument("--dt", type=float, default=0.05)
    ap.add_argument("--tol", type=float, default=1e-6, help="largest change of a marginal per unit time")
    ap.add_argument("--max-time", type=float, default=1e4)
    ap.add_argument("--out", default="results")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    results, rows = {}, []
    for name in args.equations:
        for bond in args.bonds:
            t0 = time.perf_counter()
            z, j, st = steady(args.L, name, bond, args.dt, args.tol, args.max_time, args.out,
                              progress=not args.no_progress)
            results[name, bond] = (z, j, st)
            print(f"{name}, bond {bond} ({time.perf_counter() - t0:.1f} s"
                  f"{', read from its checkpoint' if st['resumed_phase'] == 2 else ''}): "
                  f"converged {st['converged']}, change/t {st['change_per_time']:.2g}, "
                  f"Trotter correction {st['trotter_correction']:.2g}, largest bond {int(np.max(st['bond_dims']))}")
            print("  <sigma^z_i> " + " ".join(f"{v:+.5f}" for v in z))
            print("  j_i         " + " ".join(f"{v:+.5f}" for v in j) + f"   (spread {np.ptp(j):.2g})")
            for i in range(args.L):
                rows.append({"equation": name, "bond": bond, "site": i, "sigmaz": z[i],
                             "current": j[i] if i < args.L - 1 else "", "converged": st["converged"],
                             "change_per_time": st["change_per_time"]})
    paper.write_csv(os.path.join(args.out, "ness_long_chain.csv"), rows)

    plt = paper.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
    for (name, bond), (z, j, _) in results.items():
        a.plot(np.arange(args.L), z, "o-", ms=3, label=f"{name}, bond {bond}")
        b.plot(np.arange(args.L - 1) + 0.5, j, "s-", ms=3)
    a.set_xlabel("site i")
    a.set_ylabel(r"$\langle\sigma^z_i\rangle$")
    b.set_xlabel("bond")
    b.set_ylabel("spin current")
    a.set_title(f"steady states, L = {args.L}, T_r = 3 T_l", fontsize=9)
    a.legend(fontsize=6)
    paper.save_figure(fig, os.path.join(args.out, "ness_long_chain.png"))
    return results


if __name__ == "__main__":
    main()
