"""GPU benchmarks of issue 13 item 7, issue 14 and issue 26 (one NVIDIA H100/H200; driven by ``benchmarks/gpu.sh``).

Target (issue 13): 5000 quantum-jump trajectories of problem P at L = 19 in under 5 minutes
(300 s, i.e. >= 16.7 trajectories/s) on one H100/H200.

Problem P: the paper's chain ``xxz_chain(L)`` (J = h = 1, Delta = 0.7, delta = -0.07),
``boundary_driven`` by two ohmic baths (gamma = 0.25, T = 2.2) through sigma^x on the end
sites, the local Lindblad equation of order N = 1, psi(0) = |up ... up> (basis index 0),
tsave = linspace(0, 5, 11), e_ops = sigma^z on every site.

Stages (each one updates ``gpu.json`` when it starts, after its warm-up and when it ends;
``gpu.md`` is rendered after every stage):

1. ``traj128`` / ``traj64``: ``mcsolve`` of P at L = 19 with its default method and
   batch_size, complex128; then ``dtype=complex64, method=Chebyshev(atol=1e-6)``. A warm-up
   run of one chunk (min(batch_size, ntraj) trajectories: the same compiled program) first;
   its XLA trace + lower + compile time (``jax.monitoring``) is the compile time. Then
   ``--ntraj`` (1000) trajectories are timed with ``progress=True`` and a checkpoint in
   /tmp/jaxredfield_gpu_bench: an interrupted run resumes there (only the trajectories run
   now are timed), and when a stage is killed the table reports the rate up to its last
   finished chunk (checkpoint's count and file time). Reported: s/trajectory,
   trajectories/s, projected time of 5000 trajectories, compile time.
2. ``hpsi``: H psi throughput of the fused gather operator
   ``GatherOperator.from_local(merge_terms(model.terms))`` against a device-to-device copy
   (jitted ``x * 1 + 0``) at L = 20, 22, 24, 26, complex128 and complex64: effective
   bandwidth 2 * itemsize * 2^L / best time (one read and one write of psi, the least any
   H psi moves) and its % of the copy's.
3. ``mesolve``: ``mesolve`` of P at L = 10 (1024 x 1024 density matrix), default method
   (diffrax Dopri8, the default, rtol 1e-8, atol 1e-10), rho0 = |up..up><up..up|, save_states=False:
   first call (compile time separately) and a warm second call.

4. ``mps`` (issue 14): ``mcsolve(..., method=jr.MPS(max_bond=64))`` of the local Lindblad
   equation N = 1 of P's chain at L = 100 from ``jr.product_state(model, 0)`` (the setting of
   ``results/mps.md``: 2.41 s/traj on 2 CPU cores, mqt-yaqs 14.9 s/traj), default batch size:
   first the same keys on the accelerator and on the host CPU (``jax.default_device``), 4
   trajectories each: the Chebyshev engine at L = 10 and the MPS engine at L = 12 (bond 64,
   exact): jumps per trajectory and the largest difference of the trajectories' values (equal
   up to round-off and the jump-time tolerance); then a warm-up chunk (compile time) and
   ``--mps-ntraj`` (64) timed trajectories with their discarded weight.

5. ``ness`` (issue 26 item 6): ``steadystate(eq, method=jr.MPS(max_bond=64), max_time=...,
   checkpoint=...)`` of the paper's chain at L = 100 with T_r = 3 T_l for local Lindblad
   N = 1, the standard local Lindblad equation and local Redfield N = 2 (pseudo-Lindblad),
   each capped at ``--ness-time`` (8: two windows of 4 time units at dt, two at dt/2; it
   warns, not converged): seconds per window of the relaxation (the unit of its cost: the
   relaxation time at L = 100 is ~200 (local Lindblad N = 1) to ~5000 (standard) time
   units by a crude extrapolation, ``results/relaxation_time.md``, times a few for 1e-6),
   the change per unit time reached, the largest bond. Checkpoints in
   /tmp/jaxredfield_gpu_bench: a rerun with the same cap reads finished forms back.

    python benchmarks/bench_gpu.py                   # all stages, results in benchmarks/results
    python benchmarks/bench_gpu.py --stages hpsi     # one stage, merged into gpu.json
    python benchmarks/bench_gpu.py --quick           # CPU smoke run (L = 6, 8 trajectories;
                                                     # H psi at L = 10, 12; mesolve at L = 4;
                                                     # MPS at L = 10, bond 8, 4 trajectories;
                                                     # steady states at L = 6, bond 16)
                                                     # into a temporary folder
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _harness  # noqa: E402  (metadata)
CKPT_DIR = os.path.join(tempfile.gettempdir(), "jaxredfield_gpu_bench")
TSAVE = np.linspace(0.0, 5.0, 11)
STAGES = ("traj128", "traj64", "hpsi", "mesolve", "mps", "ness")
TARGET_NTRAJ, TARGET_S = 5000, 300.0
_COMPILE = {"s": 0.0}  # trace + lower + XLA compile seconds of this process (jax.monitoring)


def listen_compile():
    import jax.monitoring as mon

    names = {"/jax/core/compile/backend_compile_duration", "/jax/core/compile/jaxpr_trace_duration",
             "/jax/core/compile/jaxpr_to_mlir_module_duration"}

    def on(event, secs, **kw):
        if event in names:
            _COMPILE["s"] += secs

    mon.register_event_duration_secs_listener(on)


def problem(L):
    """Problem P at size L: (equation, |up...up> as a dense vector, sigma^z on every site)."""
    eq, psi0, e_ops = chain(L)
    return eq, np.asarray(psi0.dense()), e_ops


def chain(L, N=1):
    """P's chain at size L without a dense state: (local Lindblad N, |up...up> as a product
    state, sigma^z on every site)."""
    import jaxredfield as jr

    model = jr.xxz_chain(L)  # defaults J=1, Delta=0.7, h=1, delta=-0.07 (eq. 5)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    return jr.local_lindblad(system, N), jr.product_state(model, 0), [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]


# ---- results file -------------------------------------------------------------------------

def load(out):
    try:
        with open(os.path.join(out, "gpu.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"meta": {}, "stages": {}}


def save(out, res):
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "gpu.json")
    with open(path + ".tmp", "w") as f:
        json.dump(res, f, indent=1)
    os.replace(path + ".tmp", path)


def meta():
    """The harness's machine description, the accelerator added."""
    import jax

    dev, m = jax.devices()[0], _harness.machine()
    return {**m, "device": getattr(dev, "device_kind", str(dev)), "n_devices": jax.device_count(),
            "host": m.get("cpu", platform.machine())}


