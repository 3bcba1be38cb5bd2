"""Every core: throughput with all usable cores against the same run pinned to one core
(``taskset -c 0``), against QuTiP's serial and parallel ``mcsolve``, and against the machine's
own parallel ceiling, in one run (issue 25, item 5).

Each jaxredfield measurement runs in a fresh process (``python bench_parallel.py --jr SPEC``),
started either plainly (every usable core: the default ``workers``) or under ``taskset -c 0``
(one core: the default then computes in-process), with **default arguments**:

- trajectories: problem P of ``bench_peers.py`` (the paper's chain, local Lindblad N = 1,
  |up...up>, t = 0...5 with 11 saves, sigma^z on every site) at L = 10, 12, 14, 16 with
  ``jr.mcsolve(eq, psi0, tsave, ntraj, key, e_ops)``; signed trajectories of
  pseudo_lindblad(local_redfield N = 1, lambda_loc) from |+...+> at L = 12 with the one
  non-default argument of ``bench_signed.py``, ``max_trace_error=inf`` (64 trajectories
  measure the cost; the estimator's variance needs ~10^5 of them at t = 5, bench_signed.md); MPS trajectories at L = 40
  (``method=jr.MPS(max_bond=32)``); runs of one chunk (4 trajectories, computed in the calling
  process, split over its threads): ``lindblad_one_chunk`` at L = 16 and ``mps_one_chunk`` at
  L = 200 with ``jr.MPS(max_bond=64)``. A first call (compilation, helper start) and then warm
  calls with other keys; s/traj is the median warm call / ntraj.
- ceilings: two copies of the same single-core run pinned to cores 0 and 1 at once (what two
  independent processes get from this machine; the ideal of a process-parallel design), and
  a pure-Python loop alone vs two copies at once (the cores' own parallel ceiling).
- sweeps (item 2): ``jr.sweep`` of the steady-state current against T_r (32 values, local
  Redfield N = 2, L = 6 and 8) and of a short mesolve against J (L = 6); s per value.
- solvers (item 3): one ``mesolve`` of problem P at L = 8, 10 and one ``steadystate`` (local
  Redfield N = 4, GMRES) at L = 8 with default arguments: what XLA's own intra-op threads
  make of the second core (no helpers: these are single solves).
- QuTiP 5 ``mcsolve`` of our operators (bench_peers' child processes), map "serial" and
  "parallel" with num_cpus = number of cores, at L = 12, 14, 16.

    python benchmarks/bench_parallel.py                 # -> benchmarks/results/parallel.{json,md}
    python benchmarks/bench_parallel.py --quick --out /tmp/par   # smoke run (L = 6, 8)

A rerun replaces the rows it measures in an existing parallel.json and keeps the others.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _harness  # noqa: E402  (metadata, results writer, timing, the problem)

NTRAJ = {6: 64, 8: 64, 10: 128, 12: 64, 14: 32, 16: 16}


# ---------------------------------------------------------------- the measuring child
def jr_child(spec):
    """Run one jaxredfield measurement (spec: dict) in this fresh process; print JSON."""
    import jax

    import jaxredfield as jr
    from _harness import TS, problem

    jr.set_progress(False)
    kind, L, n = spec["kind"], spec["L"], spec.get("ntraj")
    kind = kind.removesuffix("_one_chunk")  # the same run with <= 4 trajectories: one chunk, threads
    kw, ts = {}, TS
    if kind == "lindblad":
        eq, psi0, e_ops = problem(L)
    elif kind == "signed":
        model = jr.xxz_chain(L)
        s = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
        eq = jr.pseudo_lindblad(jr.local_redfield(s, 1), jr.lam_loc(s))
        psi0 = np.ones(2**L) / 2 ** (L / 2)
        e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]
        kw["max_trace_error"] = np.inf  # cost, not the estimator's variance (as bench_signed.py)
    elif kind == "mps":  # problem P's equation and start, never a dense vector (2^40 amplitudes)
        model = jr.xxz_chain(L)
        s = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
        eq = jr.local_lindblad(s, 1)
        psi0 = jr.product_state(model, 0)  # |up...up>
        e_ops = [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]
        kw["method"] = jr.MPS(max_bond=spec.get("bond", 32))
    elif kind in ("sweep_ss", "sweep_me"):
        return sweep_child(spec)
    elif kind in ("mesolve", "steadystate"):
        return solver_child(spec)
    else:
        raise ValueError(kind)
    if spec.get("workers") is not None:
        kw["workers"] = spec["workers"]
    run = lambda seed: jr.mcsolve(eq, psi0, ts, n, jax.random.key(seed), e_ops=e_ops, **kw)  # noqa: E731
    t = time.perf_counter()
    r = run(0)
    first = time.perf_counter() - t
    times = []
    while len(times) < spec.get("reps", 3):
        t = time.perf_counter()
        r = run(1 + len(times))
        times.append(time.perf_counter() - t)
    print(json.dumps({"first_s": first, "time": float(np.median(times)) / n, "warm_s": times,
                      "workers": r.stats["workers"], "chunks_by_helpers": r.stats["chunks_by_helpers"],
                      "threads": r.stats.get("threads", 1),
                      "cores": len(os.sched_getaffinity(0)), "ntraj": n}))


def _current(T_right, L):
    """Steady-state spin current on the middle bond, local Redfield N = 2, T_l = 2.2."""
    import jax.numpy as jnp

    import jaxredfield as jr

    model = jr.xxz_chain(L)
    s = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, T_right))
    rho = jr.steadystate(jr.local_redfield(s, 2))
    return jnp.real(jr.expect(jr.spin_current(model, L // 2 - 1), rho))


def _short_mesolve(J, L):
    """<sigma^z_i>(t = 1) of problem P's equation with exchange J, a short mesolve."""
    import jax.numpy as jnp

    import jaxredfield as jr

    model = jr.xxz_chain(L, J=J)
    s = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    r = jr.mesolve(jr.local_lindblad(s, 1), jr.product_state(model, 0), np.linspace(0.0, 1.0, 3),
                   jr.magnetization(model))
    return jnp.real(r.expect[:, -1])


