r"""Independent references for the tests: the paper's equations built in the FULL Hilbert space
with NumPy (Kronecker products, dense commutators, dense superoperators) and mpmath (bath
functions and their Taylor coefficients at high precision).

Nothing here imports jaxredfield: every object is rebuilt from the paper's text.

- Models: the XXZ chain of eq. (5) and the Bose-Hubbard chain of eq. (S.14), with their
  site-local Hamiltonians H_S^{loc,i} (0-based sites, site 0 the leftmost Kronecker factor).
- Baths: the ohmic W(E) = gamma E / (e^{E/T} - 1) (main text) and the Drude-Lorentz W_D of
  eqs. (S.59)-(S.61), the latter in three independent forms: the term-by-term transform of
  C(t) summed in closed form with digamma functions (analytic in E, so mpmath differentiates
  it), eq. (S.61) with its Matsubara sum by mpmath.nsum, and a numerical Fourier-Laplace
  transform of C(t).
- Jump operators: exact u of eq. (1)/(S.8), the ad-hoc expansion of eq. (3) and the local
  expansion of eq. (4), nested commutators ([H, .] - eps)^n with the full H.
- Generators: row-major superoperator matrices (vec(rho)[i*D + j] = rho[i, j], so
  vec(A rho B) = kron(A, B^T) vec(rho)) of the Redfield form, of the pseudo-Lindblad form of
  SM E written with the paper's eta (eqs. S.46-S.49), of the local Lindblad equation with the
  paper's lambda_loc (main text; SM H, eq. S.55, with |r_kq|^2), and of the standard local
  Lindblad equation (secular limit, Lamb shift Im W A^dag A).
"""

from __future__ import annotations

from functools import reduce

import mpmath
import numpy as np

# ---------------------------------------------------------------- operators and models
SX = np.array([[0, 1], [1, 0]], dtype=complex)
SY = np.array([[0, -1j], [1j, 0]], dtype=complex)
SZ = np.array([[1, 0], [0, -1]], dtype=complex)  # basis (|up>, |down>)
SP = np.array([[0, 1], [0, 0]], dtype=complex)  # |up><down|
SM = SP.T.copy()


def destroy(nmax):
    return np.diag(np.sqrt(np.arange(1, nmax + 1)), 1).astype(complex)


def site_op(op, i, L):
    """op on site i of an L-site chain (identity elsewhere), site 0 leftmost."""
    d = op.shape[0]
    return reduce(np.kron, [op if j == i else np.eye(d) for j in range(L)])


def xxz(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07):
    """Eq. (5): H = -J sum_i (sx sx + sy sy + Delta sz sz)_{i,i+1} + sum_i h_i sz_i with the
    paper's h_i = h + (i-1) delta for 1-based i. Returns (H, [H^loc_i as 2x2])."""
    hloc = [(h + i * delta) * SZ for i in range(L)]  # 0-based site i is the paper's i+1
    H = sum(site_op(hl, i, L) for i, hl in enumerate(hloc))
    for i in range(L - 1):
        for P, c in ((SX, 1.0), (SY, 1.0), (SZ, Delta)):
            H = H - J * c * site_op(P, i, L) @ site_op(P, i + 1, L)
    return H, hloc


def bose_hubbard(L, J=1.0, U=0.5, V=0.0, nmax=2):
    """Eq. (S.14): H = -J sum_i (a^dag_{i+1} a_i + a^dag_i a_{i+1})
    + sum_i [U/2 n_i (n_i + 1) + V_i n_i], Fock cutoff nmax. Returns (H, [H^loc_i])."""
    a = destroy(nmax)
    n = a.conj().T @ a
    V = np.broadcast_to(np.asarray(V, dtype=float), (L,))
    hloc = [0.5 * U * n @ (n + np.eye(nmax + 1)) + V[i] * n for i in range(L)]
    H = sum(site_op(hl, i, L) for i, hl in enumerate(hloc))
    for i in range(L - 1):
        ai, aj = site_op(a, i, L), site_op(a, i + 1, L)
        H = H - J * (aj.conj().T @ ai + ai.conj().T @ aj)
    return H, hloc


