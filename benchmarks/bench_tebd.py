"""One second-order TEBD step of the density MPS against quimb, same gates, same truncation
(issue 26, item 5).

Problem: the paper's chain at L = 100 (J = 1, Delta = 0.7, h = 1, delta = -0.07, ohmic
gamma = 0.25, T_l = 2.2, T_r = 6.6), the standard local Lindblad equation, as the density
matrix of ``mesolve(method=jr.MPS())``: an MPS of the doubled chain (local dimension 4), the
generator's two-site terms (``jaxredfield/mps/_density.py``), step s = 0.05 (the default dt).
The state: a random MPS with every bond at the cap ``chi`` (min(chi, 4^i, 4^(L-i))),
canonicalized to center 0, so every SVD of the step works at full size (the cost of a
saturated step; a product state would be cheaper for both codes).

- jaxredfield: ``TEBD.step(mps, s, gates=...)`` under ``eqx.filter_jit``, the gates
  exp(-i h_b s/2), exp(-i h_b s) computed once (as ``mesolve`` does per save interval);
  warm median of ``--reps`` calls.
- quimb: the same state as a ``quimb.tensor.MatrixProductState``, the same 16 x 16 gate
  matrices applied with ``gate_split_`` in the same palindromic order (left to right half
  gates with the singular values absorbed to the right, the full middle gate, right to left
  half gates absorbed to the left), ``max_bond = chi``, ``cutoff = 1e-10``,
  ``cutoff_mode = "rsum2"`` (the relative discarded weight, our ``cutoff``'s meaning);
  median of ``--reps`` steps, each from the same start.
- agreement: 1 - |<a|b>| / (||a|| ||b||) between the two results (round-off and the
  ordering of near-degenerate singular values; both truncate the same way).

    pip install -e '.[peers]'                      # quimb (not part of `make venv`)
    python benchmarks/bench_tebd.py                # L = 100, bond 32 and 64
    python benchmarks/bench_tebd.py --L 20 --chi 16 --reps 2   # smoke run

Writes benchmarks/results/tebd.json and tebd.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _harness import machine, write_results  # noqa: E402

CUTOFF = 1e-10
S = 0.05


def problem(L):
    import jaxredfield as jr

    model = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 6.6))
    return jr.standard_local_lindblad(system)


def random_mps(L, chi, d, seed=0):
    """(L, chi, d, chi) tensors of a random MPS with bonds min(chi, d^i, d^(L-i)),
    canonicalized to center 0 (jaxredfield.mps.canonicalize), as a NumPy array."""
    import jax.numpy as jnp

    from jaxredfield.mps import MatrixProductState, canonicalize

    rng = np.random.default_rng(seed)
    dims = [min(chi, d**min(i, L - i)) for i in range(L + 1)]
    t = np.zeros((L, chi, d, chi), complex)
    for i in range(L):
        a, b = dims[i], dims[i + 1]
        t[i, :a, :, :b] = (rng.normal(size=(a, d, b)) + 1j * rng.normal(size=(a, d, b))) / np.sqrt(a * d)
    m = canonicalize(MatrixProductState(jnp.asarray(t)), 0)
    t = np.array(m.tensors)
    t[0] /= np.linalg.norm(t[0])  # the center's norm is the state's
    return t


def to_quimb(t):
    """A quimb MatrixProductState of padded (L, chi, d, chi) tensors (used bonds only)."""
    import quimb.tensor as qtn

    from jaxredfield.mps import bond_dims

    b = np.asarray(bond_dims(t))
    L = t.shape[0]
    arrays = [t[i, :b[i], :, :b[i + 1]] for i in range(L)]
    arrays[0], arrays[-1] = arrays[0][0], arrays[-1][:, :, 0]  # (p, r) and (l, p)
    return qtn.MatrixProductState(arrays, shape="lpr")


def jr_step(tebd, t, gates, reps):
    import equinox as eqx
    import jax

    from jaxredfield.mps import MatrixProductState

    step = eqx.filter_jit(lambda tebd, t, gates: tebd.step(MatrixProductState(t), S, gates=gates))
    t0 = time.perf_counter()
    out = jax.block_until_ready(step(tebd, t, gates))
    first = time.perf_counter() - t0
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = jax.block_until_ready(step(tebd, t, gates))
        times.append(time.perf_counter() - t0)
    return np.asarray(out[0].tensors), float(out[1]), first, float(np.median(times))


def quimb_step(psi0, half, full, chi, reps):
    nb = half.shape[0]
    opts = dict(max_bond=chi, cutoff=CUTOFF, cutoff_mode="rsum2")
    times, psi = [], None
    for _ in range(reps + 1):  # the first: numba's compilation of quimb's kernels, untimed
        psi = psi0.copy()
        t0 = time.perf_counter()
        for b in range(nb - 1):
            psi.gate_split_(half[b], where=(b, b + 1), absorb="right", **opts)
        psi.gate_split_(full[nb - 1], where=(nb - 1, nb), absorb="left", **opts)
        for b in range(nb - 2, -1, -1):
            psi.gate_split_(half[b], where=(b, b + 1), absorb="left", **opts)
        times.append(time.perf_counter() - t0)
    return psi, float(np.median(times[1:]))


def _small(x):
    """1 - fidelity: round-off shows as |x| < 1e-15 (it may come out slightly negative)."""
    return "< 1e-15 (round-off)" if abs(x) < 1e-15 else f"{x:.1e}"


def render(data):
    m = data["machine"]
    lines = ["# One TEBD step of the density MPS: jaxredfield vs quimb (`benchmarks/bench_tebd.py`)", "",
             f"{m['date']}, {m['cpus']} CPUs ({m.get('cpu', '?')}), JAX {m['jax']}, quimb {m.get('quimb')}, "
             f"load at start {m['load_at_start']:.2f}. Standard local Lindblad equation of the paper's chain "
             f"as a density MPS (local dimension 4), step s = {S}, a random MPS with saturated bonds "
             f"(method: the script's docstring), cutoff {CUTOFF:g}, both codes the same gates and order.", "",
             "| L | bond | jaxredfield s/step (first call) | quimb s/step | quimb / jaxredfield | "
             "1 - fidelity of the two results | 1 - fidelity start / result | discarded weight (ours) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        lines.append(f"| {r['L']} | {r['chi']} | {r['jr_s']:.3g} ({r['jr_first_s']:.1f}) | {r['quimb_s']:.3g} | "
                     f"{r['quimb_s'] / r['jr_s']:.2f}x | {_small(r['infidelity'])} | {r['moved']:.1e} | {r['discarded']:.2g} |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=100)
    ap.add_argument("--chi", type=int, nargs="*", default=[32, 64])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    import quimb

    import jaxredfield as jr
    from jaxredfield.mps import TEBD
    from jaxredfield.mps._density import liouvillian_terms

    jr.set_progress(False)
    eq = problem(args.L)
    terms = liouvillian_terms(eq)
    data = {"machine": machine(quimb=quimb.__version__), "rows": []}
    for chi in args.chi:
        tebd = TEBD.build([g.scale(1j) for g in terms], [], chi, cutoff=CUTOFF)
        half, full = (np.asarray(g) for g in tebd.gates(S))
        t = random_mps(args.L, chi, eq.d**2)
        ours, cut, first, jr_s = jr_step(tebd, t, tebd.gates(S), args.reps)
        psi, q_s = quimb_step(to_quimb(t), half, full, chi, args.reps)
        a = to_quimb(ours)
        fid = abs(a.H @ psi) / np.sqrt(abs(a.H @ a) * abs(psi.H @ psi))
        p0 = to_quimb(t)  # how far the step moved the state (the scale of the comparison)
        moved = 1 - abs(p0.H @ psi) / np.sqrt(abs(p0.H @ p0) * abs(psi.H @ psi))
        row = {"L": args.L, "chi": chi, "jr_s": jr_s, "jr_first_s": first, "quimb_s": q_s,
               "infidelity": float(1 - fid), "moved": float(moved), "discarded": cut}
        print(row, flush=True)
        data["rows"].append(row)
    os.makedirs(args.out, exist_ok=True)
    write_results(os.path.join(args.out, "tebd.json"), os.path.join(args.out, "tebd.md"), data, render)
    print(render(data))


if __name__ == "__main__":
    main()