def sweep_child(spec):
    """jr.sweep over n values with the default workers (a first sweep, then warm ones)."""
    import functools

    import bench_parallel as this  # this script as a module: its functions go to the helpers by name

    import jaxredfield as jr

    L, n = spec["L"], spec["n"]
    if spec["kind"] == "sweep_ss":
        f, values = functools.partial(this._current, L=L), np.linspace(2.5, 6.6, n)
    else:
        f, values = functools.partial(this._short_mesolve, L=L), np.linspace(0.5, 1.5, n)
    t = time.perf_counter()
    jr.sweep(f, values)
    first = time.perf_counter() - t
    times = []
    for _ in range(spec.get("reps", 2)):
        t = time.perf_counter()
        jr.sweep(f, values + 1e-3 * (1 + len(times)))  # other values: no cached result anywhere
        times.append(time.perf_counter() - t)
    from jaxredfield import _pool

    print(json.dumps({"first_s": first, "time": float(np.median(times)) / n, "warm_s": times,
                      "workers": _pool.resolve_workers(None, cpu=True, multi_process=False, bytes_per_worker=0),
                      "cores": len(os.sched_getaffinity(0)), "ntraj": n}))


def solver_child(spec):
    """One mesolve (problem P) or steadystate (local Redfield N = 4) with default arguments:
    what XLA's own threads make of a second core."""
    import jax

    import jaxredfield as jr
    from _harness import TS, problem

    L = spec["L"]
    if spec["kind"] == "mesolve":
        eq, psi0, e_ops = problem(L)
        run = lambda: jr.mesolve(eq, psi0, TS, e_ops).expect  # noqa: E731
    else:
        eq = problem(L, "redfield", 4)[0]
        run = lambda: jr.steadystate(eq)  # noqa: E731
    t = time.perf_counter()
    jax.block_until_ready(run())
    first = time.perf_counter() - t
    times = []
    while len(times) < spec.get("reps", 3):
        t = time.perf_counter()
        jax.block_until_ready(run())
        times.append(time.perf_counter() - t)
    print(json.dumps({"first_s": first, "time": float(np.median(times)), "warm_s": times,
                      "workers": 1, "cores": len(os.sched_getaffinity(0)), "ntraj": 1}))


def spin_child(n=3 * 10**7):
    t = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    print(json.dumps({"time": time.perf_counter() - t}))


# ---------------------------------------------------------------- the orchestrator
def launch(args_list, pin=None):
    cmd = ([] if pin is None else ["taskset", "-c", str(pin)]) + [sys.executable, os.path.abspath(__file__)] + args_list
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p, timeout):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        return {"error": f"timeout (> {timeout} s)"}
    if p.returncode != 0:
        return {"error": f"exit {p.returncode}: {(err.strip().splitlines() or [''])[-1][:300]}"}
    return json.loads(out.strip().splitlines()[-1])


def measure_jr(spec, pin, timeout):
    return finish(launch(["--jr", json.dumps(spec)], pin), timeout)


