r"""Chebyshev propagator psi(t + s) = exp(-i H_nh s) psi for the non-Hermitian Hamiltonian
H_nh = H - (i/2) Gamma, Gamma = sum_k L_k^dag L_k, of quantum-jump trajectories
(Tal-Ezer & Kosloff, J. Chem. Phys. 81, 3967 (1984)), matrix-free.

With rigorous bounds E_lo <= spec(H) <= E_hi and 0 <= spec(Gamma) <= G_hi (from
:func:`spectral_bounds`), c = (E_hi + E_lo)/2 - i G_hi/4 and R = (E_hi - E_lo)/2, the
scaled operator Z = (H_nh - c)/R has its numerical range in the rectangle
[-1, 1] x i[-delta, delta], delta = G_hi/(4R) (|exp(-i c s)| = exp(-G_hi s/4) <= 1). The
Jacobi-Anger expansion holds for every complex z,

    exp(-i tau z) = sum_n a_n(tau) T_n(z),   a_n = (2 - delta_n0) (-i)^n J_n(tau),

so psi(t + s) = exp(-i c s) sum_n a_n(R s) T_n(Z) psi with the three-term recurrence
T_{n+1}(Z) psi = 2 Z T_n(Z) psi - T_{n-1}(Z) psi: four state vectors, one Z psi per term.
Truncation after m terms errs by at most (1 + sqrt 2) sum_{n >= m} |a_n| rho^n (Crouzeix-
Palencia: ||f(Z)|| <= (1 + sqrt 2) max |f| over the numerical range; |T_n| <= rho^n on the
Bernstein ellipse E_rho that contains the rectangle); m(tau) is tabulated from this bound.
For Hermitian H alone (Gamma = 0) this is the classic Chebyshev propagator; the cost is
about R s + O(log 1/tol) products per step, against ~6 per (much shorter) Runge-Kutta step.
"""

from __future__ import annotations

import functools
import hashlib
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..operators import embed
from ..operators._gather import GatherOperator, apply_sum, fused_sum

#: largest window (local dimension d^w) diagonalized by :func:`spectral_bounds`
_WINDOW_MAX_DIM = 256


#: bounds of the latest operator sets (content-addressed): a repeated mcsolve call on the same
#: equation skips the window diagonalizations (0.1 s at L = 16, seconds when BLAS threads
#: share their cores with busy helper processes)
_BOUNDS_CACHE: dict = {}
_BOUNDS_CACHE_SIZE = 16


def spectral_bounds(ops, window_max_dim: int = _WINDOW_MAX_DIM):
    """Rigorous bounds (lo, hi) with lo <= spec(sum ops) <= hi for Hermitian LocalOperators.

    Every term is shared equally among all windows of w contiguous sites that contain its
    support (d^w <= ``window_max_dim``), so sum ops = sum_windows H_w exactly and
    lambda_min/max(sum ops) lie within sum_w lambda_min/max(H_w) (Weyl). Larger windows give
    tighter bounds; terms wider than a window are bounded by their own eigenvalues.
    """
    ops = list(ops)
    if not ops:
        return 0.0, 0.0
    h = hashlib.sha256(repr((window_max_dim, ops[0].L, ops[0].d)).encode())
    for op in ops:
        m = np.ascontiguousarray(np.asarray(op.matrix, complex))
        h.update(repr((tuple(op.sites), m.shape)).encode())
        h.update(m.tobytes())
    key = h.digest()
    if key not in _BOUNDS_CACHE:
        if len(_BOUNDS_CACHE) >= _BOUNDS_CACHE_SIZE:
            _BOUNDS_CACHE.pop(next(iter(_BOUNDS_CACHE)))
        _BOUNDS_CACHE[key] = _window_bounds(ops, window_max_dim)
    return _BOUNDS_CACHE[key]


def _window_bounds(ops, window_max_dim):
    L, d = ops[0].L, ops[0].d
    w = max(1, min(L, int(math.floor(math.log(window_max_dim) / math.log(d) + 1e-9))))
    windows = [tuple(range(a, a + w)) for a in range(L - w + 1)]
    acc = {win: np.zeros((d**w, d**w), complex) for win in windows}
    lo = hi = 0.0
    for op in ops:
        m = np.asarray(op.matrix, complex)
        m = 0.5 * (m + m.conj().T)
        inside = [win for win in windows if set(op.sites) <= set(win)]
        if not inside:
            ev = np.linalg.eigvalsh(m)
            lo, hi = lo + ev[0], hi + ev[-1]
            continue
        for win in inside:
            acc[win] += embed(m / len(inside), op.sites, win, d)  # NumPy in, NumPy out
    for m in acc.values():
        if np.any(m):
            ev = np.linalg.eigvalsh(m)
            lo, hi = lo + ev[0], hi + ev[-1]
    return float(lo), float(hi)


