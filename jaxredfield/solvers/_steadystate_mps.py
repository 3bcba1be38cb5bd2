r"""``steadystate(eq, method=jr.MPS(...))``: the non-equilibrium steady state of a long chain as
a density MPS (issue 26), without the d^L x d^L matrix.

Algorithm -- relaxation under the master equation itself, then Richardson extrapolation in
the time step:

1. From ``rho0`` (default: the infinite-temperature product state, bond 1) the density MPS
   is evolved by the same second-order TEBD as ``mesolve(method=jr.MPS())``
   (:mod:`jaxredfield.solvers._mesolve_mps`) in windows of ``WINDOW_TIME`` = 4 time units (steps of
   ``method.dt``). After each window the two-site reduced density matrices of every bond
   (:func:`~jaxredfield.mps._density.bond_marginals`; they hold every one- and two-site
   observable: magnetizations, bond currents, energies) are compared with the previous
   window's; the run stops when the largest change of an entry per unit time is at most
   ``tol``. A symmetric (second-order) splitting's fixed point is the steady state of a
   modified generator G + dt^2 G_2 + O(dt^4): it differs from the true one by O(dt^2)
   (measured at L = 6, local Lindblad N = 1, dt = 0.1: 1.7e-3 in the currents).
2. The same relaxation at dt/2, started from the first result (the two fixed points differ by
   O(dt^2): the second run starts next to its own).
3. Richardson: rho = (4 rho_{dt/2} - rho_{dt}) / 3 cancels the dt^2 term (error O(dt^4)); the
   combination of the two trace-normalized MPS is compressed back to ``max_bond``
   (:func:`~jaxredfield.mps._combine.combine`). ``stats["trotter_correction"]`` is the largest
   change that step made to a bond marginal (the size of the removed O(dt^2) error).

Why relaxation: it is the one method that converges for every equation form the density MPS
holds (Lindblad and pseudo-Lindblad: the local Redfield equation has negative rates) and whose
truncations are the ones ``mesolve(method=jr.MPS())`` already validates; variational
minimization of <rho|G^dag G|rho> is known to converge badly at large L (issue 26). Its cost
is the relaxation time, which grows with L (tau ~ L^1.5 ... L^2.6 on the paper's chain,
``benchmarks/results/relaxation_time.md``): a good ``rho0`` (the steady state at a nearby
parameter, or of a shorter chain's profile) shortens it.

Stopping honestly: a run that reaches ``max_time`` before ``tol`` warns
(``RuntimeWarning``, with the change per unit time reached and the fix) and returns its state
with ``stats["converged"] = False``; a truncation that makes the state unphysical -- a bond
marginal with an eigenvalue below ``-MARGINAL_SLACK`` -- or an accumulated discarded weight
per unit time above ``MAX_DISCARDED_RATE`` warns with :class:`jaxredfield.TruncationWarning`.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from .._checkpoint_file import check_path, fingerprint, header, read
from .._files import Owner, atomic_savez, deferred_signals
from .._progress import bar
from ..mps import MatrixProductState, bond_dims
from ..mps._combine import combine, trace
from ..mps._density import bond_marginals, marginal_matrices
from ..mps._truncation import TruncationWarning
from ._mesolve_mps import _advance, density_tebd

#: time between two looks at the bond marginals (the truncations' noise in the change per
#: unit time falls with it: ~3e-7 at 4 time units and cutoff 1e-10, measured at L = 6)
WINDOW_TIME = 4.0
#: windows without a new smallest change per unit time after which a run counts as stalled
#: (a truncated bond: the truncations keep the state moving at a floor above ``tol``)
STALL_WINDOWS = 30
#: the floor, sooner: over the last 2 x PLATEAU_WINDOWS windows the median change of the later
#: half is above PLATEAU_RATIO times that of the earlier half (no longer falling) and the change
#: rose from one window to the next at least PLATEAU_RISES of the time (noise, not a slow
#: smooth relaxation, which falls every window). Measured at L = 8, bond 64: the change
#: fluctuates between 1.5e-6 and 3.9e-6 from t = 56 on, and lows of that noise kept resetting
#: the no-new-low count (32 windows without a stop).
PLATEAU_WINDOWS = 8
PLATEAU_RATIO = 0.9
PLATEAU_RISES = 1 / 3
#: the checkpoint file's format (``steadystate(..., checkpoint=path)``)
FORMAT = "jaxredfield.steadystate_mps.checkpoint/1"
#: a bond marginal may have eigenvalues down to -MARGINAL_SLACK (truncation round-off)
MARGINAL_SLACK = 1e-6
#: discarded weight per unit time of the converged state above which it warns
MAX_DISCARDED_RATE = 1e-5


def _marginals(t) -> np.ndarray:
    return np.asarray(_bond_marginals(t))


_bond_marginals = jax.jit(bond_marginals)


def _stalled(history) -> float | None:
    """The floor (the median change per unit time of the last PLATEAU_WINDOWS windows) when
    ``history`` (the change per unit time, one value per window) has stopped falling at a
    noisy plateau, else None; or after STALL_WINDOWS windows without a new low."""
    k = PLATEAU_WINDOWS
    h = np.asarray(history, dtype=float)
    if len(h) > STALL_WINDOWS and np.argmin(h) < len(h) - STALL_WINDOWS:
        return float(np.median(h[-k:]))
    if len(h) < 2 * k:
        return None
    late, early = np.median(h[-k:]), np.median(h[-2 * k:-k])
    rises = np.mean(np.diff(h[-2 * k:]) > 0)
    return float(late) if late >= PLATEAU_RATIO * early and rises >= PLATEAU_RISES else None


def _relax(tebd, t, dt: float, tol: float, max_time: float, pbar, label: str, resume=None, save=None):
    """Windows of WINDOW_TIME in steps of ``dt`` until the bond marginals change by at most
    ``tol`` per unit time, the change stalls at a floor above it (:func:`_stalled`) or
    ``max_time`` has passed. Returns (tensors, marginals, time evolved, last change per unit
    time (the floor when stalled), discarded weight per unit time of the last window,
    converged). ``resume``: (marginals of the last window, time evolved, history of the
    change per unit time, discarded weight rate) of a run that stopped after a window with
    the tensors ``t`` (from the checkpoint); ``save(t, marginals, elapsed, history, rate)``:
    called after every window that does not end the relaxation."""
    steps = max(1, round(WINDOW_TIME / dt))
    window = steps * dt
    if resume is None:
        prev, elapsed, history, rate = _marginals(t), 0.0, [], 0.0
    else:
        prev, elapsed, history, rate = resume
        history = list(history)
    change = history[-1] if history else math.inf
    while elapsed < max_time - 1e-12:
        t, cut = _advance(tebd, t, jnp.float64(dt), jnp.int32(steps))
        elapsed += window
        m = _marginals(t)
        if not np.all(np.isfinite(m)):
            raise RuntimeError(f"steadystate(method=jr.MPS()) produced NaN or inf after t = {elapsed:.4g} "
                               f"({label}); lower `dt` or raise `max_bond`")
        change = float(np.max(np.abs(m - prev))) / window
        rate = float(cut) / window
        prev = m
        pbar.update(1)
        pbar.set_postfix_str(f"{label} t={elapsed:.4g} change/t={change:.2g} (tol {tol:g})")
        if change <= tol:
            return t, m, elapsed, change, rate, True
        history.append(change)
        floor = _stalled(history)
        if floor is not None:
            return t, m, elapsed, floor, rate, False
        if save is not None:
            save(t, m, elapsed, history, rate)
    return t, prev, elapsed, change, rate, False


class _Checkpoint:
    """The relaxation's progress in a file (``steadystate(..., checkpoint=path)``): the phase
    (0: relaxing at dt, 1: at dt/2, 2: both done), the tensors, marginals, time evolved and
    history of the running phase after its last finished window, and each finished phase's
    result. Written atomically after every window (SIGTERM/SIGINT held during the write), read
    back when a call with the same equation, start, options, ``tol`` and ``max_time`` finds it
    (:func:`jaxredfield._checkpoint_file.read`); another run's file is refused, not
    overwritten. A path (or None: the methods do nothing)."""

    def __init__(self, path, eq, method, rho0, tol, max_time):
        self.path = None if path is None else check_path(path)
        if self.path is not None:
            self.fp = fingerprint(FORMAT, {"eq": eq, "rho0": rho0},
                                  {"method": type(method).__name__, "tol": tol, "max_time": max_time,
                                   **method.options()})
        self.data = {}

    def load(self) -> dict:
        st = read(self.path, FORMAT, self.fp, "equation, rho0, tol, max_time or options") \
            if self.path is not None else None
        self.data = {} if st is None else {k: v for k, v in st.items() if not k.startswith(("format", "fingerprint"))}
        return self.data

    def write(self, **items):
        if self.path is None:
            return
        self.data.update({k: np.asarray(v) for k, v in items.items()})
        with deferred_signals():
            atomic_savez(self.path, **header(FORMAT, self.fp), **self.data)

    def clear_progress(self):
        """Forget the running phase's window state (its phase has ended)."""
        for k in ("t", "prev", "elapsed", "history", "rate"):
            self.data.pop(k, None)

    def progress(self, phase: int):
        """``save`` for :func:`_relax` in ``phase``."""
        if self.path is None:
            return None
        return lambda t, m, elapsed, history, rate: self.write(
            phase=phase, t=t, prev=m, elapsed=elapsed, history=np.asarray(history, float), rate=rate)

    def resume(self, phase: int):
        """(tensors, resume tuple for :func:`_relax`) of ``phase`` if the file stopped in it."""
        d = self.data
        if not d or int(d["phase"]) != phase or "t" not in d:
            return None, None
        return jnp.asarray(d["t"]), (d["prev"], float(d["elapsed"]), list(d["history"]), float(d["rate"]))


