"""Chebyshev propagator of the trajectories: spectral bounds, matrix-free H_nh, and
exp(-i H_nh s) psi against scipy's expm (d = 2 and d = 3, weak and strong damping)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl

import jaxredfield as jr
from jaxredfield.equations import MasterEquation
from jaxredfield.operators import apply_left
from jaxredfield.trajectories.chebyshev import ChebyshevPropagator, spectral_bounds

from .conftest import paper_system, random_matrix


def _herm(rng, n):
    a = random_matrix(rng, n)
    return a + a.conj().T


def _dense_nh(eq):
    H = sum(np.asarray(h.dense()) for h in eq.hamiltonian)
    G = sum(np.asarray(Lk.dag().dense() @ Lk.dense()) for Lk in eq.jumps)
    return H - 0.5j * G


@pytest.mark.parametrize("L,d,window", [(9, 2, 16), (9, 2, 256), (5, 3, 27), (4, 2, 256)])
def test_spectral_bounds_enclose_the_spectrum(rng, L, d, window):
    ops = [jr.LocalOperator(_herm(rng, d * d), (i, i + 1), L, d) for i in range(L - 1)]
    ops += [jr.LocalOperator(_herm(rng, d), i, L, d) for i in range(L)]
    ops += [jr.LocalOperator(_herm(rng, d**3), (0, 1, L - 1), L, d)]  # wider than small windows
    H = sum(np.asarray(o.dense()) for o in ops)
    ev = np.linalg.eigvalsh(H)
    lo, hi = spectral_bounds(ops, window_max_dim=window)
    assert lo <= ev[0] + 1e-10 and hi >= ev[-1] - 1e-10
    if d**L <= window:  # one window holds everything (the wide term too): exact
        assert abs(lo - ev[0]) < 1e-9 and abs(hi - ev[-1]) < 1e-9
    # larger windows are never looser
    lo2, hi2 = spectral_bounds(ops, window_max_dim=window * d)
    assert lo2 >= lo - 1e-9 and hi2 <= hi + 1e-9


def _random_lindblad_d3(rng, L=4, rate=1.0):
    d = 3
    H = [jr.LocalOperator(_herm(rng, d * d) / 4, (i, i + 1), L, d) for i in range(L - 1)]
    jumps = [jr.LocalOperator(np.sqrt(rate) * random_matrix(rng, d) / 2, i, L, d) for i in (0, L - 1)]
    return MasterEquation(tuple(H), (), tuple(jumps), (), L, d, "random d=3")


def _cases(rng):
    sysm = paper_system(6)
    return {
        "standard local Lindblad (gather)": jr.standard_local_lindblad(sysm),
        "local Lindblad N=4 (5-site clusters: tensor path)": jr.local_lindblad(sysm, 4),
        "d=3 weak damping": _random_lindblad_d3(rng, rate=0.05),
        "d=3 strong damping": _random_lindblad_d3(rng, rate=20.0),
    }


def test_matrix_free_nonhermitian_hamiltonian_matches_dense(rng):
    for name, eq in _cases(rng).items():
        P = ChebyshevPropagator.build(eq.hamiltonian, eq.jumps)
        Hnh = _dense_nh(eq)
        psi = rng.normal(size=eq.dim) + 1j * rng.normal(size=eq.dim)
        z = np.asarray(P.apply_z(jnp.asarray(psi)))
        assert np.allclose(z, (Hnh @ psi - P.c * psi) / P.R, atol=1e-12), name
        # the scaled operator's numerical range lies in [-1, 1] x i[-delta, delta]
        Z = (Hnh - P.c * np.eye(eq.dim)) / P.R
        herm, anti = (Z + Z.conj().T) / 2, (Z - Z.conj().T) / 2j
        assert np.abs(np.linalg.eigvalsh(herm)).max() <= 1 + 1e-9, name
        assert np.abs(np.linalg.eigvalsh(anti)).max() <= -P.c.imag / P.R + 1e-12, name


# complex64 slow-marked (~50 s); single precision end to end is checked in the default run by
# tests/test_trajectories_checkpoint.py::test_complex64_close_to_complex128
@pytest.mark.parametrize("dtype,tol", [(jnp.complex128, 1e-9), pytest.param(jnp.complex64, 2e-5, marks=pytest.mark.slow)])
def test_propagate_matches_expm(rng, dtype, tol):
    for name, eq in _cases(rng).items():
        P = ChebyshevPropagator.build(eq.hamiltonian, eq.jumps, dtype=dtype)
        Hnh = _dense_nh(eq)
        psi = rng.normal(size=eq.dim) + 1j * rng.normal(size=eq.dim)
        psi /= np.linalg.norm(psi)
        f = jax.jit(lambda x, s: P.propagate(x, s))
        for s in [0.0, 1e-7, 0.37 * P.max_step, P.max_step]:
            ref = sl.expm(-1j * Hnh * s) @ psi
            out = np.asarray(f(jnp.asarray(psi, dtype), s))
            assert np.abs(out - ref).max() < tol, (name, s, np.abs(out - ref).max())
        # the norm never grows (H_nh has a negative semidefinite anti-Hermitian part)
        assert np.linalg.norm(out) <= 1 + tol


def test_backward_steps_and_save_points_match_expm(rng):
    """The two uses of the trajectory loop beyond a plain step: a negative s (root finding
    propagates backwards from a point past the jump time) and a save point s_save <= s from
    the same recurrence (dense output), each against scipy's expm."""
    for name, eq in _cases(rng).items():
        P = ChebyshevPropagator.build(eq.hamiltonian, eq.jumps)
        Hnh = _dense_nh(eq)
        psi = rng.normal(size=eq.dim) + 1j * rng.normal(size=eq.dim)
        psi /= np.linalg.norm(psi)
        x = jnp.asarray(psi)
        ex = lambda s: sl.expm(-1j * Hnh * s) @ psi
        both = jax.jit(lambda x, s, s2: P.propagate(x, s, s_save=s2))
        for s, s2 in [(P.max_step, 0.37 * P.max_step), (0.6 * P.max_step, 0.0), (0.2 * P.max_step,) * 2]:
            end, sv = both(x, s, s2)
            assert np.abs(np.asarray(end) - ex(s)).max() < 1e-9, (name, s)
            assert np.abs(np.asarray(sv) - ex(s2)).max() < 1e-9, (name, s2)
        one = jax.jit(lambda x, s: P.propagate(x, s))  # compiled once per case, not per s
        for s in (-1e-6, -0.01 * P.max_step, -0.1 * P.max_step):
            back = np.asarray(one(x, s))
            assert np.abs(back - ex(s)).max() < 1e-9 * np.linalg.norm(ex(s)), (name, s)