#: largest growth rho^m of ||T_m(Z) psi|| accepted per step: the round-off of the recurrence
#: is at most ~ eps * rho^m (measured: 2.8e-9 at rho^m = 1.6e8 in float64; the bound is
#: pessimistic, 1e-13 was measured at rho^m = 1e4), so strong damping (rho > 1) shortens the
#: step instead
_ROUNDOFF_GROWTH = {"D": 1e6, "F": 1e2}


def _n_terms(tau: float, rho: float, tol: float, n: int) -> int:
    """Smallest m with (1 + sqrt 2) sum_{k >= m} |a_k(tau)| rho^k <= tol (n + 1 if none < n)."""
    k = np.arange(n)
    la = math.log(2) + _log_abs_bessel_bound(tau, n) + k * math.log(rho)
    tail = (1 + math.sqrt(2)) * np.cumsum(np.exp(np.minimum(la, 700))[::-1])[::-1]
    ok = np.flatnonzero(tail <= tol)
    return int(ok[0]) if ok.size else n + 1


#: buckets (dtau 2^-(k+1), dtau 2^-k] of the small-tau table (root-finding trials are short)
_N_SMALL = 32


@functools.lru_cache(maxsize=64)  # pure in its floats; 0.08 s per mcsolve call otherwise
def _term_table(tau_max: float, rho: float, tol: float, growth: float, npts: int = 256):
    """(tau_max', m on the grid linspace(0, tau_max', npts + 1), m at dtau 2^-k for
    k < ``_N_SMALL``, dtau = tau_max'/npts): tau_max' <= tau_max is reduced until
    rho^m(tau_max') <= growth; both tables are made monotone (m at a grid point bounds every
    tau below it)."""
    def m_of(tau):
        n = int(tau * (rho + 1 / rho) / 2 + 10 * tau ** (1 / 3) + 60)
        while n < 100_000:
            m = _n_terms(tau, rho, tol, n)
            if m <= n - 20:
                return max(m, 2)
            n *= 2
        raise RuntimeError(f"Chebyshev term count did not converge (tau={tau}, rho={rho})")

    while tau_max > 1e-3 and m_of(tau_max) * math.log(rho) > math.log(growth):
        tau_max *= 0.8
    grid = np.linspace(0.0, tau_max, npts + 1)
    small = [m_of(grid[1] * 2.0**-k) for k in range(_N_SMALL)]
    table, small = np.maximum.accumulate([m_of(t) for t in grid]), np.maximum.accumulate(small[::-1])[::-1]
    table.flags.writeable = small.flags.writeable = False  # shared by the cache
    return float(tau_max), table, small


def _bernstein_rho(delta: float) -> float:
    """Smallest rho = e^eta whose ellipse (foci +-1, semi-axes cosh eta, sinh eta) contains
    the rectangle [-1, 1] x i[-delta, delta]."""
    if delta <= 0:
        return 1.0 + 1e-12

    def inside(eta):
        return 1 / math.cosh(eta) ** 2 + delta**2 / math.sinh(eta) ** 2 <= 1

    a, b = 1e-12, 1.0
    while not inside(b):
        b *= 2
    for _ in range(200):
        mid = 0.5 * (a + b)
        a, b = (a, mid) if inside(mid) else (mid, b)
    return math.exp(b)


def _log_abs_bessel_bound(tau: float, n: int) -> np.ndarray:
    """Upper bounds of log|J_k(tau)|, k < n (host side): the FFT of the Jacobi-Anger
    generating function (+1e-15 for its round-off) where that is smaller than the rigorous
    |J_k(tau)| <= (tau/2)^k / k!, which takes over in the far tail."""
    K = 1 << int(math.ceil(math.log2(2 * n + 4 * tau + 64)))
    th = 2 * np.pi * np.arange(K) / K
    c = np.abs(np.fft.fft(np.exp(-1j * tau * np.cos(th))) / K)[:n]
    k = np.arange(n)
    lgamma = np.array([math.lgamma(x + 1) for x in k])
    with np.errstate(divide="ignore"):
        series = k * np.log(tau / 2) - lgamma if tau > 0 else np.where(k == 0, 0.0, -np.inf)
    return np.minimum(np.log(c + 1e-15), series)


