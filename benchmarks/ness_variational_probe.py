"""Probe for issue 26: does a *variational* steady-state search beat relaxation by TEBD?

NumPy prototypes, not the library's solver, of two methods (``method`` of each case):

- ``galerkin``: the steady state solves the linear system (G + |v><1|) rho = v, with v the
  infinite-temperature product state (Tr v = 1) and <1| the trace: G rho = 0 and Tr rho = 1
  give it, and since <1| G = 0 the matrix G + |v><1| has no kernel when the steady state is
  unique (condition number 64 at L = 6, standard local Lindblad). Solved by two-site
  alternating Galerkin sweeps (:func:`galerkin`: each update solves the projected system by
  local GMRES), with no normal equations, hence no squared condition number -- the difference
  to the next method.
- ``dmrg``: two-site DMRG for the ground state of
<rho|G^dag G|rho> (Cui, Cirac & Banuls, PRL 114, 220601 (2015)), whose minimum 0 is the
steady state G(rho) = 0, on the doubled chain of ``jaxredfield.mps._density`` (local dimension
d^2, site-pair order). G is built from the package's own local generator terms
(``liouvillian_terms``, the blocks of ``mps._tebd.bond_terms``) as an MPO (each block split by
SVDs, summed by the usual finite-state construction; :func:`check_mpo`, run first, compares it
with ``jr.liouvillian_matrix`` at L = 4 for the three equation forms: 3.8e-15 relative); G^dag G is that MPO squared site by site and
SVD-compressed (bond 81 -> 25 at L = 4, standard local Lindblad). Each two-site update takes
the lowest eigenvector of the projected G^dag G (restarted Lanczos, 3 x 20 vectors, from the
current tensor), split by an SVD truncated to ``chi`` (and a relative weight 1e-12); start:
the infinite-temperature product state. Observables Tr(O rho)/Tr(rho) by transfer matrices.

Tried first and rejected (not kept here): the non-Hermitian local problem P^dag G P x =
lambda x (largest Re lambda, or smallest |lambda|) in the orthonormal gauge. At L = 4 it
settled on a wrong state (largest error of rho 4.9e-2 against the dense steady state) with an
eigenvalue 1e-15: a Galerkin fixed point whose bond never grew past 4.

Cases (``--cases``): the paper's chain (J = 1, Delta = 0.7, h = 1, delta = -0.07, ohmic gamma =
0.25, T_l = 2.2, T_r = 6.6) in the three forms of ``bench_ness_mps.py`` against the dense
``jr.steadystate(eq)``, and the XX chain with gain/loss on its end sites against the exact
Jordan-Wigner solution (``tests/exact_xx.py``). Per row: the largest errors of <sigma^z_i> and
of the bond currents, ||G rho||^2/||rho||^2 after each sweep, the time, and the relaxation
solver's numbers for the same case from results/ness_long_chains.md where it has them.

    python benchmarks/ness_variational_probe.py            # the default cases, ~10 min on 2 cores
    python benchmarks/ness_variational_probe.py --cases 6  # one case again (the other rows kept)

Writes benchmarks/results/ness_variational.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.sparse.linalg as sla

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from _harness import describe, machine, write_results  # noqa: E402
from bench_ness_mps import FORMS, _observables, paper_chain, xx_chain  # noqa: E402


def term_mpo(G, w, D, tol=1e-13):
    """G (D^w, D^w) -> list of w tensors (rl, rr, D, D) (out, in)."""
    T = G.reshape((D,) * (2 * w))  # x0..x_{w-1}, y0..y_{w-1}
    T = T.transpose([v for j in range(w) for v in (j, w + j)])  # x0 y0 x1 y1 ...
    out, r = [], 1
    rest = T.reshape(1, -1)
    for j in range(w - 1):
        M = rest.reshape(r * D * D, -1)
        u, s, vh = np.linalg.svd(M, full_matrices=False)
        k = max(1, int(np.sum(s > tol * s[0]))) if s[0] > 0 else 1
        out.append(u[:, :k].reshape(r, D, D, k).transpose(0, 3, 1, 2))
        rest = s[:k, None] * vh[:k]
        r = k
    out.append(rest.reshape(r, D, D, 1).transpose(0, 3, 1, 2))
    return out


def liouvillian_mpo(eq):
    """The generator G of ``eq`` on the doubled chain as an MPO: site tensors (left bond,
    right bond, out, in)."""
    from jaxredfield.mps._density import liouvillian_terms
    from jaxredfield.mps._tebd import bond_terms, term_width

    terms = liouvillian_terms(eq)
    L, D = eq.L, eq.d ** 2
    w = term_width(terms)
    G = bond_terms(terms, [], L, D, w)
    nb = G.shape[0]
    dec = [term_mpo(G[b], w, D) for b in range(nb)]
    # states at cut c (between sites c, c+1): none, done, then (b, j) for b <= c <= b+w-2
    def states(c):
        if c < 0:
            return {"none": 0}, 1
        if c >= L - 1:
            return {"done": 0}, 1
        idx, n = {"none": 0, "done": 1}, 2
        for b in range(max(0, c - w + 2), min(c, nb - 1) + 1):
            j = c - b + 1  # internal bond j of term b (1..w-1)
            r = dec[b][j - 1].shape[1]
            idx[(b, j)] = (n, r)
            n += r
        return idx, n
    I = np.eye(D)
    W = []
    for c in range(L):
        li, nl = states(c - 1)
        ri, nr = states(c)
        M = np.zeros((nl, nr, D, D), complex)
        if "none" in li and "none" in ri:
            M[li["none"], ri["none"]] = I
        if "done" in li and "done" in ri:
            M[li["done"], ri["done"]] = I
        for b in range(nb):
            j = c - b  # this site is site j of term b
            if not 0 <= j < w:
                continue
            T = dec[b][j]
            if j == 0:
                lo = slice(li["none"], li["none"] + 1)
            else:
                s, r = li[(b, j)]
                lo = slice(s, s + r)
            if j == w - 1:
                hi = slice(ri["done"], ri["done"] + 1)
            else:
                s, r = ri[(b, j + 1)]
                hi = slice(s, s + r)
            M[lo, hi] += T
        W.append(M)
    return W


def dense_from_mpo(W):
    """The matrix of an MPO (small L only; the MPO check of the module docstring)."""
    M = W[0]
    for Wi in W[1:]:
        M = np.einsum("abxy,bcuv->acxuyv", M, Wi)
        a, c, x, u, y, v = M.shape
        M = M.reshape(a, c, x * u, y * v)
    return M[0, 0]


def contract_left(E, A, Wc):
    # E (a', m, a), A (a, s, b) ket, conj(A) bra (a', t, b'), W (m, n, t, s)
    X = np.tensordot(E, A, ([2], [0]))  # a', m, s, b
    X = np.tensordot(X, Wc, ([1, 2], [0, 3]))  # a', b, n, t
    X = np.tensordot(A.conj(), X, ([0, 1], [0, 3]))  # b', b, n
    return X.transpose(0, 2, 1)


def contract_right(E, B, Wc):
    # E (b', o, b)
    X = np.tensordot(B, E, ([2], [2]))  # a, s, b', o
    X = np.tensordot(X, Wc, ([1, 3], [3, 1]))  # a, b', n, t
    X = np.tensordot(B.conj(), X, ([1, 2], [3, 1]))  # a', a, n
    return X.transpose(0, 2, 1)


def matvec2(LE, W1, W2, RE, x):
    # x (a, s1, s2, b)
    X = np.tensordot(LE, x, ([2], [0]))  # a', m, s1, s2, b
    X = np.tensordot(X, W1, ([1, 2], [0, 3]))  # a', s2, b, n, t1
    X = np.tensordot(X, W2, ([3, 1], [0, 3]))  # a', b, t1, o, t2
    X = np.tensordot(X, RE, ([3, 1], [1, 2]))  # a', t1, t2, b'
    return X


def square_mpo(W, tol=1e-12):
    out = []
    for M in W:
        a, b, x, y = M.shape
        S = np.einsum("mnut,pqus->mpnqts", M.conj(), M).reshape(a * a, b * b, y, y)
        out.append(S)
    return compress_mpo(out, tol)


def compress_mpo(W, tol=1e-12):
    """SVD compression of the MPO bonds (left-to-right QR-free SVD then right-to-left)."""
    W = [w.copy() for w in W]
    L = len(W)
    for sweep in ("l", "r"):
        rng = range(L - 1) if sweep == "l" else range(L - 1, 0, -1)
        for i in rng:
            a, b, x, y = W[i].shape
            if sweep == "l":
                M = W[i].transpose(0, 2, 3, 1).reshape(a * x * y, b)
                u, s, vh = np.linalg.svd(M, full_matrices=False)
                k = max(1, int(np.sum(s > tol * s[0])))
                W[i] = u[:, :k].reshape(a, x, y, k).transpose(0, 3, 1, 2)
                W[i + 1] = np.tensordot(s[:k, None] * vh[:k], W[i + 1], ([1], [0]))
            else:
                M = W[i].reshape(a, b * x * y)
                u, s, vh = np.linalg.svd(M, full_matrices=False)
                k = max(1, int(np.sum(s > tol * s[0])))
                W[i] = vh[:k].reshape(k, b, x, y)
                W[i - 1] = np.tensordot(W[i - 1], u[:, :k] * s[:k], ([1], [0])).transpose(0, 3, 1, 2)
    return W


def lanczos_lowest(matvec, x0, m=20, restarts=3):
    """Lowest eigenpair of a Hermitian operator by restarted Lanczos (full reorthogonalization)
    from x0; m Krylov vectors per restart."""
    x = x0 / np.linalg.norm(x0)
    lam = None
    for _ in range(restarts):
        V = [x]
        alpha, beta = [], []
        w = matvec(x)
        for j in range(m):
            a = np.vdot(V[j], w).real
            alpha.append(a)
            w = w - a * V[j] - (beta[-1] * V[j - 1] if j else 0)
            for v in V:  # full reorthogonalization
                w = w - np.vdot(v, w) * v
            b = np.linalg.norm(w)
            if b < 1e-14 or j == m - 1:
                break
            beta.append(b)
            V.append(w / b)
            w = matvec(V[-1])
        T = np.diag(alpha) + np.diag(beta[:len(alpha) - 1], 1) + np.diag(beta[:len(alpha) - 1], -1)
        ev, vec = np.linalg.eigh(T)
        lam = ev[0]
        x = sum(c * v for c, v in zip(vec[:, 0], V))
        x = x / np.linalg.norm(x)
    return lam, x


def split_two(x, shp, chi, cutoff, direction, normalize=False):
    """A two-site tensor x (shape ``shp`` = (a, D, D, b)) split by an SVD truncated to ``chi``
    and the relative weight ``cutoff``: (left tensor, right tensor, discarded weight), the
    singular values on the right tensor for a left-to-right sweep (``direction`` "r"), else on
    the left one; ``normalize``: the kept singular values scaled to norm 1."""
    u, s, vh = np.linalg.svd(x.reshape(shp[0] * shp[1], shp[2] * shp[3]), full_matrices=False)
    s2 = s ** 2 / np.sum(s ** 2)
    keep = min(chi, max(1, int(np.sum(np.cumsum(s2[::-1])[::-1] > cutoff))))
    u, sk, vh = u[:, :keep], s[:keep], vh[:keep]
    if normalize:
        sk = sk / np.linalg.norm(sk)
    if direction == "r":
        return u.reshape(shp[0], shp[1], keep), (sk[:, None] * vh).reshape(keep, shp[2], shp[3]), float(np.sum(s2[keep:]))
    return (u * sk).reshape(shp[0], shp[1], keep), vh.reshape(keep, shp[2], shp[3]), float(np.sum(s2[keep:]))


def dmrg(eq, chi, sweeps=10, log=print, cutoff=1e-12):
    """Two-site DMRG for the lowest state of G^dag G (module docstring). Returns (site
    tensors, ||G rho||^2 / ||rho||^2 after each sweep, largest discarded weight per sweep,
    seconds per sweep)."""
    L, D = eq.L, eq.d ** 2
    W = square_mpo(liouvillian_mpo(eq))
    log(f"G^dag G MPO bonds {[w.shape[1] for w in W[:-1]]}")
    d = eq.d
    v = np.eye(d).reshape(-1) / np.sqrt(d)
    A = [v.reshape(1, D, 1).astype(complex) for _ in range(L)]
    # right-canonical already (norm 1 each)
    RE = [None] * (L + 1)
    LE = [None] * (L + 1)
    LE[0] = np.ones((1, 1, 1), complex)
    RE[L] = np.ones((1, 1, 1), complex)
    for i in range(L - 1, 0, -1):
        RE[i] = contract_right(RE[i + 1], A[i], W[i])
    hist, dws, secs = [], [], []
    for sw in range(sweeps):
        t0 = time.perf_counter()
        maxdw = 0.0
        lams = []
        for direction in ("r", "l"):
            rng = range(0, L - 1) if direction == "r" else range(L - 2, -1, -1)
            for i in rng:
                x0 = np.tensordot(A[i], A[i + 1], ([2], [0]))
                shp = x0.shape
                n = x0.size
                op = sla.LinearOperator((n, n), matvec=lambda y: matvec2(LE[i], W[i], W[i + 1], RE[i + 2], y.reshape(shp)).reshape(-1), dtype=complex)
                if n > 64:
                    lam_i, x = lanczos_lowest(op.matvec, x0.reshape(-1))
                else:
                    M = np.stack([op.matvec(e) for e in np.eye(n)], axis=1)
                    ev, vecs = np.linalg.eigh((M + M.conj().T) / 2)
                    lam_i, x = ev[0], vecs[:, 0]
                lams.append(lam_i)
                A[i], A[i + 1], dw = split_two(x, shp, chi, cutoff, direction, normalize=True)
                maxdw = max(maxdw, dw)
                if direction == "r":
                    LE[i + 1] = contract_left(LE[i], A[i], W[i])
                else:
                    RE[i + 1] = contract_right(RE[i + 2], A[i + 1], W[i + 1])
        bonds = [a.shape[2] for a in A[:-1]]
        secs.append(time.perf_counter() - t0)
        hist.append(float(np.real(lams[-1])))
        dws.append(maxdw)
        log(f"sweep {sw}: ||G rho||^2 {hist[-1]:.2e}, largest discarded weight {maxdw:.1e}, "
            f"bond {max(bonds)}, {secs[-1]:.1f} s")
    return A, hist, dws, secs




def rank_one_mpo(L, d):
    """|v><1| as an MPO of bond 1, v = (I/d)^(x L) (Tr v = 1), <1| = Tr; and v's site vector."""
    one = np.eye(d).reshape(-1)
    v = one / d
    return [np.einsum("t,s->ts", v, one).reshape(1, 1, d * d, d * d).astype(complex) for _ in range(L)], v


