"""Steady states on MPS (issue 26): ``steadystate(eq, method=jr.MPS())`` with default
arguments (max_bond 64, dt 0.05, tol 1e-6) against the dense steady state on the paper's chain
(J = 1, Delta = 0.7, h = 1, delta = -0.07, ohmic gamma = 0.25, T_l = 2.2, T_r = 3 T_l) for
local Lindblad N = 1, standard local Lindblad and local Redfield N = 2 (pseudo-Lindblad form),
and the XX chain with gain/loss on its end sites against the exact Jordan-Wigner solution
(tests/exact_xx.py). Accuracy: the largest error of <sigma^z_i> and of the bond currents
j_i; time: the MPS solve against the default dense solver (``steadystate(eq)``) in the same
run. Writes results/ness_long_chains.{json,md}. At L = 8 the local Lindblad N = 1 row takes
20 min on 2 cores and stops on the truncation floor, not converged (``--sizes 8 --forms
"local Lindblad N = 1" --progress``; before the plateau stop it had not finished after 34 min).

    python benchmarks/bench_ness_mps.py                    # L = 4, 6 (about 20 min on 2 cores)
    python benchmarks/bench_ness_mps.py --sizes 4 --out /tmp/ness   # smoke run
    python benchmarks/bench_ness_mps.py --sizes 8 --forms xx   # some rows again (the others kept)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from _harness import describe, machine, write_results  # noqa: E402


def _observables(jr, model, L, state):
    z = [float(np.real(jr.expect(o, state))) for o in jr.magnetization(model)]
    j = [float(np.real(jr.expect(jr.spin_current(model, i), state))) for i in range(L - 1)]
    return np.array(z), np.array(j)


FORMS = ("local Lindblad N = 1", "standard local Lindblad", "local Redfield N = 2")


def _truncation(stats):
    return {"discarded_weight_rate": float(stats["discarded_weight_rate"]),
            "richardson_discarded": float(stats["richardson_discarded"]),
            "min_marginal_eigenvalue": float(stats["min_marginal_eigenvalue"])}


def paper_chain(jr, L, form):
    """(model, equation) of the paper's chain in one of ``FORMS``."""
    model = jr.xxz_chain(L)
    s = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 6.6))
    eq = {"local Lindblad N = 1": lambda: jr.local_lindblad(s, 1),
          "standard local Lindblad": lambda: jr.standard_local_lindblad(s),
          "local Redfield N = 2": lambda: jr.pseudo_lindblad(jr.local_redfield(s, 2), jr.lam_loc(s))}[form]()
    return model, eq


def xx_chain(jr, L):
    """(model, equation, gain, loss) of the XX chain with gain/loss on its end sites (the exact
    reference's case, tests/exact_xx.py)."""
    model = jr.xxz_chain(L, J=1.0, Delta=0.0, h=1.0, delta=-0.07)
    gain, loss = np.zeros(L), np.zeros(L)
    gain[0], loss[0], gain[-1], loss[-1] = 0.4, 0.1, 0.05, 0.45
    jumps = [jr.operator_on(np.sqrt(r) * op, i, model) for i in (0, L - 1)
             for r, op in ((gain[i], jr.sigmap()), (loss[i], jr.sigmam()))]
    return model, jr.lindblad(list(model.terms), jumps, L, 2), gain, loss


def run_paper(jr, L, form):
    model, eq = paper_chain(jr, L, form)
    t = time.perf_counter()
    rho = jr.steadystate(eq)
    t_dense = time.perf_counter() - t
    z0, j0 = _observables(jr, model, L, rho)
    t = time.perf_counter()
    res = jr.steadystate(eq, method=jr.MPS(), return_info=True)
    t_mps = time.perf_counter() - t
    z, j = _observables(jr, model, L, res.state)
    return {"model": "paper", "form": form, "L": L, "err_z": float(np.max(np.abs(z - z0))),
            "err_j": float(np.max(np.abs(j - j0))), "dense_s": t_dense, "mps_s": t_mps,
            "converged": bool(res.stats["converged"]), "change_per_time": res.stats["change_per_time"],
            "evolved_time": list(res.stats["evolved_time"]), "trotter_correction": res.stats["trotter_correction"],
            "max_bond_used": int(np.max(res.stats["bond_dims"])), **_truncation(res.stats)}


