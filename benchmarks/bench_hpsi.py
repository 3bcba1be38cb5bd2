"""H psi throughput of the matrix-free engine against a plain memory copy (same run).

For the paper's XXZ chain at L = 16..22 (complex128 state vectors) this times
- ``copy``: y = x * 1 + 0 under jit (reads and writes the vector once: the ceiling),
- ``local``: sum of LocalOperator contractions (apply_left per term),
- ``gather``: GatherOperator (diagonal vector + one XOR-flip gather per bond),
- ``flip``: the same patterns as reshapes of psi to (2^a, 2, ..., 2^b) with the flipped
  axes reversed (no gather indices) times broadcast coefficient tables,
- ``dia``: DIA storage (``operators/_dia.py``: one stored diagonal per index offset, sums of
  shifted slices; the density-matrix right-hand side's form) on the vector,
- ``chebyshev term``: one term of the trajectories' Chebyshev loop, timed inside the loop,
and reports "effective bandwidth" 2 * 16 * 2^L bytes / time (one read + one write of psi,
the least any H psi must move) and its fraction of the copy bandwidth; also the same copy of a
2^25-amplitude vector (512 MB: DRAM bandwidth, the ceiling the same-size copies at L <= 20
are not, since they run partly from cache) and the Chebyshev term against it.

    python benchmarks/bench_hpsi.py [--lmin 16 --lmax 22 --repeat 10]

Writes benchmarks/results/hpsi.json and hpsi.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxredfield as jr
from jaxredfield.operators import apply_left
from jaxredfield.operators._dia import DiaOperator
from jaxredfield.operators._gather import GatherOperator
from jaxredfield.operators.local import merge_terms
from jaxredfield.trajectories.chebyshev import ChebyshevPropagator

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import describe, machine, write_results  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DRAM_L = 25  # the DRAM copy's size: 2^25 complex128 = 512 MB


def best_time(fn, x, repeat):
    fn(x).block_until_ready()  # compile
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(x).block_until_ready()
        ts.append(time.perf_counter() - t)
    return min(ts)


def flip_apply(G):
    """The gather operator's patterns (d = 2, contiguous sites) as reshapes with reversed axes:
    psi[s XOR mask] is psi reshaped to (2^lo, 2, ..., 2, 2^rest) with the mask's axes flipped."""
    L, pats = G.L, []
    for table, S, delta in zip(G.coeffs, G.sites, G.deltas):
        lo, hi = min(S), max(S)
        assert list(S) == list(range(lo, hi + 1)), "contiguous supports only"
        k = hi - lo + 1
        shape = (2**lo,) + (2,) * k + (2 ** (L - 1 - hi),)
        axes = tuple(1 + i for i, dj in enumerate(delta) if dj)
        pats.append((shape, axes, jnp.asarray(np.asarray(table).reshape((1,) + (2,) * k + (1,)))))

    def apply(psi):
        out = G.diag * psi
        for shape, axes, tb in pats:
            out = out + (tb * jnp.flip(psi.reshape(shape), axes)).reshape(-1)
        return out

    return apply


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
    flip = jax.jit(flip_apply(GatherOperator.from_local(merge_terms(terms))))
    dia_op = DiaOperator.from_local(terms)
    d = jax.jit(lambda op, x: op.rows(x[:, None])[:, 0])
    dia = lambda x: d(dia_op, x)
    ref = local(psi)
    err = max(float(jnp.abs(ref - f(psi)).max()) for f in (gat, flip, dia))
    nbytes = 2 * 16 * D
    row = {"L": L, "dim": D, "agree_max_abs": err}
    for name, fn in (("copy", copy), ("local", local), ("gather", gat), ("flip", flip), ("dia", dia)):
        t = best_time(fn, psi, repeat)
        row[f"{name}_s"] = t
        row[f"{name}_GBps"] = nbytes / t / 1e9
    for name in ("local", "gather", "flip", "dia"):
        row[f"{name}_frac_of_copy"] = row["copy_s"] / row[f"{name}_s"]
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
    # the machine's memory-bandwidth ceiling: the same copy of a 2^25-amplitude vector
    # (512 MB, far beyond any cache), beside the same-size copies (which at L <= 20 run
    # partly from cache)
    big = jnp.zeros(2**DRAM_L, jnp.complex128) + 1.0
    dram_GBps = 2 * 16 * 2**DRAM_L / best_time(jax.jit(lambda x: x * 1.0 + 0.0), big, 5) / 1e9
    del big
    print(f"copy of 2^{DRAM_L} amplitudes (DRAM): {dram_GBps:.2f} GB/s", flush=True)
    rows = []
    for L in range(args.lmin, args.lmax + 1, 2):
        r = run(L, args.repeat)
        rows.append(r)
        print(f"L={L:2d}  copy {r['copy_GBps']:6.2f} GB/s  " + "  ".join(
            f"{n} {r[n + '_GBps']:6.2f} GB/s ({100 * r[n + '_frac_of_copy']:4.1f}%)"
            for n in ("local", "gather", "flip", "dia")) + f"  chebyshev term {r['cheb_term_GBps']:6.2f} GB/s "
              f"({100 * r['cheb_term_frac_of_copy']:4.1f}%)", flush=True)
    os.makedirs(args.outdir, exist_ok=True)
    write_results(os.path.join(args.outdir, "hpsi.json"), os.path.join(args.outdir, "hpsi.md"),
                  {"meta": machine(), "repeat": args.repeat, "dram_copy_GBps": dram_GBps, "rows": rows}, render)


def render(data):
    meta, rows, dram_GBps = data["meta"], data["rows"], data["dram_copy_GBps"]
    out = []
    out.append("# H psi throughput vs memory copy (XXZ chain, complex128)\n\n")
    out.append(f"{describe(meta)}\n\nEffective bandwidth = 2 x 16 x 2^L bytes / best time of {data['repeat']}.\n\n")
    out.append("`chebyshev term`: one term of the trajectories' propagator loop (Z psi, three-term "
               "recurrence and running sum) for the standard local Lindblad H_nh, timed inside the loop.\n\n")
    out.append("Each cell: GB/s (% of copy). All formulations agree to round-off (max |difference| "
               f"{max(r['agree_max_abs'] for r in rows):.1e}). XLA runs each of these fused loops on one "
               "core (process time = wall time measured at L = 20), while the copy is memory-bound.\n\n")
    out.append(f"DRAM copy (2^{DRAM_L} amplitudes, 512 MB, beyond every cache): {dram_GBps:.2f} GB/s. The "
               "last column gives the chebyshev term against it: the same-size copy at L <= 20 runs partly "
               "from cache, so it is no memory-bandwidth ceiling there.\n\n")
    names = ("local", "gather", "flip", "dia")
    out.append("| L | copy GB/s | " + " | ".join(names) + " | chebyshev term | chebyshev term, % of DRAM copy |\n|---|---|"
               + "---|" * (len(names) + 2) + "\n")
    for r in rows:
        cells = [f"{r[n + '_GBps']:.2f} ({100 * r[n + '_frac_of_copy']:.1f} %)" for n in names]
        out.append(f"| {r['L']} | {r['copy_GBps']:.2f} | " + " | ".join(cells)
                    + f" | {r['cheb_term_GBps']:.2f} ({100 * r['cheb_term_frac_of_copy']:.1f} %)"
                    + f" | {100 * r['cheb_term_GBps'] / dram_GBps:.1f} % |\n")
    return "".join(out)


if __name__ == "__main__":
    main()