# ---------------------------------------------------------------- baths (mpmath)
def ohmic_W(gamma, T):
    """W(E) = gamma E / (e^{E/T} - 1) (main text, pure ohmic), W(0) = gamma T (its limit)."""
    g, t = mpmath.mpf(gamma), mpmath.mpf(T)

    def W(E):
        E = mpmath.mpmathify(E)
        if E == 0:
            return g * t
        return g * E / mpmath.expm1(E / t)

    return W


def drude_W(gamma, T, ED):
    r"""W_D(E) = int_0^inf e^{-iEt} C(t) dt with C(t) of eq. (S.59), transformed term by term:

        (gamma/2) a^2 [cot(a/2T) - i] / (a + iE) + 2 gamma T a^2 S(E),
        S(E) = sum_{l>=1} nu_l / ((nu_l^2 - a^2)(nu_l + iE)),  nu_l = 2 pi l T,  a = E_D,

    with S in closed form: in units c = 2 pi T, with alpha = a/c, beta = iE/c,
    l / ((l^2 - alpha^2)(l + beta)) = A/(l - alpha) + B/(l + alpha) + C/(l + beta),
    A = 1/(2(alpha + beta)), B = 1/(2(beta - alpha)), C = -beta/(beta^2 - alpha^2) (A+B+C = 0),
    so sum_l = -[A psi(1 - alpha) + B psi(1 + alpha) + C psi(1 + beta)] (digamma psi).
    Analytic in E inside |Im E| < min(E_D, 2 pi T): mpmath differentiates it."""
    g, t, a = mpmath.mpf(gamma), mpmath.mpf(T), mpmath.mpf(ED)

    def W(E):
        E = mpmath.mpmathify(E)
        c = 2 * mpmath.pi * t
        al, be = a / c, 1j * E / c
        first = g / 2 * a**2 * (mpmath.cot(a / (2 * t)) - 1j) / (a + 1j * E)
        if be == 0:
            s = -(mpmath.digamma(1 - al) - mpmath.digamma(1 + al)) / (2 * al)
        else:
            A, B, C = 1 / (2 * (al + be)), 1 / (2 * (be - al)), -be / (be**2 - al**2)
            s = -(A * mpmath.digamma(1 - al) + B * mpmath.digamma(1 + al) + C * mpmath.digamma(1 + be))
        return first + 2 * g * t * a**2 * s / c**2

    return W


def drude_W_s61(gamma, T, ED, E):
    """Eq. (S.61) as printed (real E != 0), its Matsubara sum by mpmath.nsum to convergence:
    J_D n_B + i sum_l 2 gamma T E nu_l / ([1 - (nu_l/E_D)^2](nu_l^2 + E^2))
    - i gamma E_D^2 E / (2 (E_D^2 + E^2)) [cot(E_D / 2T) + E_D / E]."""
    g, t, a, E = (mpmath.mpf(x) for x in (gamma, T, ED, E))
    re = g * E / (1 + E**2 / a**2) / mpmath.expm1(E / t)

    def term(l):
        nu = 2 * mpmath.pi * t * l
        return 2 * g * t * E * nu / ((1 - (nu / a) ** 2) * (nu**2 + E**2))

    im = mpmath.nsum(term, [1, mpmath.inf]) - g * a**2 * E / (2 * (a**2 + E**2)) * (
        mpmath.cot(a / (2 * t)) + a / E)
    return complex(re + 1j * im)


def drude_C(gamma, T, ED, t):
    """C(t) of eq. (S.59), its Matsubara sum in closed form with Lerch's transcendent:
    nu/(1 - nu^2/a^2) = -(a^2/2)[1/(nu - a) + 1/(nu + a)]."""
    mp = mpmath
    g, TT, a = mp.mpf(gamma), mp.mpf(T), mp.mpf(ED)
    alpha = a / (2 * mp.pi * TT)
    q = mp.exp(-2 * mp.pi * TT * t)
    first = g / 2 * a**2 * (mp.cot(a / (2 * TT)) - 1j) * mp.exp(-a * t)
    mats = g * a**2 / (2 * mp.pi) * q * (mp.lerchphi(q, 1, 1 - alpha) + mp.lerchphi(q, 1, 1 + alpha))
    return first + mats


