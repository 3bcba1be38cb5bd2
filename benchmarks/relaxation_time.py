"""Slowest relaxation time of the MPS example's chain (why its L = 100 steady state is far).

``examples/mps_long_chain.py`` runs the paper's chain (eq. 5; J = h = 1, Delta = 0.7,
delta = -0.07) with ohmic baths gamma = 0.25 at T_l = 2.2 and T_r = 3 T_l on its end sites,
under local Lindblad N = 1 and the standard local Lindblad equation. How long until it is
stationary? Here, at small L, the Liouvillian's eigenvalues nearest 0 (scipy's shift-invert
``eigs`` of the sparse superoperator, built by QuTiP from our operators as in
``bench_peers.py``, whose check matches ``jr.liouvillian_matrix`` to 1e-15): the slowest decay
rate g = min |Re lambda| over the nonzero ones and tau = 1/g (at L <= 6 checked against the
full spectrum of the dense ``jr.liouvillian_matrix``; shift-invert finds the k eigenvalues
nearest 0 by modulus, so a mode with a smaller real part and a large imaginary part could be
missed beyond that check). A power law tau ~ L^a through
the three largest L gives a crude extrapolation to L = 100 (the field ramp h_i = h + i delta
spans far more at L = 100 than at L <= 7, so it is only an order of magnitude).

    python benchmarks/relaxation_time.py            # L = 3..7 -> results/relaxation_time.md
    python benchmarks/relaxation_time.py --L 3 4 5  # quick

L = 8 (65536 x 65536, sparse LU fill-in) was killed for memory on a 25 GB machine. The
three-point fit uses the three largest L given.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _harness  # noqa: E402  (metadata, results writer, timing, the problem)
import bench_peers as bp  # noqa: E402  (our operators as the peers get them: pieces, qutip_liouvillian)

import jaxredfield as jr  # noqa: E402

T_LEFT, RATIO = 2.2, 3.0


def equations(L):
    model = jr.xxz_chain(L)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, T_LEFT), jr.OhmicBath(0.25, RATIO * T_LEFT))
    return {"local Lindblad N=1": jr.local_lindblad(system, 1),
            "standard local Lindblad": jr.standard_local_lindblad(system)}


def slowest(eq, k=24):
    """(g, Im of that eigenvalue, the k eigenvalues nearest 0, nnz, seconds)."""
    t = time.perf_counter()
    S = sp.csc_matrix(bp.qutip_liouvillian(_harness.pieces(eq)).data_as("csr_matrix"))
    vals = sla.eigs(S, k=k, sigma=1e-7, which="LM", return_eigenvectors=False, tol=1e-10)
    vals = vals[np.argsort(np.abs(vals))]
    nonzero = vals[np.abs(vals) > 1e-8]
    lam = nonzero[np.argmin(np.abs(nonzero.real))]
    return abs(lam.real), lam.imag, vals, S.nnz, time.perf_counter() - t


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, nargs="+", default=[3, 4, 5, 6, 7])
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--allow-large", action="store_true", help="allow L > 7 (memory)")
    args = ap.parse_args(argv)
    if max(args.L) > 7 and not args.allow_large:
        ap.error("--L above 7: the sparse LU of the 4^L superoperator needs more memory than "
                 "this benchmark is meant for (L = 8 was killed on 25 GB); --allow-large to try")
    meta = _harness.machine(qutip=bp.qutip.__version__)  # at the start (its load_at_start)
    rows = []
    for L in sorted(args.L):
        for name, eq in equations(L).items():
            g, im, vals, nnz, s = slowest(eq)
            dense = None
            if L <= 6:  # the full spectrum of the dense Liouvillian: is g the smallest |Re|?
                ev = np.linalg.eigvals(np.asarray(jr.liouvillian_matrix(eq)))
                dense = float(np.min(np.abs(ev[np.abs(ev) > 1e-8].real)))
            rows.append({"L": L, "equation": name, "rate": g, "imag": im, "tau": 1 / g, "nnz": nnz, "s": s,
                         "dense": dense})
            print(f"L={L} {name}: slowest rate {g:.5f} (Im {im:.4f}), tau {1 / g:.2f}, {s:.1f} s", flush=True)
    md = ["# Slowest relaxation time of the MPS example's chain", "", "`benchmarks/relaxation_time.py`.", "",
          __doc__.split("\n\n")[1].replace("\n", " "), "",
          "Machine: " + ", ".join(f"{k}: {v}" for k, v in meta.items()), "",
          "| L | equation | slowest decay rate g | Im lambda | tau = 1/g | g from the dense spectrum | nnz | s |",
          "|---|---|---|---|---|---|---|---|"]
    md += [f"| {r['L']} | {r['equation']} | {r['rate']:.4f} | {r['imag']:.3f} | {r['tau']:.2f} | "
           f"{'-' if r['dense'] is None else format(r['dense'], '.10f')} | {r['nnz']} | {r['s']:.1f} |" for r in rows]
    md += ["", "Power law tau ~ L^a through the three largest L, extrapolated (crude, see above):", ""]
    for name in dict.fromkeys(r["equation"] for r in rows):
        pts = [(r["L"], r["tau"]) for r in rows if r["equation"] == name][-3:]
        if len(pts) < 3:
            continue
        a, b = np.polyfit(np.log([p[0] for p in pts]), np.log([p[1] for p in pts]), 1)
        md.append(f"- {name}: a = {a:.2f}, tau(L = 100) ~ {np.exp(b) * 100**a:.3g} (1/h)")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "relaxation_time.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md[-4:]))


if __name__ == "__main__":
    main()
