"""Gradients of physics: d j / d(T_r, J, h) of the spin current through the local Redfield
equation (eq. 4), by jax.grad, checked against central finite differences.

Two routes (issue 5, item 3):

- steady state: j_ss = <j_i> in rho_ss with L rho_ss = 0. ``steadystate`` differentiates the
  linear solve implicitly (one adjoint solve with L^dag), not through the solver's iterations;
- dynamics: j(t) from ``mesolve`` (diffrax, RecursiveCheckpointAdjoint by default), here from
  |+>^L at time t.

The chain is the paper's (Fig. 2/3: XXZ, Delta = 0.7, delta = -0.07h, gamma = 0.25h) with a
left bath at T_l = 2.2h and a right bath at T_r; j is the current on the middle bond.
Every derivative is printed next to its central difference, and the script writes a PNG of
j_ss(T_r) with the tangents given by the gradient.

    python examples/gradients_current.py                 # L = 6, N = 2 (3.4 min, 2 cores)
    python examples/gradients_current.py --L 4           # quick look (~1 min)

Measured (L = 6, N = 2, T_r = 6.6h, float64): j_ss = -0.1163, d j_ss/d(T_r, J, h) = -0.00286,
-0.0991, -0.195; j(t=2) = 0.2430, d j(t=2)/d(T_r, J, h) = 0.0221, -0.391, -1.138; each equal
to its central difference to <= 1.5e-7 relative (the mesolve ones limited by rtol = 1e-10).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxredfield as jr
from jaxredfield.app import paper

NAMES = ("T_r", "J", "h")


def current_function(L: int, N: int, T_l: float = 2.2, t: float | None = None, method=None):
    """``p -> j`` with p = (T_r, J, h): the spin current on bond L//2 - 1 of local Redfield of
    order N, in the steady state (``t`` None; ``method`` of ``steadystate``, None: automatic)
    or at time ``t`` from |+>^L (``mesolve``)."""
    bond = L // 2 - 1
    psi0 = jnp.ones(2**L) / np.sqrt(2**L)

    def j(p):
        system = paper.xxz_system(L, J=p[1], T=T_l, T_r=p[0], h=p[2])
        eq = jr.local_redfield(system, N)
        op = jr.spin_current(system.model, bond)
        if t is None:
            return jnp.real(jr.expect(op, jr.steadystate(eq, method=method)))
        res = jr.mesolve(eq, psi0, jnp.array([0.0, t]), e_ops=[op], save_states=False,
                         method=jr.Diffrax(rtol=1e-10, atol=1e-12))
        return jnp.real(res.expect[0, -1])

    return j


def central_differences(f, p, step: float = 1e-4):
    """(f(p + step e_i) - f(p - step e_i)) / (2 step) for each i: error O(step^2 f''')."""
    p = np.asarray(p, dtype=float)
    out = []
    for i in range(len(p)):
        e = np.zeros_like(p)
        e[i] = step
        out.append((float(f(p + e)) - float(f(p - e))) / (2 * step))
    return np.array(out)


def main(argv=None):
    jr.enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--L", type=int, default=6)
    ap.add_argument("--N", type=int, default=2, help="expansion order of local Redfield")
    ap.add_argument("--T_r", type=float, default=6.6, help="right-bath temperature (T_l = 2.2h)")
    ap.add_argument("--t", type=float, default=2.0, help="time of the mesolve current")
    ap.add_argument("--nTr", type=int, default=5, help="T_r points of the tangent plot")
    ap.add_argument("--out", default="results")
    args = ap.parse_args(argv)

    p = jnp.array([args.T_r, 1.0, 1.0])
    rows = []
    for label, f in (("steady state", current_function(args.L, args.N)),
                     (f"mesolve t={args.t:g}", current_function(args.L, args.N, t=args.t))):
        t0 = time.perf_counter()
        value, grad = jax.jit(jax.value_and_grad(f))(p)
        elapsed = time.perf_counter() - t0
        fd = central_differences(jax.jit(f), p)
        print(f"{label}: j = {float(value):.8g}  (value and gradient in {elapsed:.1f} s)")
        for name, g, d in zip(NAMES, np.asarray(grad), fd):
            rel = abs(g - d) / abs(d)
            print(f"  d j / d {name:3s} = {g: .10f}   central difference {d: .10f}   rel. error {rel:.1e}")
            rows.append({"quantity": label, "parameter": name, "value": float(value), "gradient": float(g),
                         "central_difference": float(d), "relative_error": float(rel)})
    os.makedirs(args.out, exist_ok=True)
    paper.write_csv(os.path.join(args.out, "gradients_current.csv"), rows)

    # j_ss(T_r) with tangents from the gradient
    f = jax.jit(jax.value_and_grad(current_function(args.L, args.N)))
    Trs = np.linspace(2.2, 2 * args.T_r, args.nTr)
    vals = [f(jnp.array([Tr, 1.0, 1.0])) for Tr in Trs]
    plt = paper.pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.plot(Trs, [float(v) for v, _ in vals], "o-", label=r"$j_\mathrm{ss}$")
    w = 0.3 * (Trs[1] - Trs[0]) if len(Trs) > 1 else 0.5
    for Tr, (v, g) in zip(Trs, vals):
        ax.plot([Tr - w, Tr + w], [float(v) - w * float(g[0]), float(v) + w * float(g[0])], "r-", lw=2)
    ax.set_xlabel(r"$T_r / h$ ($T_l = 2.2h$)")
    ax.set_ylabel("steady-state spin current")
    ax.set_title(f"L = {args.L}, local Redfield N = {args.N}; red: jax.grad tangents", fontsize=8)
    paper.save_figure(fig, os.path.join(args.out, "gradients_current.png"))
    return rows


if __name__ == "__main__":
    main()
