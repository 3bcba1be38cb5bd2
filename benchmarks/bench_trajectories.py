"""Quantum-jump trajectories: jaxredfield ``mcsolve`` against QuTiP ``mcsolve`` and dynamiqs
``jssesolve`` on the same problem, in the same run.

Problem (issue 3): standard local Lindblad equation of the paper's boundary-driven XXZ chain
(J = h = 1, Delta = 0.7, delta = -0.07, gamma = 0.25, T_l = T_r = 2.2), |psi(0)> = |+>^L,
t_f = 5/h, 11 save times, e_ops = sigma^z on every site. Peers get the same H and jump
operators as sparse matrices (QuTiP CSR, dynamiqs sparse DIA) built from the same local terms.

Reported per L: seconds per trajectory (compilation excluded for the JAX codes: a warm-up
run of one trajectory first), ratios peer / jaxredfield, and the jaxredfield peak memory
(ru_maxrss of a separate process running only jaxredfield at that L).

Same statistics: at L = 8 every code runs ``--nstat`` trajectories and the largest
|mean_a - mean_b| / sqrt(se_a^2 + se_b^2) over sites and times is reported.

Tolerances: jaxredfield defaults (Chebyshev truncation 1e-10, jump-time |log-norm| 1e-8);
QuTiP defaults (vern7, atol 1e-8, rtol 1e-6, norm_tol 1e-4); dynamiqs Event(Tsit5 rtol 1e-6,
atol 1e-8, Newton root finder 1e-6).

    python benchmarks/bench_trajectories.py [--sizes 10 12 14 16 19] [--ntraj 4] [--peers qutip dynamiqs]

Writes benchmarks/results/trajectories.json and trajectories.md. dynamiqs is optional
(``pip install dynamiqs``); it is skipped with a note when missing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _harness import describe, machine, sparse, write_results  # noqa: E402

T_F, N_T = 5.0, 11


def problem(L):
    import jaxredfield as jr

    model = jr.xxz_chain(L)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    eq = jr.standard_local_lindblad(system)
    psi0 = np.ones(2**L) / np.sqrt(2**L)
    e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]
    return eq, psi0, e_ops


def run_jaxredfield(L, ntraj, seed=1, batch_size=1):
    import jax

    import jaxredfield as jr

    eq, psi0, e_ops = problem(L)
    ts = np.linspace(0, T_F, N_T)
    jr.mcsolve(eq, psi0, ts, 1, jax.random.key(0), e_ops=e_ops, batch_size=batch_size, progress=False)
    t = time.perf_counter()
    r = jr.mcsolve(eq, psi0, ts, ntraj, jax.random.key(seed), e_ops=e_ops, batch_size=batch_size,
                   progress=False)
    el = time.perf_counter() - t
    return el / ntraj, np.asarray(r.expect), np.asarray(r.expect_stderr), float(np.mean(r.stats["njumps"]))


def run_qutip(L, ntraj, seed=1):
    import qutip

    eq, psi0, e_ops = problem(L)
    H = qutip.Qobj(sum(sparse(h) for h in eq.hamiltonian), dims=[[2] * L, [2] * L])
    c_ops = [qutip.Qobj(sparse(c), dims=[[2] * L, [2] * L]) for c in eq.jumps]
    ops = [qutip.Qobj(sparse(o), dims=[[2] * L, [2] * L]) for o in e_ops]
    psi = qutip.Qobj(psi0, dims=[[2] * L, [1] * L])
    ts = np.linspace(0, T_F, N_T)
    t = time.perf_counter()
    r = qutip.mcsolve(H, psi, ts, c_ops, e_ops=ops, ntraj=ntraj, seeds=seed,
                      options={"progress_bar": False, "map": "serial"})
    el = time.perf_counter() - t
    mean = np.asarray(r.expect)
    se = np.asarray(r.std_expect) / np.sqrt(max(ntraj - 1, 1))  # std_expect: population std
    return el / ntraj, mean, se


def run_dynamiqs(L, ntraj, seed=1):
    import dynamiqs as dq
    import jax
    import optimistix as optx

    dq.set_precision("double")
    dq.set_progress_meter(False)
    eq, psi0, e_ops = problem(L)

    def dia(m):
        d = m.todia()
        n = m.shape[0]
        out = {}
        for k, row in zip(d.offsets, d.data):
            k = int(k)
            out[k] = row[k:] if k >= 0 else row[: n + k]
        return dq.sparsedia_from_dict(out, dims=(2,) * L, dtype=np.complex128)

    H = dia(sum(sparse(h) for h in eq.hamiltonian))
    jumps = [dia(sparse(c)) for c in eq.jumps]
    ops = [dia(sparse(o)) for o in e_ops]
    psi = dq.asqarray(psi0.reshape(-1, 1).astype(complex), dims=(2,) * L)
    ts = np.linspace(0, T_F, N_T)
    method = dq.method.Event(noclick_method=dq.method.Tsit5(rtol=1e-6, atol=1e-8),
                             root_finder=optx.Newton(rtol=1e-6, atol=1e-6))

    def solve(keys):
        r = dq.jssesolve(H, jumps, psi, ts, keys, exp_ops=ops, method=method, save_states=False)
        return np.asarray(r.expects)

    solve(jax.random.split(jax.random.key(0), 1))  # compile
    keys = jax.random.split(jax.random.key(seed), ntraj)
    t = time.perf_counter()
    ex = solve(keys).real  # (ntraj, n_ops, n_t)
    el = time.perf_counter() - t
    return el / ntraj, ex.mean(0), ex.std(0, ddof=1) / np.sqrt(ntraj)


def peak_memory(L, ntraj):
    """ru_maxrss (GB) of a fresh process running only jaxredfield at size L."""
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(HERE)!r}); sys.argv=['x'];"
            "import resource, bench_trajectories as b;"
            f"b.run_jaxredfield({L}, {ntraj});"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1e6


def xla_vectors_per_trajectory(L):
    """XLA's own memory analysis of one compiled chunk: (temporaries + outputs) at
    batch_size 4 minus at batch_size 1, over 3, in state vectors of 16 * 2^L bytes."""
    import jax
    import jax.numpy as jnp

    import jaxredfield as jr
    from jaxredfield.observables import as_e_ops
    from jaxredfield.trajectories._loop import chunk
    from jaxredfield.trajectories._propagators import build_propagator
    from jaxredfield.trajectories._unravelling import Unravelling

    eq, psi0, e_ops = problem(L)
    unr, damping = Unravelling.build(eq, jnp.complex128)
    P = build_propagator(jr.Chebyshev(), eq, damping, jnp.complex128)  # what mcsolve runs
    ops, herm = as_e_ops(e_ops, L, 2)
    ts = jnp.linspace(0, T_F, N_T)

    def size(B):
        c = chunk.lower(jax.random.key(0), jnp.arange(B, dtype=jnp.int32), jnp.int32(0), jnp.int32(B), 1,
                        jnp.asarray(psi0, complex), ts, P, unr, ops, herm, False).compile()
        ma = getattr(c, "compiled", c).memory_analysis()
        return ma.temp_size_in_bytes + ma.output_size_in_bytes

    return (size(4) - size(1)) / 3 / (16 * 2**L)


def zmax(a, b):
    (ma, sa), (mb, sb) = a, b
    s = np.sqrt(sa**2 + sb**2)
    ok = s > 0
    return float(np.max(np.abs(ma - mb)[ok] / s[ok]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 12, 14, 16, 19])
    ap.add_argument("--ntraj", type=int, default=4, help="trajectories per code and size (L < 19)")
    ap.add_argument("--ntraj19", type=int, default=2, help="trajectories per code at L >= 19")
    ap.add_argument("--nstat", type=int, default=200, help="trajectories for the L=8 statistics check")
    ap.add_argument("--peers", nargs="*", default=["qutip", "dynamiqs"])
    ap.add_argument("--max-L", nargs="*", default=["dynamiqs=12"],
                    help="largest L per peer, e.g. dynamiqs=12 (its sparse Event solver takes "
                         "~4 s per trajectory already at L=10 here)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    peers = []
    for p in args.peers:
        try:
            __import__(p)
            peers.append(p)
        except ImportError:
            print(f"{p} not installed: skipped", flush=True)
    runners = {"qutip": run_qutip, "dynamiqs": run_dynamiqs}
    meta = machine(**{p: __import__(p).__version__ for p in peers})
    rows = []
    # statistics check
    stat = {}
    if args.nstat:
        jr_s = run_jaxredfield(8, args.nstat, seed=5, batch_size=50)
        for p in peers:
            res = runners[p](8, args.nstat, seed=5)
            stat[p] = zmax((jr_s[1], jr_s[2]), (res[1], res[2]))
            print(f"L=8 statistics: max |z| jaxredfield vs {p} = {stat[p]:.2f}", flush=True)
    max_L = {k: int(v) for k, v in (x.split("=") for x in args.max_L)}
    base = peak_memory(6, 1)
    meta["jaxredfield_baseline_GB_L6"] = base
    for L in args.sizes:
        n = args.ntraj19 if L >= 19 else args.ntraj
        spt, *_rest, njumps = run_jaxredfield(L, n)
        row = {"L": L, "ntraj": n, "jaxredfield_s_per_traj": spt, "mean_jumps": njumps}
        print(f"L={L}: jaxredfield {spt:.3f} s/traj ({njumps:.1f} jumps)", flush=True)
        for p in peers:
            if L > max_L.get(p, 10**9):
                row[f"{p}_error"] = f"skipped (L > {max_L[p]})"
                continue
            try:
                s = runners[p](L, n)[0]
                row[f"{p}_s_per_traj"] = s
                row[f"{p}_ratio"] = s / spt
                print(f"L={L}: {p} {s:.3f} s/traj, ratio {s / spt:.2f}", flush=True)
            except Exception as err:  # noqa: BLE001 - record and go on
                row[f"{p}_error"] = f"{type(err).__name__}: {str(err)[:200]}"
                print(f"L={L}: {p} failed: {row[f'{p}_error']}", flush=True)
        row["jaxredfield_peak_GB"] = pk = peak_memory(L, 1)
        # memory beyond the process baseline (JAX runtime, L = 6), in state vectors of 16 * 2^L B
        row["jaxredfield_state_vectors"] = (pk - base) * 1e9 / (16 * 2**L)
        row["xla_state_vectors_per_trajectory"] = xla_vectors_per_trajectory(L)
        rows.append(row)
        _write(args.out, meta, stat, rows, peers)


def _write(out, meta, stat, rows, peers):
    os.makedirs(out, exist_ok=True)
    write_results(os.path.join(out, "trajectories.json"), os.path.join(out, "trajectories.md"),
                  {"meta": meta, "peers": peers, "statistics_zmax_L8": stat, "rows": rows}, render)


def render(data):
    meta, peers, stat, rows = data["meta"], data["peers"], data["statistics_zmax_L8"], data["rows"]
    lines = ["# Quantum-jump trajectories vs peers (standard local Lindblad, XXZ, t_f = 5/h)", "",
             describe(meta) + f" (peers: {', '.join(peers) or 'none'}).", "", "Seconds per trajectory (JAX codes: after a warm-up run), ratio = peer / jaxredfield. "
             "Peak memory: ru_maxrss of a process running one jaxredfield trajectory (batch_size=1); "
             "state vectors above baseline = (peak - peak at L=6) / (16 * 2^L bytes), which includes "
             "one-off setup (operator tables, compilation); per trajectory (XLA) = XLA's memory analysis "
             "of a compiled chunk, (temporaries + outputs at batch 4 - at batch 1) / 3: the memory each "
             "further trajectory in flight costs.", ""]
    head = ("| L | jaxredfield s/traj | " + " | ".join(f"{p} s/traj | ratio" for p in peers)
            + " | jaxredfield peak GB | state vectors above baseline | state vectors per trajectory (XLA) |")
    lines += [head, "|" + "---|" * (5 + 2 * len(peers))]
    for r in rows:
        cells = [str(r["L"]), f"{r['jaxredfield_s_per_traj']:.3f}"]
        for p in peers:
            if f"{p}_s_per_traj" in r:
                cells += [f"{r[f'{p}_s_per_traj']:.3f}", f"{r[f'{p}_ratio']:.1f}"]
            else:
                cells += [r.get(f"{p}_error", "-")[:40], "-"]
        cells += [f"{r['jaxredfield_peak_GB']:.2f}", f"{r['jaxredfield_state_vectors']:.1f}",
                  f"{r['xla_state_vectors_per_trajectory']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    if stat:
        lines += ["", "Same statistics (L = 8): max |mean_jr - mean_peer| / combined stderr over sites and times: "
                  + ", ".join(f"{p}: {z:.2f}" for p, z in stat.items())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