def run_xx(jr, L):
    from tests import exact_xx

    model, eq, gain, loss = xx_chain(jr, L)
    t = time.perf_counter()
    G = exact_xx.steady_correlations(1.0, 1.0 - 0.07 * np.arange(L), gain, loss)
    t_exact = time.perf_counter() - t
    t = time.perf_counter()
    res = jr.steadystate(eq, method=jr.MPS(), return_info=True)
    t_mps = time.perf_counter() - t
    z, j = _observables(jr, model, L, res.state)
    return {"model": "XX exact", "form": "standard local Lindblad (sigma+/- on the ends)", "L": L,
            "err_z": float(np.max(np.abs(z - exact_xx.magnetization(G)))),
            "err_j": float(np.max(np.abs(j - exact_xx.spin_currents(G, 1.0)))), "dense_s": t_exact,
            "mps_s": t_mps, "converged": bool(res.stats["converged"]),
            "change_per_time": res.stats["change_per_time"], "evolved_time": list(res.stats["evolved_time"]),
            "trotter_correction": res.stats["trotter_correction"],
            "max_bond_used": int(np.max(res.stats["bond_dims"])), **_truncation(res.stats)}


def render(data):
    m = data["machine"]
    out = ["# Steady states on MPS (`benchmarks/bench_ness_mps.py`)\n",
           f"{describe(m)}. Default arguments: "
           "`steadystate(eq, method=jr.MPS())` (max_bond 64, dt 0.05, cutoff 1e-10, tol 1e-6 per unit time, "
           "Richardson in dt) against the default dense `steadystate(eq)` (paper's chain) or the exact "
           "Jordan-Wigner solution (`tests/exact_xx.py`, XX chain); errors are the largest over sites/bonds.\n",
           "| model | equation | L | max err <sigma^z> | max err current | MPS s | reference s | converged "
           "| change/t | evolved t (dt, dt/2) | Richardson correction | largest bond |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in data["rows"]:
        out.append(f"| {r['model']} | {r['form']} | {r['L']} | {r['err_z']:.2g} | {r['err_j']:.2g} | "
                   f"{r['mps_s']:.1f} | {r['dense_s']:.2g} | {r['converged']} | {r['change_per_time']:.2g} | "
                   f"{r['evolved_time'][0]:.0f}, {r['evolved_time'][1]:.0f} | {r['trotter_correction']:.2g} | "
                   f"{r['max_bond_used']} |")
    out.append("\nNot here yet (issue 26 item 3): the paper's chain at L = 100 and the current against L up "
               "to 100 -- relaxation alone needs ~L^1.5 ... L^2.6 time units there (~200 ... 5000 at L = 100 "
               "by a crude extrapolation, results/relaxation_time.md). Measured at L = 100 (local Lindblad "
               "N = 1, default jr.MPS(), `bench_gpu.py --stages ness --ness-time 4` on this CPU, "
               "2026-12-07 21:06 UTC): the first window (t = 0 ... 4, 80 steps of 0.05 from the "
               "infinite-temperature state) took 76 s with the compilation, after which 31 of the 101 "
               "bonds were at 64; the next window (160 steps of 0.025) had not finished after 5.5 min when "
               "stopped. One step with every bond at 64 takes 5.9 s (results/tebd.md), so a window of 4 "
               "time units costs up to ~8 min and the relaxation days on 2 cores: this method does not "
               "reach L = 100 on a CPU.\n")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[4, 6])
    ap.add_argument("--forms", nargs="*", default=[*FORMS, "xx"],
                    help="the paper's chain in these forms (%s) and/or 'xx' (the exact XX chain)" % ", ".join(FORMS))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--progress", action="store_true", help="progress bars of the solves (stderr)")
    args = ap.parse_args()
    import jaxredfield as jr

    jr.set_progress(args.progress)
    os.makedirs(args.out, exist_ok=True)
    paths = (os.path.join(args.out, "ness_long_chains.json"), os.path.join(args.out, "ness_long_chains.md"))
    # a rerun replaces the rows (model, form, L) it measures and keeps the others
    old = json.load(open(paths[0]))["rows"] if os.path.exists(paths[0]) else []
    data = {"machine": machine(), "rows": old}

    def put(row):
        key = lambda r: (r["model"], r["form"], r["L"])  # noqa: E731
        data["rows"] = sorted([r for r in data["rows"] if key(r) != key(row)] + [row],
                              key=lambda r: (r["L"], r["model"] != "paper", FORMS.index(r["form"]) if r["form"] in FORMS else 0))
        print(row, flush=True)
        write_results(*paths, data, render)

    for L in args.sizes:
        for form in args.forms:
            put(run_xx(jr, L) if form == "xx" else run_paper(jr, L, form))
    print(render(data))


if __name__ == "__main__":
    main()
