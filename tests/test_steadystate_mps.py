"""steadystate(method=jr.MPS()): the steady state of a chain as a density MPS (issue 26),
against the dense direct solve (the three equation forms the density MPS holds), against the
exact XX-chain steady state (tests/exact_xx.py: Jordan-Wigner, NumPy/SciPy only), and its
honest stops (non-convergence warns, bad arguments name themselves)."""

import warnings

import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.mps._density import bond_marginals, marginal_matrices

from . import exact_xx
from .conftest import paper_system


def _dense_marginals(rho, L, d=2):
    """Two-site reduced density matrices of a dense rho by NumPy partial traces."""
    r = np.asarray(rho).reshape([d] * (2 * L))
    out = []
    for i in range(L - 1):
        ket, bra = list(range(L)), list(range(L, 2 * L))
        for j in range(L):
            if j not in (i, i + 1):
                bra[j] = ket[j]
        out.append(np.einsum(r, ket + bra, [i, i + 1, L + i, L + i + 1]).reshape(d * d, d * d))
    return np.stack(out)


EQUATIONS = {
    "local_lindblad_N1": lambda s: jr.local_lindblad(s, 1),
    "standard_local_lindblad": lambda s: jr.standard_local_lindblad(s),
    "local_redfield_N2": lambda s: jr.pseudo_lindblad(jr.local_redfield(s, 2), jr.lam_loc(s)),
}


@pytest.mark.parametrize("form", [
    "local_lindblad_N1",
    pytest.param("standard_local_lindblad", marks=pytest.mark.slow),
    pytest.param("local_redfield_N2", marks=pytest.mark.slow)])
def test_matches_the_dense_steady_state(form):
    """L = 4 (bond 16 holds the doubled chain exactly): every two-site marginal within 2e-5 of
    the dense direct solve, after Richardson; the O(dt^2) error it removed is ~10x larger
    (so the extrapolation is what makes the accuracy, not a loose tolerance). Observables
    through jr.expect on the MPS agree the same way."""
    L = 4
    s = paper_system(L, T=2.2, Tr=6.6)
    eq = EQUATIONS[form](s)
    rho = np.asarray(jr.steadystate(eq, method=jr.Direct()))
    res = jr.steadystate(eq, method=jr.MPS(max_bond=16, dt=0.1), return_info=True)
    assert res.stats["converged"] and res.stats["change_per_time"] <= 1e-6
    m = marginal_matrices(np.asarray(bond_marginals(res.state.tensors)), 2)
    err = np.max(np.abs(m - _dense_marginals(rho, L)))
    assert err < 2e-5, err
    assert res.stats["trotter_correction"] > 5 * err
    ops = jr.magnetization(s.model) + [jr.spin_current(s.model, i) for i in range(L - 1)]
    for o in ops:
        ref = float(np.real(jr.expect(o, rho)))
        assert abs(float(np.real(jr.expect(o, res.state))) - ref) < 4e-5


def _xx(L, J):
    model = jr.xxz_chain(L, J=J, Delta=0.0, h=1.0, delta=-0.07)
    gain, loss = np.zeros(L), np.zeros(L)
    gain[0], loss[0], gain[-1], loss[-1] = 0.4, 0.1, 0.05, 0.45
    jumps = [jr.operator_on(np.sqrt(r) * op, i, model) for i in (0, L - 1)
             for r, op in ((gain[i], jr.sigmap()), (loss[i], jr.sigmam()))]
    return model, gain, loss, jr.lindblad(list(model.terms), jumps, L, 2)


@pytest.mark.slow
def test_matches_the_exact_xx_chain():
    """The XX chain with gain/loss on the end sites (standard local Lindblad form), L = 6 at
    the exact bond 64 (270 s here): magnetization and currents against the exact Lyapunov
    solution (measured 2.6e-5 and 6e-6); the current is the same on every bond."""
    L, J = 6, 1.0
    model, gain, loss, eq = _xx(L, J)
    res = jr.steadystate(eq, method=jr.MPS(max_bond=64, dt=0.1), return_info=True)
    assert res.stats["converged"]
    G = exact_xx.steady_correlations(J, 1.0 - 0.07 * np.arange(L), gain, loss)
    z = np.array([float(np.real(jr.expect(o, res.state))) for o in jr.magnetization(model)])
    j = np.array([float(np.real(jr.expect(jr.spin_current(model, i), res.state))) for i in range(L - 1)])
    np.testing.assert_allclose(z, exact_xx.magnetization(G), atol=1e-4)
    j_exact = exact_xx.spin_currents(G, J)
    assert abs(j_exact[0]) > 1e-2
    np.testing.assert_allclose(j, j_exact, atol=1e-4)
    assert np.ptp(j) < 1e-4


