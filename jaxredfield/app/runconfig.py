"""A user's run from a TOML file: ``jaxredfield run config.toml``.

The file names a chain, its baths, one master equation and what to compute::

    [model]
    kind = "xxz"              # "xxz" (eq. 5) or "bose_hubbard" (eq. S.14)
    L = 6
    J = 1.0
    Delta = 0.7               # xxz: Delta, h, delta;  bose_hubbard: U, V (number or L values), nmax
    h = 1.0
    delta = -0.07

    [[baths]]                 # one table per bath
    site = 0                  # 0-based
    kind = "ohmic"            # "ohmic", "drude" (needs E_D) or "particle_reservoir" (needs mu)
    gamma = 0.25
    T = 2.2
    operator = "sigmax"       # sigmax | sigmay | sigmaz (spins);  x = a + a^dag (bosons)

    [[baths]]
    site = 5
    kind = "ohmic"
    gamma = 0.25
    T = 6.6

    [equation]
    kind = "local_redfield"   # redfield | local_redfield | local_lindblad | adhoc_redfield
    order = 4                 #   | standard_local_lindblad;  eps0 (adhoc), lam (local_lindblad)

    [run]
    steadystate = true        # steady-state observables (steady.csv)
    tmax = 20.0               # dynamics from `initial` up to tmax (0: none) at nt times
    nt = 81
    initial = "plus"          # plus | up | down (spins), vacuum (bosons), mixed
    observables = ["sigmaz", "current"]   # sigmaz (spins), number (bosons), current
    out = "results/run"       # CSV, PNG and summary.json go here

Every field is checked before anything runs; a bad one raises :class:`ConfigError` naming it
(the command line prints it and exits with code 2, writing nothing). Unknown keys are errors
too (they are usually typos).
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """An invalid field of a run configuration; ``field`` names it (e.g. ``baths[1].T``)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


_MODEL_KEYS = {"xxz": {"kind", "L", "J", "Delta", "h", "delta"},
               "bose_hubbard": {"kind", "L", "J", "U", "V", "nmax"}}
_BATH_KEYS = {"site", "kind", "gamma", "T", "E_D", "mu", "operator"}
_EQUATIONS = {"redfield": set(), "local_redfield": {"order"}, "local_lindblad": {"order", "lam"},
              "adhoc_redfield": {"order", "eps0"}, "standard_local_lindblad": set()}
_RUN_KEYS = {"steadystate", "tmax", "nt", "initial", "observables", "out"}
_MAX_DIM = 4096  # density matrices beyond this (L = 12 spins) need trajectories (mcsolve)


def _table(cfg, key, field=None):
    t = cfg.get(key)
    if not isinstance(t, dict):
        raise ConfigError(field or f"[{key}]", "missing table" if t is None else "must be a table")
    return t


def _unknown(t, allowed, field):
    extra = sorted(set(t) - set(allowed))
    if extra:
        raise ConfigError(f"{field}.{extra[0]}", f"unknown key; allowed here: {', '.join(sorted(allowed))}")


def _num(t, key, field, default=None, positive=False, nonneg=False):
    x = t.get(key, default)
    if x is None:
        raise ConfigError(f"{field}.{key}", "missing (a number)")
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x):
        raise ConfigError(f"{field}.{key}", f"must be a finite number, got {x!r}")
    if positive and not x > 0:
        raise ConfigError(f"{field}.{key}", f"must be > 0, got {x!r}")
    if nonneg and not x >= 0:
        raise ConfigError(f"{field}.{key}", f"must be >= 0, got {x!r}")
    return float(x)


def _int(t, key, field, default=None, lo=None, hi=None):
    x = t.get(key, default)
    if isinstance(x, bool) or not isinstance(x, int):
        raise ConfigError(f"{field}.{key}", f"must be an integer, got {x!r}")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise ConfigError(f"{field}.{key}", f"must be between {lo} and {hi}, got {x}")
    return x


