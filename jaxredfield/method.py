"""Method objects: how a solver computes, with every tolerance and step cap of that method.

One way to choose an algorithm everywhere (as diffrax's solvers and dynamiqs' ``method=``):

- :class:`Diffrax` -- adaptive Runge-Kutta (any diffrax solver), for ``mesolve`` and
  ``mcsolve`` (the reference propagator of the no-jump evolution);
- :class:`Chebyshev` -- the Chebyshev propagator exp(-i H_nh s) psi of ``mcsolve`` (default);
- :class:`MPS` -- matrix product states (second-order TEBD, fixed maximal bond dimension):
  ``mcsolve`` trajectories, and ``mesolve`` with the density matrix as an MPS of the doubled
  chain: chains far beyond state vectors;
- :class:`Direct` -- dense LU solve of the D^2 x D^2 Liouvillian, for ``steadystate``;
- :class:`GMRES` -- matrix-free restarted GMRES (lineax), for ``steadystate``.

Each solver accepts the methods it supports and refuses others with a message listing them;
only the fields of the chosen method enter a trajectory checkpoint's fingerprint.
"""

from __future__ import annotations

import diffrax as dfx
import equinox as eqx


class Method(eqx.Module):
    """Base class of the method objects (fields are the method's options)."""

    def options(self) -> dict:
        """The fields that determine a result, for fingerprints and summaries."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def __repr__(self) -> str:  # every option, also the static ones equinox's repr hides
        body = ", ".join(f"{k}={v!r}" if isinstance(v, str) or v is None else f"{k}={v}"
                         for k, v in self.options().items())
        return f"{type(self).__name__}({body})"


def _positive(x, name, method):
    try:
        ok = float(x) > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"`{method}({name}=...)` must be > 0, got {x!r}")


def _positive_int(x, name, method):
    if isinstance(x, bool) or not isinstance(x, int) or x <= 0:
        raise ValueError(f"`{method}({name}=...)` must be a positive integer, got {x!r}")


class Diffrax(Method):
    """Adaptive integration with a diffrax solver and a ``PIDController(rtol, atol)``; at most
    ``max_steps`` steps per integration.

    The default solver is ``Dopri8()`` (Dormand--Prince 8(7)): at the default tolerances
    (rtol 1e-8, atol 1e-10) an 8th-order method takes about a third of Tsit5's steps (the
    paper's chain, local Lindblad N = 1, t = 0...5/h: 31 vs 102 steps at L = 6, 28 vs 84 at
    L = 8) with errors of the same size against a tight reference (3.0e-8 vs 1.9e-8 at L = 6,
    7.0e-8 vs 9.1e-8 at L = 8); mesolve runs it with fused stage sums. ``Tsit5()`` (dynamiqs'
    default) is faster at loose tolerances, less accurately (rtol = atol = 1e-6, mesolve:
    L = 6 19 vs 29 ms, L = 8 0.31 vs 0.45 s, errors 1e-4 vs 5e-6)."""

    solver: object = eqx.field(static=True, default_factory=dfx.Dopri8)
    rtol: float = eqx.field(static=True, default=1e-8)
    atol: float = eqx.field(static=True, default=1e-10)
    max_steps: int = eqx.field(static=True, default=1_000_000)

    def __check_init__(self):
        if not isinstance(self.solver, dfx.AbstractSolver):
            raise TypeError(f"`Diffrax(solver=...)` must be a diffrax solver such as "
                            f"diffrax.Tsit5(), got {type(self.solver).__name__}")
        _positive(self.rtol, "rtol", "Diffrax")
        _positive(self.atol, "atol", "Diffrax")
        _positive_int(self.max_steps, "max_steps", "Diffrax")

    def options(self) -> dict:
        return {"solver": type(self.solver).__name__, "rtol": self.rtol, "atol": self.atol,
                "max_steps": self.max_steps}


class Chebyshev(Method):
    """Chebyshev expansion of exp(-i H_nh s) psi (Tal-Ezer--Kosloff) with a rigorous
    truncation bound ``atol`` per propagation step of a unit state (Crouzeix--Palencia)."""

    atol: float = eqx.field(static=True, default=1e-10)

    def __check_init__(self):
        _positive(self.atol, "atol", "Chebyshev")


class MPS(Method):
    """Matrix product states: for ``mcsolve``, quantum-jump trajectories with the no-jump evolution
    exp(-i H_nh s) by second-order TEBD (palindromic sweeps of gates on blocks of
    w = max(2, widest term) contiguous sites) in steps of at most ``dt``, with the same
    waiting-time algorithm, root finding and keys as the state-vector engine. Terms, jumps
    and e_ops on contiguous sites (local Lindblad / local Redfield of any order N, the
    standard local Lindblad equation).

    - ``max_bond``: the bond dimension chi of the fixed (L, chi, d, chi) storage (the cap).
    - ``dt``: the TEBD step; the error per unit time is O(dt^2). Default 0.05 (in units of
      1/J of the paper's chain): measured on its chain at L = 8 (exact bond, 48 trajectories
      with the same keys as ``jr.Chebyshev()``, t = 0...5/h): the bias of <sigma^z_i>(t) is at
      most 1.1e-3 (standard local Lindblad; 6.2e-4 local Lindblad N = 1), 1.8e-4 at dt = 0.02,
      -- a tenth of the standard error of 10^4 trajectories; dt = 0.1 changes single
      trajectories' jumps.
    - ``cutoff``: each SVD truncation also cuts the smallest singular values whose weight
      sum S_k^2 is at most ``cutoff`` times the total (the bonds then use only the sizes
      they need, which the engine exploits: bonds that are still small cost less). Default
      1e-10 (singular values below ~1e-5 of the largest); ``stats["discarded_weight"]``
      reports what was cut. 0: only numerically zero singular values are cut. Measured
      (L = 20, bond 64, local Lindblad N = 1, same keys as 1e-12; benchmarks/validate_mps.py):
      1e-10: bias 1.7e-5, 1.4x faster; 1e-8: 2.6e-4, 2.5x; 1e-6: 4.2e-3, 4x. The default
      keeps the truncation's bias ~60x below the time step's (1.1e-3 at dt = 0.05).

    With ``mesolve`` the same options apply to the density matrix as an MPS of the doubled
    chain (local dimension d^2; ``jaxredfield/mps/_density.py``): the error is O(dt^2)
    (tests/test_mesolve_mps.py: halving dt divides it by 3-5) plus the truncation, reported
    as ``stats["discarded_weight"]``.

    Truncation is never silent: ``mesolve`` and ``mcsolve`` on MPS warn with a
    :class:`jaxredfield.TruncationWarning` (the numbers are still returned) when an expectation
    value lies outside its operator's bounds or the accumulated discarded weight exceeds 1e-3,
    naming the time, the weight and the fix (``jaxredfield/mps/_truncation.py``)."""

    max_bond: int = eqx.field(static=True, default=64)
    dt: float = eqx.field(static=True, default=0.05)
    cutoff: float = eqx.field(static=True, default=1e-10)

    def __check_init__(self):
        _positive_int(self.max_bond, "max_bond", "MPS")
        _positive(self.dt, "dt", "MPS")
        if not (isinstance(self.cutoff, (int, float)) and 0 <= self.cutoff < 1):
            raise ValueError(f"MPS(cutoff=...) must be a number in [0, 1) (the relative weight "
                             f"each truncation may cut), got {self.cutoff!r}")


class Direct(Method):
    """Dense direct solve of the D^2 x D^2 Liouvillian with the trace condition (one LU
    factorization); small D only (memory 48 D^4 bytes)."""


class GMRES(Method):
    """Matrix-free restarted GMRES (lineax) of the Liouvillian with the trace condition.

    ``tol``: relative residual; ``restart``: Krylov dimension (30: measured with the eigen
    preconditioner on the paper's chain, local Redfield N = 4, L = 6 / 8: 0.37 / 7.0 s
    against 0.47 / 12.1 s with 60, 0.37 s with 10 at L = 6); ``maxiter``: iteration cap;
    ``preconditioner``: ``None`` or ``"eigen"`` ((-i[H, .] - sigma)^{-1} in the eigenbasis of
    H: diagonalizes the d^L x d^L Hamiltonian as a numerical aid only)."""

    tol: float = eqx.field(static=True, default=1e-12)
    restart: int = eqx.field(static=True, default=30)
    maxiter: int = eqx.field(static=True, default=20000)
    preconditioner: str | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        _positive(self.tol, "tol", "GMRES")
        _positive_int(self.restart, "restart", "GMRES")
        _positive_int(self.maxiter, "maxiter", "GMRES")
        if self.preconditioner not in (None, "eigen"):
            raise ValueError("`GMRES(preconditioner=...)` must be None or 'eigen', got "
                             f"{self.preconditioner!r}")


def check_method(method, allowed: tuple, solver: str, default):
    """``method`` or ``default`` when None; refuses a method ``solver`` does not support with
    a message listing the supported ones."""
    if method is None:
        return default
    if isinstance(method, str):
        names = ", ".join(f"jr.{c.__name__}()" for c in allowed)
        raise TypeError(f"`method` of {solver} is a method object ({names}), got the string "
                        f"{method!r}")
    if not isinstance(method, allowed):
        names = ", ".join(f"jr.{c.__name__}()" for c in allowed)
        raise TypeError(f"{solver} supports method={names}; got {type(method).__name__}")
    return method


__all__ = ["Method", "Diffrax", "Chebyshev", "MPS", "Direct", "GMRES", "check_method"]
