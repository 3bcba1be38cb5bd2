"""MPS trajectories: jaxredfield ``jr.mcsolve(..., method=jr.MPS(max_bond, dt))`` against
mqt-yaqs 0.7 (the tensor jump method, TJM) on the paper's chain, in one run.

Problem: ``model = jr.xxz_chain(L)`` (J=1, Delta=0.7, h=1, delta=-0.07), ohmic baths gamma=0.25,
T=2.2 through sigma^x on sites 0 and L-1 (``jr.boundary_driven``); two equations: the standard
local Lindblad equation (``jr.standard_local_lindblad``: one-site jumps sigma^+- at the ends)
and local Lindblad N = 1 (``jr.local_lindblad(system, 1)``: one two-site jump L_+ at each end);
|psi(0)> = |up...up> (``jr.product_state(model, 0)``), tsave = linspace(0, 5, 11), e_ops =
sigma^z on every site (``jr.magnetization``). yaqs gets OUR operators: the Hamiltonian MPO is
built directly from the matrices of ``eq.hamiltonian`` (one- and nearest-neighbour two-site
terms; each bond term split by an operator SVD into sum_k A_k (x) B_k, a finite-state-machine
MPO of bond dimension 2 + rank), the jumps are ``eq.jumps`` as explicit matrices with their
sites (strength 1: our matrices already carry sqrt(rate)); a two-site matrix on sites (i+1, i)
is reordered to ascending sites (yaqs: "the first matrix tensor factor acts on sites[0]", the
same Kronecker convention as ours for local matrices). The local basis is the same (index 0 =
|up> = yaqs |0>), so only the engine differs.

- check (L = 4): the yaqs MPO contracted to a dense matrix (yaqs dense order: site 0 least
  significant, reversed to ours) against our dense H; then yaqs' exact Lindblad backend
  (``representation="density_matrix"``, exp(L dt) of the same Hamiltonian and noise model)
  against ``jr.mesolve`` for both equations: this checks the site order of the one- and
  two-site jumps end to end, without statistics.
- jaxredfield: ``jr.mcsolve(eq, psi0, tsave, ntraj, key, e_ops, method=jr.MPS(max_bond=chi,
  dt=--jr-dt), keep_trajectories=True)``, a first call (compilation + ntraj trajectories),
  then a timed warm call with another key; time per trajectory = warm wall time / ntraj.
  Means and standard errors pool the trajectories of both calls (2 ntraj, independent keys).
- yaqs: ``Simulator(show_progress=False).run(State(L, initial="zeros"), Hamiltonian(tensors=...),
  AnalogSimParams(observables, elapsed_time=5, dt=--yaqs-dt, num_traj=ntraj, max_bond_dim=chi,
  random_seed), NoiseModel(processes))``, all other settings yaqs defaults (order 1, 2-site
  TDVP, preset "balanced"; with 2 CPUs its default is one worker: in-process, one numerical
  thread). yaqs' numba kernels are compiled by an untimed warm-up run (L = 4, t = 0.1), its
  time recorded as "first call"; time per trajectory = wall time / ntraj. yaqs applies at most
  one jump per step, so its dt must be small (the issue: 3.6 sigma bias at dt = 0.1, L = 8).
- agreement: max over sites and save times t > 0 of |mean_jr - mean_yaqs| /
  sqrt(se_jr^2 + se_yaqs^2) over the stochastic entries (combined standard error > 1e-3), and
  the max absolute difference of the means; where the combined standard error is smaller, the
  trajectories of both codes are still (nearly) deterministic and the difference of the means
  is the difference of the two discretizations, reported apart ("deterministic entries differ
  by"). With few trajectories the standard errors are crude, so
  read it as a rough consistency check (values of a few are expected for 20 x 10 comparisons).

Results are saved after every measurement.

Needs mqt-yaqs (a benchmark-only dependency): ``.venv/bin/pip install mqt-yaqs==0.7.0``.

    python benchmarks/bench_mps.py                         # L = 20, bonds 16 32, 4 trajectories
    python benchmarks/bench_mps.py --sizes 50 100 --bonds 32 --ntraj 8
    python benchmarks/bench_mps.py --quick --out /tmp/mps   # smoke run, L = 6
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

import jax

import jaxredfield as jr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402  (metadata, results writer, timing, the problem)

GAMMA, TEMP = 0.25, 2.2
TS = np.linspace(0.0, 5.0, 11)
EQS = {"standard local Lindblad": "standard", "local Lindblad N=1": "n1"}
JR, YQ = "jaxredfield", "yaqs"
NOTES = [
    "Two-site jumps (local Lindblad N = 1): yaqs 0.7 supports adjacent two-site jumps given as explicit "
    "matrices (NoiseModel 'matrix', ascending sites; dissipation by expm of sum L^dag L on the bond, "
    "jump weights ||L psi||^2 from the untruncated merged block). Verified here: yaqs' exact Lindblad "
    "backend with the same noise model and MPO reproduces jr.mesolve at L = 4 (check below), so both "
    "equations are run on both codes.",
    "Truncation: yaqs' default (preset 'balanced', trunc_mode 'discarded_weight', svd_threshold 1e-6) cuts the "
    "smallest singular values up to a discarded weight of 1e-6 per SVD, besides max_bond_dim; jr.MPS's default "
    f"cutoff cuts at most {jr.MPS().cutoff:g} of the bond's weight per SVD. The rows 'jaxredfield (cutoff 1e-06)' (when run "
    "with --jr-extra-cutoff 1e-6) use yaqs' truncation level: a labelled setting beside the defaults.",
    f"Steps: jaxredfield second-order TEBD with exact waiting-time jumps at its defaults (dt {jr.MPS().dt:g}, "
    f"cutoff {jr.MPS().cutoff:g}: singular values of weight <= {jr.MPS().cutoff:g} of a bond's total are cut, "
    "so bonds use the sizes they need); "
    "yaqs first-order TJM, at most one jump per step, dt 0.05.",
]


def problem(L, kind):
    model = jr.xxz_chain(L)  # J=1, Delta=0.7, h=1, delta=-0.07
    system = jr.boundary_driven(model, jr.OhmicBath(GAMMA, TEMP), jr.OhmicBath(GAMMA, TEMP))
    eq = jr.standard_local_lindblad(system) if kind == "standard" else jr.local_lindblad(system, 1)
    return eq, jr.product_state(model, 0), jr.magnetization(model)


# ---------------------------------------------------------------- our operators for yaqs
def ascending(op):
    """(matrix, sorted sites) of a LocalOperator on 1 or 2 adjacent sites, the matrix's
    Kronecker factors in ascending site order."""
    m, s = np.asarray(op.matrix, dtype=complex), tuple(op.sites)
    if len(s) == 1:
        return m, s
    if len(s) != 2 or abs(s[0] - s[1]) != 1:
        raise ValueError(f"operator on sites {s}: only one site or two adjacent sites")
    if s[0] > s[1]:
        m, s = m.reshape(2, 2, 2, 2).transpose(1, 0, 3, 2).reshape(4, 4), (s[1], s[0])
    return m, s


def yaqs_mpo_tensors(eq):
    """MPO cores (left, right, out, in) of sum(eq.hamiltonian): bond states 0 = nothing yet,
    1 = done, 2 + k = A_k placed, B_k due on the next site."""
    L = eq.L
    onsite = [np.zeros((2, 2), complex) for _ in range(L)]
    bond = [np.zeros((4, 4), complex) for _ in range(L - 1)]
    for h in eq.hamiltonian:
        m, s = ascending(h)
        if len(s) == 1:
            onsite[s[0]] += m
        else:
            bond[s[0]] += m
    AB = []
    for b in bond:  # operator SVD: b[(s1 s2), (t1 t2)] = sum_k A_k[s1, t1] B_k[s2, t2]
        U, S, Vh = np.linalg.svd(b.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4))
        keep = S > 1e-14 * max(S[0], 1e-300)
        AB.append([((U[:, k] * S[k]).reshape(2, 2), Vh[k].reshape(2, 2)) for k in np.flatnonzero(keep)])
    I2, tensors = np.eye(2, dtype=complex), []
    for i in range(L):
        dl = 1 if i == 0 else 2 + len(AB[i - 1])
        dr = 1 if i == L - 1 else 2 + len(AB[i])
        W = np.zeros((dl, dr, 2, 2), complex)
        done = 0 if i == L - 1 else 1  # the last site's single right state is "done"
        if i < L - 1:
            W[0, 0] = I2
            for k, (A, _) in enumerate(AB[i]):
                W[0, 2 + k] = A
        W[0, done] = onsite[i]
        if i > 0:
            W[1, done] = I2
            for k, (_, B) in enumerate(AB[i - 1]):
                W[2 + k, done] = B
        tensors.append(W)
    return tensors


def yaqs_inputs(eq, chi, dt, ntraj, seed, representation="mps", elapsed=TS[-1], svd_threshold=None):
    from mqt.yaqs.core.data_structures.hamiltonian import Hamiltonian
    from mqt.yaqs.core.data_structures.noise_model import NoiseModel
    from mqt.yaqs.core.data_structures.observable import Observable
    from mqt.yaqs.core.data_structures.simulation_parameters import AnalogSimParams
    from mqt.yaqs.core.data_structures.state import State

    procs = []
    for n, c in enumerate(eq.jumps):
        m, s = ascending(c)
        procs.append({"name": f"jr_jump_{n}", "sites": list(s), "strength": 1.0, "matrix": m})
    sz = np.diag([1.0, -1.0]).astype(complex)  # our sigma^z in (|up>, |down>) = yaqs (|0>, |1>)
    params = AnalogSimParams([Observable(sz, i) for i in range(eq.L)], elapsed_time=float(elapsed), dt=dt,
                             num_traj=ntraj, max_bond_dim=chi, random_seed=seed, svd_threshold=svd_threshold)
    return (State(eq.L, initial="zeros", representation=representation), Hamiltonian(tensors=yaqs_mpo_tensors(eq)),
            params, NoiseModel(procs))


def yaqs_run(eq, chi, dt, ntraj, seed, **kw):
    """(trajectories (ntraj, n_ops, len(TS)), wall time of the run)."""
    from mqt.yaqs.simulator import Simulator

    state, H, params, noise = yaqs_inputs(eq, chi, dt, ntraj, seed, **kw)
    t0 = time.perf_counter()
    res = Simulator(show_progress=False).run(state, H, params, noise)
    wall = time.perf_counter() - t0
    times = np.asarray(res.times if getattr(res, "times", None) is not None else params.times)
    idx = [int(np.argmin(np.abs(times - t))) for t in TS if t <= times[-1] + 1e-9]
    if not np.allclose(times[idx], TS[: len(idx)], atol=1e-9):
        raise ValueError(f"yaqs times {times[:5]}... do not contain the save times (dt must divide 0.5)")
    traj = np.stack([np.real(np.asarray(res.trajectories[i]))[:, idx] for i in range(eq.L)], axis=1)
    return traj, wall


# ---------------------------------------------------------------- measurements
def stats(traj):
    n = traj.shape[0]
    return traj.mean(0), (traj.std(0, ddof=1) / np.sqrt(n) if n > 1 else np.full(traj.shape[1:], np.nan))


def run_jr(eq, psi0, e_ops, chi, dt, ntraj, cutoff=None):
    method = jr.MPS(max_bond=chi, dt=dt) if cutoff is None else jr.MPS(max_bond=chi, dt=dt, cutoff=cutoff)

    def call(seed):
        t0 = time.perf_counter()
        r = jr.mcsolve(eq, psi0, TS, ntraj, jax.random.key(seed), e_ops=e_ops, method=method,
                       keep_trajectories=True, progress=False)
        tr = np.asarray(r.expect_trajectories).real
        return time.perf_counter() - t0, tr, float(np.asarray(r.stats["discarded_weight"])[-1])

    first, tr0, _ = call(0)
    warm, tr1, w = call(1)
    return {"first_s": first, "time": warm / ntraj, "ntraj": ntraj, "ntraj_stats": 2 * ntraj,
            "discarded_weight": w, "cutoff": method.cutoff, "_traj": np.concatenate([tr0, tr1])}


def run_yaqs(eq, chi, dt, ntraj, first_s, svd_threshold=None):
    traj, wall = yaqs_run(eq, chi, dt, ntraj, seed=1, svd_threshold=svd_threshold)
    return {"first_s": first_s, "time": wall / ntraj, "ntraj": ntraj, "ntraj_stats": ntraj, "dt": dt,
            "_traj": traj}


def yaqs_warmup():
    """numba compilation of yaqs' kernels (untimed in the per-trajectory numbers)."""
    eq = problem(4, "n1")[0]
    t0 = time.perf_counter()
    yaqs_run(eq, 8, 0.05, 1, seed=0, elapsed=0.5)
    return time.perf_counter() - t0