def _choice(t, key, choices, field, default=None):
    x = t.get(key, default)
    if x is None:
        raise ConfigError(f"{field}.{key}", f"missing; one of {', '.join(map(repr, choices))}")
    if x not in choices:
        raise ConfigError(f"{field}.{key}", f"must be one of {', '.join(map(repr, choices))}, got {x!r}")
    return x


def _model(cfg):
    from ..models import bose_hubbard_chain, xxz_chain

    t = _table(cfg, "model")
    kind = _choice(t, "kind", tuple(_MODEL_KEYS), "[model]")
    _unknown(t, _MODEL_KEYS[kind], "[model]")
    J = _num(t, "J", "[model]", 1.0)
    if kind == "xxz":
        L = _int(t, "L", "[model]", None, 2, 40)
        return xxz_chain(L, J=J, Delta=_num(t, "Delta", "[model]", 0.7), h=_num(t, "h", "[model]", 1.0),
                         delta=_num(t, "delta", "[model]", 0.0))
    L = _int(t, "L", "[model]", None, 2, 40)
    nmax = _int(t, "nmax", "[model]", 2, 1, 10)
    V = t.get("V", 0.0)
    if isinstance(V, list):
        if len(V) != L or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in V):
            raise ConfigError("[model].V", f"must be a number or a list of L = {L} numbers, got {V!r}")
    else:
        V = _num(t, "V", "[model]", 0.0)
    return bose_hubbard_chain(L, J=J, U=_num(t, "U", "[model]", 0.5), V=V, nmax=nmax)


def _couplings(cfg, model):
    from ..baths import DrudeLorentzBath, OhmicBath
    from ..operators import create, destroy, sigmax, sigmay, sigmaz
    from ..system import Coupling, particle_reservoir

    baths = cfg.get("baths")
    if not isinstance(baths, list) or not baths:
        raise ConfigError("[[baths]]", "give at least one [[baths]] table (site, kind, gamma, T)")
    spin = model.d == 2 and _table(cfg, "model")["kind"] == "xxz"
    ops = {"sigmax": sigmax, "sigmay": sigmay, "sigmaz": sigmaz} if spin else {
        "x": lambda: destroy(model.d - 1) + create(model.d - 1)}
    out = []
    for n, b in enumerate(baths):
        f = f"baths[{n}]"
        if not isinstance(b, dict):
            raise ConfigError(f, "must be a table")
        _unknown(b, _BATH_KEYS, f)
        site = _int(b, "site", f, None, 0, model.L - 1)
        kind = _choice(b, "kind", ("ohmic", "drude", "particle_reservoir"), f)
        gamma, T = _num(b, "gamma", f, nonneg=True), _num(b, "T", f, positive=True)
        if kind == "particle_reservoir":
            if spin:
                raise ConfigError(f"{f}.kind", "particle_reservoir needs a bosonic chain (model.kind = 'bose_hubbard')")
            for key in ("E_D", "operator"):
                if key in b:
                    raise ConfigError(f"{f}.{key}", "not used by a particle_reservoir (it couples through a, a^dag)")
            out += particle_reservoir(site, model.d - 1, gamma, T, _num(b, "mu", f))
            continue
        if "mu" in b:
            raise ConfigError(f"{f}.mu", "only a particle_reservoir has a chemical potential")
        op = _choice(b, "operator", tuple(ops), f, "sigmax" if spin else "x")
        if kind == "drude":
            E_D = _num(b, "E_D", f, positive=True)
            try:
                bath = DrudeLorentzBath(gamma, T, E_D)
            except ValueError as err:
                raise ConfigError(f"{f}.E_D", str(err)) from None
        else:
            if "E_D" in b:
                raise ConfigError(f"{f}.E_D", "only a drude bath has a cutoff E_D")
            bath = OhmicBath(gamma, T)
        out.append(Coupling(site, ops[op](), bath))
    return out