def measure_pair(spec, timeout):
    """Two copies of the one-core run at once, pinned to cores 0 and 1, each half the work."""
    half = dict(spec, ntraj=max(1, spec["ntraj"] // 2), workers=1)
    ps = [launch(["--jr", json.dumps(half)], pin=c) for c in (0, 1)]
    res = [finish(p, timeout) for p in ps]
    if any("error" in r for r in res):
        return {"error": "; ".join(r.get("error", "") for r in res)}
    # throughput of the pair: 2 half runs at once
    return {"time": max(r["time"] * r["ntraj"] for r in res) / (2 * half["ntraj"]), "each": res}


class Run:
    def __init__(self, out):
        os.makedirs(out, exist_ok=True)
        self.json, self.md = os.path.join(out, "parallel.json"), os.path.join(out, "parallel.md")
        self.data = {"machine": _harness.machine(), "rows": {}, "runs": []}
        if os.path.exists(self.json):  # a rerun of some rows keeps the others
            with open(self.json) as f:
                old = json.load(f)
            self.data["rows"] = old.get("rows", {})
            self.data["runs"] = old.get("runs", [old["machine"]["date"]])
        self.data["runs"].append(self.data["machine"]["date"])

    def put(self, key, value):
        self.data["rows"][key] = value
        print(f"[{time.strftime('%H:%M:%S')}] {key}: {json.dumps(value)[:300]}", flush=True)
        _harness.write_results(self.json, self.md, self.data, render)


def _fmt(x, f=".3g"):
    return "—" if x is None else format(x, f)


def render(data):
    rows, m = data["rows"], data["machine"]
    g = lambda k, f="time": rows.get(k, {}).get(f)  # noqa: E731
    lines = ["# Every core: parallel throughput (`benchmarks/bench_parallel.py`)", "",
             f"{m['date']}, {m['cpus']} CPUs ({m.get('cpu', '?')}), {m['platform']}, JAX {m['jax']}, "
             f"load at start {m['load_at_start']:.2f}. Default arguments; s/traj = median warm call / ntraj. "
             f"Rows from the runs started {', '.join(data.get('runs', [m['date']]))} (a rerun replaces the rows "
             "it measures; each row's ratios are within one run).", ""]
    spin1, spin2 = g("ceiling/spin/1"), g("ceiling/spin/2")
    if spin1 and spin2:
        lines += [f"**The cores' own ceiling**: a pure-Python loop alone {spin1:.2f} s, two copies at once "
                  f"(cores 0 and 1) {spin2:.2f} s each -> two cores give {2 * spin1 / spin2:.2f}x one.", ""]
    lines += ["Units: s per trajectory (lindblad, signed, mps), s per parameter value (sweep_ss: steady-state "
              "current vs T_r, local Redfield N = 2; sweep_me: a short mesolve per J), s per call (mesolve, "
              "steadystate: one run, XLA's own threads).", "",
              "| run | L | 1 core (taskset -c 0) | all cores (default) | speed-up | workers | "
              "first call 1 core / all, s | two pinned single-core processes (ceiling) | default's throughput / ceiling's |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key in sorted({k.rsplit("/", 1)[0] for k in rows if k.startswith("jr/")},
                      key=lambda k: (k.split("/")[1], int(k.split("/")[2]))):
        one, all_, pair = rows.get(key + "/1", {}), rows.get(key + "/all", {}), rows.get(key + "/pair", {})
        _, kind, L = key.split("/")
        sp = one.get("time") / all_["time"] if one.get("time") and all_.get("time") else None
        eff = pair["time"] / all_["time"] if pair.get("time") and all_.get("time") else None
        err = "; ".join(f"{k}: {r['error']}" for k, r in (("1", one), ("all", all_), ("pair", pair)) if "error" in r)
        lines.append(f"| {kind} | {L} | {_fmt(one.get('time'))} | {_fmt(all_.get('time'))} | "
                     f"{_fmt(sp, '.2f')}x | {all_.get('workers', '—')} | {_fmt(one.get('first_s'), '.1f')} / "
                     f"{_fmt(all_.get('first_s'), '.1f')} | {_fmt(pair.get('time'))} | {_fmt(eff, '.2f')} |"
                     + (f" {err}" if err else ""))
    q = sorted({int(k.split("/")[2]) for k in rows if k.startswith("qutip/")})
    if q:
        lines += ["", "| L | jaxredfield all cores s/traj | QuTiP serial s/traj | QuTiP parallel s/traj | "
                      "ratio to QuTiP's better |", "| --- | --- | --- | --- | --- |"]
        for L in q:
            ours, ser, par = g(f"jr/lindblad/{L}/all"), g(f"qutip/serial/{L}"), g(f"qutip/parallel/{L}")
            best = min([x for x in (ser, par) if x] or [None]) if (ser or par) else None
            lines.append(f"| {L} | {_fmt(ours)} | {_fmt(ser)} | {_fmt(par)} | "
                         f"{_fmt(best / ours if best and ours else None, '.2f')}x |")
    lines += ["", "Rows: " + ", ".join(sorted(rows)), ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[10, 12, 14, 16])
    ap.add_argument("--qutip-sizes", type=int, nargs="*", default=[12, 14, 16])
    ap.add_argument("--mps-L", type=int, default=40)
    ap.add_argument("--signed-L", type=int, default=12)
    ap.add_argument("--kinds", nargs="*", help="only these rows (lindblad signed mps lindblad_one_chunk mps_one_chunk qutip sweep_ss sweep_me "
                                               "mesolve steadystate); QuTiP with --qutip-sizes")
    ap.add_argument("--sweep-sizes", type=int, nargs="*", default=[6, 8])
    ap.add_argument("--sweep-n", type=int, default=32)
    ap.add_argument("--me-sizes", type=int, nargs="*", default=[8, 10])
    ap.add_argument("--ss-sizes", type=int, nargs="*", default=[8])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--quick", action="store_true", help="smoke run (L = 6, 8; MPS L = 8; no QuTiP)")
    ap.add_argument("--out")
    ap.add_argument("--jr", help=argparse.SUPPRESS)
    ap.add_argument("--spin", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.jr:
        return jr_child(json.loads(args.jr))
    if args.spin:
        return spin_child()
    if args.quick:
        args.sizes, args.qutip_sizes, args.mps_L, args.signed_L = [6], [], 6, 4
        args.sweep_sizes, args.sweep_n, args.me_sizes, args.ss_sizes = [4], 4, [4], [4]
        args.out = args.out or tempfile.mkdtemp(prefix="bench_parallel_")
    run = Run(args.out or os.path.join(HERE, "results"))
    print(f"writing {run.json} and {run.md}", flush=True)
    if not args.kinds:
        run.put("ceiling/spin/1", finish(launch(["--spin"], 0), 120))
        ps = [launch(["--spin"], c) for c in (0, 1)]
        both = [finish(p, 120) for p in ps]
        run.put("ceiling/spin/2", {"time": float(np.mean([b["time"] for b in both])), "each": both})
    specs = [("lindblad", L, {"ntraj": NTRAJ.get(L, 16), "reps": 7 if L <= 12 else 3}) for L in args.sizes]  # short calls: more reps (noise)
    specs += [("signed", args.signed_L, {"ntraj": 64}), ("mps", args.mps_L, {"ntraj": 8, "bond": 32, "reps": 1})]
    # a run of one chunk (4 trajectories): computed in the calling process, on its threads
    specs += [("lindblad_one_chunk", 16 if not args.quick else 6, {"ntraj": 4, "pair": False}),
              ("mps_one_chunk", 200 if not args.quick else 8, {"ntraj": 4, "bond": 64, "pair": False})]
    specs += [("sweep_ss", L, {"n": args.sweep_n, "reps": 1 if L > 6 else 3, "pair": False})
              for L in args.sweep_sizes]
    specs += [("sweep_me", 6 if not args.quick else 4, {"n": args.sweep_n, "reps": 3, "pair": False})]
    specs += [("mesolve", L, {"pair": False, "reps": 1 if L > 8 else 3}) for L in args.me_sizes]
    specs += [("steadystate", L, {"pair": False, "reps": 1}) for L in args.ss_sizes]
    for kind, L, extra in specs:
        if args.kinds and kind not in args.kinds:
            continue
        spec = {"kind": kind, "L": L, **extra}
        run.put(f"jr/{kind}/{L}/1", measure_jr(spec, 0, args.timeout))
        run.put(f"jr/{kind}/{L}/all", measure_jr(spec, None, args.timeout))
        if extra.get("pair", True):
            run.put(f"jr/{kind}/{L}/pair", measure_pair(spec, args.timeout))
    if args.qutip_sizes and (not args.kinds or "qutip" in args.kinds):  # --kinds without qutip: none
        import warnings

        import bench_peers as bp

        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called")
        pargs = argparse.Namespace(timeout=args.timeout, peer_mem_gb=0.8 * os.sysconf("SC_PAGE_SIZE")
                                   * os.sysconf("SC_PHYS_PAGES") / 2**30)
        ncpu = len(os.sched_getaffinity(0))
        for L in args.qutip_sizes:
            P = _harness.pieces(*_harness.problem(L))
            n = NTRAJ.get(L, 16)
            run.put(f"qutip/serial/{L}", bp.in_child("mcsolve", P, pargs, n=n, options={"map": "serial"}))
            run.put(f"qutip/parallel/{L}", bp.in_child("mcsolve", P, pargs, n=n,
                                                       options={"map": "parallel", "num_cpus": ncpu}))
    print("done", flush=True)


if __name__ == "__main__":
    main()