# ---- stages -------------------------------------------------------------------------------

def ckpt_done(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            return int(z["done"])
    except Exception:  # noqa: BLE001 - missing or unreadable: nothing to resume
        return 0


def stage_traj(args, res, out, single):
    import jax
    import jax.numpy as jnp

    import jaxredfield as jr

    L, ntraj = args.L, args.ntraj
    name = "traj64" if single else "traj128"
    kw = {"dtype": jnp.complex64, "method": jr.Chebyshev(atol=1e-6)} if single else {}
    from jaxredfield.trajectories._devices import default_batch_size

    batch = default_batch_size(2**L)  # what mcsolve's batch_size=None picks here
    ckpt = os.path.join(CKPT_DIR, f"{name}_L{L}_n{ntraj}.npz")
    os.makedirs(CKPT_DIR, exist_ok=True)
    rec = res["stages"][name] = {
        "what": "complex64, Chebyshev(atol=1e-6)" if single else "complex128, default method",
        "L": L, "ntraj": ntraj, "batch_size": batch, "checkpoint": ckpt, "status": "warm-up"}
    save(out, res)
    eq, psi0, e_ops = problem(L)

    def run(n, key, **more):
        r = jr.mcsolve(eq, psi0, TSAVE, n, jax.random.key(key), e_ops=e_ops, **kw, **more)
        np.asarray(r.expect)
        return r

    c0, t = _COMPILE["s"], time.perf_counter()
    run(min(batch, ntraj), 0, progress=False)  # one chunk: the timed run's compiled program
    rec.update(warmup_s=time.perf_counter() - t, compile_s=_COMPILE["s"] - c0)
    n_before = ckpt_done(ckpt)
    if n_before >= ntraj:  # a finished run would return at once: time a fresh one
        os.remove(ckpt)
        n_before = 0
    rec.update(status="timing", n_before=n_before, t_timed_start=time.time())
    save(out, res)
    c0, t = _COMPILE["s"], time.perf_counter()
    try:
        r = run(ntraj, 1, progress=True, checkpoint=ckpt)
    except ValueError as err:  # a checkpoint of another version / other arguments: start afresh
        if "checkpoint" not in str(err) or not os.path.exists(ckpt):
            raise
        print(f"{name}: {err}; starting afresh", flush=True)
        os.remove(ckpt)
        rec.update(n_before=0, t_timed_start=time.time())
        c0, t = _COMPILE["s"], time.perf_counter()
        r = run(ntraj, 1, progress=True, checkpoint=ckpt)
    el = time.perf_counter() - t
    n = ntraj - rec["n_before"]
    rec.update(status="done", timed_s=el, n_timed=n, s_per_traj=el / n, traj_per_s=n / el,
               projected_5000_s=TARGET_NTRAJ * el / n, compile_in_timed_s=_COMPILE["s"] - c0,
               mean_jumps=float(np.mean(np.asarray(r.stats["njumps"]))),
               sz_final=[float(x) for x in np.asarray(r.expect)[:, -1]])
    print(f"{name} L={L}: {el / n:.4g} s/traj, {n / el:.3g} traj/s, 5000 traj -> "
          f"{TARGET_NTRAJ * el / n:.1f} s; compile {rec['compile_s']:.1f} s", flush=True)


def stage_hpsi(args, res, out):
    import jax
    import jax.numpy as jnp

    import jaxredfield as jr
    from bench_hpsi import best_time
    from jaxredfield.operators._gather import GatherOperator
    from jaxredfield.operators.local import merge_terms

    copy = jax.jit(lambda x: x * 1 + 0)
    apply = jax.jit(lambda op, x: op.apply(x))
    rows = []
    res["stages"]["hpsi"] = {"status": "running", "repeat": args.repeat, "rows": rows}
    for L in args.hpsi_sizes:
        G = GatherOperator.from_local(merge_terms(jr.xxz_chain(L).terms))
        rng = np.random.default_rng(0)
        x = (rng.normal(size=2**L) + 1j * rng.normal(size=2**L)) / 2 ** ((L + 1) / 2)
        for dtype in (jnp.complex128, jnp.complex64):
            op, psi = G.astype(dtype), jnp.asarray(x, dtype)
            tc = best_time(copy, psi, args.repeat)
            tg = best_time(lambda v: apply(op, v), psi, args.repeat)
            nbytes = 2 * psi.dtype.itemsize * 2**L
            rows.append({"L": L, "dtype": psi.dtype.name, "copy_s": tc, "gather_s": tg,
                         "copy_GBps": nbytes / tc / 1e9, "gather_GBps": nbytes / tg / 1e9,
                         "pct_of_copy": 100 * tc / tg})
            print(f"hpsi L={L} {psi.dtype.name}: copy {nbytes / tc / 1e9:.1f} GB/s, gather "
                  f"{nbytes / tg / 1e9:.1f} GB/s ({100 * tc / tg:.1f} % of copy)", flush=True)
        save(out, res)
    res["stages"]["hpsi"]["status"] = "done"


def stage_mesolve(args, res, out):
    import jaxredfield as jr

    L = args.mesolve_L
    eq, psi0, e_ops = problem(L)
    rho0 = np.outer(psi0, psi0)
    rec = res["stages"]["mesolve"] = {"L": L, "dim": 2**L, "status": "first call"}
    save(out, res)

    def run():
        t = time.perf_counter()
        r = jr.mesolve(eq, rho0, TSAVE, e_ops=e_ops, save_states=False, progress=False)
        np.asarray(r.expect)
        return time.perf_counter() - t, r

    c0 = _COMPILE["s"]
    rec["first_s"] = run()[0]
    rec["compile_s"] = _COMPILE["s"] - c0
    rec["warm_s"], r = run()
    steps = r.stats.get("num_steps") if isinstance(r.stats, dict) else None
    rec.update(status="done", num_steps=None if steps is None else int(np.asarray(steps)),
               sz_final=[float(v) for v in np.asarray(r.expect)[:, -1]])
    print(f"mesolve L={L}: warm {rec['warm_s']:.3f} s, first call {rec['first_s']:.2f} s "
          f"(compile {rec['compile_s']:.2f} s), {rec['num_steps']} steps", flush=True)


def stage_mps(args, res, out):
    import jax

    import jaxredfield as jr
    from jaxredfield.trajectories._mps_backend import mps_lanes

    L, bond, ntraj = args.mps_L, args.mps_bond, args.mps_ntraj
    eq, psi0, e_ops = chain(L)
    method = jr.MPS(max_bond=bond)
    batch = mps_lanes(L, 2, bond)
    rec = res["stages"]["mps"] = {"L": L, "bond": bond, "ntraj": ntraj, "batch_size": batch,
                                  "status": "same-key checks"}
    save(out, res)

    def run(n, key, **kw):
        r = jr.mcsolve(eq, psi0, TSAVE, n, jax.random.key(key), e_ops=e_ops, method=method, **kw)
        np.asarray(r.expect)
        return r

    # the same keys on the default device and on the host CPU
    cpu = jax.devices("cpu")[0]
    checks = []
    for name, (L2, meth) in {"Chebyshev": (10, jr.Chebyshev()), "MPS": (12, jr.MPS(max_bond=64))}.items():
        eq2, psi2, ops2 = (problem if name == "Chebyshev" else chain)(L2)
        go = lambda: jr.mcsolve(eq2, psi2, TSAVE, 4, jax.random.key(3), e_ops=ops2, method=meth,
                                keep_trajectories=True, progress=False)
        a = go()
        with jax.default_device(cpu):
            b = go()
        ja, jb = np.asarray(a.stats["njumps"]), np.asarray(b.stats["njumps"])
        checks.append({"engine": name, "L": L2, "same_jumps": bool(np.array_equal(ja, jb)), "njumps": ja.tolist(),
                       "max_abs_diff": float(np.max(np.abs(np.asarray(a.expect_trajectories)
                                                           - np.asarray(b.expect_trajectories))))})
        print(f"same keys, {jax.default_backend()} vs cpu, {name} L={L2}: {checks[-1]}", flush=True)
    rec.update(checks=checks, status="warm-up")
    save(out, res)
    c0, t = _COMPILE["s"], time.perf_counter()
    run(min(batch, ntraj), 0, progress=False)
    rec.update(warmup_s=time.perf_counter() - t, compile_s=_COMPILE["s"] - c0, status="timing")
    save(out, res)
    t = time.perf_counter()
    r = run(ntraj, 1, progress=True)
    el = time.perf_counter() - t
    rec.update(timed_s=el, s_per_traj=el / ntraj, mean_jumps=float(np.mean(np.asarray(r.stats["njumps"]))),
               discarded_weight_final=float(np.asarray(r.stats["discarded_weight"])[-1]), status="done")
    print(f"mps L={L} bond {bond}: {el / ntraj:.4g} s/traj (batch {batch}), compile {rec['compile_s']:.1f} s", flush=True)
    save(out, res)


def stage_ness(args, res, out):
    import warnings

    import jaxredfield as jr

    L, bond, cap = args.ness_L, args.ness_bond, args.ness_time
    model = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 6.6))
    forms = {"local Lindblad N = 1": lambda: jr.local_lindblad(system, 1),
             "standard local Lindblad": lambda: jr.standard_local_lindblad(system),
             "local Redfield N = 2": lambda: jr.pseudo_lindblad(jr.local_redfield(system, 2), jr.lam_loc(system))}
    rows = []
    rec = res["stages"]["ness"] = {"L": L, "bond": bond, "max_time": cap, "status": "running", "rows": rows}
    folder = os.path.join(tempfile.gettempdir(), "jaxredfield_gpu_bench")
    os.makedirs(folder, exist_ok=True)
    for name, make in forms.items():
        slug = re.sub(r"\W+", "_", name)
        ckpt = os.path.join(folder, f"ness_L{L}_chi{bond}_{slug}.npz")
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # capped at max_time: not converged, known
            r = jr.steadystate(make(), method=jr.MPS(max_bond=bond), max_time=cap, checkpoint=ckpt,
                               progress=True, return_info=True)
        el, st = time.perf_counter() - t, r.stats
        windows = sum(round(x / 4.0) for x in st["evolved_time"])
        rows.append({"form": name, "seconds": el, "windows": windows, "resumed_phase": st["resumed_phase"],
                     "s_per_window": None if st["resumed_phase"] is not None else el / windows,
                     "change_per_time": st["change_per_time"], "largest_bond": int(np.max(st["bond_dims"])),
                     "converged": bool(st["converged"])})
        print(f"ness L={L} bond {bond} {name}: {rows[-1]}", flush=True)
        save(out, res)
    rec["status"] = "done"


