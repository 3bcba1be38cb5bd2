"""The paper's setups and the output helpers of the figure scripts in examples/.

- :func:`bath` -- an ohmic (main text) or Drude-Lorentz (SM I) bath, gamma = 0.25h.
- :func:`xxz_system` -- the boundary-driven XXZ chain of Fig. 1(b)/2 (Delta = 0.7,
  delta = -0.07h), with T_l and T_r (SM J: T_l != T_r).
- :func:`bose_hubbard_system` -- the Bose-Hubbard chain with two particle reservoirs of SM C /
  Fig. S.4 (U = 0.5J, V_i = 0.35 (i - L/2)^2 J, mu = -2.5T, gamma = 0.25J).
- :func:`steady_distances` -- steady-state trace distances of several equations to a reference.
- :func:`fast_steadystate` -- eigen-preconditioned GMRES with a dense fallback (error maps).
- :func:`xxz_distances` -- the same on the paper's chain for several equations, fast solves.
- :func:`add_bath_arguments`, :func:`bath_label` -- the scripts' --kind / --E_D options.
- :func:`write_csv`, :func:`pyplot`, :func:`save_figure` -- CSV and PNG output;
  :func:`atomic_savez` -- the scripts' checkpoints (the trajectories' atomic write);
  :class:`Owner` -- one run per checkpoint or output folder (``jaxredfield._files``).
"""

from __future__ import annotations

import csv
import os
import warnings

import numpy as np

from ..baths import DrudeLorentzBath, OhmicBath
from ..equations import redfield
from ..method import GMRES, Direct
from ..models import bose_hubbard_chain, xxz_chain
from ..observables import trace_distance
from ..solvers import steadystate
from ..solvers._steadystate import DENSE_MAX_DIM
from ..system import OpenSystem, boundary_driven, particle_reservoir
from .._files import atomic_savez as atomic_savez
from .._files import Owner as Owner
from .._files import deferred_signals as deferred_signals
from .._files import atomic_write, atomic_write_text

GAMMA = 0.25


def bath(T: float, kind: str = "ohmic", E_D: float | None = None, gamma: float = GAMMA):
    """An ohmic bath or (``kind="drude"``) a Drude-Lorentz bath with cutoff ``E_D``."""
    if kind == "ohmic":
        return OhmicBath(gamma, T)
    if kind == "drude":
        if E_D is None:
            raise ValueError("`E_D` (Drude cutoff) is required for kind='drude'")
        return DrudeLorentzBath(gamma, T, E_D)
    raise ValueError(f"`kind` must be 'ohmic' or 'drude', got {kind!r}")


def xxz_system(L: int = 6, J: float = 1.0, T: float = 2.2, T_r: float | None = None,
               kind: str = "ohmic", E_D: float | None = None, h: float = 1.0) -> OpenSystem:
    """The paper's chain (h = 1, Delta = 0.7, delta = -0.07h) with baths at T (left) and
    T_r (right; default T) coupled through sigma^x on the end sites. J, T, T_r and h may be
    JAX tracers (gradients, examples/gradients_current.py)."""
    model = xxz_chain(L, J=J, Delta=0.7, h=h, delta=-0.07)
    T_r = T if T_r is None else T_r
    return boundary_driven(model, bath(T, kind, E_D), bath(T_r, kind, E_D))


def bose_hubbard_system(L: int = 4, T: float = 2.0, nmax: int = 2, J: float = 1.0) -> OpenSystem:
    """Fig. S.4: Bose-Hubbard chain (U = 0.5J, V_i = 0.35 (i - L/2)^2 J with 1-based i) with
    particle reservoirs (gamma = 0.25J, mu = -2.5T) on both end sites."""
    V = [0.35 * (i - L / 2) ** 2 * J for i in range(1, L + 1)]
    model = bose_hubbard_chain(L, J=J, U=0.5 * J, V=V, nmax=nmax)
    couplings = particle_reservoir(0, nmax, GAMMA * J, T, -2.5 * T)
    couplings += particle_reservoir(L - 1, nmax, GAMMA * J, T, -2.5 * T)
    return OpenSystem(model, couplings)