def check(run):
    """L = 4: MPO vs dense H; yaqs exact Lindblad vs jr.mesolve (both equations)."""
    from mqt.yaqs.core.data_structures.hamiltonian import Hamiltonian

    L, out = 4, {}
    rev = lambda m: m.reshape((2,) * 2 * L).transpose(*range(L - 1, -1, -1), *range(2 * L - 1, L - 1, -1)).reshape(  # noqa: E731
        2**L, 2**L)  # yaqs dense order (site 0 least significant) -> ours
    for name, kind in EQS.items():
        eq, psi0, e_ops = problem(L, kind)
        ours = sum(dense(h) for h in eq.hamiltonian)
        theirs = rev(np.asarray(Hamiltonian(tensors=yaqs_mpo_tensors(eq)).to_matrix()))
        out[f"max |H yaqs MPO - ours|, {name}"] = float(np.abs(theirs - ours).max())
        ex = np.asarray(jr.mesolve(eq, psi0, TS, e_ops).expect).real
        try:
            traj, _ = yaqs_run(eq, None, 0.01, 1, seed=0, representation="density_matrix")
            out[f"max |<sigma^z> yaqs exact Lindblad (dt 0.01) - jr.mesolve|, {name}"] = float(np.abs(traj[0] - ex).max())
        except Exception as err:  # noqa: BLE001
            out[f"yaqs exact Lindblad, {name}"] = f"{type(err).__name__}: {str(err)[:200]}"
    run.data["check"] = out
    run.log(f"check: {out}")
    run.save()


