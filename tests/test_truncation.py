"""Truncation is never silent (jaxredfield/mps/_truncation.py; issue 26, item 4): MPS runs
whose truncation made the result wrong warn, runs at an exact bond do not. The verdicts are
checked against independent references: the spectrum of sigma^z is [-1, 1], and dense
mesolve / dense trajectories of the same equation say whether the MPS result is wrong."""

import warnings

import jax
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.mps._truncation import MAX_DISCARDED, check_truncation

from .conftest import paper_system


def _xx_neel(L):
    """The XX chain (Delta = 0) of the paper's baths, standard local Lindblad, Néel start."""
    s = paper_system(L, T=2.2, Tr=6.6, Delta=0.0)
    return jr.standard_local_lindblad(s), jr.product_state(s.model, [k % 2 for k in range(L)]), s.model


def test_check_truncation_verdicts():
    m = jr.xxz_chain(3)
    z, sp = jr.operator_on(jr.sigmaz(), 1, m), jr.operator_on(jr.sigmap(), 0, m)
    meth = jr.MPS(max_bond=8)
    ts = np.array([0.0, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not check_truncation("run", meth, ts, [0, 1e-8, MAX_DISCARDED],
                                    np.array([[1.0, -1.0, 0.3]]), [z], [True])
        assert not check_truncation("run", meth, ts, np.zeros(3), np.array([[0.5j, 0.2, 1.0]]), [sp], [False])
    with pytest.warns(jr.TruncationWarning, match=r"<e_ops\[0\]> = -1\.97 at t = 1 is outside its operator's "
                                                  r"spectrum \[-1, 1\].*jr\.MPS\(max_bond=16\)"):
        check_truncation("run", meth, ts, np.zeros(3), np.array([[0.0, -1.97, 0.0]]), [z], [True])
    with pytest.warns(jr.TruncationWarning, match=r"larger in modulus than its operator's norm 1"):
        check_truncation("run", meth, ts, np.zeros(3), np.array([[0.0, 0.0, 1.5j]]), [sp], [False])
    with pytest.warns(jr.TruncationWarning, match=r"discarded weight reached 0\.002 by t = 1 \(6\.5 by the end"):
        check_truncation("run", meth, ts, [0.0, 2e-3, 6.5], None)
    with pytest.warns(jr.TruncationWarning, match="discarded weight reached nan"):
        check_truncation("run", meth, ts, [0.0, np.nan, 0.0], None)


def test_mesolve_mps_warns_when_the_bond_is_too_small_and_not_at_an_exact_bond():
    """L = 6 from the Néel state, t = 0 ... 4: bond 4 of the doubled chain (needs 4^3 = 64) is
    wrong against dense mesolve and warns; bond 64 is exact, agrees and is silent."""
    L = 6
    eq, psi0, model = _xx_neel(L)
    e = jr.magnetization(model)
    ts = np.linspace(0.0, 4.0, 5)
    dense = np.asarray(jr.mesolve(eq, psi0, ts, e, method=jr.Diffrax(rtol=1e-10, atol=1e-12)).expect)
    with pytest.warns(jr.TruncationWarning, match=r"mesolve\(method=jr\.MPS\(\)\) with max_bond = 4"):
        bad = jr.mesolve(eq, psi0, ts, e, method=jr.MPS(max_bond=4), progress=False)
    # measured: off by 0.79 (w = 0.13 by t = 1); bond 16: 0.042, w = 1.8e-3 (warns too)
    assert np.abs(np.asarray(bad.expect) - dense).max() > 0.05  # the warning is deserved
    with warnings.catch_warnings():
        warnings.simplefilter("error", jr.TruncationWarning)
        good = jr.mesolve(eq, psi0, ts, e, method=jr.MPS(max_bond=64), progress=False)
    # measured 4.3e-3, w = 6e-9: the time step's O(dt^2) error at dt = 0.05
    assert np.abs(np.asarray(good.expect) - dense).max() < 1e-2


def test_mcsolve_mps_warns_when_the_bond_is_too_small_and_not_at_an_exact_bond():
    """L = 6 trajectories from the Néel state: bond 1 (product states) warns; bond 8 = 2^3
    holds every state of the chain and is silent, with the state-vector engine's jumps."""
    L = 6
    eq, psi0, model = _xx_neel(L)
    e = jr.magnetization(model)
    ts = np.linspace(0.0, 2.0, 3)
    run = lambda meth: jr.mcsolve(eq, psi0, ts, 8, jax.random.key(1), e_ops=e,  # noqa: E731
                                  method=meth, progress=False, workers=1)
    with pytest.warns(jr.TruncationWarning, match=r"mcsolve\(method=jr\.MPS\(\)\) with max_bond = 1.*discarded weight"):
        run(jr.MPS(max_bond=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", jr.TruncationWarning)
        good = run(jr.MPS(max_bond=8))
    vec = jr.mcsolve(eq, np.asarray(jr.product_state(model, [k % 2 for k in range(L)]).dense()), ts, 8,
                     jax.random.key(1), e_ops=e, progress=False, workers=1)
    # measured 5.5e-3 (the same jumps; TEBD's dt = 0.05 error), w = 5e-10; bond 1: off by 1.3
    assert np.abs(np.asarray(good.expect) - np.asarray(vec.expect)).max() < 2e-2
