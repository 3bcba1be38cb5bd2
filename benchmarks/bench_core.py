"""Core benchmark: "global becomes local".

For the paper's boundary-driven XXZ chain (``xxz_chain(L)``: J=1, Delta=0.7, h=1,
delta=-0.07; ohmic baths gamma=0.25, T=2.2 on sites 0 and L-1 through sigma^x) this measures,
per (method, L):

- **build**: constructing the equation (jump operators u_j),
- **steadystate**: ``jr.steadystate(eq)`` (method=None: jr.Direct() for D <= 64, matrix-free jr.GMRES() above),
- **mesolve**: ``jr.mesolve(eq, |+>^L, linspace(0, 5, 11), e_ops=[sigma^z_0], save_states=False)``,

for exact Redfield (``jr.redfield``, global eigenbasis), local Redfield N=1 and N=4
(``jr.local_redfield``, no diagonalization) at L = 4..10, and QuTiP's non-secular
Bloch-Redfield solver (``bloch_redfield_tensor`` + ``steadystate``, ``brmesolve``;
spectrum S(w) = 2 W(-w), ``sec_cutoff=-1``) at L = 4..7.

Every case runs in its own subprocess, so the peak RSS (``os.wait4`` rusage of that child) is
per case and a crash or a timeout does not end the run. JAX timings are given as
"first call" (JIT compile + run) and "warm" (a second call, made when the first was cheap).
A method's phase is stopped at the first L where it fails (MemoryError, error) or runs past
the per-case time budget; later L are recorded as skipped with the reason. Before running a
phase, its time is extrapolated from the smaller L; a phase predicted to exceed the budget is
skipped without trying (``--no-extrapolate`` to try anyway).

Usage::

    python benchmarks/bench_core.py                 # full run (L = 4..10, budget 600 s/case)
    python benchmarks/bench_core.py --quick         # smoke run (L = 4..6, small budgets)
    python benchmarks/bench_core.py --lmax 8 --budget 300 --methods exact,local4
    python benchmarks/bench_core.py --case local4 8 # one case, prints its JSON
    python benchmarks/bench_core.py --merge --lmax 8  # redo L <= 8, keep the rest of core.json
    python benchmarks/bench_core.py --render         # rewrite core.md from core.json

Results: ``benchmarks/results/core.json`` and ``core.md`` (rewritten after every case).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _harness  # noqa: E402  (metadata)
REPO = os.path.dirname(HERE)

# physics of the benchmark (paper's Fig. 2/3 chain)
GAMMA, TEMP = 0.25, 2.2
T_FINAL, N_T = 5.0, 11

METHODS = {
    "exact": "exact Redfield (jr.redfield)",
    "local1": "local Redfield N=1 (jr.local_redfield(system, 1))",
    "local4": "local Redfield N=4 (jr.local_redfield(system, 4))",
    "qutip": "QuTiP brmesolve / bloch_redfield_tensor (non-secular, sec_cutoff=-1)",
}
JAX_PHASES = ("build", "mesolve", "steadystate")  # execution order (steadystate is the slowest)
QUTIP_PHASES = ("build", "steadystate", "mesolve")
# default growth factor of a phase's time per added site (used when the measured ratio of the
# last two L is not reliable): D^2 work per step for the matrix-free solvers
DEFAULT_GROWTH = {"build": 2.0, "mesolve": 4.0, "steadystate": 6.0}
QUTIP_GROWTH = 16.0  # the N^2 x N^2 Bloch-Redfield tensor: N^4 entries


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _cpu_ticks():
    """(busy clock ticks of the whole machine, of this process incl. its threads), or None:
    their difference over a phase is the CPU time other processes took meanwhile."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq (no steal)
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])  # utime + stime
        return busy, own
    except (OSError, ValueError, IndexError):
        return None


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _mem_total_bytes() -> float:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return 16.0 * 2**30


