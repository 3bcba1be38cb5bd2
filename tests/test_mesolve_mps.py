"""mesolve(method=jr.MPS()): density matrices as MPS of the doubled chain (jaxredfield/mps/
_density.py, solvers/_mesolve_mps.py). References: the dense Liouvillian (liouvillian_matrix,
itself checked against tests/reference.py), dense mesolve at tight tolerances, the
second-order convergence in dt, and the trace identity of observables."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.mps._density import liouvillian_terms, observable_weights
from jaxredfield.operators import embed

from .conftest import paper_system
from .test_equations import Ref


def _pair_to_row_major(L, d):
    """Permutation p with x_row_major = x_pair[p] (site pairs (ket_i, bra_i) -> (kets, bras))."""
    idx = np.arange(d ** (2 * L)).reshape((d,) * (2 * L))
    return idx.transpose([2 * j for j in range(L)] + [2 * j + 1 for j in range(L)]).reshape(-1)


@pytest.mark.parametrize("build", ["local_lindblad_1", "standard", "local_redfield_2", "pseudo", "bose_hubbard"])
def test_liouvillian_terms_sum_to_the_generator(build):
    if build == "bose_hubbard":
        eq = jr.local_lindblad(Ref(L=3, model="bose_hubbard").system, 1)  # d = 3
    else:
        s = paper_system(4, T=1.5, Tr=2.5)
        eq = {"local_lindblad_1": lambda: jr.local_lindblad(s, 1),
              "standard": lambda: jr.standard_local_lindblad(s),
              "local_redfield_2": lambda: jr.local_redfield(s, 2),
              "pseudo": lambda: jr.pseudo_lindblad(jr.local_redfield(s, 1), 0.7)}[build]()
    L, d = eq.L, eq.d
    G = sum(np.asarray(embed(np.asarray(t.matrix), t.sites, tuple(range(L)), d * d))
            for t in liouvillian_terms(eq))
    p = _pair_to_row_major(L, d)
    M = np.asarray(jr.liouvillian_matrix(eq))
    assert np.abs(G[np.ix_(p, p)] - M).max() < 1e-12 * np.abs(M).max()


def test_observable_weights_give_the_trace():
    """Tr(O rho) = <w, vec(rho_S)> for one- and two-site operators, random rho."""
    rng = np.random.default_rng(3)
    d = 2
    m = jr.xxz_chain(2)
    rho = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    ops = [jr.operator_on(jr.sigmax(), 1, m), jr.spin_current(m, 0)]
    vec = rho.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(-1)  # (k0 b0 k1 b1)
    for o, (first, k, w) in zip(ops, observable_weights(ops, d)):
        full = np.asarray(o.on((0, 1)).matrix)
        if k == 1:  # one-site weights against the reduced matrix on site 1
            red = np.einsum("abcb->ac", rho.reshape(2, 2, 2, 2).transpose(1, 0, 3, 2))
            assert abs(w @ red.reshape(-1) - np.trace(full @ rho)) < 1e-12
        else:
            assert abs(w @ vec - np.trace(full @ rho)) < 1e-12


@pytest.mark.parametrize("build", ["local_lindblad_1", "standard", "local_redfield_2"])
def test_against_dense_mesolve_with_second_order_time_steps(build):
    L = 4
    s = paper_system(L, T=2.2, Tr=6.6)
    eq = {"local_lindblad_1": lambda: jr.local_lindblad(s, 1),
          "standard": lambda: jr.standard_local_lindblad(s),
          "local_redfield_2": lambda: jr.local_redfield(s, 2)}[build]()
    e = jr.magnetization(s.model) + [jr.spin_current(s.model, i) for i in range(L - 1)]
    ts = np.linspace(0.0, 2.0, 5)
    psi0 = jr.product_state(s.model, 0)
    ref = np.asarray(jr.mesolve(eq, psi0, ts, e, method=jr.Diffrax(rtol=1e-11, atol=1e-13)).expect)
    errs = []
    for dt in (0.04, 0.02):
        r = jr.mesolve(eq, psi0, ts, e, method=jr.MPS(max_bond=64, dt=dt, cutoff=0.0))
        assert r.states is None and r.expect.shape == ref.shape
        assert float(r.stats["discarded_weight"][-1]) < 1e-20  # bond 64 holds 4^2 exactly
        errs.append(np.abs(np.asarray(r.expect) - ref).max())
    # measured: 7.8e-4 / 2.1e-4 (N = 1), 7.4e-4 / 2.0e-4 (standard), 2.9e-4 / 7.8e-5 (local
    # Redfield N = 2) at dt = 0.04 / 0.02, ratio 3.7 each
    assert errs[1] < 5e-4, errs
    assert 3.0 < errs[0] / errs[1] < 5.0, errs  # O(dt^2): halving dt divides the error by ~4


def test_continuation_and_mixed_initial_states():
    """A run continued from its final_state equals one run; local density matrices (mixed,
    one with coherence) as rho0 against dense mesolve of their product (measured 4.6e-4 at
    dt = 0.05, the time step's error)."""
    L = 4
    s = paper_system(L, T=2.2, Tr=6.6)
    eq = jr.local_lindblad(s, 1)
    e = jr.magnetization(s.model)
    meth = jr.MPS(max_bond=32, dt=0.05)
    rho_loc = [np.diag([0.7, 0.3]), np.eye(2) / 2, np.diag([0.2, 0.8]), np.array([[0.5, 0.2], [0.2, 0.5]])]
    full = jr.mesolve(eq, rho_loc, [0.0, 0.5, 1.0], e, method=meth)
    a = jr.mesolve(eq, rho_loc, [0.0, 0.5], e, method=meth)
    b = jr.mesolve(eq, a.final_state, [0.5, 1.0], e, method=meth)
    assert np.abs(np.asarray(b.expect)[:, -1] - np.asarray(full.expect)[:, -1]).max() < 1e-12
    rho0 = rho_loc[0]
    for r in rho_loc[1:]:
        rho0 = np.kron(rho0, r)
    dense = np.asarray(jr.mesolve(eq, rho0, [0.0, 0.5, 1.0], e, method=jr.Diffrax(rtol=1e-11, atol=1e-13)).expect)
    assert np.abs(np.asarray(full.expect) - dense).max() < 1e-3
    assert np.abs(np.asarray(full.expect)[:, 0] - dense[:, 0]).max() < 1e-12


def test_bad_input_is_refused():
    s = paper_system(4)
    eq = jr.local_lindblad(s, 1)
    m = s.model
    with pytest.raises(ValueError, match="one site or two neighbouring"):
        jr.mesolve(eq, jr.product_state(m, 0), [0, 1], [jr.operator_on(np.eye(8), (0, 1, 2), m)],
                   method=jr.MPS(max_bond=8))
    with pytest.raises(ValueError, match="rho0"):
        jr.mesolve(eq, np.eye(16) / 16, [0, 1], method=jr.MPS(max_bond=8))
    with pytest.raises(MemoryError, match="narrower terms"):
        jr.mesolve(jr.redfield(s), jr.product_state(m, 0), [0, 1], method=jr.MPS(max_bond=8),
                   max_memory=2**16)
    gap_jump = jr.LocalOperator(np.eye(4), (1, 3), 4, 2)
    with pytest.raises(ValueError, match=r"a jump operator on sites \(1, 3\): method=jr.MPS\(\) "
                       r"supports operators on contiguous sites only .* use a dense method"):
        jr.mesolve(dataclasses.replace(eq, jumps=(gap_jump,)), jr.product_state(m, 0), [0, 1],
                   method=jr.MPS(max_bond=8))
    with pytest.raises(TypeError, match="`tsave` must be concrete"):
        jax.jit(lambda ts: jr.mesolve(eq, jr.product_state(m, 0), ts, method=jr.MPS(max_bond=8)).expect)(
            jnp.array([0.0, 1.0]))