def steady_distances(builders: dict, reference, solve=steadystate) -> dict:
    """{name: trace distance of solve(build()) to ``reference``} for ``builders``
    {name: zero-argument function returning a MasterEquation}; ``solve``: the steady-state
    solver (e.g. :func:`fast_steadystate`). Far outside the expansion's convergence (low T) a
    steady state may not exist or GMRES may fail: that entry is NaN."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # divergence at low T is the point
        for name, build in builders.items():
            try:
                out[name] = float(trace_distance(solve(build()), reference))
            except (RuntimeError, np.linalg.LinAlgError):
                out[name] = float("nan")
    return out


def write_csv(path: str, rows: list, fieldnames=None) -> str:
    """Write a list of dicts (or, with ``fieldnames``, of sequences) to ``path``, atomically
    (a reader never sees a half-written file; :func:`jaxredfield._files.atomic_write`)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)

    def write(f):
        if fieldnames is None:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
        else:
            w = csv.writer(f)
            w.writerow(fieldnames)
        w.writerows(rows)

    return atomic_write(path, write, mode="w")


def pyplot():
    """matplotlib.pyplot with the Agg backend, or None (and a note) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: CSV written, plot skipped (pip install matplotlib)")
        return None
    return plt


def save_figure(fig, path: str, tight: bool = True) -> str:
    """Save ``fig`` as a PNG at ``path`` and close it (``tight=False`` for figures with a
    shared colorbar, which tight_layout cannot arrange)."""
    if tight:
        fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, dpi=130, format="png"))
    import matplotlib.pyplot as plt

    plt.close(fig)
    print(f"wrote {path}")
    return path


def fast_steadystate(eq, maxiter: int = 10, dense_max_dim: int = 32):
    """:func:`~jaxredfield.steadystate` for many solves at the paper's sizes: the dense solve
    up to dimension ``dense_max_dim`` (cheapest to compile), above it GMRES preconditioned in
    the eigenbasis of the Hamiltonian part (``GMRES(preconditioner="eigen")``), or the dense solve
    where that does not converge within ``maxiter`` restart cycles of 60 Krylov steps
    (diverging expansions at low T). Same result to ~1e-12; measured at L = 6 (D = 64, 2 busy
    cores): 0.4-1 s per solve instead of ~7 s dense (a failed GMRES try costs ~2 s), which
    makes the steady-state error maps of Figs. S.3-S.15 affordable. The GMRES path skips the
    second, uniqueness solve (``check_unique=False``, half the cost): the paper's setups
    (sigma^x couplings at both ends) have a unique steady state, which the dense path and
    tests/test_solvers.py check."""
    if eq.dim <= dense_max_dim:
        return steadystate(eq, method=Direct())
    try:
        return steadystate(eq, method=GMRES(preconditioner="eigen", maxiter=maxiter),
                           check_unique=False)
    except RuntimeError:
        if eq.dim > DENSE_MAX_DIM:
            raise
        return steadystate(eq, method=Direct())


def xxz_distances(equations: dict, L: int, J: float, T: float, kind: str = "ohmic",
                  E_D: float | None = None) -> dict:
    """Steady-state trace distances to exact Redfield on the paper's chain
    (:func:`xxz_system`, T_l = T_r = T) for ``equations`` {name: function system ->
    MasterEquation}, all solved with :func:`fast_steadystate` (SM Figs. S.3-S.15)."""
    system = xxz_system(L, J, T, None, kind, E_D)
    builders = {name: (lambda f=f: f(system)) for name, f in equations.items()}
    return steady_distances(builders, fast_steadystate(redfield(system)), solve=fast_steadystate)


def add_bath_arguments(parser):
    """Options ``--kind ohmic|drude`` and ``--E_D`` (Drude cutoff) of the figure scripts whose
    Drude variants are other figures (Figs. S.12-S.15)."""
    parser.add_argument("--kind", choices=("ohmic", "drude"), default="ohmic",
                        help="ohmic baths (main text) or Drude-Lorentz baths (SM I)")
    parser.add_argument("--E_D", type=float, default=None, help="Drude cutoff in units of h (--kind drude)")


def bath_label(parser, args) -> str:
    """'ohmic' or 'drude_ED<E_D>' (file names, titles) from :func:`add_bath_arguments`'s options;
    exits through ``parser.error`` when --kind drude lacks --E_D."""
    if args.kind == "ohmic":
        return "ohmic"
    if args.E_D is None:
        parser.error("--kind drude needs --E_D (the paper: 30h in Figs. S.12/S.13, 10h in S.14/S.15)")
    return f"drude_ED{args.E_D:g}"
