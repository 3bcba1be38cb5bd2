"""Expectation values and jump weights of one trajectory's state from reduced density matrices
of the operator supports (no full-size O psi temporaries): the observables plan."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..operators import apply_left, embed


def support_groups(ops):
    """Unique supports (in first-seen order) and, per op, the index of its support."""
    supports, which = [], []
    for o in ops:
        if o.sites not in supports:
            supports.append(o.sites)
        which.append(supports.index(o.sites))
    return supports, which


def reduced_dm(psi, sites, L, d):
    """rho_S[a, b] = sum_rest psi[a, rest] conj(psi[b, rest]) on the sites ``sites`` (in that
    order) of the unnormalized state: a (d^k, d^k) matrix."""
    k = len(sites)
    if tuple(sites) == tuple(range(sites[0], sites[0] + k)):
        # contiguous sites in order: a free reshape, no transpose of the state
        t = psi.reshape(d ** sites[0], d**k, -1)
        return jnp.einsum("xar,xbr->ab", t, t.conj())
    t = jnp.moveaxis(psi.reshape((d,) * L), sites, tuple(range(k))).reshape(d**k, -1)
    return t @ t.conj().T


def _small_support(sites, L):
    # a reduced density matrix is cheaper than O psi when (d^k)^2 <= d^L
    return 2 * len(sites) <= L


def _reduced_dms(psi, supports, L, d):
    """Reduced density matrices of ``psi`` on each support (None where ``_small_support`` is
    False), computed one at a time: a ``fori_loop`` over a ``lax.switch`` of the supports
    (zero-padded to the largest), so only one support's full-size temporaries exist at a
    time (side by side, XLA kept ~1.5 state vectors per support alive: 22 for 14 sites)."""
    small = [k for k, s in enumerate(supports) if _small_support(s, L)]
    out = [None] * len(supports)
    if not small:
        return out
    n = max(d ** len(supports[k]) for k in small)

    def branch(sites):
        def f(p):
            r = reduced_dm(p, sites, L, d)
            return jnp.pad(r, ((0, n - r.shape[0]), (0, n - r.shape[1])))
        return f

    branches = [branch(supports[k]) for k in small]
    acc = jnp.zeros((len(small), n, n), jnp.result_type(psi.dtype, jnp.complex64))
    acc = jax.lax.fori_loop(0, len(small), lambda k, a: a.at[k].set(jax.lax.switch(k, branches, psi)), acc)
    for pos, k in enumerate(small):
        m = d ** len(supports[k])
        out[k] = acc[pos, :m, :m]
    return out


def _is_diagonal_contiguous(o) -> bool:
    k = len(o.sites)
    if isinstance(o.matrix, jax.core.Tracer) or o.sites != tuple(range(o.sites[0], o.sites[0] + k)):
        return False
    m = np.asarray(o.matrix)
    return bool(np.all(m == np.diag(np.diag(m))))


def _observable_plan(e_ops, L, d):
    """How :func:`measurement` evaluates each e_op: diagonal ones on contiguous sites from the
    probabilities |psi|^2 summed onto their sites (("diag", sites, diagonal)); the others
    from reduced density matrices of the supports not contained in another such support
    (("rdm", index of the support, matrix embedded there)). Returns (supports, plan)."""
    rest = [o for o in e_ops if not _is_diagonal_contiguous(o)]
    maximal = []
    for o in sorted(rest, key=lambda o: -len(o.sites)):
        if not any(set(o.sites) <= set(m) for m in maximal):
            maximal.append(tuple(sorted(o.sites)))
    plan = []
    for o in e_ops:
        if _is_diagonal_contiguous(o):
            plan.append(("diag", o.sites, jnp.diag(o.matrix)))
            continue
        w = next(i for i, m in enumerate(maximal) if set(o.sites) <= set(m))
        plan.append(("rdm", w, embed(o.matrix, o.sites, maximal[w], d)))
    return maximal, plan


def measurement(e_ops, herm, L, d):
    """``measure(psi)``: the (n_ops,) values <psi|O|psi>/<psi|psi> of the e_ops (real where
    ``herm``), by the observables plan."""
    e_sup, e_plan = _observable_plan(e_ops, L, d)

    def measure(psi):
        nrm2 = jnp.vdot(psi, psi).real
        rhos = _reduced_dms(psi, e_sup, L, d)
        prob = None
        vals = []
        for o, h, (kind, w, m) in zip(e_ops, herm, e_plan):
            if kind == "diag":  # sum_s |psi_s|^2 O_ss, marginalized onto the sites w
                if prob is None:
                    prob = (psi.real**2 + psi.imag**2).astype(jnp.float64)
                marg = prob.reshape(d ** w[0], d ** len(w), -1).sum(axis=(0, 2))
                v = jnp.sum(marg * m) / nrm2
            elif rhos[w] is not None:
                v = jnp.sum(m.astype(rhos[w].dtype) * rhos[w].T) / nrm2
            else:
                v = jnp.vdot(psi, apply_left(o, psi)) / nrm2
            vals.append(v.real if h else v)
        if not vals:
            return jnp.zeros((0,))
        dtype = jnp.result_type(*vals)
        return jnp.stack([v.astype(dtype) for v in vals])

    return measure