# ============================================================================ child: one case
class _Case:
    """Runs the phases of one (method, L) case; writes its JSON after every step."""

    def __init__(self, method, L, phases, budget, warm_max, json_path):
        self.method, self.L, self.phases = method, L, phases
        self.budget, self.warm_max, self.json_path = budget, warm_max, json_path
        self.t_start = time.perf_counter()
        self.out = {"method": method, "L": L, "dim": 2**L, "phases": {}, "status": "running",
                    "pid": os.getpid(), "loadavg_start": _loadavg()}

    def elapsed(self):
        return time.perf_counter() - self.t_start

    def save(self):
        self.out["elapsed_s"] = self.elapsed()
        self.out["loadavg_last"] = _loadavg()
        self.out["peak_rss_mb_self"] = _rss_mb()
        if self.json_path:
            tmp = self.json_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(self.out, f, indent=1, default=_json_default)
            os.replace(tmp, self.json_path)

    def log(self, msg):
        print(f"    [{self.method} L={self.L} +{self.elapsed():6.1f}s] {msg}", flush=True)

    def timed(self, name, fn, block, warm=True):
        """Run fn() (first call) and, when cheap enough, again (warm). Returns fn's value."""
        rec = self.out["phases"].setdefault(name, {})
        rec.update(status="running", rss_mb_before=_rss_mb())
        self.out["running"] = name
        self.save()
        self.log(f"{name}: first call ...")
        ticks0, t_phase = _cpu_ticks(), time.perf_counter()
        t0 = time.perf_counter()
        val = fn()
        block(val)
        first = time.perf_counter() - t0
        rec.update(first_s=first, status="ok", rss_mb_after_first=_rss_mb())
        self.save()
        self.log(f"{name}: first call {first:.3g} s (peak RSS so far {_rss_mb():.0f} MB)")
        remaining = self.budget - self.elapsed()
        if warm and first <= self.warm_max and 1.5 * first < remaining:
            t0 = time.perf_counter()
            val2 = fn()
            block(val2)
            rec["warm_s"] = time.perf_counter() - t0
            del val2
            self.log(f"{name}: warm call {rec['warm_s']:.3g} s")
        elif warm:
            rec["warm_note"] = (f"no warm call (first call {first:.3g} s > warm_max "
                                f"{self.warm_max:g} s or too little budget left)")
        rec["rss_mb_after"] = _rss_mb()
        ticks1 = _cpu_ticks()
        if ticks0 and ticks1:
            wall = time.perf_counter() - t_phase
            hz = os.sysconf("SC_CLK_TCK")
            other = (ticks1[0] - ticks0[0]) - (ticks1[1] - ticks0[1])
            # average number of CPUs that other processes kept busy during this phase
            rec["others_cpus"] = round(max(other, 0) / hz / max(wall, 1e-9), 3)
        self.out.pop("running", None)
        self.save()
        return val

    def fail(self, name, err):
        rec = self.out["phases"].setdefault(name, {})
        kind = "memory" if isinstance(err, MemoryError) else "error"
        rec.update(status=kind, error=f"{type(err).__name__}: {err}")
        self.out.pop("running", None)
        self.log(f"{name}: {kind}: {type(err).__name__}: {str(err)[:300]}")
        self.save()


def _json_default(x):
    try:
        import numpy as np

        if isinstance(x, np.ndarray):
            return x.tolist()
        if isinstance(x, (np.floating, np.integer)):
            return x.item()
    except ImportError:
        pass
    return str(x)


def run_case(method, L, phases, budget, warm_max, json_path):
    case = _Case(method, L, phases, budget, warm_max, json_path)
    caught = []
    warnings.filterwarnings("ignore", message="Complex dtype support in Diffrax")
    warnings.showwarning = lambda msg, cat, *a, **k: caught.append(f"{cat.__name__}: {msg}")
    try:
        if method == "qutip":
            _run_qutip(case)
        else:
            _run_jax(case)
        case.out["status"] = "done"
    except Exception as err:  # noqa: BLE001 -- recorded, the parent goes on
        case.out["status"] = "error"
        case.out["error"] = f"{type(err).__name__}: {err}"
        case.out["traceback"] = traceback.format_exc()
    case.out["warnings"] = sorted(set(caught))[:10]
    case.save()
    return case.out