def drude_W_quad(gamma, T, ED, E):
    """W_D(E) = int_0^inf e^{-iEt} C(t) dt (eq. S.60) by numerical quadrature."""
    return complex(mpmath.quad(lambda t: mpmath.exp(-1j * E * t) * drude_C(gamma, T, ED, t),
                               [0, 1, mpmath.inf]))


def taylor(W, eps, order, dps=40):
    """[W^{(n)}(eps)/n! for n = 0..order] by mpmath (high-precision numerical derivatives)."""
    with mpmath.workdps(dps):
        return np.array([complex(c) for c in mpmath.taylor(W, mpmath.mpf(float(eps)), order)])


def W_values(W, E):
    """W on an array of real energies (complex NumPy array)."""
    with mpmath.workdps(30):
        return np.vectorize(lambda e: complex(W(float(e))), otypes=[complex])(np.asarray(E, float))


# ---------------------------------------------------------------- jump operators
def ad_powers(H, X, eps, order):
    """[X, ad X, ..., ad^order X], ad X = [H, X] - eps X (eqs. 2-4), full matrices."""
    out = [X]
    for _ in range(order):
        Y = out[-1]
        out.append(H @ Y - Y @ H - eps * Y)
    return out


def exact_u(H, v, W):
    """Eq. (1)/(S.8): u = sum_kq W(E_k - E_q) |k><k|v|q><q| in the eigenbasis of the full H."""
    E, U = np.linalg.eigh(H)
    Wm = W_values(W, E[:, None] - E[None, :])
    return U @ (Wm * (U.conj().T @ v @ U)) @ U.conj().T


def adhoc_u(H, v, W, order, eps0):
    """Eq. (3): sum_n W^{(n)}(eps0)/n! ([H, .] - eps0)^n [v]."""
    c = taylor(W, eps0, order)
    return sum(cn * X for cn, X in zip(c, ad_powers(H, v, eps0, order)))


def local_components(hloc, vloc, d_eps=None):
    """[(vhat_kq, eps_kq)]: vhat_kq = |k><k|v|q><q| (d x d) in the eigenbasis of H^loc (ascending
    E_k^loc) and the local transition energies eps_kq = E_k^loc - E_q^loc (eq. 4), shifted by
    ``d_eps[k, q]`` if given; zero components dropped."""
    E, U = np.linalg.eigh(hloc)
    shift = np.zeros((len(E), len(E))) if d_eps is None else np.asarray(d_eps, dtype=float)
    vt = U.conj().T @ vloc @ U
    out = []
    for k in range(len(E)):
        for q in range(len(E)):
            if abs(vt[k, q]) > 0:
                out.append((vt[k, q] * np.outer(U[:, k], U[:, q].conj()), E[k] - E[q] + shift[k, q]))
    return out


def local_u(H, hloc, vloc, site, L, W, order, d_eps=None):
    """Eq. (4): sum_kq sum_n W^{(n)}(eps_kq)/n! ([H, .] - eps_kq)^n [vhat_kq] with the FULL H
    (expansion energies shifted by ``d_eps[k, q]`` if given)."""
    u = 0
    for vh, eps in local_components(hloc, vloc, d_eps):
        u = u + adhoc_u(H, site_op(vh, site, L), W, order, eps)
    return u


def lam_loc(hloc, vloc, W, T):
    r"""lambda_loc (main text; SM H, eq. S.55) with moduli:
    lambda^2 = sum_kq W(eps_kq)^2 |r_kq|^2 / sum_kq |r_kq|^2, r_kq = <k|v|q> e^{-E_q^loc/T}
    (principal square root; complex for a complex W)."""
    E, U = np.linalg.eigh(hloc)
    vt = U.conj().T @ vloc @ U
    r2 = np.abs(vt) ** 2 * np.exp(-2 * (E[None, :] - E.min()) / T)
    Wk = W_values(W, E[:, None] - E[None, :])
    return complex(np.sqrt(np.sum(Wk**2 * r2) / np.sum(r2)))


# ---------------------------------------------------------------- generators (row-major vec)
def _comm_H(H):
    I = np.eye(H.shape[0])
    return -1j * (np.kron(H, I) - np.kron(I, H.T))


