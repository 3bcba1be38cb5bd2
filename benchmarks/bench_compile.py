"""First call against chain length: does compilation grow with L? (issue 29)

Each row is one fresh Python process running what a user runs on the paper's chain (J = 1,
Delta = 0.7, h = 1, delta = -0.07, ohmic gamma = 0.25, T_l = 2.2, T_r = 6.6), default
arguments except the bond dimension, measuring every sigma^z_i (the magnetization profile):

- ``mps``: ``mcsolve(standard_local_lindblad, |up...up>, linspace(0, 5, 11), 2, key, e_ops,
  method=jr.MPS(max_bond=chi))`` -- the first call (tracing, compilation, 2 trajectories),
  then a warm call of 4 trajectories (s per trajectory);
- ``density``: ``mesolve(..., linspace(0, 0.5, 6), e_ops, method=jr.MPS(max_bond=chi))`` --
  first call and a warm call (s per TEBD step);
- ``vector``: the state-vector engine, ``mcsolve`` with the default ``jr.Chebyshev()`` --
  first call (2 trajectories) and a warm call of 4.

Default ``workers`` for this tree (until 2026-12-08 every row ran with
``JAXREDFIELD_WORKERS=1``; with the default, the code before then computed these one-chunk
runs in a helper process, which started and compiled on one core: 20.1 s at L = 200; now a
one-chunk run is computed in the calling process). ``before`` rows run with
``JAXREDFIELD_WORKERS=1`` (older revisions' helpers need cloudpickle, no longer installed).
Columns: the first call's wall time, and from ``jax.monitoring`` its tracing, lowering and XLA
compilation (``backend_compile_duration``; with the persistent cache on and filled, the load
from disk); the warm time. ``cache on`` rows run the same process twice with a fresh
``JAXREDFIELD_CACHE_DIR`` and report the second (this tree only). ``--baseline REV`` runs
every row also with the package of git revision REV (a temporary worktree), in the same run, for before/after.

    python benchmarks/bench_compile.py                     # the default rows
    python benchmarks/bench_compile.py --baseline 50ebfe6  # and the same rows before issue 29

Writes benchmarks/results/compile.json and compile.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from _harness import describe, machine, write_results  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import jax.monitoring as mon
tot = {"trace": 0.0, "lower": 0.0, "compile": 0.0}
NAMES = {"/jax/core/compile/backend_compile_duration": "compile",
         "/jax/core/compile/jaxpr_trace_duration": "trace",
         "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower"}
mon.register_event_duration_secs_listener(
    lambda e, s, **kw: tot.__setitem__(NAMES[e], tot[NAMES[e]] + s) if e in NAMES else None)
import jax, numpy as np
import jaxredfield as jr
kind, L, chi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])  # this tree's benchmarks/ (the package may be another revision's)
from _harness import driven_chain
eq, up, e_ops = driven_chain(jr, L)
if kind == "density":
    ts = np.linspace(0.0, 0.5, 6)
    call = lambda k: jr.mesolve(eq, up, ts, e_ops=e_ops, method=jr.MPS(max_bond=chi), progress=False)
else:
    ts = np.linspace(0.0, 5.0, 11)
    kw = dict(method=jr.MPS(max_bond=chi)) if kind == "mps" else {}
    call = lambda k: jr.mcsolve(eq, up, ts, 2 if k == 0 else 4, jax.random.key(k), e_ops,
                                progress=False, **kw)
t = time.perf_counter()
r = call(0)
jax.block_until_ready(r.expect)
first = time.perf_counter() - t
first_tot = dict(tot)
t = time.perf_counter()
r = call(1)
jax.block_until_ready(r.expect)
warm = time.perf_counter() - t
unit = r.stats["num_steps"] if kind == "density" else 4
print("RESULT " + json.dumps({"first_s": first, **first_tot, "warm_s": warm, "warm_per": warm / unit,
                              "process_s": time.perf_counter() - t0}))
"""

ROWS = [("mps", L, 64) for L in (20, 50, 100, 200)] + [("density", L, 32) for L in (20, 50, 100)] \
    + [("vector", L, 0) for L in (12, 16, 19)]
CACHED = [("mps", 100, 64), ("vector", 19, 0)]


