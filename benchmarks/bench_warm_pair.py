"""Warm time, paired: this tree against a git revision, alternating fresh processes (issue 29's
"warm time no worse than today", measured more tightly than ``bench_compile.py``'s warm
column of 4 trajectories in one process each).

Each round runs one process of this tree and one of the revision (a temporary worktree) on
the paper's chain (J = 1, Delta = 0.7, h = 1, delta = -0.07, ohmic gamma = 0.25, T_l = 2.2,
T_r = 6.6), standard local Lindblad equation, |up...up>, every sigma^z_i measured, default
arguments except the bond:

- ``mps``: ``mcsolve(..., linspace(0, 5, 11), n, key, method=jr.MPS(max_bond=64))`` after a
  warm-up call of one trajectory: s per trajectory, and the total number of jumps (the same
  keys must give the same jumps in both codes);
- ``density``: ``mesolve(..., linspace(0, 5, 11), method=jr.MPS(max_bond=32))`` (100 TEBD
  steps, the bonds saturate) after a warm-up call: the best of 3 calls, s per step.

    python benchmarks/bench_warm_pair.py --baseline 50ebfe6            # both kinds, 2 rounds

Writes benchmarks/results/warm_pair.{json,md} (a rerun replaces the rows of its kinds).
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
import jax, numpy as np
import jaxredfield as jr
kind, L, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, sys.argv[4])  # this tree's benchmarks/ (the package may be another revision's)
from _harness import driven_chain
eq, up, e_ops = driven_chain(jr, L)
ts = np.linspace(0.0, 5.0, 11)
if kind == "mps":
    call = lambda k, m: jr.mcsolve(eq, up, ts, m, jax.random.key(k), e_ops, progress=False,
                                   method=jr.MPS(max_bond=64))
    jax.block_until_ready(call(0, 1).expect)
    t = time.perf_counter()
    r = call(1, n)
    jax.block_until_ready(r.expect)
    out = {"warm": (time.perf_counter() - t) / n, "jumps": int(np.asarray(r.stats["njumps"]).sum())}
else:
    call = lambda: jr.mesolve(eq, up, ts, e_ops=e_ops, method=jr.MPS(max_bond=32), progress=False)
    jax.block_until_ready(call().expect)
    best = []
    for _ in range(3):
        t = time.perf_counter()
        r = call()
        jax.block_until_ready(r.expect)
        best.append(time.perf_counter() - t)
    out = {"warm": min(best) / int(r.stats["num_steps"]), "jumps": None}
print("RESULT " + json.dumps(out))
"""

KINDS = {"mps": (50, "s/traj"), "density": (20, "s/step")}


def child(kind, L, n, tree):
    env = dict(os.environ, JAXREDFIELD_WORKERS="1", JAXREDFIELD_CACHE="0", PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(L), str(n), HERE], env=env, cwd=tree,
                         capture_output=True, text=True, timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError((out.stderr or out.stdout)[-400:])


def render(data) -> str:
    lines = ["# Warm time, paired (`benchmarks/bench_warm_pair.py`)", "",
             f"{describe(data['machine'])}. Alternating fresh processes of this tree (`now`) and of revision "
             f"{data['baseline']} (`before`); method: the script's docstring.", "",
             "| engine | L | bond | round | now | before | now / before | unit | jumps now / before |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        j = "-" if r["jumps_now"] is None else f"{r['jumps_now']} / {r['jumps_before']}"
        lines.append(f"| {r['kind']} | {r['L']} | {r['bond']} | {r['round']} | {r['now']:.4g} | {r['before']:.4g} | "
                     f"{r['now'] / r['before']:.3f} | {r['unit']} | {j} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="git revision to compare with")
    ap.add_argument("--kinds", nargs="*", default=list(KINDS))
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--ntraj", type=int, default=8, help="mps: timed trajectories")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    paths = (os.path.join(args.out, "warm_pair.json"), os.path.join(args.out, "warm_pair.md"))
    old = json.load(open(paths[0]))["rows"] if os.path.exists(paths[0]) else []
    data = {"machine": machine(), "baseline": args.baseline, "rows": [r for r in old if r["kind"] not in args.kinds]}
    with tempfile.TemporaryDirectory() as tmp:
        tree = os.path.join(tmp, "before")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "-f", "--detach", tree, args.baseline], check=True,
                       capture_output=True)
        try:
            for kind in args.kinds:
                L, unit = KINDS[kind]
                for k in range(args.rounds):
                    a, b = child(kind, L, args.ntraj, ROOT), child(kind, L, args.ntraj, tree)
                    row = {"kind": kind, "L": L, "bond": 64 if kind == "mps" else 32, "round": k + 1,
                           "now": a["warm"], "before": b["warm"], "unit": unit,
                           "jumps_now": a["jumps"], "jumps_before": b["jumps"]}
                    data["rows"].append(row)
                    print(row, flush=True)
                    write_results(*paths, data, render)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", tree], capture_output=True)
    print(render(data))


if __name__ == "__main__":
    main()
