"""FusedTsit5 (jaxredfield/solvers/_tsit5.py) is diffrax's Tsit5 with the stage sums written
out: checked against diffrax's own Tsit5 step by step (steps, rejections, dense output,
gradients, vmap) and, through mesolve, against the matrix exponential."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

import jaxredfield as jr
from jaxredfield._checks import diffrax_complex_ok
from jaxredfield.solvers._tsit5 import FusedTsit5

from .conftest import paper_system


class DiffraxTsit5(dfx.Tsit5):
    """diffrax's generic Runge-Kutta step (mesolve only swaps in FusedTsit5 for Tsit5 itself)."""


def _solve(solver, rho0, M, rtol, ts, y_scale=1.0):
    term = dfx.ODETerm(lambda t, y, a: (M @ y.reshape(-1)).reshape(y.shape) * y_scale)
    with diffrax_complex_ok():
        return dfx.diffeqsolve(term, solver, t0=ts[0], t1=ts[-1], dt0=None, y0=rho0,
                               saveat=dfx.SaveAt(ts=ts), max_steps=100_000,
                               stepsize_controller=dfx.PIDController(rtol=rtol, atol=rtol * 1e-2))


def _liouvillian(L=3):
    eq = jr.local_lindblad(paper_system(L, T=1.5, Tr=2.5), 1)
    D = eq.dim
    psi = np.ones(D) / np.sqrt(D)
    return jnp.asarray(jr.liouvillian_matrix(eq)), jnp.asarray(np.outer(psi, psi.conj()), dtype=jnp.complex128)


def test_same_steps_and_dense_output_as_diffrax_tsit5():
    M, rho0 = _liouvillian()
    ts = jnp.linspace(0.0, 4.0, 9)
    for rtol in (1e-6, 1e-10):
        a = _solve(DiffraxTsit5(), rho0, M, rtol, ts)
        b = _solve(FusedTsit5(), rho0, M, rtol, ts)
        for k in ("num_steps", "num_accepted_steps", "num_rejected_steps"):
            assert int(a.stats[k]) == int(b.stats[k]), k
        assert int(a.stats["num_steps"]) > 10
        assert np.abs(np.asarray(a.ys) - np.asarray(b.ys)).max() < 1e-14
    # a rejected step (the generator scaled by 3: the first step guess is too long); with tens of
    # rejections (scale >= 10, near the stability limit) a borderline accept/reject decision can
    # flip with round-off in either code (measured: 288 vs 289 steps, results 2e-9 apart)
    a = _solve(DiffraxTsit5(), rho0, M, 1e-8, ts, y_scale=3.0)
    b = _solve(FusedTsit5(), rho0, M, 1e-8, ts, y_scale=3.0)
    assert int(a.stats["num_rejected_steps"]) == int(b.stats["num_rejected_steps"]) > 0
    assert np.abs(np.asarray(a.ys) - np.asarray(b.ys)).max() < 1e-13


def test_accuracy_against_the_matrix_exponential():
    """Dense output at save times between steps, against expm (independent of diffrax)."""
    M, rho0 = _liouvillian()
    ts = jnp.linspace(0.0, 3.0, 13)
    ys = np.asarray(_solve(FusedTsit5(), rho0, M, 1e-11, ts).ys)
    Mn, r0 = np.asarray(M), np.asarray(rho0).reshape(-1)
    for t, y in zip(np.asarray(ts), ys):
        assert np.abs(y.reshape(-1) - scipy.linalg.expm(Mn * t) @ r0).max() < 1e-9


def test_gradient_and_vmap_match_diffrax_tsit5():
    M, rho0 = _liouvillian()
    ts = jnp.linspace(0.0, 2.0, 3)

    def f(solver, s):
        return jnp.real(_solve(solver, rho0, M, 1e-9, ts, y_scale=s).ys[-1, 0, 0])

    ga = jax.grad(lambda s: f(DiffraxTsit5(), s))(1.3)
    gb = jax.grad(lambda s: f(FusedTsit5(), s))(1.3)
    fd = (f(FusedTsit5(), 1.3 + 1e-5) - f(FusedTsit5(), 1.3 - 1e-5)) / 2e-5
    assert abs(float(gb) - float(ga)) < 1e-12 and abs(float(gb) - float(fd)) < 1e-7 * abs(float(fd))
    assert abs(float(fd)) > 1e-3
    scales = jnp.array([0.7, 1.3])
    vb = jax.vmap(lambda s: f(FusedTsit5(), s))(scales)
    for s, v in zip(scales, np.asarray(vb)):
        assert abs(v - float(f(DiffraxTsit5(), s))) < 1e-12


def test_mesolve_uses_it_for_tsit5_only():
    """The default method and an explicit diffrax.Tsit5() give FusedTsit5's results; another
    solver (diffrax's generic step) agrees to its tolerance."""
    s = paper_system(4, T=1.5, Tr=2.5)
    eq = jr.local_lindblad(s, 1)
    psi0 = jr.product_state(s.model, 0)
    ts = jnp.linspace(0.0, 2.0, 5)
    e = [jr.operator_on(jr.sigmaz(), 0, s.model)]
    calls = []
    step = FusedTsit5.step

    def counted(self, *args):
        calls.append(1)
        return step(self, *args)

    FusedTsit5.step = counted  # traced once per compilation: counts that mesolve used it
    try:
        jax.clear_caches()
        a = jr.mesolve(eq, psi0, ts, e)
    finally:
        FusedTsit5.step = step
    assert calls, "mesolve did not run FusedTsit5 for the default Tsit5"
    b = jr.mesolve(eq, psi0, ts, e, method=jr.Diffrax(solver=DiffraxTsit5()))
    assert int(a.stats["num_steps"]) == int(b.stats["num_steps"])
    assert np.abs(np.asarray(a.states) - np.asarray(b.states)).max() < 1e-14
    c = jr.mesolve(eq, psi0, ts, e, method=jr.Diffrax(solver=dfx.Dopri5()))
    assert np.abs(np.asarray(a.states) - np.asarray(c.states)).max() < 1e-7
