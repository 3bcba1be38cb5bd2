"""Paper Fig. 3(b),(c): steady-state magnetization profile and the spin current j_2(t).

Methods and parameters of Fig. 2(a): L = 6, J = h, Delta = 0.7, delta = -0.07h,
gamma = 0.25h, T_l = T_r = 2.2h, |psi(0)> = |+>^L; exact Redfield, local Redfield N = 4,
local Lindblad N = 4 and the standard local Lindblad equation.

- (b) <sigma^z_i> in the steady state (``jr.steadystate``);
- (c) the current j_i(t) = -i<[H^{i,i+1}, sigma^z_i]> at the paper's site i = 2 (bond 1 with
  0-based sites) along ``jr.mesolve``.

    python examples/fig3bc_magnetization_current.py            # paper: L = 6 (~3 min, 2 cores)
    python examples/fig3bc_magnetization_current.py --L 4      # quick look

Writes fig3bc.csv and fig3bc.png into --out (default: results/).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper


def compute(L=6, T=2.2, J=1.0, order=4, tmax=20.0, nt=81, T_r=None):
    system = paper.xxz_system(L, J, T, T_r)
    model = system.model
    eqs = {"exact Redfield": jr.redfield(system),
           f"local Redfield N={order}": jr.local_redfield(system, order),
           f"local Lindblad N={order}": jr.local_lindblad(system, order),
           "standard local Lindblad": jr.standard_local_lindblad(system)}
    sz = [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]
    j2 = jr.spin_current(model, 1)  # the paper's site i = 2 (1-based)
    psi0 = np.ones(2**L) / np.sqrt(2**L)
    ts = np.linspace(0.0, tmax, nt)
    out = {}
    for name, eq in eqs.items():
        rho = jr.steadystate(eq)
        mag = np.array([float(np.real(jr.expect(o, rho))) for o in sz])
        cur = np.asarray(jr.mesolve(eq, psi0, ts, e_ops=[j2], save_states=False).expect)[0].real
        out[name] = (mag, cur)
    return ts, out


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--T", type=float, default=2.2)
    ap.add_argument("--order", type=int, default=4)
    ap.add_argument("--tmax", type=float, default=20.0)
    ap.add_argument("--nt", type=int, default=81)
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    ts, res = compute(args.L, args.T, 1.0, args.order, args.tmax, args.nt)
    rows = []
    for name, (mag, cur) in res.items():
        rows += [[name, "steady sigma_z", i, f"{m:.12g}"] for i, m in enumerate(mag)]
        rows += [[name, "j_2(t)", f"{t:.6g}", f"{c:.12g}"] for t, c in zip(ts, cur)]
    paper.write_csv(os.path.join(args.out, "fig3bc.csv"), rows, ["equation", "quantity", "x", "value"])
    plt = paper.pyplot()
    if plt is None:
        return ts, res
    styles = {"exact Redfield": ":", "standard local Lindblad": "-."}
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    for name, (mag, cur) in res.items():
        ls = styles.get(name, "-")
        a.plot(np.arange(len(mag)), mag, ls, marker="o", label=name)
        b.plot(ts, cur, ls, label=name)
    a.set_xlabel("site i")
    a.set_ylabel(r"steady $\langle\sigma^z_i\rangle$")
    a.set_title("Fig. 3(b)")
    b.set_xlabel("t h")
    b.set_ylabel(r"$j_2(t)$")
    b.set_title("Fig. 3(c)")
    b.legend(fontsize=7)
    paper.save_figure(fig, os.path.join(args.out, "fig3bc.png"))
    return ts, res


if __name__ == "__main__":
    main()