# ---- report -------------------------------------------------------------------------------

def _f(x, fmt=".3g"):
    return "-" if x is None else format(x, fmt)


def render(out):
    res = load(out)
    m, st = res.get("meta", {}), res.get("stages", {})
    lines = ["# GPU benchmarks (issue 13 item 7; issue 14: MPS)", "",
             f"Device: **{m.get('device', '?')}** ({m.get('backend', '?')}, {m.get('n_devices', '?')} device(s)), "
             f"jax {m.get('jax', '?')}, host {m.get('host', '?')} ({m.get('cpus', '?')} CPUs), "
             f"{m.get('date', '?')}{' — QUICK smoke run' if m.get('quick') else ''}.",
             "Produced by `bash benchmarks/gpu.sh` (`benchmarks/bench_gpu.py`; its docstring says what is measured).",
             "", "## 1. Trajectories of problem P (local Lindblad N = 1, t_f = 5, 11 save times)", "",
             f"Target: {TARGET_NTRAJ} trajectories at L = 19 in under {TARGET_S:.0f} s on one H100/H200.", "",
             "| run | L | trajectories timed | s / trajectory | trajectories / s | 5000 projected (s) "
             "| compile (s) | warm-up wall (s) | status |", "|---|---|---|---|---|---|---|---|---|"]
    for name in ("traj128", "traj64"):
        r = st.get(name)
        if not r:
            continue
        n, spt, status = r.get("n_timed"), r.get("s_per_traj"), r.get("status")
        if status == "timing":  # killed while timing: the rate up to the last finished chunk
            done = ckpt_done(r["checkpoint"]) - r["n_before"]
            if done > 0:
                n, spt = done, (os.path.getmtime(r["checkpoint"]) - r["t_timed_start"]) / done
            status = f"interrupted after {max(done, 0)} of {r['ntraj'] - r['n_before']}"
        if r.get("exit"):
            status = f"{status}; {r['exit']}"
        proj = None if spt is None else TARGET_NTRAJ * spt
        lines.append(f"| {r.get('what', name)} | {r.get('L', '-')} | {_f(n, 'd')} | {_f(spt, '.4g')} | "
                     f"{_f(None if not spt else 1 / spt)} | {_f(proj, '.1f')}"
                     f"{'' if proj is None or r.get('L') != 19 else (' ✓' if proj < TARGET_S else ' ✗')} | "
                     f"{_f(r.get('compile_s'), '.1f')} | {_f(r.get('warmup_s'), '.1f')} | {status} |")
    h = st.get("hpsi")
    if h:
        lines += ["", "## 2. H psi (fused gather operator) vs device-to-device copy", "",
                  f"Effective bandwidth = 2 x itemsize x 2^L bytes / best time of {h.get('repeat')}; "
                  f"status: {h.get('status')}{'; ' + h['exit'] if h.get('exit') else ''}.", "",
                  "| L | dtype | copy GB/s | H psi GB/s | % of copy | H psi time (ms) |", "|---|---|---|---|---|---|"]
        lines += [f"| {r['L']} | {r['dtype']} | {r['copy_GBps']:.1f} | {r['gather_GBps']:.1f} | "
                  f"{r['pct_of_copy']:.1f} | {1e3 * r['gather_s']:.3f} |" for r in h.get("rows", [])]
    r = st.get("mesolve")
    if r:
        lines += ["", "## 3. mesolve of problem P (density matrix, default method, save_states=False)", "",
                  "| L | D | warm (s) | first call (s) | compile (s) | steps | status |", "|---|---|---|---|---|---|---|",
                  f"| {r.get('L', '-')} | {r.get('dim', '-')} | {_f(r.get('warm_s'), '.3f')} | {_f(r.get('first_s'), '.2f')} | "
                  f"{_f(r.get('compile_s'), '.2f')} | {_f(r.get('num_steps'), 'd')} | "
                  f"{r.get('status')}{'; ' + r['exit'] if r.get('exit') else ''} |"]
    r = st.get("mps")
    if r:
        lines += ["", "## 4. MPS trajectories (issue 14): local Lindblad N = 1, |up...up>, t_f = 5, dt 0.05", "",
                  *(["CPU reference (`results/mps.md`, L = 100, bond 64, 2 cores): 2.41 s/traj; mqt-yaqs 14.9 s/traj.", ""]
                    if (r.get("L"), r.get("bond")) == (100, 64) else []),
                  "| L | bond | batch | trajectories timed | s / trajectory | compile (s) | warm-up wall (s) "
                  "| mean jumps | discarded weight at t_f | status |", "|---|---|---|---|---|---|---|---|---|---|",
                  f"| {r.get('L')} | {r.get('bond')} | {r.get('batch_size')} | {r.get('ntraj')} | "
                  f"{_f(r.get('s_per_traj'), '.4g')} | {_f(r.get('compile_s'), '.1f')} | {_f(r.get('warmup_s'), '.1f')} | "
                  f"{_f(r.get('mean_jumps'))} | {_f(r.get('discarded_weight_final'))} | "
                  f"{r.get('status')}{'; ' + r['exit'] if r.get('exit') else ''} |"]
        if r.get("checks"):
            lines += ["", f"Same keys on {m.get('backend', '?')} and on the host CPU (4 trajectories):", "",
                      "| engine | L | same jumps | jumps per trajectory | max abs difference of values |",
                      "|---|---|---|---|---|"]
            lines += [f"| {c['engine']} | {c['L']} | {c['same_jumps']} | {c['njumps']} | {_f(c['max_abs_diff'])} |"
                      for c in r["checks"]]
    r = st.get("ness")
    if r:
        lines += ["", f"## 5. MPS steady states (issue 26): the paper's chain, T_r = 3 T_l, L = {r.get('L')}, "
                  f"bond {r.get('bond')}, each relaxation capped at t = {r.get('max_time')}", "",
                  "Seconds per window of 4 time units include the first call's compilation; a form read back "
                  "from its checkpoint has none.", "",
                  "| equation | windows | s / window | seconds | change / t reached | largest bond | converged |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {w['form']} | {w['windows']} | {_f(w['s_per_window'], '.3g')} | {_f(w['seconds'], '.1f')} | "
                  f"{_f(w['change_per_time'])} | {w['largest_bond']} | {w['converged']} |" for w in r.get("rows", [])]
        lines += [f"Status: {r.get('status')}{'; ' + r['exit'] if r.get('exit') else ''}."]
    for name in STAGES:
        if name not in st:
            lines += ["", f"Stage `{name}`: not run."]
    with open(os.path.join(out, "gpu.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CPU smoke run into a temporary folder")
    ap.add_argument("--out", help="results folder (default benchmarks/results; --quick: a new temp folder)")
    ap.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    ap.add_argument("--L", type=int, help="trajectory stages' L (19; --quick: 6)")
    ap.add_argument("--ntraj", type=int, help="timed trajectories (1000; --quick: 8)")
    ap.add_argument("--repeat", type=int, default=10, help="H psi: best of this many calls")
    ap.add_argument("--mps-ntraj", type=int, help="MPS stage: timed trajectories (64; --quick: 4)")
    ap.add_argument("--ness-time", type=float, default=8.0, help="steady-state stage: max_time of each relaxation")
    ap.add_argument("--render-only", action="store_true", help="only rewrite gpu.md from gpu.json")
    ap.add_argument("--mark", nargs=2, metavar=("STAGE", "TEXT"),
                    help="note TEXT (e.g. a timeout) on STAGE in gpu.json, then render")
    args = ap.parse_args(argv)
    q = args.quick
    args.out = args.out or (tempfile.mkdtemp(prefix="jaxredfield_gpu_quick_") if q else os.path.join(HERE, "results"))
    args.L = args.L or (6 if q else 19)
    args.ntraj = args.ntraj or (8 if q else 1000)
    args.hpsi_sizes = [10, 12] if q else [20, 22, 24, 26]
    args.mesolve_L = 4 if q else 10
    args.mps_L, args.mps_bond = (10, 8) if q else (100, 64)
    args.mps_ntraj = args.mps_ntraj or (4 if q else 64)
    args.ness_L, args.ness_bond = (6, 16) if q else (100, 64)
    if args.mark or args.render_only:
        if args.mark:
            res = load(args.out)
            res["stages"].setdefault(args.mark[0], {"status": "not started"})["exit"] = args.mark[1]
            save(args.out, res)
        render(args.out)
        return 0
    listen_compile()
    res = load(args.out)
    res["meta"] = {**meta(), "quick": q}
    print(f"bench_gpu: {res['meta']}; results in {args.out}", flush=True)
    fns = {"traj128": lambda: stage_traj(args, res, args.out, False),
           "traj64": lambda: stage_traj(args, res, args.out, True),
           "hpsi": lambda: stage_hpsi(args, res, args.out),
           "mesolve": lambda: stage_mesolve(args, res, args.out),
           "mps": lambda: stage_mps(args, res, args.out),
           "ness": lambda: stage_ness(args, res, args.out)}
    rc = 0
    for name in args.stages:
        try:
            fns[name]()
        except Exception as err:  # noqa: BLE001 - record it and go on with the next stage
            rc = 1
            res["stages"].setdefault(name, {})["status"] = f"failed: {type(err).__name__}: {str(err)[:300]}"
            print(f"{name} failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
        save(args.out, res)
        render(args.out)
    print(f"wrote {os.path.join(args.out, 'gpu.json')} and gpu.md", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