def add_mpo(A, B):
    """The MPO A + B (block-diagonal bonds)."""
    L, out = len(A), []
    for i, (a, b) in enumerate(zip(A, B)):
        la, ra, D, _ = a.shape
        lb, rb = b.shape[:2]
        if i == 0:
            out.append(np.concatenate([a, b], axis=1))
        elif i == L - 1:
            out.append(np.concatenate([a, b], axis=0))
        else:
            m = np.zeros((la + lb, ra + rb, D, D), complex)
            m[:la, :ra], m[la:, ra:] = a, b
            out.append(m)
    return out


def galerkin(eq, chi, sweeps=10, log=print, cutoff=1e-12, tol=1e-8, maxiter=10, seed=1, probe=None):
    """The steady state as the solution of the non-singular linear system (G + |v><1|) rho = v
    (module docstring: G rho = 0 with Tr rho = 1; G + |v><1| has no kernel when the steady state
    is unique), by two-site alternating Galerkin sweeps: each update solves the projected system
    P^dag (G + |v><1|) P x = P^dag v (orthonormal P from the other sites; local GMRES, restart
    40, at most ``maxiter`` restarts, relative residual ``tol``; dense below 257 unknowns) --
    no normal equations, so no squared condition number. Start: a random product of positive
    local density matrices (``seed``; the infinite-temperature product makes the bulk's
    projected systems singular for the standard local Lindblad equation, whose bulk has no
    dissipator). ``probe(A)`` (optional) is logged after each sweep. Returns (site tensors,
    per sweep: largest discarded weight, largest GMRES iterations of an update, seconds, probe)."""
    L, d = eq.L, eq.d
    D = d * d
    R, v = rank_one_mpo(L, d)
    W = compress_mpo(add_mpo(liouvillian_mpo(eq), R), 1e-13)
    rng = np.random.default_rng(seed)

    def start():
        m = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
        r = (m @ m.conj().T + np.eye(d)).reshape(-1)
        return (r / np.linalg.norm(r)).reshape(1, D, 1)

    A = [start() for _ in range(L)]
    LE, RE = [None] * (L + 1), [None] * (L + 1)
    lv, rv = [None] * (L + 1), [None] * (L + 1)  # <A|v> environments
    LE[0], RE[L] = np.ones((1, 1, 1), complex), np.ones((1, 1, 1), complex)
    lv[0], rv[L] = np.ones(1, complex), np.ones(1, complex)
    for i in range(L - 1, 0, -1):
        RE[i] = contract_right(RE[i + 1], A[i], W[i])
        rv[i] = np.einsum("asb,s,b->a", A[i].conj(), v, rv[i + 1])
    out = {"discarded": [], "gmres_its": [], "sweep_s": [], "probe": []}
    for sw in range(sweeps):
        t0, maxdw, its = time.perf_counter(), 0.0, [0]
        for direction in ("r", "l"):
            for i in (range(0, L - 1) if direction == "r" else range(L - 2, -1, -1)):
                x0 = np.tensordot(A[i], A[i + 1], ([2], [0]))
                shp, n = x0.shape, x0.size
                b = np.einsum("a,s,t,b->astb", lv[i], v, v, rv[i + 2]).reshape(-1)
                mv = lambda y: matvec2(LE[i], W[i], W[i + 1], RE[i + 2], y.reshape(shp)).reshape(-1)  # noqa: E731
                if n <= 256:
                    x = np.linalg.solve(np.stack([mv(e) for e in np.eye(n)], axis=1), b)
                else:
                    cnt = [0]
                    x, _ = sla.gmres(sla.LinearOperator((n, n), matvec=mv, dtype=complex), b, x0=x0.reshape(-1),
                                     rtol=tol, atol=0, restart=40, maxiter=maxiter,
                                     callback=lambda r: cnt.__setitem__(0, cnt[0] + 1), callback_type="pr_norm")
                    its.append(cnt[0])
                A[i], A[i + 1], dw = split_two(x, shp, chi, cutoff, direction)
                maxdw = max(maxdw, dw)
                if direction == "r":
                    LE[i + 1] = contract_left(LE[i], A[i], W[i])
                    lv[i + 1] = np.einsum("a,asb,s->b", lv[i], A[i].conj(), v)
                else:
                    RE[i + 1] = contract_right(RE[i + 2], A[i + 1], W[i + 1])
                    rv[i + 1] = np.einsum("asb,s,b->a", A[i + 1].conj(), v, rv[i + 2])
        out["discarded"].append(maxdw)
        out["gmres_its"].append(max(its))
        out["sweep_s"].append(time.perf_counter() - t0)
        out["probe"].append(probe(A) if probe else None)
        log(f"sweep {sw}: bond {max(a.shape[2] for a in A[:-1])}, discarded {maxdw:.1e}, GMRES its "
            f"{max(its)}, {out['sweep_s'][-1]:.1f} s, probe {out['probe'][-1]}")
    return A, out


