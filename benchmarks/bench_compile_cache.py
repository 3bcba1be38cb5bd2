"""Persistent compilation cache: compile time of a first and a second run of the same CLI
command, each in a fresh Python process, with an empty cache folder before the first (issue
13, item 5: the second run should spend <= 20 % of the first run's compile time).

Each run is ``jaxredfield ARGS`` (the CLI turns the cache on; ``JAXREDFIELD_CACHE_DIR`` points
it at a fresh temporary folder) in a subprocess that listens to ``jax.monitoring``:

- XLA compile: ``/jax/core/compile/backend_compile_duration``, summed. It wraps XLA's
  compilation, or, on a persistent-cache hit, the load of the compiled program from disk; this
  is the part the cache removes.
- trace + lower: ``jaxpr_trace_duration`` + ``jaxpr_to_mlir_module_duration``, summed; Python
  work the cache does not remove.
- wall: the whole process (imports, compilation, computation).

A third run with ``JAXREDFIELD_CACHE=0`` (``--no-baseline`` skips it) shows what writing the
cache costs the first run.

    python benchmarks/bench_compile_cache.py                       # jaxredfield demo --L 4
    python benchmarks/bench_compile_cache.py -- reproduce fig2a --L 4 --nt 11

Writes benchmarks/results/compile_cache.json and compile_cache.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _harness import describe, machine, write_results  # noqa: E402

DEFAULT = ["demo", "--L", "4"]

#: runs in the child: listen to jax.monitoring, run the CLI, dump the totals as JSON
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import jax.monitoring as mon
tot = {"backend_compile": 0.0, "trace": 0.0, "lower": 0.0, "n_compile": 0}
count = {"hits": 0, "misses": 0}
NAMES = {"/jax/core/compile/backend_compile_duration": "backend_compile",
         "/jax/core/compile/jaxpr_trace_duration": "trace",
         "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower"}
def on_duration(event, secs, **kw):
    k = NAMES.get(event)
    if k:
        tot[k] += secs
        if k == "backend_compile":
            tot["n_compile"] += 1
def on_event(event, **kw):
    if event == "/jax/compilation_cache/cache_hits":
        count["hits"] += 1
    elif event == "/jax/compilation_cache/cache_misses":
        count["misses"] += 1
mon.register_event_duration_secs_listener(on_duration)
mon.register_event_listener(on_event)
from jaxredfield.app.cli import main
rc = main(json.loads(sys.argv[2]))
tot.update(count, wall=time.perf_counter() - t0, rc=rc)
with open(sys.argv[1], "w") as f:
    json.dump(tot, f)
"""


def run_once(argv, cache_dir, cache_on=True):
    env = dict(os.environ, JAXREDFIELD_CACHE_DIR=cache_dir, JAXREDFIELD_PROGRESS="0",
               JAXREDFIELD_CACHE="1" if cache_on else "0")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    try:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", CHILD, out, json.dumps(argv)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        with open(out) as f:
            res = json.load(f)
    finally:
        os.unlink(out)
    res["process_wall"] = wall
    return res


def folder_size(path):
    n, size = 0, 0
    for root, _, files in os.walk(path):
        for name in files:
            n += 1
            size += os.path.getsize(os.path.join(root, name))
    return n, size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-baseline", action="store_true", help="skip the run with the cache off")
    ap.add_argument("cli", nargs="*", help=f"jaxredfield CLI arguments (default: {' '.join(DEFAULT)})")
    args = ap.parse_args(argv)
    cli = args.cli or DEFAULT
    runs = {}
    with tempfile.TemporaryDirectory(prefix="jaxredfield-xla-") as cache:
        for name in ("first", "second"):
            runs[name] = run_once(cli, cache)
            print(name, {k: round(v, 2) if isinstance(v, float) else v for k, v in runs[name].items()},
                  flush=True)
        files, size = folder_size(cache)
    if not args.no_baseline:
        with tempfile.TemporaryDirectory(prefix="jaxredfield-xla-") as cache:
            runs["cache off"] = run_once(cli, cache, cache_on=False)
            print("cache off", {k: round(v, 2) if isinstance(v, float) else v
                                for k, v in runs["cache off"].items()}, flush=True)
    first, second = runs["first"], runs["second"]
    meta = machine(command="jaxredfield " + " ".join(cli), cache_files=files, cache_bytes=size,
                   ratio_xla_compile=second["backend_compile"] / first["backend_compile"],
                   ratio_compile_incl_trace_lower=(second["backend_compile"] + tl(second))
                   / (first["backend_compile"] + tl(first)))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    data = {"meta": meta, "runs": runs}
    write_results(os.path.join(HERE, "results", "compile_cache.json"),
                  os.path.join(HERE, "results", "compile_cache.md"), data, render)
    print(render(data))


def tl(r):
    """Tracing plus lowering of a run, s."""
    return r["trace"] + r["lower"]


def render(data):
    meta, runs = data["meta"], data["runs"]
    first, second = runs["first"], runs["second"]
    ratio, ratio_all = meta["ratio_xla_compile"], meta["ratio_compile_incl_trace_lower"]
    lines = [
        "# Persistent compilation cache: first vs second run",
        "",
        f"`{meta['command']}`, each run a fresh process; the cache folder empty before the first run "
        f"(after it: {meta['cache_files']} files, {meta['cache_bytes'] / 1e6:.1f} MB). {describe(meta)}. "
        "`python benchmarks/bench_compile_cache.py` (method: its docstring).",
        "",
        "| run | XLA compile [s] | programs | cache hits | trace + lower [s] | wall [s] |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        lines.append(f"| {name} | {r['backend_compile']:.2f} | {r['n_compile']} | {r['hits']} | "
                     f"{tl(r):.2f} | {r['process_wall']:.1f} |")
    lines += [
        "",
        f"**Second / first XLA compile time: {ratio:.1%}** (target <= 20 %). Including tracing "
        f"and lowering, which the cache does not remove: {ratio_all:.1%}. Wall time "
        f"{first['process_wall']:.1f} s -> {second['process_wall']:.1f} s.",
        "",
    ]
    if "cache off" in runs:
        off = runs["cache off"]
        lines[-1:-1] = ["", f"With the cache off the same command compiles for {off['backend_compile']:.2f} s "
                        f"(wall {off['process_wall']:.1f} s): writing the cache costs the first run "
                        f"{first['backend_compile'] - off['backend_compile']:+.2f} s (timing noise on a shared "
                        "machine included)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