class ChebyshevPropagator(eqx.Module):
    """psi -> exp(-i H_nh s) psi for a batch-free state vector (module docstring).

    Build with :meth:`build`; ``propagate(psi, s)`` is pure and jittable (``s`` may be traced
    and differ between vmapped trajectories; every trajectory then runs the largest term
    count of the batch, harmless since extra terms only add accuracy).
    """

    zop: object  # GatherOperator for Z, or tuple of LocalOperators (Z without the shift)
    shift: complex  # -c/R added to the local terms when zop is a tuple
    c: complex
    R: float
    tau_max: float
    m_table: jnp.ndarray  # number of terms needed on a grid of tau
    m_small: jnp.ndarray  # ... at tau = dtau 2^-k (short root-finding trials)
    dtau: float
    n_max: int = eqx.field(static=True)
    n_fft: int = eqx.field(static=True)

    @classmethod
    def build(cls, hamiltonian, jumps, *, tau_max: float = 20.0, tol: float = 1e-12,
              dtype=jnp.complex128, gather_max_dim: int = 16, damping=None) -> "ChebyshevPropagator":
        """From the Hamiltonian terms and jump operators (LocalOperators) of a Lindblad
        equation: H_nh = H - (i/2) sum_k L_k^dag L_k. ``damping``: instead, the positive
        semidefinite local terms G_j of H_nh = H - (i/2) sum_j G_j (signed trajectories).
        ``tau_max`` is the largest R s of one step; ``tol`` the truncation bound."""
        e_lo, e_hi = spectral_bounds(hamiltonian)
        gdag = list(damping) if damping is not None else [
            o.with_matrix(o.matrix.conj().T @ o.matrix) for o in jumps]
        g_hi = spectral_bounds(gdag)[1] if gdag else 0.0
        c = 0.5 * (e_hi + e_lo) - 0.25j * g_hi
        R_h = 0.5 * (e_hi - e_lo)
        R_h = R_h * (1 + 1e-8) + 1e-8 * (1 + abs(c))  # round-off margin
        # a strong damping (G_hi >~ R) makes rho large and the steps short; widening the
        # interval (larger R) trades that against more terms per unit time: take the
        # cheapest of a few widths, cost = terms per step / step length
        growth = _ROUNDOFF_GROWTH[np.dtype(dtype).char]
        best = None
        for f in (0.0, 0.25, 0.5, 1.0, 2.0, 4.0):
            R = max(R_h, f * g_hi, 1e-12)
            if best is not None and R == best[0]:
                continue
            rho = _bernstein_rho(0.25 * g_hi / R)
            if rho ** 2 > growth:  # not even two terms per step stay accurate
                continue
            tm, table, small = _term_table(tau_max, rho, tol, growth)
            cost = table[-1] * R / tm
            if best is None or cost < best[3]:
                best = (R, tm, table, cost, small)
        R, tau_max, m_table, _, m_small = best
        n_max = int(m_table[-1])
        n_fft = 1 << int(math.ceil(math.log2(2 * n_max + 4 * tau_max + 64)))
        # Z = (H_nh - c)/R = sum_j (h_j - (i/2) L^dag L)/R - c/R
        terms = [o.with_matrix(o.matrix / R) for o in hamiltonian]
        terms += [g.with_matrix(-0.5j * g.matrix / R) for g in gdag]
        zop, shift = fused_sum(terms, dtype, gather_max_dim), -c / R
        if isinstance(zop, GatherOperator):  # the shift goes into the fused diagonal
            zop = eqx.tree_at(lambda z: z.diag, zop, (zop.diag + shift).astype(dtype))
            shift = 0.0
        return cls(zop, complex(shift), complex(c), float(R), float(tau_max),
                   jnp.asarray(m_table, jnp.int32), jnp.asarray(m_small, jnp.int32),
                   float(tau_max / (len(m_table) - 1)), n_max, n_fft)

    @property
    def max_step(self) -> float:
        """Longest time step s = tau_max / R."""
        return self.tau_max / self.R

    def apply_z(self, psi):
        if isinstance(self.zop, GatherOperator):
            return self.zop.apply(psi)
        return self.shift * psi + apply_sum(self.zop, psi)

    def coefficients(self, s):
        """a_n(R s) exp(-i c s), n < n_max, for a scalar (possibly traced) s."""
        tau = self.R * s
        K = self.n_fft
        th = 2 * jnp.pi * jnp.arange(K) / K
        f = jnp.exp(-1j * tau * jnp.cos(th))
        n = jnp.arange(self.n_max)
        # c_n = (1/K) sum_k f_k e^{-i n th_k} = (-i)^n J_n(tau) up to aliasing J_{K-n}
        cn = jnp.fft.fft(f)[: self.n_max] / K
        a = jnp.where(n == 0, 1.0, 2.0) * cn
        return a * jnp.exp(-1j * self.c * s)

    def n_terms(self, s):
        """Terms for a step of length |s| (J_n(-tau) = (-1)^n J_n(tau): the bound is even)."""
        tau = self.R * jnp.abs(s)
        idx = jnp.clip(jnp.ceil(tau / self.dtau).astype(jnp.int32), 0, self.m_table.shape[0] - 1)
        # tau in (dtau 2^-(k+1), dtau 2^-k]: the small table (tau = 0: its last entry)
        k = jnp.floor(jnp.log2(self.dtau / jnp.maximum(tau, 1e-300))).astype(jnp.int32)
        small = self.m_small[jnp.clip(k, 0, self.m_small.shape[0] - 1)]
        return jnp.where(tau <= self.dtau, small, self.m_table[idx])

    def propagate(self, psi, s, axis_name=None, s_save=None):
        """exp(-i H_nh s) psi for |s| <= max_step; with ``s_save`` (0 <= s_save <= s) the
        pair (exp(-i H_nh s) psi, exp(-i H_nh s_save) psi) from one recurrence (dense output:
        the vectors T_n(Z) psi are shared, only the coefficients differ; one more sum).
        A negative s propagates backwards (root finding: short steps from a point past the
        jump time); the truncation bound of |s| then holds times |exp(-i c s)| =
        exp(G_hi |s| / 4), the growth of the backward evolution itself.

        Under ``jax.vmap(..., axis_name=axis_name)`` pass the axis name: the loop then runs
        the batch's largest term count, an unbatched bound (a batched one makes XLA select
        every carried vector after every term, ~3 extra passes over the state per term)."""
        m_own = self.n_terms(s)
        m = m_own if axis_name is None else jax.lax.pmax(m_own, axis_name)
        rows = [self._masked_coefficients(s, m_own, psi.dtype)]
        if s_save is not None:  # n_terms is non-decreasing: the save point needs no more terms
            rows.append(self._masked_coefficients(s_save, self.n_terms(s_save), psi.dtype))
        out = self._series(psi, jnp.stack(rows), m)
        return out[0] if s_save is None else (out[0], out[1])

    def _masked_coefficients(self, s, m_own, dtype):
        """a_n(R s) exp(-i c s) for n < ``m_own``, exactly zero beyond (so a trajectory's result
        does not depend on the other trajectories of its batch), two zeros appended."""
        a = self.coefficients(s).astype(dtype)
        a = jnp.where(jnp.arange(self.n_max) < m_own, a, 0)
        return jnp.concatenate([a, jnp.zeros(2, a.dtype)])

    def _series(self, psi, a, m):
        """The sums sum_{n < m} a[j, n] T_n(Z) psi for every row j of ``a`` (k, n_max + 2):
        two terms per iteration (no carry shuffling: v2, v3 overwrite v0, v1 in place)."""
        v1 = self.apply_z(psi)
        acc = a[:, 0, None] * psi + a[:, 1, None] * v1

        def cond(c):
            return c[0] < m

        def body(c):
            n, v0, v1, acc = c
            v2 = 2 * self.apply_z(v1) - v0
            v3 = 2 * self.apply_z(v2) - v1
            return n + 2, v2, v3, acc + a[:, n, None] * v2 + a[:, n + 1, None] * v3

        return jax.lax.while_loop(cond, body, (jnp.asarray(2, jnp.int32), psi, v1, acc))[3]


__all__ = ["ChebyshevPropagator", "spectral_bounds"]