def expectations(A, ops):
    """Tr(O rho)/Tr(rho) of one- and two-site LocalOperators ``ops`` for site tensors ``A`` of
    the doubled chain (transfer matrices with vec(I), environments rescaled)."""
    from jaxredfield.mps._density import observable_weights

    d = int(round(A[0].shape[1] ** 0.5))
    tau = np.eye(d).reshape(-1)
    T = [np.einsum("axb,x->ab", a, tau) for a in A]
    ls, rs = [np.ones(1)], [np.ones(1)]
    for t in T[:-1]:
        v = ls[-1] @ t
        ls.append(v / np.linalg.norm(v))
    for t in T[:0:-1]:
        v = t @ rs[-1]
        rs.append(v / np.linalg.norm(v))
    rs = rs[::-1]
    out = []
    for f, k, w in observable_weights(ops, d):
        if k == 1:
            num = ls[f] @ np.einsum("axb,x->ab", A[f], w) @ rs[f]
            den = ls[f] @ T[f] @ rs[f]
        else:
            th = np.einsum("axc,cyb->axyb", A[f], A[f + 1])
            num = ls[f] @ np.einsum("axyb,xy->ab", th, w.reshape(d * d, d * d)) @ rs[f + 1]
            den = ls[f] @ T[f] @ T[f + 1] @ rs[f + 1]
        out.append(float(np.real(num / den)))
    return np.array(out)


