r"""Truncation is never silent (issue 26, item 4): after an MPS run (``mesolve`` and
``mcsolve`` with ``method=jr.MPS()``), :func:`check_truncation` warns with a
:class:`TruncationWarning` when the SVD truncations have made the results unreliable, naming
the measure, where it happened and the fix.

Two independent signs, either one warns:

- **An expectation value outside its operator's bounds.** A density matrix, even a truncated
  one, that were positive would give <O> in [lambda_min(O), lambda_max(O)]; a truncated density
  MPS is not positive, and a value outside the spectrum (beyond round-off, ``BOUND_SLACK``
  times the spread) proves the state is wrong there. Non-Hermitian e_ops: |<O>| <= ||O||_2.
  (Trajectory means are convex combinations of normalized states: always inside; checked all
  the same.)
- **The accumulated discarded weight** w(t) (the sum over the run's SVDs of the relative
  squared norm each one cut; ``stats["discarded_weight"]``) above ``MAX_DISCARDED`` = 1e-3. For
  one truncation of a normalized state, ||psi - psi_cut||^2 = w, so a normalized expectation
  moves by up to ~2 ||O|| sqrt(w): 6 % of ||O|| at w = 1e-3, no longer a small error. (A
  converged run has w <~ 1e-6: the default cutoff 1e-10 times the number of SVDs.)

Warned, not raised: the numbers are still returned (with ``stats["discarded_weight"]``) so a
user can see where they went wrong; ``warnings.simplefilter("error", jr.TruncationWarning)``
turns the warning into an error. The fix named: a larger ``max_bond``, a smaller ``cutoff``
or a start that needs less entanglement (e.g. the infinite-temperature state instead of a
Néel state for the density MPS).
"""

from __future__ import annotations

import warnings

import numpy as np

#: accumulated discarded weight above which an MPS run warns (module docstring)
MAX_DISCARDED = 1e-3
#: an expectation value may exceed its operator's bounds by this fraction of its spread
#: (+ its norm times 1e-9) before it counts as outside (round-off of the contractions)
BOUND_SLACK = 1e-6


class TruncationWarning(RuntimeWarning):
    """An MPS result that the truncation has made unreliable (:mod:`jaxredfield.mps._truncation`).
    Turn it into an error with ``warnings.simplefilter("error", jr.TruncationWarning)``."""


def operator_bounds(ops, herm) -> np.ndarray:
    """(n_ops, 2): [lambda_min, lambda_max] of each Hermitian operator's local matrix (the
    embedding adds identities only), [-||O||_2, ||O||_2] for the modulus of the others."""
    out = np.empty((len(ops), 2))
    for n, (o, h) in enumerate(zip(ops, herm)):
        m = np.asarray(o.matrix, complex)
        if h:
            ev = np.linalg.eigvalsh(0.5 * (m + m.conj().T))
            out[n] = ev[0], ev[-1]
        else:
            s = np.linalg.norm(m, 2)
            out[n] = -s, s
    return out


def _outside(expect, ops, herm):
    """(n, k, value, (lo, hi)) of the first expectation value outside its bounds, or None."""
    if expect is None or not len(ops):
        return None
    ex = np.asarray(expect)
    b = operator_bounds(ops, herm)
    slack = BOUND_SLACK * (b[:, 1] - b[:, 0]) + 1e-9 * np.abs(b).max(axis=1)
    herm = np.asarray(herm, bool)
    val = np.where(herm[:, None], ex.real, np.abs(ex))
    bad = (val < b[:, :1] - slack[:, None]) | (val > b[:, 1:] + slack[:, None]) | ~np.isfinite(val)
    if not bad.any():
        return None
    k = int(np.argmax(bad.any(axis=0)))  # the first save time with one
    n = int(np.argmax(bad[:, k]))
    return n, k, float(val[n, k]), tuple(b[n])


def check_truncation(what: str, method, tsave, discarded, expect=None, ops=(), herm=(), *,
                     stacklevel: int = 3) -> bool:
    """Warn (:class:`TruncationWarning`) if the run ``what`` (e.g. "mesolve(method=jr.MPS())")
    has an expectation value outside its operator's bounds or an accumulated discarded weight
    above :data:`MAX_DISCARDED`. ``discarded`` (n_t,): w at each of ``tsave``; ``expect``
    (n_ops, n_t) with its LocalOperators ``ops`` and Hermitian flags ``herm``. Returns whether
    it warned."""
    ts = np.asarray(tsave, np.float64)
    w = np.asarray(discarded, np.float64).reshape(-1)
    reasons = []
    out = _outside(expect, ops, herm)
    if out is not None:
        n, k, v, (lo, hi) = out
        kind = (f"outside its operator's spectrum [{lo:.4g}, {hi:.4g}]" if herm[n] else
                f"larger in modulus than its operator's norm {hi:.4g}")
        reasons.append(f"<e_ops[{n}]> = {v:.4g} at t = {ts[k]:.4g} is {kind}")
    over = np.flatnonzero(~(w <= MAX_DISCARDED))  # NaN counts as over
    if over.size:
        k = int(over[0])
        reasons.append(f"the discarded weight reached {w[k]:.3g} by t = {ts[k]:.4g} ({w[-1]:.3g} by the "
                       f"end, t = {ts[-1]:.4g}; above {MAX_DISCARDED:g}, a normalized expectation value "
                       f"can be off by ~2 sqrt(w) ||O|| = {2 * np.sqrt(w[k]):.2g} ||O||)")
    if not reasons:
        return False
    warnings.warn(
        f"{what} with max_bond = {method.max_bond}, cutoff = {method.cutoff:g}: the truncation has made "
        f"the results unreliable: {'; '.join(reasons)}. Raise `max_bond` (jr.MPS(max_bond="
        f"{2 * method.max_bond})) and compare, lower `cutoff`, or start from a state that needs less "
        "entanglement (stats['discarded_weight'] holds w at every save time).",
        TruncationWarning, stacklevel=stacklevel)
    return True
