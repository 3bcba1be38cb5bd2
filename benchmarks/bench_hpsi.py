"""H psi throughput of the matrix-free engine against a plain memory copy (same run).

For the paper's XXZ chain at L = 16..22 (complex128 state vectors) this times
- ``copy``: y = x * 1 + 0 under jit (reads and writes the vector once: the ceiling),
- ``local``: sum of LocalOperator contractions (apply_left per term),
- ``gather``: GatherOperator (diagonal vector + one XOR-flip gather per bond),
- ``chebyshev term``: one term of the trajectories' Chebyshev loop, timed inside the loop,
and reports "effective bandwidth" 2 * 16 * 2^L bytes / time (one read + one write of psi,
the least any H psi must move) and its fraction of the copy bandwidth.

    python benchmarks/bench_hpsi.py [--lmin 16 --lmax 22 --repeat 10]

Writes benchmarks/results/hpsi.json and hpsi.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxredfield as jr
from jaxredfield.operators import apply_left
from jaxredfield.operators._gather import GatherOperator
from jaxredfield.trajectories.chebyshev import ChebyshevPropagator

HERE = os.path.dirname(os.path.abspath(__file__))


def best_time(fn, x, repeat):
    fn(x).block_until_ready()  # compile
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(x).block_until_ready()
        ts.append(time.perf_counter() - t)
    return min(ts)


def run(L, repeat):
    model = jr.xxz_chain(L)
    D = 2**L
    psi = jnp.asarray(np.random.default_rng(0).normal(size=D) + 1j * np.random.default_rng(1).normal(size=D))
    psi = psi / jnp.linalg.norm(psi)
    terms = model.terms
    gather = GatherOperator.from_local(terms)

    copy = jax.jit(lambda x: x * 1.0 + 0.0)

    @jax.jit
    def local(x):
        out = apply_left(terms[0], x)
        for t in terms[1:]:
            out = out + apply_left(t, x)
        return out

    g = jax.jit(lambda op, x: op.apply(x))
    gat = lambda x: g(gather, x)
    err = float(jnp.abs(local(psi) - gat(psi)).max())
    nbytes = 2 * 16 * D
    row = {"L": L, "dim": D, "agree_max_abs": err}
    for name, fn in (("copy", copy), ("local", local), ("gather", gat)):
        t = best_time(fn, psi, repeat)
        row[f"{name}_s"] = t
        row[f"{name}_GBps"] = nbytes / t / 1e9
    row["local_frac_of_copy"] = row["copy_s"] / row["local_s"]
    row["gather_frac_of_copy"] = row["copy_s"] / row["gather_s"]
    # one term of the trajectories' Chebyshev loop (Z psi + recurrence + sum, in the loop)
    eq = jr.standard_local_lindblad(jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2)))
    P = ChebyshevPropagator.build(eq.hamiltonian, eq.jumps)
    m = int(P.n_terms(P.max_step))
    prop = jax.jit(lambda p, x: p.propagate(x, p.max_step))
    t = best_time(lambda x: prop(P, x), psi, max(1, repeat // 3)) / m
    row["cheb_term_s"] = t
    row["cheb_term_GBps"] = nbytes / t / 1e9
    row["cheb_term_frac_of_copy"] = row["copy_s"] / t
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lmin", type=int, default=16)
    ap.add_argument("--lmax", type=int, default=22)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--outdir", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    rows = []
    for L in range(args.lmin, args.lmax + 1, 2):
        r = run(L, args.repeat)
        rows.append(r)
        print(f"L={L:2d}  copy {r['copy_GBps']:6.2f} GB/s  local {r['local_GBps']:6.2f} GB/s "
              f"({100 * r['local_frac_of_copy']:4.1f}%)  gather {r['gather_GBps']:6.2f} GB/s "
              f"({100 * r['gather_frac_of_copy']:4.1f}%)  chebyshev term {r['cheb_term_GBps']:6.2f} GB/s "
              f"({100 * r['cheb_term_frac_of_copy']:4.1f}%)", flush=True)
    os.makedirs(args.outdir, exist_ok=True)
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "jax": jax.__version__, "backend": jax.default_backend(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with open(os.path.join(args.outdir, "hpsi.json"), "w") as f:
        json.dump({"meta": meta, "rows": rows}, f, indent=1)
    with open(os.path.join(args.outdir, "hpsi.md"), "w") as f:
        f.write("# H psi throughput vs memory copy (XXZ chain, complex128)\n\n")
        f.write(f"{meta}\n\nEffective bandwidth = 2 x 16 x 2^L bytes / best time of {args.repeat}.\n\n")
        f.write("`chebyshev term`: one term of the trajectories' propagator loop (Z psi, three-term "
                "recurrence and running sum) for the standard local Lindblad H_nh, timed inside the loop.\n\n")
        f.write("| L | copy GB/s | local GB/s | local % of copy | gather GB/s | gather % of copy | "
                "chebyshev term GB/s | % of copy |\n|---|---|---|---|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['L']} | {r['copy_GBps']:.2f} | {r['local_GBps']:.2f} | {100 * r['local_frac_of_copy']:.1f} | "
                    f"{r['gather_GBps']:.2f} | {100 * r['gather_frac_of_copy']:.1f} | "
                    f"{r['cheb_term_GBps']:.2f} | {100 * r['cheb_term_frac_of_copy']:.1f} |\n")


if __name__ == "__main__":
    main()