def test_a_run_that_does_not_converge_says_so():
    """Out of time: warns with the change reached and the fix. A truncated bond (the XX chain
    at L = 4 needs 16, given 2) that still settles: the discarded weight per unit time of the
    steady state warns (TruncationWarning) naming max_bond."""
    s = paper_system(4, T=2.2, Tr=6.6)
    eq = jr.local_lindblad(s, 1)
    with pytest.warns(RuntimeWarning, match="did not converge.*Raise `max_time`"):
        res = jr.steadystate(eq, method=jr.MPS(max_bond=16, dt=0.1), max_time=2.0, return_info=True)
    assert not res.stats["converged"] and res.stats["change_per_time"] > 1e-6
    *_, eq = _xx(4, 1.0)
    with pytest.warns(jr.TruncationWarning, match="discard a weight of .* per unit time.*Raise `max_bond`"):
        res = jr.steadystate(eq, method=jr.MPS(max_bond=2, dt=0.1), return_info=True)
    assert res.stats["discarded_weight_rate"] > 1e-5


@pytest.mark.slow
def test_a_run_stalled_by_truncation_stops_and_says_so():
    """The XX chain at L = 6 needs bond 64; at 16 the truncations keep the bond marginals
    moving by ~1e-4 per unit time (measured), above tol: the run stops once the change makes
    no new low for STALL_WINDOWS windows (not at max_time) and names max_bond."""
    *_, eq = _xx(6, 1.0)
    with pytest.warns(RuntimeWarning, match="stalled at .*Raise `max_bond`"):
        res = jr.steadystate(eq, method=jr.MPS(max_bond=16, dt=0.1), return_info=True)
    assert not res.stats["converged"] and max(res.stats["evolved_time"]) < 1e3