def _run_jax(case):
    t0 = time.perf_counter()
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxredfield as jr

    case.out["import_s"] = time.perf_counter() - t0
    case.out["rss_mb_after_import"] = _rss_mb()
    case.out["versions"] = {"jax": jax.__version__, "backend": jax.default_backend()}
    L = case.L
    model = jr.xxz_chain(L)
    system = jr.boundary_driven(model, jr.OhmicBath(GAMMA, TEMP), jr.OhmicBath(GAMMA, TEMP))
    builder = {
        "exact": lambda: jr.redfield(system),
        "local1": lambda: jr.local_redfield(system, 1),
        "local4": lambda: jr.local_redfield(system, 4),
    }[case.method]

    def block(x):
        import equinox as eqx

        jax.block_until_ready(eqx.filter(x, eqx.is_array))

    try:
        eq = case.timed("build", builder, block)
    except Exception as err:  # noqa: BLE001
        case.fail("build", err)
        return
    case.out["phases"]["build"]["u_sites"] = [list(u.sites) for u, _ in eq.redfield_terms]

    D = 2**L
    psi0 = jnp.ones(D, dtype=jnp.complex128) / np.sqrt(D)  # |+>^L
    sz0 = jr.operator_on(jr.sigmaz(), 0, model)
    tsave = jnp.linspace(0.0, T_FINAL, N_T)

    for phase in case.phases:
        if phase == "mesolve":
            try:
                res = case.timed(
                    "mesolve",
                    lambda: jr.mesolve(eq, psi0, tsave, save_states=False, e_ops=[sz0]),
                    lambda r: jax.block_until_ready(r.expect),
                )
            except Exception as err:  # noqa: BLE001
                case.fail("mesolve", err)
                continue
            rec = case.out["phases"]["mesolve"]
            rec["sz0_t"] = np.asarray(res.expect[0]).tolist()
            stats = {k: int(np.asarray(v)) for k, v in res.stats.items()
                     if np.ndim(np.asarray(v)) == 0}
            rec["num_steps"] = stats.get("num_steps")
            del res
        elif phase == "steadystate":
            meth = "dense" if D <= 64 else "iterative"
            try:
                rho = case.timed("steadystate", lambda: jr.steadystate(eq), jax.block_until_ready)
            except Exception as err:  # noqa: BLE001
                case.fail("steadystate", err)
                case.out["phases"]["steadystate"]["solver"] = meth
                continue
            rec = case.out["phases"]["steadystate"]
            rec["solver"] = meth
            resid = eq(rho)
            rec["residual_fro"] = float(jnp.linalg.norm(resid))
            rec["sz_profile"] = [float(jnp.real(jr.expect(o, rho))) for o in jr.magnetization(model)]
            del rho, resid
        case.save()


def _qutip_model(L):
    import numpy as np
    import qutip as qt

    sx, sy, sz = qt.sigmax(), qt.sigmay(), qt.sigmaz()

    def op(o, i):
        return qt.tensor([o if j == i else qt.qeye(2) for j in range(L)])

    H = 0
    for i in range(L - 1):
        H = H - 1.0 * (op(sx, i) * op(sx, i + 1) + op(sy, i) * op(sy, i + 1)
                       + 0.7 * op(sz, i) * op(sz, i + 1))
    for i in range(L):
        H = H + (1.0 - 0.07 * i) * op(sz, i)

    def W(E):  # jr.OhmicBath(GAMMA, TEMP).W for real E: gamma E / (e^{E/T} - 1)
        E = float(E)
        return GAMMA * TEMP if abs(E) < 1e-12 else GAMMA * E / np.expm1(E / TEMP)

    def spectrum(w):  # QuTiP's convention: w > 0 is emission, rate 2 Re W(-w)
        return 2.0 * W(-w)

    a_ops = [(op(sx, 0), spectrum), (op(sx, L - 1), spectrum)]
    plus = (qt.basis(2, 0) + qt.basis(2, 1)).unit()
    psi0 = qt.tensor([plus] * L)
    return H, a_ops, psi0, op(sz, 0), [op(sz, i) for i in range(L)]


def _run_qutip(case):
    t0 = time.perf_counter()
    import numpy as np
    import qutip as qt

    case.out["import_s"] = time.perf_counter() - t0
    case.out["rss_mb_after_import"] = _rss_mb()
    case.out["versions"] = {"qutip": qt.__version__}
    L = case.L
    H, a_ops, psi0, sz0, szs = _qutip_model(L)
    noop = lambda x: None  # noqa: E731
    R = None
    for phase in case.phases:
        if phase == "build":
            try:
                R = case.timed("build", lambda: qt.bloch_redfield_tensor(
                    H, a_ops, sec_cutoff=-1, fock_basis=True, br_computation_method="dense"), noop)
            except Exception as err:  # noqa: BLE001
                case.fail("build", err)
            case.out["phases"]["build"]["what"] = "bloch_redfield_tensor(br_computation_method='dense')"
        elif phase == "steadystate":
            if R is None:
                case.out["phases"]["steadystate"] = {"status": "skipped", "note": "no tensor"}
                continue
            try:
                rho = case.timed("steadystate", lambda: qt.steadystate(R), noop)
            except Exception as err:  # noqa: BLE001
                case.fail("steadystate", err)
                continue
            rec = case.out["phases"]["steadystate"]
            rec["solver"] = "qutip.steadystate(R) (direct)"
            rec["sz_profile"] = [float(qt.expect(o, rho)) for o in szs]
            R = None  # free the tensor before brmesolve builds its own
        elif phase == "mesolve":
            R = None
            try:
                res = case.timed("mesolve", lambda: qt.brmesolve(
                    H, psi0, np.linspace(0.0, T_FINAL, N_T), a_ops, sec_cutoff=-1,
                    e_ops=[sz0], options={"tensor_type": "dense"}), noop)
            except Exception as err:  # noqa: BLE001
                case.fail("mesolve", err)
                continue
            rec = case.out["phases"]["mesolve"]
            rec["what"] = "brmesolve(tensor_type='dense'), includes building the tensor"
            rec["sz0_t"] = np.asarray(res.expect[0]).real.tolist()
        case.save()