def _equation(cfg, system):
    from .. import equations

    t = _table(cfg, "equation")
    kind = _choice(t, "kind", tuple(_EQUATIONS), "[equation]")
    _unknown(t, _EQUATIONS[kind] | {"kind"}, "[equation]")
    if kind in ("redfield",) and system.model.d ** system.model.L > 1024:
        raise ConfigError("[equation].kind", f"exact redfield diagonalizes H (dimension "
                          f"{system.model.d ** system.model.L}); use local_redfield for chains this long")
    args = []
    if "order" in _EQUATIONS[kind]:
        args.append(_int(t, "order", "[equation]", None, 0, 12))
    if kind == "adhoc_redfield":
        args.append(_num(t, "eps0", "[equation]"))
    kw = {}
    if kind == "local_lindblad" and "lam" in t:
        kw["lam"] = _num(t, "lam", "[equation]", positive=True)
    if kind in ("local_lindblad", "standard_local_lindblad") and any(
            not c.is_hermitian_single for c in system.couplings):
        raise ConfigError("[equation].kind", f"{kind} needs Hermitian couplings; particle reservoirs "
                          "work with redfield, local_redfield and adhoc_redfield")
    try:
        return getattr(equations, kind)(system, *args, **kw)
    except ValueError as err:
        raise ConfigError("[equation]", str(err)) from None


def _run_options(cfg, model, has_equation=True):
    t = cfg.get("run", {})
    if not isinstance(t, dict):
        raise ConfigError("[run]", "must be a table")
    _unknown(t, _RUN_KEYS, "[run]")
    spin = model.d == 2 and cfg["model"].get("kind") == "xxz"
    steady = t.get("steadystate", True)
    if not isinstance(steady, bool):
        raise ConfigError("[run].steadystate", f"must be true or false, got {steady!r}")
    tmax = _num(t, "tmax", "[run]", 0.0, nonneg=True)
    nt = _int(t, "nt", "[run]", 81, 2, 100000)
    inits = ("plus", "up", "down", "mixed") if spin else ("vacuum", "mixed")
    initial = _choice(t, "initial", inits, "[run]", inits[0])
    obs_ok = ("sigmaz", "current") if spin else ("number", "current")
    obs = t.get("observables", list(obs_ok))
    if not isinstance(obs, list) or not obs or any(o not in obs_ok for o in obs):
        raise ConfigError("[run].observables", f"must be a non-empty list drawn from {list(obs_ok)}, got {obs!r}")
    out = t.get("out", "results/run")
    if not isinstance(out, str) or not out:
        raise ConfigError("[run].out", f"must be a folder name, got {out!r}")
    if not steady and tmax == 0:
        raise ConfigError("[run]", "nothing to do: set steadystate = true or tmax > 0")
    D = model.d ** model.L
    if D > _MAX_DIM:
        raise ConfigError("[model].L", f"the density matrix has dimension {D} > {_MAX_DIM}: too large "
                          "for steadystate/mesolve; use quantum trajectories (jaxredfield.mcsolve) "
                          "from Python for long chains")
    return dict(steady=steady, tmax=tmax, nt=nt, initial=initial, observables=obs, out=out)


