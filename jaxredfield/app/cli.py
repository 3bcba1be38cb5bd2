"""Command line.

- ``jaxredfield demo``: the paper's L = 6 chain (Fig. 2, T = 2.2h, J = h): steady-state trace
  distances of each equation to exact Redfield.
- ``jaxredfield reproduce FIG [script options]``: run the figure script of the paper's figure
  FIG (from the repository's examples/ folder) with the paper's parameters as defaults;
  ``jaxredfield reproduce --list`` lists the figures.
- ``jaxredfield run config.toml``: a user's chain, baths and equation from a TOML file
  (format: :mod:`jaxredfield.app.runconfig`); steady-state and dynamical observables to CSV, PNG
  and summary.json. An invalid file gets a message naming the field and exit code 2, and
  nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import time


def demo(L: int = 6, T: float = 2.2, J: float = 1.0, orders=(1, 2, 4), out=sys.stdout) -> dict:
    """Run the demo and return {equation name: trace distance to exact Redfield}."""
    import numpy as np

    import jaxredfield as jr

    model = jr.xxz_chain(L, J=J, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, T), jr.OhmicBath(0.25, T))
    print(f"XXZ chain L={L}, J={J}h, Delta=0.7, delta=-0.07h, two ohmic baths gamma=0.25h, "
          f"T_l=T_r={T}h (paper Fig. 2)", file=out)
    t0 = time.perf_counter()
    exact = jr.steadystate(jr.redfield(system))
    gibbs = jr.gibbs_state(model, T)
    print(f"exact Redfield steady state ({time.perf_counter() - t0:.1f} s); "
          f"distance to Gibbs state: {float(jr.trace_distance(exact, gibbs)):.1e}", file=out)
    eqs = [(f"local Redfield N={N}", lambda N=N: jr.local_redfield(system, N)) for N in orders]
    eqs += [(f"local Lindblad N={N}", lambda N=N: jr.local_lindblad(system, N)) for N in (1, orders[-1])]
    eqs += [("standard local Lindblad", lambda: jr.standard_local_lindblad(system))]
    results = {}
    print(f"{'equation':<26}{'trace distance':>16}{'current j_2':>14}{'time [s]':>10}", file=out)
    j2 = jr.spin_current(model, min(2, L - 2))
    for name, build in eqs:
        t0 = time.perf_counter()
        rho = jr.steadystate(build())
        d = float(jr.trace_distance(rho, exact))
        results[name] = d
        cur = float(np.real(jr.expect(j2, rho)))
        print(f"{name:<26}{d:>16.3e}{cur:>14.2e}{time.perf_counter() - t0:>10.1f}", file=out)
    print("exact Redfield current j_2: "
          f"{float(np.real(jr.expect(j2, exact))):.1e} (equal temperatures: no current)", file=out)
    return results


#: figure -> (script in examples/, preset script options, what it shows). One script may draw
#: several figures; the preset options select the figure's parameters (user options follow
#: them, so they can still be overridden).
FIGURES = {
    "fig2c": ("fig2cd_trace_distance", [], "Fig. 2(c,d): steady-state trace distance vs T (J = 0.3h and h)"),
    "fig2d": ("fig2cd_trace_distance", [], "Fig. 2(c,d): steady-state trace distance vs T (J = 0.3h and h)"),
    "fig2a": ("fig2ab_populations", [], "Fig. 2(a,b): eigenstate populations, dynamics and steady state, L = 6"),
    "fig2b": ("fig2ab_populations", [], "Fig. 2(a,b): eigenstate populations, dynamics and steady state, L = 6"),
    "fig3a": ("fig3a_memory_time", [], "Fig. 3(a): relaxation-averaged error vs bath memory time, N = 0..4"),
    "figS4": ("figS4_bose_hubbard", [], "Fig. S.4: Bose-Hubbard chain, steady-state error vs T and populations"),
    "figS17": ("figS17_nonequilibrium", [], "Fig. S.17: T_r = 3 T_l, panels like Figs. 2(a,b,d) and 3(a-c)"),
    "fig3b": ("fig3bc_magnetization_current", [], "Fig. 3(b,c): steady-state magnetization and current j_2(t), L = 6"),
    "fig3c": ("fig3bc_magnetization_current", [], "Fig. 3(b,c): steady-state magnetization and current j_2(t), L = 6"),
    "fig3d": ("fig3d_fig4_trajectories", [], "Fig. 3(d) and 4: trajectories at L = 19, magnetization and currents"),
    "fig4": ("fig3d_fig4_trajectories", [], "Fig. 3(d) and 4: trajectories at L = 19, magnetization and currents"),
    "figS3": ("figS3_S5_adhoc_maps", ["--equation", "redfield"], "Fig. S.3: ad-hoc local Redfield error map over T and eps0, N = 1..4"),
    "figS5": ("figS3_S5_adhoc_maps", ["--equation", "lindblad"], "Fig. S.5: ad-hoc local Lindblad error map over T and eps0, N = 1..4"),
    "figS8": ("figS8_adhoc_vs_local", [], "Fig. S.8: ad-hoc (eps0 = 2J) vs local Redfield error vs T, N = 1, 4"),
    "figS9": ("figS9_orders", [], "Fig. S.9: local Redfield / local Lindblad error vs T, N = 1..4"),
    "figS12": ("figS3_S5_adhoc_maps", ["--equation", "redfield", "--kind", "drude", "--E_D", "30"],
               "Fig. S.12: Fig. S.3 for Drude baths, E_D = 30h"),
    "figS13": ("figS9_orders", ["--kind", "drude", "--E_D", "30"], "Fig. S.13: Fig. S.9 for Drude baths, E_D = 30h"),
    "figS14": ("figS3_S5_adhoc_maps", ["--equation", "redfield", "--kind", "drude", "--E_D", "10", "--L", "4"],
               "Fig. S.14: Fig. S.3 for Drude baths, E_D = 10h, L = 4"),
    "figS15": ("figS9_orders", ["--kind", "drude", "--E_D", "10"], "Fig. S.15: Fig. S.9 for Drude baths, E_D = 10h"),
}


def _examples_dir():
    import pathlib

    import jaxredfield

    return pathlib.Path(jaxredfield.__file__).resolve().parents[1] / "examples"


def reproduce(fig: str, argv) -> int:
    """Run the example script of ``fig`` with the script options ``argv``."""
    import importlib.util

    if fig not in FIGURES:
        print(f"jaxredfield reproduce: unknown figure {fig!r}; available: {', '.join(sorted(FIGURES))} "
              "(jaxredfield reproduce --list)", file=sys.stderr)
        return 2
    name, preset, _ = FIGURES[fig]
    path = _examples_dir() / f"{name}.py"
    if not path.exists():
        print(f"jaxredfield reproduce: {path} not found: the figure scripts live in the repository's "
              "examples/ folder; run from a source checkout installed with `pip install -e .`",
              file=sys.stderr)
        return 2
    if str(path.parent) not in sys.path:  # figure scripts may import their siblings
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(list(preset) + list(argv))
    return 0


def _run_help() -> str:
    from . import runconfig

    return runconfig.__doc__


def run(path) -> int:
    """``jaxredfield run``: check the whole file first (exit 2 naming the bad field, nothing
    written), then compute and write the results."""
    from . import runconfig

    try:
        built = runconfig.load(path)
    except runconfig.ConfigError as err:
        print(f"jaxredfield run: invalid config {path}: {err}", file=sys.stderr)
        return 2
    from .._files import FileInUseError, SaveError

    try:
        runconfig.execute(built)
    except (FileInUseError, SaveError) as err:
        print(f"jaxredfield run: {err}", file=sys.stderr)
        return 2 if isinstance(err, FileInUseError) else 1
    return 0


def main(argv=None) -> int:
    from .._cache import enable_compilation_cache

    enable_compilation_cache()  # compiled programs reused by the next run (JAXREDFIELD_CACHE=0: off)
    parser = argparse.ArgumentParser(prog="jaxredfield", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    p = sub.add_parser("demo", help="trace distances to exact Redfield on the paper's chain")
    p.add_argument("--L", type=int, default=6, help="chain length (default 6)")
    p.add_argument("--T", type=float, default=2.2, help="bath temperature in units of h")
    p.add_argument("--J", type=float, default=1.0, help="exchange coupling in units of h")
    r = sub.add_parser("reproduce", help="run the script of one of the paper's figures",
                       description="Run a figure script; everything after FIG goes to the script "
                                   "(e.g. jaxredfield reproduce fig3d --ntraj 100; "
                                   "jaxredfield reproduce fig3d --help lists its options).")
    r.add_argument("--list", action="store_true", help="list the figures")
    r.add_argument("fig", nargs="?", help="figure name (see --list)")
    r.add_argument("script_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    rc = sub.add_parser("run", help="run a user's chain, baths and equation from a TOML file",
                        description=_run_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    rc.add_argument("config", help="TOML file (see the format above)")
    args = parser.parse_args(argv)
    if args.cmd == "run":
        return run(args.config)
    if args.cmd == "reproduce":
        if args.list or not args.fig:
            for k, (_, _, what) in FIGURES.items():
                print(f"{k:8s} {what}")
            return 0 if args.list else 2
        return reproduce(args.fig, args.script_args)
    if args.cmd != "demo":
        parser.print_help()
        return 2
    if not 2 <= args.L <= 7:
        parser.error("--L must be between 2 and 7 (the demo compares with exact Redfield)")
    if not args.T > 0:
        parser.error("--T must be > 0")
    demo(args.L, args.T, args.J)
    return 0


if __name__ == "__main__":
    sys.exit(main())