#: (model, form, L, chi, sweeps, method): the default cases; "dmrg": G^dag G, "galerkin": the
#: linear system (G + |v><1|) rho = v
CASES = [("paper", f, 6, 64, 5, "dmrg") for f in FORMS] + [
    ("paper", FORMS[0], 8, 64, 6, "dmrg"), ("paper", FORMS[0], 8, 128, 5, "dmrg"),
    ("xx", "xx", 6, 64, 20, "dmrg"), ("xx", "xx", 20, 32, 16, "dmrg")] + [
    ("paper", f, 6, 64, 3, "galerkin") for f in FORMS] + [
    ("paper", FORMS[0], 8, 64, 3, "galerkin"), ("paper", FORMS[0], 8, 128, 3, "galerkin"),
    ("xx", "xx", 6, 64, 4, "galerkin"), ("xx", "xx", 20, 32, 6, "galerkin"),
    ("xx", "xx", 10, 64, 4, "galerkin"), ("xx", "xx", 20, 64, 4, "galerkin")]


def case(jr, model_name, form, L, chi, sweeps, method="dmrg"):
    if model_name == "paper":
        model, eq = paper_chain(jr, L, form)
        t = time.perf_counter()
        rho = jr.steadystate(eq)
        t_ref = time.perf_counter() - t
        z0, j0 = _observables(jr, model, L, rho)
        ref = "dense steadystate"
    else:
        from tests import exact_xx

        model, eq, gain, loss = xx_chain(jr, L)
        t = time.perf_counter()
        G = exact_xx.steady_correlations(1.0, 1.0 - 0.07 * np.arange(L), gain, loss)
        t_ref = time.perf_counter() - t
        z0, j0 = exact_xx.magnetization(G), exact_xx.spin_currents(G, 1.0)
        form, ref = "XX chain, sigma+/- on the ends", "exact (Jordan-Wigner)"
    ops = list(jr.magnetization(model)) + [jr.spin_current(model, i) for i in range(L - 1)]

    def errors(A):
        v = expectations(A, ops)
        return float(np.max(np.abs(v[:L] - z0))), float(np.max(np.abs(v[L:] - j0)))

    log = lambda m: print(f"  {m}", flush=True)  # noqa: E731
    t = time.perf_counter()
    extra = {}
    if method == "galerkin":
        A, info = galerkin(eq, chi, sweeps, log=log, probe=errors)
        hist, dws, secs = [e[0] for e in info["probe"]], info["discarded"], info["sweep_s"]
        extra = {"gmres_its": info["gmres_its"], "err_j_by_sweep": [e[1] for e in info["probe"]]}
    else:
        A, hist, dws, secs = dmrg(eq, chi, sweeps, log=log)
    t_dmrg = time.perf_counter() - t
    err_z, err_j = errors(A)
    return {"model": model_name, "form": form, "L": L, "chi": chi, "sweeps": sweeps, "method": method,
            "reference": ref, "err_z": err_z, "err_j": err_j,
            "residual": hist, "discarded": dws, "sweep_s": secs, "dmrg_s": t_dmrg, "ref_s": t_ref,
            "max_bond": int(max(a.shape[2] for a in A[:-1])), **extra}