def load(path) -> dict:
    """Read and check ``path``; returns the built objects {system, equation, run options}.
    Raises :class:`ConfigError` for any invalid field, before anything is computed."""
    from ..system import OpenSystem

    try:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("config", f"file {path!s} not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError("config", f"{path!s} is not valid TOML: {err}") from None
    _unknown(cfg, {"model", "baths", "equation", "run"}, "config")
    model = _model(cfg)
    run = _run_options(cfg, model)
    system = OpenSystem(model, _couplings(cfg, model))
    return {"system": system, "equation": _equation(cfg, system), "run": run, "config": cfg}


def _observables(model, names):
    from ..observables import bond_current, operator_on
    from ..operators import number, sigmaz

    out = []
    for name in names:
        if name == "current":
            out += [(f"current_{i}", bond_current(model, i)) for i in range(model.L - 1)]
        else:
            q = sigmaz() if name == "sigmaz" else number(model.d - 1)
            out += [(f"{name}_{i}", operator_on(q, i, model)) for i in range(model.L)]
    return out


def _initial(model, kind):
    D = model.d ** model.L
    if kind == "mixed":
        return np.eye(D) / D
    psi = np.zeros(D, dtype=complex)
    if kind == "plus":
        psi[:] = 1 / np.sqrt(D)
    else:
        psi[0 if kind in ("up", "vacuum") else D - 1] = 1.0  # basis index 0 = |up...up> / |0...0>
    return psi


def execute(built: dict, log=print) -> dict:
    """Run a loaded configuration; writes steady.csv, dynamics.csv, run.png and summary.json
    into ``run.out`` and returns the numbers. The folder has one owner at a time (another run
    writing there gets ``FileInUseError`` at once) and every file is written atomically."""
    import jax

    from .paper import Owner, deferred_signals

    if jax.process_index() != 0:  # a multi-task SLURM step: process 0 writes the files
        return _execute(built, lambda msg: None, write=False)
    os.makedirs(built["run"]["out"], exist_ok=True)
    # one run per output folder: refused at once while another run writes there; SIGTERM/SIGINT
    # stop it between files, never inside a write
    with Owner(built["run"]["out"], "the output folder `run.out`"), deferred_signals():
        return _execute(built, log)


def _execute(built: dict, log, write: bool = True) -> dict:
    from ..observables import expect
    from ..solvers import mesolve, steadystate
    from .paper import atomic_write_text, pyplot, save_figure, write_csv

    eq, run, model = built["equation"], built["run"], built["system"].model
    obs = _observables(model, run["observables"])
    summary = {"equation": eq.name, "L": model.L, "d": model.d, "config": built["config"]}
    result = {}
    if run["steady"]:
        t0 = time.perf_counter()
        rho = steadystate(eq)
        result["steady"] = {k: float(np.real(expect(o, rho))) for k, o in obs}
        summary["steadystate_seconds"] = time.perf_counter() - t0
        if write:
            write_csv(os.path.join(run["out"], "steady.csv"), list(result["steady"].items()), ["observable", "value"])
        log(f"steady state of {eq.name} ({summary['steadystate_seconds']:.1f} s): "
            + ", ".join(f"{k}={v:.4g}" for k, v in result["steady"].items()))
    if run["tmax"] > 0:
        t0 = time.perf_counter()
        ts = np.linspace(0.0, run["tmax"], run["nt"])
        ex = np.real(np.asarray(mesolve(eq, _initial(model, run["initial"]), ts, e_ops=[o for _, o in obs],
                                        save_states=False).expect))
        result["times"], result["dynamics"] = ts, {k: ex[n] for n, (k, _) in enumerate(obs)}
        summary["mesolve_seconds"] = time.perf_counter() - t0
        if write:
            write_csv(os.path.join(run["out"], "dynamics.csv"),
                      [[f"{t:.8g}"] + [f"{ex[n, j]:.12g}" for n in range(len(obs))] for j, t in enumerate(ts)],
                      ["t"] + [k for k, _ in obs])
        log(f"dynamics of {eq.name} to t={run['tmax']} ({summary['mesolve_seconds']:.1f} s)")
    plt = pyplot() if write else None
    if plt is not None:
        names = run["observables"]
        fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
        for ax, name in zip(axes[0], names):
            keys = [k for k, _ in obs if k.rsplit("_", 1)[0] == name]
            if "steady" in result:
                ax.plot(range(len(keys)), [result["steady"][k] for k in keys], "o-", label="steady state")
            if "dynamics" in result:
                for frac in (0.1, 0.3, 1.0):
                    j = int(round(frac * (len(result["times"]) - 1)))
                    ax.plot(range(len(keys)), [result["dynamics"][k][j] for k in keys], ".--",
                            label=f"t={result['times'][j]:.3g}")
            ax.set_xlabel("bond i" if name == "current" else "site i")
            ax.set_ylabel(name)
            ax.legend(fontsize=7)
        fig.suptitle(eq.name)
        save_figure(fig, os.path.join(run["out"], "run.png"))
    if not write:
        return result
    atomic_write_text(os.path.join(run["out"], "summary.json"), json.dumps(summary, indent=1, default=str))
    log(f"wrote {run['out']}/ (steady.csv, dynamics.csv, run.png, summary.json)")
    return result