def test_truncation_tolerance_is_what_it_says(rng):
    eq = jr.standard_local_lindblad(paper_system(6))
    Hnh = _dense_nh(eq)
    psi = rng.normal(size=eq.dim) + 1j * rng.normal(size=eq.dim)
    psi /= np.linalg.norm(psi)
    errs = {}
    for tol in (1e-4, 1e-8, 1e-12):
        P = ChebyshevPropagator.build(eq.hamiltonian, eq.jumps, tol=tol)
        s = P.max_step
        errs[tol] = np.abs(np.asarray(P.propagate(jnp.asarray(psi), s)) - sl.expm(-1j * Hnh * s) @ psi).max()
        assert errs[tol] <= tol, errs
    assert errs[1e-4] > errs[1e-12]  # fewer terms really are less accurate


def test_contiguous_apply_matches_dense(rng):
    """apply_left's reshape fast path (contiguous sites) for L = 10, d = 2 and L = 5, d = 3."""
    for L, d in [(10, 2), (5, 3)]:
        psi = rng.normal(size=d**L) + 1j * rng.normal(size=d**L)
        for k in (1, 2, 3):
            for i0 in (0, L // 2, L - k):
                op = jr.LocalOperator(random_matrix(rng, d**k), tuple(range(i0, i0 + k)), L, d)
                ref = np.asarray(op.dense()) @ psi
                assert np.allclose(np.asarray(apply_left(op, jnp.asarray(psi))), ref, atol=1e-10)


def test_apply_left_under_jit_with_closed_over_operator(rng):
    """The zero-column skip of the fast path inspects the matrix on the host: it must also
    work when the operator is a constant closed over by a jitted function."""
    op = jr.LocalOperator(np.kron(jr.sigmax(), jr.sigmaz()), (2, 3), 6, 2)
    psi = rng.normal(size=64) + 0j
    f = jax.jit(lambda x: apply_left(op, x))
    assert np.allclose(np.asarray(f(jnp.asarray(psi))), np.asarray(op.dense()) @ psi, atol=1e-12)