# ======================================================================== parent: the sweep
def _run_child(method, L, phases, args, json_path):
    """Run one case in a subprocess under the time budget; returns (record, peak_rss_mb)."""
    if os.path.exists(json_path):
        os.remove(json_path)
    cmd = [sys.executable, os.path.abspath(__file__), "--case", method, str(L),
           "--phases", ",".join(phases), "--budget", str(args.budget),
           "--warm-max", str(args.warm_max), "--json", json_path]
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    lock, state = threading.Lock(), {"reaped": False, "killed": False}

    def kill():
        with lock:
            if not state["reaped"]:
                state["killed"] = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # our child's own session
                except ProcessLookupError:
                    pass

    timer = threading.Timer(args.budget, kill)
    timer.start()
    try:
        while True:
            try:
                _, status, ru = os.wait4(proc.pid, 0)
                break
            except InterruptedError:
                continue
    finally:
        with lock:
            state["reaped"] = True
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    rec = None
    if os.path.exists(json_path):
        try:
            with open(json_path) as f:
                rec = json.load(f)
        except (OSError, json.JSONDecodeError):
            rec = None
    if rec is None:
        rec = {"method": method, "L": L, "dim": 2**L, "phases": {}, "status": "running"}
    rec["wall_s"] = wall
    rec["peak_rss_mb"] = ru.ru_maxrss / 1024.0
    rec["returncode"] = proc.returncode
    if state["killed"]:
        rec["status"] = "timeout"
        running = rec.get("running")
        if running:
            p = rec["phases"].setdefault(running, {})
            p["status"] = "timeout"
            p["error"] = (f"case exceeded the {args.budget:g} s budget during {running} "
                          f"(killed after {wall:.0f} s)")
    elif proc.returncode != 0 and rec.get("status") not in ("done", "error"):
        rec["status"] = "crash"
        running = rec.get("running")
        reason = f"process died (exit code {proc.returncode})"
        if proc.returncode == -9:
            reason += ", likely killed by the OOM killer"
        rec["error"] = reason
        if running:
            rec["phases"].setdefault(running, {}).update(status="crash", error=reason)
    return rec


def _fmt_s(x):
    if x is None:
        return None
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _cell(p):
    if not p:
        return "—"
    st = p.get("status")
    if st == "ok":
        s = _fmt_s(p["first_s"])
        if p.get("warm_s") is not None:
            s += f" / {_fmt_s(p['warm_s'])}"
        return s
    return {"timeout": "timeout", "memory": "MemoryError", "error": "error", "crash": "crash",
            "skipped": "skipped", "not run": "—"}.get(st, st or "—")