def _normalized(t, d: int):
    """The storage of the same state with trace 1 (Richardson combines trace-1 states): every
    site divided by the L-th root of |Tr|'s scale, the first also by the trace's mantissa
    (no overflow for long chains)."""
    mant, log10 = trace(t, d)
    if mant == 0:
        raise RuntimeError("steadystate(method=jr.MPS()): the density MPS has zero trace (truncated away); "
                           "raise `max_bond`")
    L = t.shape[0]
    # spread the scale over the sites: Tr = mant 10^log10, each site divided by 10^(log10/L)
    f = 10.0 ** (-log10 / L)
    s = np.asarray(t) * f
    s[0] = s[0] / mant
    return s


def steadystate_mps(eq, method, rho0, tol: float, max_time: float, progress, max_memory, return_info,
                    checkpoint=None):
    """The steady state of ``eq`` as a density MPS (module docstring); arguments as
    :func:`jaxredfield.steadystate` (``checkpoint``: :class:`_Checkpoint`)."""
    from ..result import SteadyStateResult

    L, d, chi = eq.L, eq.d, method.max_bond
    if L < 2:
        raise ValueError("steadystate(method=jr.MPS()) needs a chain of L >= 2 sites; use the default "
                         "method for a single site")
    ck = _Checkpoint(checkpoint, eq, method, rho0, tol, max_time)
    rho0 = np.eye(d) / d if rho0 is None else rho0  # infinite temperature on every site
    tebd, t = density_tebd(eq, method, rho0, "steadystate", 4, max_memory)
    t0 = time.perf_counter()
    dt = float(method.dt)
    n_windows = 2 * math.ceil(max_time / WINDOW_TIME)
    with Owner(ck.path, "`checkpoint`") if ck.path is not None else contextlib.nullcontext():
        saved = dict(ck.load())  # (a copy: ck.data grows with the writes below)
        phase = int(saved["phase"]) if saved else 0
        # windows already done: the finished phases' times and the running phase's (cleared
        # when its phase ends)
        done = sum(round(float(saved[k]) / WINDOW_TIME) for k in ("T1", "elapsed", "T2") if k in saved)
        with bar(n_windows, "steadystate (MPS)", "window", progress, initial=done) as pbar:
            if phase == 0:
                start, resume = ck.resume(0)
                t1, m1, T1, ch1, _, ok1 = _relax(tebd, t if start is None else start, dt, tol, max_time,
                                                 pbar, f"dt={dt:g}", resume, ck.progress(0))
                ck.clear_progress()
                ck.write(phase=1, t1=t1, T1=T1, ch1=ch1, ok1=ok1)
            else:
                t1, T1, ch1, ok1 = (jnp.asarray(saved["t1"]), float(saved["T1"]), float(saved["ch1"]),
                                    bool(saved["ok1"]))
            if phase < 2:
                start, resume = ck.resume(1)
                t2, m2, T2, ch2, rate, ok2 = _relax(tebd, t1 if start is None else start, dt / 2, tol, max_time,
                                                    pbar, f"dt={dt / 2:g}", resume, ck.progress(1))
                ck.clear_progress()
                ck.write(phase=2, t2=t2, m2=m2, T2=T2, ch2=ch2, rate2=rate, ok2=ok2)
            else:
                t2, m2, T2, ch2, rate, ok2 = (jnp.asarray(saved["t2"]), saved["m2"], float(saved["T2"]),
                                              float(saved["ch2"]), float(saved["rate2"]), bool(saved["ok2"]))
    a, b = _normalized(t2, d), _normalized(t1, d)
    tr, norm, cut = combine(a, b, 4.0 / 3.0, -1.0 / 3.0, chi, method.cutoff)
    tr = jnp.asarray(tr)
    m = _marginals(tr)
    correction = float(np.max(np.abs(m - m2)))
    converged = ok1 and ok2
    stats = {"converged": converged, "change_per_time": max(ch1, ch2), "tol": tol,
             "evolved_time": (T1, T2), "trotter_correction": correction,
             "discarded_weight_rate": rate, "richardson_discarded": cut,
             "bond_dims": np.asarray(bond_dims(tr)),
             "seconds": time.perf_counter() - t0, "resumed_phase": None if not saved else phase}
    if not converged:
        which, ch, T = (f"dt = {dt:g}", ch1, T1) if not ok1 else (f"dt = {dt / 2:g}", ch2, T2)
        if T < max_time - 1e-9:  # stalled: the truncations keep the state moving
            why = (f"the change per unit time stalled at {ch:.3g} (the median of the last {PLATEAU_WINDOWS} "
                   f"windows, no longer falling, t = {T:.4g}; tol = {tol:g}), the floor the truncations leave (discarded weight {rate:.3g} per unit "
                   f"time). Raise `max_bond` (jr.MPS(max_bond={2 * chi})) or lower `cutoff`, or accept a "
                   f"`tol` above {ch:.2g}")
        else:
            why = (f"the bond marginals still change by {ch:.3g} per unit time after max_time = {max_time:g} "
                   f"(tol = {tol:g}). Raise `max_time`, or start closer (rho0 = this result's state)")
        warnings.warn(f"steadystate(method=jr.MPS()) did not converge at {which}: {why}; "
                      "stats['converged'] is False.", RuntimeWarning, stacklevel=3)
    rho2 = marginal_matrices(m, d)
    ev = float(np.linalg.eigvalsh(0.5 * (rho2 + np.conj(np.swapaxes(rho2, 1, 2)))).min())
    reasons = []
    if ev < -MARGINAL_SLACK:
        reasons.append(f"a two-site reduced density matrix has the eigenvalue {ev:.3g} < 0")
    if rate > MAX_DISCARDED_RATE:
        reasons.append(f"the truncations discard a weight of {rate:.3g} per unit time in the steady state "
                       f"(above {MAX_DISCARDED_RATE:g})")
    if reasons:
        warnings.warn(f"steadystate(method=jr.MPS()) with max_bond = {chi}, cutoff = {method.cutoff:g}: the "
                      f"truncation has made the state unreliable: {'; '.join(reasons)}. Raise `max_bond` "
                      f"(jr.MPS(max_bond={2 * chi})) and compare.", TruncationWarning, stacklevel=3)
    stats["min_marginal_eigenvalue"] = float(ev)
    state = MatrixProductState(tr)
    if return_info:
        return SteadyStateResult(state=state, stats=stats, method=method)
    return state