def test_bad_arguments_name_themselves():
    s = paper_system(3)
    eq = jr.local_lindblad(s, 1)
    with pytest.raises(ValueError, match="`tol` must be"):
        jr.steadystate(eq, method=jr.MPS(max_bond=8), tol=-1.0)
    with pytest.raises(ValueError, match="`max_time` must be a positive finite"):
        jr.steadystate(eq, method=jr.MPS(max_bond=8), max_time=np.inf)
    with pytest.raises(TypeError, match="jr.GMRES\\(tol=...\\)"):
        jr.steadystate(eq, method=jr.GMRES(), tol=1e-8)
    with pytest.raises(ValueError, match="`rho0` is an MPS of shape"):
        jr.steadystate(eq, method=jr.MPS(max_bond=8),
                       rho0=jr.MatrixProductState(np.zeros((3, 4, 4, 4), complex)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="local dimension"):
            jr.expect(jr.operator_on(jr.sigmaz(), 0, s.model),
                      jr.MatrixProductState(np.zeros((3, 4, 3, 4), complex)))


def test_expect_on_a_state_mps_matches_the_dense_vector(rng):
    """jr.expect on a state MPS (local dimension d) is <psi|O|psi>/<psi|psi>, checked against
    the dense vector for a random unnormalized product state, one- and two-site operators."""
    from jaxredfield.mps import from_product, to_dense

    model = jr.xxz_chain(4)
    v = rng.normal(size=(4, 2)) + 1j * rng.normal(size=(4, 2))
    mps = from_product(v, 4)
    psi = np.asarray(to_dense(mps))
    for op in [jr.operator_on(jr.sigmax(), 2, model), jr.spin_current(model, 1)]:
        ref = np.vdot(psi, np.asarray(op.dense()) @ psi) / np.vdot(psi, psi)
        assert abs(complex(jr.expect(op, mps)) - ref) < 1e-12


def test_the_stall_rule_on_known_sequences():
    """The stop of a relaxation that no longer converges (_stalled), on sequences of the
    change per unit time whose answer is known by construction: a smooth exponential decay
    with a relaxation time of 200 (50 windows; slower than the paper's chain at L = 8, ~L^2.6
    = 220 time units at most) is never stopped; a noisy floor between 1.5e-6 and 3.9e-6 (the
    L = 8, bond 64 run's range), reached after a decay, is stopped within 2 x 8 windows of the
    floor with the floor's median; a decay that stalls at one value is stopped by the
    no-new-low count. (Seeds 0-19 of the noise: stopped 9-13 windows into the floor.)"""
    from jaxredfield.solvers import _steadystate_mps as ss

    smooth = 1e-3 * np.exp(-4.0 * np.arange(200) / 200.0)
    assert all(ss._stalled(smooth[:n]) is None for n in range(1, 201))
    rng = np.random.default_rng(0)
    floor = rng.uniform(1.5e-6, 3.9e-6, 60)
    seq = np.concatenate([1e-4 * np.exp(-np.arange(14) / 3.0), floor])
    stops = [n for n in range(1, len(seq) + 1) if ss._stalled(seq[:n]) is not None]
    assert stops and stops[0] <= 14 + 2 * ss.PLATEAU_WINDOWS
    assert 1.5e-6 <= ss._stalled(seq[:stops[0]]) <= 3.9e-6
    flat = np.concatenate([1e-4 * np.exp(-np.arange(10) / 3.0), np.full(40, 4e-6)])  # lowest at window 10
    assert ss._stalled(flat[:10 + ss.STALL_WINDOWS]) is None
    assert ss._stalled(flat[:11 + ss.STALL_WINDOWS]) == 4e-6


def test_checkpoint_resumes_a_killed_run(tmp_path, monkeypatch):
    """checkpoint=path: a run killed in its dt relaxation, and one killed in its dt/2
    relaxation, continue from their last window to exactly the uninterrupted run's state
    (bitwise: the same windows follow from the same saved tensors) and evolve only what was
    left; a finished run's file gives the result without evolving; another run's file (other
    tol) is refused and left untouched; Direct and GMRES refuse the option."""
    import jaxredfield.solvers._steadystate_mps as ssm

    s = paper_system(3, T=2.2, Tr=6.6)
    eq = jr.local_lindblad(s, 1)
    kw = dict(method=jr.MPS(max_bond=8, dt=0.1), tol=1e-5, return_info=True)
    calls = []
    real = ssm._advance

    def counted(*a):
        calls.append(1)
        return real(*a)

    monkeypatch.setattr(ssm, "_advance", counted)
    full = jr.steadystate(eq, checkpoint=tmp_path / "full.npz", **kw)
    n_full, (T1, T2) = len(calls), full.stats["evolved_time"]
    assert full.stats["resumed_phase"] is None and full.stats["converged"]
    assert n_full == round(T1 / 4.0) + round(T2 / 4.0) and T2 >= 8.0  # windows of 4 time units

    class Killed(Exception):
        pass

    for kill_at, phase in ((2, 0), (round(T1 / 4.0) + 1, 1)):  # inside the dt, then the dt/2 relaxation
        path = tmp_path / f"killed{kill_at}.npz"
        calls.clear()

        def dies(*a, kill_at=kill_at):
            if len(calls) == kill_at:
                raise Killed
            return counted(*a)

        monkeypatch.setattr(ssm, "_advance", dies)
        with pytest.raises(Killed):
            jr.steadystate(eq, checkpoint=path, **kw)
        monkeypatch.setattr(ssm, "_advance", counted)
        calls.clear()
        res = jr.steadystate(eq, checkpoint=path, **kw)
        assert res.stats["resumed_phase"] == phase
        assert len(calls) == n_full - kill_at  # only the windows not saved before the kill
        assert np.array_equal(np.asarray(res.state.tensors), np.asarray(full.state.tensors))
        assert res.stats["evolved_time"] == full.stats["evolved_time"]

    calls.clear()
    again = jr.steadystate(eq, checkpoint=tmp_path / "full.npz", **kw)
    assert not calls and again.stats["resumed_phase"] == 2
    assert np.array_equal(np.asarray(again.state.tensors), np.asarray(full.state.tensors))
    before = (tmp_path / "full.npz").read_bytes()
    with pytest.raises(ValueError, match="different run.*tol"):
        jr.steadystate(eq, checkpoint=tmp_path / "full.npz", **{**kw, "tol": 2e-5})
    assert (tmp_path / "full.npz").read_bytes() == before
    for m in (jr.Direct(), jr.GMRES()):
        with pytest.raises(TypeError, match="`checkpoint` is an option of steadystate"):
            jr.steadystate(eq, method=m, checkpoint=tmp_path / "x.npz")