class Sweep:
    def __init__(self, args):
        self.args = args
        self.results = []  # one record per (method, L) run now
        self.kept = []  # --merge: records of an earlier core.json that this run does not redo
        self.merged_from = None
        self.stopped = {}  # (method, phase) -> reason
        self.t0 = time.perf_counter()
        self.started = datetime.datetime.now().isoformat(timespec="seconds")
        self.mem_limit = args.mem_limit * 2**30 if args.mem_limit else 0.8 * _mem_total_bytes()

    # -- planning ---------------------------------------------------------------------
    def _history(self, method, phase, L_for_solver):
        pts = []
        for r in self.results:
            p = r.get("phases", {}).get(phase, {})
            if r["method"] == method and p.get("status") == "ok":
                if phase == "steadystate" and method != "qutip" and (
                        (r["dim"] <= 64) != (2**L_for_solver <= 64)):
                    continue  # dense vs GMRES: different scaling
                # QuTiP has no JIT: its first call is its run time
                run = p["first_s"] if method == "qutip" else (p.get("warm_s") or p["first_s"])
                pts.append((r["L"], p["first_s"], run))
        return sorted(pts)

    def _predict(self, method, phase, L):
        """Extrapolated first-call time of a phase at L from the smaller L: the first call at
        the last L plus its run time (warm time when measured) grown by the per-site factor
        of the last two L (clipped to [2, 32]; default factor without two reliable points)."""
        pts = self._history(method, phase, L)
        if not pts:
            return None, None
        L1, first1, run1 = pts[-1]
        growth = QUTIP_GROWTH if method == "qutip" else DEFAULT_GROWTH[phase]
        if len(pts) >= 2:
            L0, first0, run0 = pts[-2]
            if run0 > 0.05 and run1 > 0.05 and run0 != first0 and run1 != first1:
                growth = (run1 / run0) ** (1.0 / (L1 - L0))  # warm times: no compile noise
            elif first0 > 1.0 and first1 > 1.0:
                growth = (first1 / first0) ** (1.0 / (L1 - L0))
            growth = min(max(growth, 2.0), 32.0)
        pred = first1 + run1 * (growth ** (L - L1) - 1.0)
        return pred, f"{_fmt_s(first1)} s at L={L1}, x{growth:.3g} per site"

    def plan(self, method, L):
        """The phases to run for (method, L), and the skipped ones with their reasons."""
        phases = QUTIP_PHASES if method == "qutip" else JAX_PHASES
        run, skipped = [], {}
        if method == "qutip":
            N = 2**L
            need = 16.0 * N**4
            if need > self.mem_limit:
                reason = (f"too large: the dense N^2 x N^2 Bloch-Redfield tensor needs "
                          f"{need / 1e9:.3g} GB (> {self.mem_limit / 1e9:.3g} GB memory limit); "
                          "not tried")
                return [], {p: reason for p in phases}
            if L > self.args.qutip_lmax:
                return [], {p: f"not run: L > --qutip-lmax={self.args.qutip_lmax}" for p in phases}
        for ph in phases:
            if (method, ph) in self.stopped:
                skipped[ph] = self.stopped[(method, ph)]
                continue
            needs_build = method != "qutip" or ph == "steadystate"
            if ph != "build" and needs_build and "build" in skipped:
                skipped[ph] = f"not run: build skipped ({skipped['build']})"
                continue
            pred, how = self._predict(method, ph, L)
            if (not self.args.no_extrapolate and pred is not None
                    and pred > self.args.budget):
                reason = (f"skipped/too large: extrapolated {_fmt_s(pred)} s ({how}) > budget "
                          f"{self.args.budget:g} s")
                skipped[ph] = reason
                self.stopped[(method, ph)] = f"skipped (extrapolation exceeded budget at L={L})"
                continue
            run.append(ph)
        return run, skipped

    # -- running --------------------------------------------------------------------
    def run(self):
        a = self.args
        os.makedirs(a.outdir, exist_ok=True)
        tmpdir = tempfile.mkdtemp(prefix="bench_core_cases_")  # the children's JSON files
        Ls = range(a.lmin, a.lmax + 1)
        if a.merge and os.path.exists(os.path.join(a.outdir, "core.json")):
            with open(os.path.join(a.outdir, "core.json")) as f:
                old = json.load(f)
            self.kept = [r for r in old["results"]
                         if not (r["method"] in a.methods and a.lmin <= r["L"] <= a.lmax)]
            self.merged_from = {"argv": old["meta"].get("argv"),
                                "started": old["meta"].get("started"), "kept": len(self.kept)}
        print(f"bench_core: methods={a.methods} L={a.lmin}..{a.lmax} (qutip up to "
              f"{a.qutip_lmax}) budget={a.budget:g} s/case warm_max={a.warm_max:g} s", flush=True)
        for L in Ls:
            for method in a.methods:
                run, skipped = self.plan(method, L)
                rec = {"method": method, "L": L, "dim": 2**L, "phases": {}}
                if run:
                    print(f"[{self.elapsed():7.1f}s] {method} L={L} (D={2**L}): "
                          f"{', '.join(run)}", flush=True)
                    case_json = os.path.join(tmpdir, f"{method}_L{L}.json")
                    rec = _run_child(method, L, run, a, case_json)
                    for path in (case_json, case_json + ".tmp"):
                        if os.path.exists(path):
                            os.remove(path)
                    for ph in run:
                        p = rec["phases"].get(ph)
                        if p is None:
                            why = rec.get("error") or rec.get("status")
                            rec["phases"][ph] = {"status": "not run",
                                                 "error": f"case ended before this phase ({why})"}
                        elif p.get("status") in ("timeout", "memory", "error", "crash"):
                            self.stopped[(method, ph)] = (
                                f"stopped after L={L}: {p.get('error', p['status'])}")
                    print(f"[{self.elapsed():7.1f}s] {method} L={L}: {rec.get('status')} "
                          f"wall {rec.get('wall_s', 0):.1f} s, peak RSS "
                          f"{rec.get('peak_rss_mb', 0):.0f} MB | "
                          + ", ".join(f"{ph} {_cell(rec['phases'].get(ph))}" for ph in run),
                          flush=True)
                else:
                    rec["status"] = "skipped"
                rec["run_started"] = self.started
                for ph, why in skipped.items():
                    rec["phases"][ph] = {"status": "skipped", "error": why}
                if not run:
                    print(f"[{self.elapsed():7.1f}s] {method} L={L}: skipped "
                          f"({next(iter(skipped.values()), '')})", flush=True)
                self.results.append(rec)
                self.write()
        self.write(final=True)
        try:
            os.rmdir(tmpdir)
        except OSError:
            pass
        print()
        print(self.table_md())
        print(self.ratio_md())
        print(f"total {self.elapsed():.0f} s; results in {a.outdir}/core.json, core.md")

    def elapsed(self):
        return time.perf_counter() - self.t0

    # -- reporting --------------------------------------------------------------------
    def _note(self, r):
        notes, reasons = [], {}
        for ph in ("build", "steadystate", "mesolve"):
            p = r["phases"].get(ph, {})
            if p.get("status") not in (None, "ok") and p.get("error"):
                reasons.setdefault(p["error"], []).append(ph)
        for why, phs in reasons.items():
            notes.append(f"{'all' if len(phs) == 3 else ' & '.join(phs)}: {why}")
        ss = r["phases"].get("steadystate", {})
        if ss.get("status") == "ok" and r["method"] != "qutip":
            notes.append(f"ss {ss.get('solver')}")
        if r.get("status") in ("crash",) and r.get("error"):
            notes.append(r["error"])
        err = self._accuracy(r)
        if err:
            notes.append(err)
        busy = [(p.get("others_cpus"), ph) for ph, p in r["phases"].items()
                if p.get("others_cpus") is not None]
        if busy and max(busy)[0] > 0.25:
            notes.append(f"machine busy: other processes used ~{max(busy)[0]:.1f} CPUs during "
                         f"{max(busy)[1]} (times inflated)")
        # de-duplicate identical skip reasons
        out = []
        for n in notes:
            if n not in out:
                out.append(n)
        return "; ".join(out).replace("|", "\\|")

    @property
    def all_results(self):
        return self.kept + self.results

    def _find(self, method, L):
        for r in self.all_results:
            if r["method"] == method and r["L"] == L:
                return r
        return None

    def _accuracy(self, r):
        """Deviation from jaxredfield's exact Redfield at the same L (sigma^z_0(t), ss profile)."""
        if r["method"] == "exact":
            return ""
        ref = self._find("exact", r["L"])
        if ref is None:
            return ""
        parts = []
        a = r["phases"].get("mesolve", {}).get("sz0_t")
        b = ref["phases"].get("mesolve", {}).get("sz0_t")
        if a and b:
            parts.append(f"max abs dsz0(t) {max(abs(x - y) for x, y in zip(a, b)):.1e}")
        a = r["phases"].get("steadystate", {}).get("sz_profile")
        b = ref["phases"].get("steadystate", {}).get("sz_profile")
        if a and b:
            parts.append(f"max abs dsz_ss {max(abs(x - y) for x, y in zip(a, b)):.1e}")
        return ("vs exact: " + ", ".join(parts)) if parts else ""

    def table_md(self):
        head = ("| method | L | dim | build s | steadystate s | mesolve s | peak MB | note |\n"
                "|---|---|---|---|---|---|---|---|\n")
        rows = []
        for r in sorted(self.all_results,
                        key=lambda r: (list(METHODS).index(r["method"]), r["L"])):
            ph = r["phases"]
            peak = f"{r['peak_rss_mb']:.0f}" if r.get("peak_rss_mb") else "—"
            rows.append(f"| {r['method']} | {r['L']} | {r['dim']} | {_cell(ph.get('build'))} | "
                        f"{_cell(ph.get('steadystate'))} | {_cell(ph.get('mesolve'))} | {peak} | "
                        f"{self._note(r)} |")
        return head + "\n".join(rows) + "\n"

    def ratios(self):
        out = []
        for r in self.all_results:
            if r["method"] != "qutip":
                continue
            q = r["phases"].get("mesolve", {})
            if q.get("status") != "ok":
                continue
            for m in ("local1", "local4", "exact"):
                o = self._find(m, r["L"])
                p = (o or {}).get("phases", {}).get("mesolve", {})
                if p.get("status") != "ok":
                    continue
                out.append({
                    "L": r["L"], "method": m, "qutip_brmesolve_s": q["first_s"],
                    "mesolve_first_s": p["first_s"], "mesolve_warm_s": p.get("warm_s"),
                    "ratio_first": q["first_s"] / p["first_s"],
                    "ratio_warm": q["first_s"] / p["warm_s"] if p.get("warm_s") else None,
                })
        return out

    def ratio_md(self):
        rs = self.ratios()
        if not rs:
            return "(no L where both QuTiP brmesolve and a jaxredfield mesolve ran)\n"
        s = ("| L | vs | QuTiP brmesolve s | jaxredfield mesolve s (first / warm) | "
             "ratio (first call) | ratio (warm) |\n|---|---|---|---|---|---|\n")
        for x in sorted(rs, key=lambda x: (x["L"], x["method"])):
            warm = _fmt_s(x["mesolve_warm_s"]) if x["mesolve_warm_s"] else "—"
            rw = f"{x['ratio_warm']:.3g}" if x["ratio_warm"] else "—"
            s += (f"| {x['L']} | {x['method']} | {_fmt_s(x['qutip_brmesolve_s'])} | "
                  f"{_fmt_s(x['mesolve_first_s'])} / {warm} | {x['ratio_first']:.3g} | {rw} |\n")
        return s

    def meta(self):
        if getattr(self, "_meta", None) is not None:  # --render: the stored run's metadata
            return self._meta
        try:
            import importlib.metadata as md

            vers = {p: md.version(p) for p in ("jax", "jaxlib", "diffrax", "lineax", "equinox",
                                                "qutip", "numpy", "scipy")
                    if _has_dist(md, p)}
        except Exception:  # noqa: BLE001
            vers = {}
        a = self.args
        return {
            "started": self.started, "elapsed_s": self.elapsed(),
            "argv": sys.argv[1:], "quick": a.quick, "budget_s": a.budget, "warm_max_s": a.warm_max,
            "L_range": [a.lmin, a.lmax], "qutip_lmax": a.qutip_lmax,
            "extrapolate": not a.no_extrapolate, "mem_limit_gb": self.mem_limit / 1e9,
            "merged_with": self.merged_from,
            "remark": self.args.remark,
            "machine": _harness.machine(),
            "versions": vers,
            "physics": {"model": "xxz_chain(L): J=1, Delta=0.7, h=1, delta=-0.07",
                        "baths": f"OhmicBath({GAMMA}, {TEMP}) on sites 0 and L-1 via sigma^x",
                        "mesolve": f"psi0=|+>^L, tsave=linspace(0, {T_FINAL:g}, {N_T}), "
                                   "e_ops=[sigma^z_0], save_states=False, method=Diffrax() (Dopri8, rtol=1e-8, atol=1e-10)",
                        "qutip": "a_ops spectra S(w) = 2 W(-w), sec_cutoff=-1"},
        }

    def write(self, final=False):
        a = self.args
        data = {"meta": self.meta(), "complete": final, "results": self.all_results,
                "ratios_qutip_over_jaxredfield_mesolve": self.ratios()}
        path = os.path.join(a.outdir, "core.json")
        with open(path + ".tmp", "w") as f:
            json.dump(data, f, indent=1, default=_json_default)
        os.replace(path + ".tmp", path)
        m = data["meta"]
        md = [
            "# Core benchmark: global becomes local",
            "",
            f"{'Complete' if final else 'PARTIAL (run in progress or interrupted)'} run of "
            f"`{' '.join(['python benchmarks/bench_core.py'] + m['argv'])}`, started {m['started']}, "
            f"{m['elapsed_s']:.0f} s in total."
            + (f" With --merge: {m['merged_with']['kept']} cases (other methods / L) kept from "
               f"the earlier run `bench_core.py {' '.join(m['merged_with']['argv'] or [])}` "
               f"started {m['merged_with']['started']} (see each record's run_started)."
               if m.get("merged_with") else ""),
            f"Machine: {_harness.describe(m['machine'])}, {m['machine'].get('mem_GB', '?')} GB RAM; "
            + ", ".join(f"{k} {v}" for k, v in m["versions"].items()) + ".",
            "",
            *([f"**Remark:** {m['remark']}", ""] if m.get("remark") else []),
            f"Chain `xxz_chain(L)` (J=1, Delta=0.7, h=1, delta=-0.07), `OhmicBath({GAMMA}, {TEMP})` "
            "on sites 0 and L-1 through sigma^x. mesolve: psi0 = |+>^L, t = 0..5 (11 save "
            "points), e_ops = [sigma^z_0], no states saved. Times in seconds: `first / warm` = "
            "first call (JIT compile + run) / second call (made when the first took at most "
            f"{m['warm_max_s']:g} s). steadystate: dense for D <= 64, matrix-free GMRES above. "
            f"Budget {m['budget_s']:g} s per (method, L) case, each case in its own process; "
            "peak MB = the case process's peak RSS (includes ~the import baseline). "
            "QuTiP: build = `bloch_redfield_tensor(..., sec_cutoff=-1, "
            "br_computation_method='dense')`, steadystate = `qutip.steadystate(R)`, mesolve = "
            "`brmesolve(..., sec_cutoff=-1, options={'tensor_type': 'dense'})` (includes "
            "building its tensor). 'vs exact' = deviation of <sigma^z_0>(t) and of the "
            "steady-state <sigma^z_i> profile from jaxredfield's exact Redfield at the same L.",
            "",
            self.table_md(),
            "## QuTiP brmesolve time / jaxredfield mesolve time",
            "",
            self.ratio_md(),
        ]
        with open(os.path.join(a.outdir, "core.md"), "w") as f:
            f.write("\n".join(md))


