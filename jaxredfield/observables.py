"""Observables: local operators, spin currents, eigenstate populations, trace distance."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._checks import as_matrix, check_hermitian, is_concrete
from .operators import LocalOperator, apply_left, number, sigmaz
from .operators.local import _hermitian_matrix


def _declared(m, hermitian):
    """The Hermiticity flag to store: as given, or measured on a concrete matrix."""
    if hermitian is None and is_concrete(m):
        return _hermitian_matrix(m)
    return hermitian


def operator_on(op, sites, model, hermitian: bool | None = None) -> LocalOperator:
    """A d^k x d^k operator (array or ``qutip.Qobj``) on ``sites`` of ``model``'s lattice,
    e.g. ``operator_on(sigmaz(), 2, model)`` or a product on a few sites
    ``operator_on(np.kron(sigmaz(), sigmaz()), (0, 1), model)``. Whether it is Hermitian is
    measured now (concrete ``op``) and kept with the operator, so expectation values stay
    real under ``jax.jit``; for a traced ``op`` declare it with ``hermitian=True``."""
    m = as_matrix(op, "op")
    return LocalOperator(m, sites, model.L, model.d, _declared(m, hermitian))


def magnetization(model) -> list:
    """[sigma^z_0, ..., sigma^z_{L-1}] as local operators (spin chains)."""
    return [operator_on(sigmaz(), i, model, hermitian=True) for i in range(model.L)]


def spin_current(model, i: int) -> LocalOperator:
    """The spin current j_i = -i <[H^{i,i+1}, sigma^z_i]> (main text, Fig. 3c/4) as the
    two-site operator -i[H^{i,i+1}, sigma^z_i] on (i, i+1), H^{i,i+1} the bond term.
    Positive j_i: magnetization flows from site i to i+1."""
    if model.d != 2:
        raise ValueError(f"spin_current needs a spin-1/2 chain (d = 2), got d = {model.d}; "
                         "use bond_current for other local dimensions")
    return bond_current(model, i)


def bond_current(model, i: int, charge=None) -> LocalOperator:
    """The current of a locally conserved charge q across bond (i, i+1): the two-site
    operator -i[H^{i,i+1}, q_i]. ``charge``: the d x d single-site q (default sigma^z for
    d = 2, the boson number n for d > 2). Positive: q flows from site i to i+1."""
    if not 0 <= i < model.L - 1:
        raise ValueError(f"`i` must be a bond index 0..{model.L - 2}, got {i!r}")
    if charge is None:
        charge = sigmaz() if model.d == 2 else number(model.d - 1)
    charge = as_matrix(charge, "charge")
    check_hermitian(charge, "charge")
    b = model.bond(i, i + 1).matrix
    q = jnp.kron(jnp.asarray(charge), jnp.eye(model.d))
    # -i[b, q] is Hermitian for Hermitian b (a term of H_S) and q: declared, so that it
    # stays known when b is traced (a model built inside jax.jit / grad)
    return LocalOperator(-1j * (b @ q - q @ b), (i, i + 1), model.L, model.d, hermitian=True)


def to_local(op, L: int, d: int, name: str = "op") -> LocalOperator:
    """A LocalOperator, or a full d^L x d^L matrix / Qobj turned into one."""
    if isinstance(op, LocalOperator):
        if (op.L, op.d) != (L, d):
            raise ValueError(f"`{name}` lives on a lattice (L={op.L}, d={op.d}), expected (L={L}, d={d})")
        return op
    m = as_matrix(op, name)
    if m.shape != (d**L, d**L):
        raise ValueError(f"`{name}` must have shape {(d**L, d**L)} or be a LocalOperator, got {m.shape}")
    return LocalOperator(m, tuple(range(L)), L, d, _declared(m, None))


def hermitian_flags(ops, names) -> tuple:
    """For each e_op, whether its expectation values are returned real (Hermitian) -- the
    same answer in eager and traced code: the declared ``hermitian`` flag or a numerical
    check of a concrete matrix. An undeclared traced operator (built from traced values
    inside ``jax.jit``/``grad``) is refused rather than silently giving complex values."""
    out = []
    for o, name in zip(ops, names):
        if not o.hermitian_known():
            raise ValueError(
                f"`{name}` has a traced matrix (built inside jax.jit/grad) of unknown "
                "Hermiticity, so the dtype of its expectation values is unknown; declare it: "
                "LocalOperator(matrix, sites, L, d, hermitian=True) or operator_on(op, sites, "
                "model, hermitian=True), or build the operator outside the traced function"
            )
        out.append(o.is_hermitian())
    return tuple(out)


def expect(op: LocalOperator, state):
    """<op> = Tr(op rho) for a density matrix, or <psi|op|psi> for a state vector; for a
    matrix product state (an MPS result's ``final_state``, ``steadystate(method=jr.MPS())``):
    Tr(op rho)/Tr(rho) of a density MPS (local dimension d^2) or <psi|op|psi>/<psi|psi> of a
    state MPS (local dimension d), for ``op`` on one site or two neighbouring sites."""
    from .mps import MatrixProductState

    if isinstance(state, MatrixProductState):
        return _expect_mps(op, state)
    state = jnp.asarray(state)
    if state.ndim == 1:
        return jnp.vdot(state, apply_left(op, state))
    return jnp.trace(apply_left(op, state))


def _expect_mps(op: LocalOperator, state):
    from .mps import expect_local, norm2
    from .mps._density import observable_weights, trace_expectations

    d = op.d
    if op.L != state.L:
        raise ValueError(f"`op` is an operator of a chain of L = {op.L} sites, `state` an MPS of {state.L}")
    if state.d == d * d:  # a density MPS of the doubled chain
        ((first, k, w),) = observable_weights([op], d)
        one, two = (([first], w[None]), ([], np.zeros((0, d**4)))) if k == 1 else \
            (([], np.zeros((0, d * d))), ([first], w[None]))
        (val,) = trace_expectations(state.tensors, np.asarray(one[0], int), one[1],
                                    np.asarray(two[0], int), two[1])
        return val[0]
    if state.d == d:
        return expect_local(state, op.on(tuple(sorted(op.sites))).matrix, tuple(sorted(op.sites))) / norm2(state)
    raise ValueError(f"`state` is an MPS of local dimension {state.d}; `op` acts on sites of dimension {d} "
                     f"(a state MPS has {d}, a density MPS {d * d})")


def eigenstate_populations(model, rho, max_memory=None):
    """Populations <k|rho|k> of the eigenstates k of H_S in ascending energy (small L) for one
    density matrix (D x D) or a stack of them (..., D x D, e.g. ``mesolve(...).states``):
    returns (energies, populations of shape (..., D)). One diagonalization for all states
    (Fig. 2(a,b), Fig. S.4(b-e))."""
    E, V = jnp.linalg.eigh(model.dense(max_memory=max_memory))
    pops = jnp.real(jnp.einsum("ik,...ij,jk->...k", V.conj(), jnp.asarray(rho), V))
    return E, pops


def trace_distance(a, b):
    """The paper's trace distance ||a - b|| = Tr sqrt((a-b)^dag (a-b)) (no factor 1/2): the
    sum of singular values of a - b. Accepts arrays or ``qutip.Qobj``."""
    a = jnp.asarray(as_matrix(a, "a")) if not isinstance(a, jnp.ndarray) else a
    b = jnp.asarray(as_matrix(b, "b")) if not isinstance(b, jnp.ndarray) else b
    if a.shape != b.shape:
        raise ValueError(f"`a` and `b` must have the same shape, got {a.shape} and {b.shape}")
    return jnp.sum(jnp.linalg.svd(a - b, compute_uv=False))


def gibbs_state(model, T, max_memory=None):
    """exp(-H/T)/Z (small L)."""
    E, V = jnp.linalg.eigh(model.dense(max_memory=max_memory))
    p = jnp.exp(-(E - E[0]) / T)
    p = p / jnp.sum(p)
    return (V * p) @ V.conj().T


def as_e_ops(e_ops, L: int, d: int):
    """Normalise ``e_ops`` -> ``(ops, herm)``: a tuple of LocalOperators and, for each, whether
    its expectation values are returned real (:func:`~jaxredfield.observables.hermitian_flags`).

    ``e_ops`` is None (no observables), one operator (a :class:`LocalOperator`, a d^L x d^L
    array or a ``qutip.Qobj``) or a list/tuple of them; expectation values then always have
    shape (n_ops, n_t), n_ops = 1 for one operator. Concrete operators must be finite."""
    if e_ops is None:
        return (), ()
    if isinstance(e_ops, (list, tuple)):
        items = [(o, f"e_ops[{n}]") for n, o in enumerate(e_ops)]
    else:  # one operator
        items = [(e_ops, "e_ops")]
    ops = tuple(to_local(o, L, d, name) for o, name in items)
    names = [name for _, name in items]
    for o, name in zip(ops, names):
        if is_concrete(o.matrix) and not np.all(np.isfinite(np.asarray(o.matrix))):
            raise ValueError(f"`{name}` has NaN or inf entries")
    return ops, hermitian_flags(ops, names)


__all__ = ["operator_on", "magnetization", "spin_current", "bond_current", "expect", "eigenstate_populations",
           "trace_distance", "gibbs_state", "to_local", "hermitian_flags", "as_e_ops"]