def dt_check(data, L, ntraj, dt, log):
    """yaqs' TJM at ``dt`` against jr.mesolve at L (both equations): is its step unbiased?
    max z = |mean - mesolve| / se over sites and save times t > 0 (ntraj trajectories, bond
    2^(L/2): no truncation by the bond)."""
    out = []
    for name, kind in EQS.items():
        eq, psi0, e_ops = problem(L, kind)
        ex = np.asarray(jr.mesolve(eq, psi0, TS, e_ops, save_states=False).expect).real
        traj, wall = yaqs_run(eq, 2 ** (L // 2), dt, ntraj, seed=2)
        mean, se = stats(traj)
        z = np.abs(mean - ex)[:, 1:] / se[:, 1:]
        out.append({"equation": name, "L": L, "dt": dt, "ntraj": ntraj, "max_z": float(np.nanmax(z)),
                    "max_abs_diff": float(np.abs(mean - ex).max()), "s_per_traj": wall / ntraj})
        log(f"dt check: {out[-1]}")
    data["dt_check"] = out


def dense(op):
    """Full d^L x d^L matrix of a LocalOperator (our order: site 0 most significant)."""
    L, m, s = op.L, np.asarray(op.matrix), list(op.sites)
    rest = [i for i in range(L) if i not in s]
    full = np.kron(m, np.eye(2 ** len(rest)))  # factors ordered s + rest
    order = s + rest
    perm = [order.index(i) for i in range(L)]
    return full.reshape((2,) * 2 * L).transpose(*perm, *[L + p for p in perm]).reshape(2**L, 2**L)


def agreement(ma, sa, mb, sb):
    """(max z, max |ma - mb|, max |ma - mb| over the deterministic entries) over sites and save
    times t > 0 (t = 0: both exact). z = |ma - mb| / sqrt(sa^2 + sb^2) is taken over the
    stochastic entries, where that combined standard error exceeds 1e-3; where it does not,
    (nearly) every trajectory of both codes is still deterministic (the bulk before any jump
    reaches it), and the difference of the means is the two codes' discretization difference
    (TEBD dt^2 against TJM's first-order splitting, dt = 0.05), not noise: it is reported apart."""
    ma, sa, mb, sb = (np.asarray(x)[:, 1:] for x in (ma, sa, mb, sb))
    diff = np.abs(ma - mb)
    se = np.sqrt(sa**2 + sb**2)
    stoch = np.isfinite(se) & (se > 1e-3)
    z = diff[stoch] / se[stoch]
    det = diff[~stoch]
    return (float(z.max()) if z.size else 0.0), float(diff.max()), (float(det.max()) if det.size else 0.0)


# ---------------------------------------------------------------- bookkeeping and output
class Run:
    def __init__(self, out):
        os.makedirs(out, exist_ok=True)
        self.json, self.md = os.path.join(out, "mps.json"), os.path.join(out, "mps.md")
        self.data = {"meta": machine(), "command": "python benchmarks/bench_mps.py " + " ".join(sys.argv[1:]),
                     "rows": [], "notes": []}
        self.t0 = time.perf_counter()

    def log(self, msg):
        print(f"[{time.perf_counter() - self.t0:7.1f} s] {msg}", flush=True)

    def save(self):
        _harness.write_results(self.json, self.md, self.data, render)


def machine():
    try:
        import mqt.yaqs

        yaqs_version = getattr(mqt.yaqs, "__version__", "?")
    except ImportError:  # validate_mps.py runs without it
        yaqs_version = "not installed"
    return _harness.machine(**{"mqt-yaqs": yaqs_version})


def _f(x, f=".3g"):
    return format(x, f) if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def render(d):
    doc = __doc__.split("Results are saved", 1)[0].split("\n", 2)[2].strip()
    out = ["# MPS trajectories: jaxredfield vs mqt-yaqs (TJM)", "", "`benchmarks/bench_mps.py`.", "",
           "## Results", "",
           "| L | equation | bond | code | dt | first call s | s per trajectory | yaqs / jaxredfield | ntraj (stats) "
           "| max z (agreement) | max abs diff of means | load | notes |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        for code in [k for k in r if k == YQ or k.startswith(JR)]:
            c = r[code]
            ref = JR if code == YQ else code  # yaqs row: yaqs / jr default; extra jr row: yaqs / it
            ratio = (r[YQ]["time"] / r[ref]["time"] if (code == YQ or code != JR) and "time" in r.get(YQ, {})
                     and "time" in r.get(ref, {}) else None)
            note = c.get("error") or (f"cutoff {c.get('cutoff', '-')}, discarded weight {c['discarded_weight']:.2g}"
                                      if "discarded_weight" in c else "")
            out.append(f"| {r['L']} | {r['equation']} | {r['bond']} | {code} | {_f(c.get('dt', '-'))} | "
                       f"{_f(c.get('first_s', '-'))} | {_f(c.get('time', '-'))} | {_f(ratio or '-', '.2f')} | "
                       f"{c.get('ntraj', '-')} ({c.get('ntraj_stats', '-')}) | "
                       f"{_f(r.get('agreement', '-') if code == YQ else '-', '.2f')} | "
                       f"{_f(r.get('max_abs_diff', '-') if code == YQ else '-', '.3f')} | {c.get('load', '-')} | {note}"
                       f"{'; deterministic entries differ by ' + _f(r['det_diff'], '.2g') if code == YQ and 'det_diff' in r else ''} |")
    for r in d["rows"]:
        if "mean" in r:
            out += ["", f"### <sigma^z_i>(t = 5), L = {r['L']}, {r['equation']}, bond {r['bond']} (mean +- se)", "",
                    "| site | " + " | ".join(r["mean"]) + " |", "|---" * (1 + len(r["mean"])) + "|"]
            for i in range(len(next(iter(r["mean"].values())))):
                out.append(f"| {i} | " + " | ".join(f"{r['mean'][c][i]:+.4f} +- {r['se'][c][i]:.4f}" for c in r["mean"]) + " |")
    if d.get("check"):
        out += ["", "## Check (L = 4)", ""] + [f"- {k}: {_f(v, '.2e')}" for k, v in d["check"].items()]
    if d.get("dt_check"):
        out += ["", "## yaqs' time step against mesolve (--dt-check)", "",
                "| L | equation | yaqs dt | ntraj | max z | max abs(mean - mesolve) | s/traj |", "|---|---|---|---|---|---|---|"]
        out += [f"| {r['L']} | {r['equation']} | {r['dt']} | {r['ntraj']} | {_f(r['max_z'])} | {_f(r['max_abs_diff'])} | "
                f"{_f(r['s_per_traj'])} |" for r in d["dt_check"]]
        out += ["", "max z < 4: no bias visible at this number of trajectories (jaxredfield's own "
                "time-step bias is measured more sharply, with paired trajectories, in "
                "results/mps_validation.md)."]
    if d.get("notes"):
        out += ["", "## Notes", ""] + [f"- {n}" for n in d["notes"]]
    out += ["", "## Machine", "", ", ".join(f"{k}: {v}" for k, v in d["meta"].items()),
            "", "## Problem and settings", "", doc, "", "## Command", "", f"`{d['command']}`"]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20])
    ap.add_argument("--bonds", type=int, nargs="+", default=[16, 32])
    ap.add_argument("--ntraj", type=int, default=4, help="trajectories per code and setting")
    ap.add_argument("--jr-dt", type=float, default=0.05, help="jaxredfield TEBD step (the jr.MPS default)")
    ap.add_argument("--yaqs-dt", type=float, default=0.05, help="yaqs time step (must divide 0.5)")
    ap.add_argument("--yaqs-svd-threshold", type=float, help="yaqs SVD threshold (default: its preset, 1e-6)")
    ap.add_argument("--jr-extra-cutoff", type=float, help="also run jaxredfield with this MPS cutoff, labelled "
                    "(1e-6: the weight yaqs' default preset may cut per truncation)")
    ap.add_argument("--note", action="append", default=[], help="a line for the Notes section (repeatable)")
    ap.add_argument("--equations", nargs="+", choices=list(EQS.values()), default=list(EQS.values()))
    ap.add_argument("--no-yaqs-n1", action="store_true", help="run yaqs on the standard equation only")
    ap.add_argument("--no-check", action="store_true")
    ap.add_argument("--quick", action="store_true", help="smoke run: L = 6, bond 8, 2 trajectories")
    ap.add_argument("--dt-check", type=int, metavar="NTRAJ",
                    help="only: yaqs at --yaqs-dt against jr.mesolve at L = 8 with NTRAJ trajectories, "
                         "added to the saved results")
    ap.add_argument("--render-only", action="store_true",
                    help="recompute the agreement columns from the saved mps.json and rewrite mps.md")
    ap.add_argument("--out", help="output folder (default benchmarks/results; --quick: a temp folder)")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.bonds, args.ntraj = [6], [8], 2
        args.out = args.out or tempfile.mkdtemp(prefix="bench_mps_")
    args.out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
    if args.dt_check:  # adds the yaqs time-step check to the saved results
        path = os.path.join(args.out, "mps.json")
        data = json.load(open(path))
        dt_check(data, 8, args.dt_check, args.yaqs_dt, print)
        data["command"] += "; python benchmarks/bench_mps.py " + " ".join(sys.argv[1:])
        json.dump(data, open(path, "w"), indent=1)
        open(os.path.join(args.out, "mps.md"), "w").write(render(data))
        return
    if args.render_only:
        path = os.path.join(args.out, "mps.json")
        data = json.load(open(path))
        data["notes"] = NOTES + [n for n in data.get("notes", []) if n not in NOTES] + args.note
        for r in data["rows"]:
            if JR in r.get("mean_t", {}) and YQ in r.get("mean_t", {}):
                r["agreement"], r["max_abs_diff"], r["det_diff"] = agreement(
                    r["mean_t"][JR], r["se_t"][JR], r["mean_t"][YQ], r["se_t"][YQ])
        json.dump(data, open(path, "w"), indent=1)
        open(os.path.join(args.out, "mps.md"), "w").write(render(data))
        return
    jr.set_progress(False)
    run = Run(args.out)
    run.data["notes"] = NOTES + args.note
    run.log(f"writing {run.json} and {run.md}")
    if not args.no_check:
        check(run)
    first_yaqs = yaqs_warmup()
    run.log(f"yaqs warm-up (numba compilation): {first_yaqs:.1f} s")
    for L in args.sizes:
        for kind in args.equations:
            name = next(k for k, v in EQS.items() if v == kind)
            eq, psi0, e_ops = problem(L, kind)
            for chi in args.bonds:
                row = {"L": L, "equation": name, "bond": chi}
                run.data["rows"].append(row)
                trajs = {}
                extra = f"{JR} (cutoff {args.jr_extra_cutoff:g})" if args.jr_extra_cutoff is not None else None
                for code in [JR] + ([extra] if extra else []) + [YQ]:
                    if code == YQ and kind == "n1" and args.no_yaqs_n1:
                        row[code] = {"error": "not run (--no-yaqs-n1)"}
                        continue
                    run.log(f"L={L} {name} bond {chi} {code} ...")
                    try:
                        res = (run_jr(eq, psi0, e_ops, chi, args.jr_dt, args.ntraj,
                                      None if code == JR else args.jr_extra_cutoff) if code != YQ else
                               run_yaqs(eq, chi, args.yaqs_dt, args.ntraj, first_yaqs, args.yaqs_svd_threshold))
                        trajs[code] = res.pop("_traj")
                        if code != YQ:
                            res["dt"] = args.jr_dt
                    except Exception as err:  # noqa: BLE001 - record and go on
                        res = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
                    res["load"] = round(os.getloadavg()[0], 2)
                    # free the compiled programs of this setting: one process compiling every
                    # setting ran out of memory mappings in LLVM (crash at L = 50)
                    jax.clear_caches()
                    row[code] = res
                    run.log(f"L={L} {name} bond {chi} {code}: " + ", ".join(f"{k}={_f(v, '.4g')}" for k, v in res.items()))
                    run.save()
                row["mean"] = {c: stats(t)[0][:, -1].tolist() for c, t in trajs.items()}
                row["se"] = {c: stats(t)[1][:, -1].tolist() for c, t in trajs.items()}
                row["mean_t"] = {c: stats(t)[0].tolist() for c, t in trajs.items()}
                row["se_t"] = {c: stats(t)[1].tolist() for c, t in trajs.items()}
                if JR in trajs and YQ in trajs:
                    row["agreement"], row["max_abs_diff"], row["det_diff"] = agreement(
                        row["mean_t"][JR], row["se_t"][JR], row["mean_t"][YQ], row["se_t"][YQ])
                run.log(f"L={L} {name} bond {chi}: agreement max z = {_f(row.get('agreement'))}, "
                        f"max |mean_jr - mean_yaqs| = {_f(row.get('max_abs_diff'))}")
                run.save()
    run.log("done")


if __name__ == "__main__":
    main()