def _has_dist(md, name):
    try:
        md.version(name)
        return True
    except Exception:  # noqa: BLE001
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: L=4..6 (QuTiP too), budget 120 s per case, warm_max 20 s")
    ap.add_argument("--lmin", type=int, default=4)
    ap.add_argument("--lmax", type=int, default=None, help="largest L (default 10; quick: 6)")
    ap.add_argument("--qutip-lmax", type=int, default=None, help="largest L for QuTiP (default 7)")
    ap.add_argument("--budget", type=float, default=None,
                    help="time budget per (method, L) case in s (default 600; quick: 120)")
    ap.add_argument("--warm-max", type=float, default=None,
                    help="make a warm (second) call only when the first took <= this (default 30 s)")
    ap.add_argument("--methods", default="exact,local1,local4,qutip",
                    help=f"comma-separated subset of {','.join(METHODS)}")
    ap.add_argument("--no-extrapolate", action="store_true",
                    help="try every case even when its extrapolated time exceeds the budget")
    ap.add_argument("--mem-limit", type=float, default=None,
                    help="GB; QuTiP cases whose tensor exceeds it are not tried (default 80%% of RAM)")
    ap.add_argument("--outdir", default=os.path.join(HERE, "results"))
    ap.add_argument("--merge", action="store_true",
                    help="keep the cases of an existing core.json that this run does not redo")
    ap.add_argument("--remark", default=None,
                    help="a remark stored with the results and shown in core.md (e.g. machine load)")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite core.md from an existing core.json in --outdir")
    # internal: one case
    ap.add_argument("--case", nargs=2, metavar=("METHOD", "L"), help="run one case and print its JSON")
    ap.add_argument("--phases", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    a.budget = a.budget if a.budget is not None else (120.0 if a.quick else 600.0)
    a.warm_max = a.warm_max if a.warm_max is not None else (20.0 if a.quick else 30.0)
    if a.case:
        method, L = a.case[0], int(a.case[1])
        if method not in METHODS:
            ap.error(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        default = QUTIP_PHASES if method == "qutip" else JAX_PHASES
        phases = tuple(a.phases.split(",")) if a.phases else default
        out = run_case(method, L, phases, a.budget, a.warm_max, a.json)
        if not a.json:
            print(json.dumps(out, indent=1, default=_json_default))
        return 0
    if a.render:
        with open(os.path.join(a.outdir, "core.json")) as f:
            data = json.load(f)
        sw = Sweep(a)
        sw.results, sw._meta = data["results"], data["meta"]
        if a.remark is not None:
            sw._meta["remark"] = a.remark
        sw.write(final=data.get("complete", False))
        print(sw.table_md())
        print(sw.ratio_md())
        return 0
    a.lmax = a.lmax if a.lmax is not None else (6 if a.quick else 10)
    a.qutip_lmax = a.qutip_lmax if a.qutip_lmax is not None else (6 if a.quick else 7)
    a.methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    bad = [m for m in a.methods if m not in METHODS]
    if bad:
        ap.error(f"unknown method(s) {bad}; choose from {', '.join(METHODS)}")
    Sweep(a).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