def child(kind, L, chi, pythonpath, cache_dir=None, timeout=1800):
    env = dict(os.environ, PYTHONPATH=pythonpath)
    env.pop("JAXREDFIELD_WORKERS", None)  # the default worker count, what a user gets ...
    if pythonpath != ROOT:  # ... except for a baseline revision: one before a747c39 sends its
        env["JAXREDFIELD_WORKERS"] = "1"  # helpers pickles (cloudpickle, no longer installed)
    if cache_dir:
        env.update(JAXREDFIELD_CACHE="1", JAXREDFIELD_CACHE_DIR=cache_dir)
    else:
        env["JAXREDFIELD_CACHE"] = "0"
    try:
        # cwd = the tree: ``python -c`` puts the working directory first on sys.path, before
        # PYTHONPATH, so a child started elsewhere in a checkout would import that checkout
        out = subprocess.run([sys.executable, "-c", CHILD, kind, str(L), str(chi), HERE], env=env, cwd=pythonpath,
                             capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout} s"}
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (out.stderr or out.stdout)[-400:]}


def measure(kind, L, chi, pythonpath, cached):
    if not cached:
        return child(kind, L, chi, pythonpath)
    with tempfile.TemporaryDirectory() as d:
        child(kind, L, chi, pythonpath, cache_dir=d)  # fills the cache
        return child(kind, L, chi, pythonpath, cache_dir=d)


def render(data) -> str:
    m = data["machine"]
    lines = ["# First call against chain length (`benchmarks/bench_compile.py`)", "",
             f"{describe(m)}{' (' + m['note'] + ')' if m.get('note') else ''}. Each row a fresh process, default arguments except the bond, "
             "every sigma^z_i measured (method: the script's docstring). `before`: the package of "
             f"revision {data.get('baseline') or '-'} in the same run. Runs: {', '.join(data.get('runs', []))} "
             "(a rerun replaces the rows it measures).", "",
             "| engine | L | bond | cache | code | first call s | trace s | lower s | XLA compile s | "
             "warm | warm unit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        f = lambda k, fmt=".1f": format(r[k], fmt) if k in r else "-"  # noqa: E731
        unit = "s/step" if r["kind"] == "density" else "s/traj"
        lines.append(f"| {r['kind']} | {r['L']} | {r['chi'] or '-'} | {'on' if r['cached'] else 'off'} | "
                     f"{r['code']} | {f('first_s')} | {f('trace')} | {f('lower')} | {f('compile')} | "
                     f"{f('warm_per', '.3g')} | {unit} |" + (f" {r['error']}" if "error" in r else ""))
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="git revision to measure beside the working tree")
    ap.add_argument("--kinds", nargs="*", default=["mps", "density", "vector"])
    ap.add_argument("--sizes", nargs="*", type=int, help="only these L")
    args = ap.parse_args(argv)
    rows = [r for r in ROWS if r[0] in args.kinds and (not args.sizes or r[1] in args.sizes)]
    codes = [("now", ROOT)]
    tmp = None
    if args.baseline:
        tmp = tempfile.mkdtemp(prefix="jaxredfield-baseline-")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "-f", "--detach", tmp, args.baseline],
                       check=True, capture_output=True)
        codes.append(("before", tmp))
    meta = machine()  # the date and load when the run starts
    out = []
    try:
        for kind, L, chi in rows:
            for cached in (False, True) if (kind, L, chi) in CACHED else (False,):
                for code, path in codes[:1] if cached else codes:  # the cache: this tree only
                    r = measure(kind, L, chi, path, cached)
                    r.update(kind=kind, L=L, chi=chi, cached=cached, code=code)
                    print(json.dumps(r), flush=True)
                    out.append(r)
    finally:
        if tmp:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tmp], capture_output=True)
    res = os.path.join(HERE, "results")
    # a rerun of some rows keeps the file's other rows (each row's before/after pair is one run's)
    key = lambda r: (r["kind"], r["L"], r["chi"], r["cached"], r["code"])  # noqa: E731
    try:
        with open(os.path.join(res, "compile.json")) as f:
            old = json.load(f)
        kept = [r for r in old["rows"] if key(r) not in {key(x) for x in out}]
        runs = old.get("runs", [old["machine"]["date"]])
    except (OSError, ValueError, KeyError):
        kept, runs = [], []
    order = {k: i for i, k in enumerate(ROWS)}
    rows = sorted(kept + out, key=lambda r: (order.get((r["kind"], r["L"], r["chi"]), 99), r["cached"],
                                             r["code"] != "now"))
    data = {"machine": meta, "baseline": args.baseline, "rows": rows, "runs": runs + [meta["date"]]}
    write_results(os.path.join(res, "compile.json"), os.path.join(res, "compile.md"), data, render)
    print(render(data))


if __name__ == "__main__":
    main()
