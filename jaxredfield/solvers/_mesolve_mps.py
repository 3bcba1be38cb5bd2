"""mesolve with ``method=jr.MPS(...)``: the density matrix as a matrix product state of the
doubled chain (jaxredfield/mps/_density.py), second-order TEBD under the generator itself:
the dynamics of the local master equations on chains far beyond dense density matrices, as
far as the doubled chain's bond dimension holds them (no trajectories, no statistical error;
the truncation and the time step are the only approximations). The gates' matrix
exponentials are computed once per save interval (every step in it has the same length;
with 5-site terms, local Redfield N = 2 in the bulk, they are 1024 x 1024)."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import as_density_matrix, check_memory, is_concrete
from .._progress import bar
from ..mps import TEBD, MatrixProductState, from_product
from ..mps._tebd import term_width
from ..mps._truncation import check_truncation
from ..mps._density import liouvillian_terms, observable_weights, trace_expectations, vectorized
from ..result import MESolveResult


def _local_density_matrices(rho0, L: int, d: int) -> np.ndarray:
    """(L, d, d) from a ProductState, one local density matrix (repeated) or L of them."""
    from ..states import ProductState

    if isinstance(rho0, ProductState):
        if (rho0.L, rho0.d) != (L, d):
            raise ValueError(f"`rho0` is a product state of (L, d) = {(rho0.L, rho0.d)}, the "
                             f"equation's is {(L, d)}")
        v = np.asarray(rho0.vectors)
        return np.einsum("ia,ib->iab", v, v.conj())
    r = np.asarray(rho0) if not isinstance(rho0, (list, tuple)) else np.stack([np.asarray(x) for x in rho0])
    if r.shape == (d, d):
        r = np.broadcast_to(r, (L, d, d))
    if r.shape != (L, d, d):
        raise ValueError(f"`rho0` of mesolve(method=jr.MPS()) is a jr.product_state(model, ...), "
                         f"one local {d}x{d} density matrix (repeated on every site), a list of L = "
                         f"{L} of them, or a final_state of an earlier MPS run; got shape {r.shape}")
    return np.stack([np.asarray(as_density_matrix(r[i], d)) for i in range(L)])


@eqx.filter_jit
def _advance(tebd, t, s, n):
    """n TEBD steps of length s (rescaled to norm 1 after each; center stays at site 0); the
    gates' matrix exponentials once for all n steps."""
    gates = tebd.gates(s)

    def body(i, c):
        t, w = c
        m, cut = tebd.step(MatrixProductState(t), s, gates=gates)
        t = m.tensors
        return t.at[0].divide(jnp.linalg.norm(t[0])), w + cut  # the center's norm is the state's

    return jax.lax.fori_loop(0, n, body, (t, jnp.zeros((), jnp.float64)))


@jax.jit
def _measure(t, first1, w1, first2, w2):
    return trace_expectations(t, first1, w1, first2, w2)


def density_tebd(eq, method, rho0, solver: str, n_copies: int, max_memory):
    """(TEBD of the generator on the doubled chain, initial tensors) for ``solver``
    ("mesolve", "steadystate") with ``method=jr.MPS()``: the memory check (``n_copies`` MPS
    storages), the gates, and ``rho0`` -- a product state, local density matrices, or an
    earlier MPS result (the same L, d and max_bond)."""
    L, d, chi = eq.L, eq.d, method.max_bond
    terms = liouvillian_terms(eq)
    w = term_width(terms)
    check_memory(16.0 * ((L - w + 1) * (d * d) ** (2 * w) + n_copies * L * chi**2 * d * d),
                 f"{solver}(method=jr.MPS()) of {eq.name} at L = {L} (gates on {w} sites of the doubled "
                 f"chain, {(d * d) ** w} x {(d * d) ** w} each; bond {chi})",
                 "Use an equation with narrower terms (a lower order N) or a smaller max_bond.", max_memory)
    tebd = TEBD.build([g.scale(1j) for g in terms], [], chi, cutoff=method.cutoff)
    if isinstance(rho0, MatrixProductState):  # a final state of an earlier run: continue
        if rho0.tensors.shape != (L, chi, d * d, chi):
            raise ValueError(f"`rho0` is an MPS of shape {rho0.tensors.shape}; this run needs "
                             f"{(L, chi, d * d, chi)} (the same L, d and max_bond)")
        return tebd, jnp.asarray(rho0.tensors, jnp.complex128)
    v = vectorized(_local_density_matrices(rho0, L, d))
    v = v / np.linalg.norm(v, axis=1, keepdims=True)  # canonical product (scale is free)
    return tebd, from_product(v, chi).tensors


def mesolve_mps(eq, rho0, tsave, ops, herm, method, progress, max_memory=None) -> MESolveResult:
    """mesolve(eq, rho0, tsave, e_ops, method=jr.MPS(max_bond, dt, cutoff)) (module docstring;
    arguments as there, ``ops``/``herm`` from ``as_e_ops``)."""
    d = eq.d
    if not is_concrete(tsave):
        raise TypeError("mesolve(method=jr.MPS()) runs its save intervals from Python (progress, "
                        "NaN checks per save): `tsave` must be concrete, not traced inside "
                        "jax.jit/grad; call it outside the transformation (it is not differentiable)")
    tebd, t = density_tebd(eq, method, rho0, "mesolve", 2, max_memory)
    w = observable_weights(ops, d)
    one = [(n, f, x) for n, (f, k, x) in enumerate(w) if k == 1]
    two = [(n, f, x) for n, (f, k, x) in enumerate(w) if k == 2]
    args = (np.array([f for _, f, _ in one], int), np.array([x for *_, x in one]).reshape(len(one), d * d),
            np.array([f for _, f, _ in two], int), np.array([x for *_, x in two]).reshape(len(two), d**4))
    order = [n for n, _, _ in one] + [n for n, _, _ in two]

    def measure(t):
        if not ops:
            return np.zeros((0,))
        vals = np.concatenate([np.asarray(x) for x in _measure(t, *args)])
        out = np.empty(len(ops), complex)
        out[order] = vals
        return out

    ts = np.asarray(tsave, np.float64)
    ex = [measure(t)]
    cut = [0.0]
    steps = 0
    with bar(len(ts) - 1, "mesolve (MPS)", "save", progress) as pbar:
        for k in range(1, len(ts)):
            n = max(1, math.ceil((ts[k] - ts[k - 1]) / method.dt - 1e-9))
            t, c = _advance(tebd, t, jnp.float64((ts[k] - ts[k - 1]) / n), jnp.int32(n))
            steps += n
            cut.append(cut[-1] + float(c))
            ex.append(measure(t))
            if not np.all(np.isfinite(ex[-1])) or not bool(jnp.all(jnp.isfinite(t))):
                raise RuntimeError(f"mesolve(method=jr.MPS()) produced NaN or inf at t = {ts[k]} "
                                   f"({eq.name}); lower `dt` or raise `max_bond`")
            pbar.update(1)
            pbar.set_postfix_str(f"t={ts[k]:.3g} discarded={cut[-1]:.2g}")
    expect = np.stack(ex, axis=1) if ops else None
    check_truncation("mesolve(method=jr.MPS())", method, ts, cut, expect, ops, herm, stacklevel=4)
    if expect is not None:
        expect = np.where(np.asarray(herm)[:, None], expect.real, expect)
        expect = jnp.asarray(expect.real if all(herm) else expect)
    return MESolveResult(tsave=jnp.asarray(ts), states=None, final_state=MatrixProductState(t),
                         expect=expect,
                         stats={"discarded_weight": jnp.asarray(cut), "num_steps": steps},
                         method=method)