def render(data):
    out = ["# Variational steady states: a probe (`benchmarks/ness_variational_probe.py`)\n",
           f"{describe(data['machine'])}. NumPy prototypes (the script's docstring): `dmrg`, two-site DMRG on "
           "<rho|G^dag G|rho> from the infinite-temperature product state; `galerkin`, two-site Galerkin sweeps "
           "for the linear system (G + |v><1|) rho = v from a random positive product state. Errors are the "
           "largest over sites/bonds against the reference. By sweep: for `dmrg` ||G rho||^2 of the last "
           "two-site update of each sweep (a normalized rho, before its truncation); for `galerkin` the largest "
           "error of <sigma^z> after each sweep.\n",
           "| method | model | equation | L | bond | sweeps | max err <sigma^z> | max err current | by sweep "
           "| largest discarded weight (last sweep) | s | s per sweep (last) | reference | reference s "
           "| relaxation (jr.MPS(), results/ness_long_chains.md): err <sigma^z>, err current, s |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    relax = _relaxation_rows()
    for r in data["rows"]:
        res = ", ".join(f"{x:.1e}" for x in r["residual"])
        x = relax.get(("paper" if r["model"] == "paper" else "XX exact", r["form"] if r["model"] == "paper" else "xx", r["L"]))
        rel = f"{x['err_z']:.2g}, {x['err_j']:.2g}, {x['mps_s']:.0f}" if x else "-"
        out.append(f"| {r.get('method', 'dmrg')} | {r['model']} | {r['form']} | {r['L']} | {r['chi']} | {r['sweeps']} | {r['err_z']:.2g} | "
                   f"{r['err_j']:.2g} | {res} | {r['discarded'][-1]:.1e} | {r['dmrg_s']:.1f} | "
                   f"{r['sweep_s'][-1]:.1f} | {r['reference']} | {r['ref_s']:.2g} | {rel} |")
    return "\n".join(out) + "\n"


def _relaxation_rows():
    """The relaxation solver's rows of results/ness_long_chains.json by (model, form, L)
    (the XX rows under form "xx")."""
    try:
        with open(os.path.join(HERE, "results", "ness_long_chains.json")) as f:
            rows = json.load(f)["rows"]
    except (OSError, ValueError, KeyError):
        return {}
    return {(r["model"], "xx" if r["model"] == "XX exact" else r["form"], r["L"]): r for r in rows}


def check_mpo(jr, L=4, tol=1e-12):
    """The MPO of G against the dense ``jr.liouvillian_matrix`` (row-major vec, reordered to
    the site-pair order) for the three forms of the paper's chain at L sites: the largest
    difference of the matrices, which must be below ``tol`` times their largest entry."""
    worst = 0.0
    for form in FORMS:
        _, eq = paper_chain(jr, L, form)
        dense = np.asarray(jr.liouvillian_matrix(eq))
        pair = np.arange(dense.shape[0]).reshape((2,) * (2 * L)).transpose(
            [v for j in range(L) for v in (j, L + j)]).reshape(-1)
        err = np.max(np.abs(dense_from_mpo(liouvillian_mpo(eq)) - dense[np.ix_(pair, pair)]))
        worst = max(worst, err / np.max(np.abs(dense)))
    if worst > tol:
        raise AssertionError(f"the Liouvillian MPO differs from liouvillian_matrix by {worst:.1e} (relative)")
    return worst


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, nargs="*", help="indices into CASES (default: all)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    import jaxredfield as jr

    jr.set_progress(False)
    print(f"MPO of G against liouvillian_matrix at L = 4, three forms: {check_mpo(jr):.1e} (relative)", flush=True)
    meta = machine()
    rows = []
    for n in (args.cases if args.cases is not None else range(len(CASES))):
        print(CASES[n], flush=True)
        rows.append(case(jr, *CASES[n]))
        print({k: rows[-1][k] for k in ("err_z", "err_j", "dmrg_s", "max_bond")}, flush=True)
    os.makedirs(args.out, exist_ok=True)
    paths = os.path.join(args.out, "ness_variational.json"), os.path.join(args.out, "ness_variational.md")
    # a rerun of some cases replaces their rows (model, form, L, bond) and keeps the others
    key = lambda r: (r.get("method", "dmrg"), r["model"], r["form"], r["L"], r["chi"])  # noqa: E731
    try:
        with open(paths[0]) as f:
            old = [r for r in json.load(f)["rows"] if key(r) not in {key(x) for x in rows}]
    except (OSError, ValueError, KeyError):
        old = []
    order = {(me, m, f if m == "paper" else "XX chain, sigma+/- on the ends", L, c): i
             for i, (m, f, L, c, _, me) in enumerate(CASES)}
    rows = sorted(old + rows, key=lambda r: order.get(key(r), 99))
    data = {"machine": meta, "rows": rows, "cases": CASES}
    write_results(*paths, data, render)
    print(render(data))


if __name__ == "__main__":
    main()