def redfield_liouvillian(H, pairs):
    """-i[H, rho] + sum ([u rho, v] + h.c.) = u rho v - v u rho + v^dag rho u^dag - rho u^dag v^dag."""
    I = np.eye(H.shape[0])
    M = _comm_H(H)
    for u, v in pairs:
        ud, vd = u.conj().T, v.conj().T
        M = M + np.kron(u, v.T) - np.kron(v @ u, I) + np.kron(vd, ud.T) - np.kron(I, (ud @ vd).T)
    return M


def dissipator(Lop):
    """D[L](rho) = L rho L^dag - {L^dag L, rho}/2."""
    I = np.eye(Lop.shape[0])
    LdL = Lop.conj().T @ Lop
    return np.kron(Lop, Lop.conj()) - 0.5 * np.kron(LdL, I) - 0.5 * np.kron(I, LdL.T)


def lindblad_liouvillian(H, jumps, negative=()):
    M = _comm_H(H)
    for Lop in jumps:
        M = M + dissipator(Lop)
    for Lop in negative:
        M = M - dissipator(Lop)
    return M


def pseudo_lindblad_ops(u, v, lam):
    """SM E with the paper's eta, (eta^*)^2 = lambda (so that L_- = ... (u - lambda v), eq. S.49):
    L_+ = |eta|/sqrt(eta^2 + eta^*2) (u/eta + eta v)          (S.47)
    L_- = |eta|/sqrt(eta^2 + eta^*2) (u/eta^* - eta^* v)      (S.48)
    H_c = -(i/2)(v u - u^dag v)                                (S.44)."""
    eta = np.conj(np.sqrt(complex(lam)))
    pref = abs(eta) / np.sqrt(eta**2 + np.conj(eta) ** 2)
    Lp = pref * (u / eta + eta * v)
    Lm = pref * (u / np.conj(eta) - np.conj(eta) * v)
    Hc = -0.5j * (v @ u - u.conj().T @ v)
    return Lp, Lm, Hc


def pseudo_lindblad_liouvillian(H, pairs, lams, keep_negative=True):
    Heff, plus, minus = H.astype(complex), [], []
    for (u, v), lam in zip(pairs, lams):
        Lp, Lm, Hc = pseudo_lindblad_ops(u, v, lam)
        Heff = Heff + Hc
        plus.append(Lp)
        minus.append(Lm)
    return lindblad_liouvillian(Heff, plus, minus if keep_negative else ())


def standard_local_lindblad_liouvillian(H, couplings, L):
    """Secular (RWA) limit of [u rho, v] + h.c. for decoupled sites: per local transition eps,
    A_eps = sum_{eps_kq = eps} vhat_kq, jump sqrt(2 Re W(eps)) A_eps and Lamb shift
    Im W(eps) A_eps^dag A_eps. ``couplings``: (site, hloc, vloc, W)."""
    Heff, jumps = H.astype(complex), []
    for site, hloc, vloc, W in couplings:
        groups = {}
        for vh, eps in local_components(hloc, vloc):
            key = round(float(eps), 10)
            groups[key] = groups.get(key, 0) + vh
        for eps, A in groups.items():
            w = complex(W_values(W, eps))
            Af = site_op(A, site, L)
            jumps.append(np.sqrt(2 * w.real) * Af)
            Heff = Heff + w.imag * Af.conj().T @ Af
    return lindblad_liouvillian(Heff, jumps)


# ---------------------------------------------------------------- states
def steady_state(M):
    """The null vector of a row-major Liouvillian as a unit-trace density matrix (SVD)."""
    D = int(round(np.sqrt(M.shape[0])))
    _, s, Vh = np.linalg.svd(M)
    assert s[-1] < 1e-10 * s[0] < s[-2], "steady state is not unique"
    rho = Vh[-1].conj().reshape(D, D)
    return rho / np.trace(rho)


def gibbs(H, T):
    E, U = np.linalg.eigh(H)
    p = np.exp(-(E - E.min()) / T)
    return (U * (p / p.sum())) @ U.conj().T


def trace_norm(A):
    """The paper's ||A|| = Tr sqrt(A^dag A)."""
    return float(np.sum(np.linalg.svd(A, compute_uv=False)))


def product_gibbs(hlocs, T):
    """Product of the site Gibbs states e^{-H^loc_i/T}/Z_i (SM H's local thermal state)."""
    return reduce(np.kron, [gibbs(h, T) for h in hlocs])
