"""FusedTsit5 and FusedDopri8 (jaxredfield/solvers/_fused_rk.py) are diffrax's Tsit5 and Dopri8
with the stage sums written out: checked against diffrax's own generic step (steps,
rejections, dense output, gradients, vmap) and against the matrix exponential; mesolve's
default method runs FusedDopri8."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

import jaxredfield as jr
from jaxredfield._checks import diffrax_complex_ok
from jaxredfield.solvers._fused_rk import FusedDopri8, FusedTsit5

from .conftest import paper_system


class DiffraxTsit5(dfx.Tsit5):
    """diffrax's generic Runge-Kutta step (mesolve swaps in the fused step only for the
    classes Tsit5 and Dopri8 themselves)."""


class DiffraxDopri8(dfx.Dopri8):
    """diffrax's generic Runge-Kutta step for Dopri8."""


PAIRS = [(DiffraxTsit5, FusedTsit5), (DiffraxDopri8, FusedDopri8)]
# the whole-solve and gradient checks of Tsit5 are slow-marked (~55 s together); the default
# Dopri8 runs them in the default run, Tsit5's stages are checked step by step there
SLOW_TSIT5 = [pytest.param(DiffraxTsit5, FusedTsit5, marks=pytest.mark.slow), (DiffraxDopri8, FusedDopri8)]


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


@pytest.mark.parametrize("generic,fused", PAIRS)
def test_one_step_equals_diffrax(generic, fused):
    """One step from a generic state: the solution, error estimate, dense-output stages and
    the first-same-as-last stage equal diffrax's generic step to round-off, for a short and
    a long step, first step or not."""
    M, _ = _liouvillian()
    rng = np.random.default_rng(3)
    y0 = jnp.asarray(rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8)))
    term = dfx.ODETerm(lambda t, y, a: (M @ y.reshape(-1)).reshape(y.shape))
    for h, first in ((0.01, True), (0.3, False)):
        out = []
        for solver in (generic(), fused()):
            state = solver.init(term, 0.0, h, y0, None)
            if not first:  # a carried FSAL stage, as after an accepted step
                state = (False, term.vf(0.0, y0, None))
            with diffrax_complex_ok():
                y1, err, dense, (_, f_last), _ = solver.step(term, 0.0, h, y0, None, state, False)
            out.append([np.asarray(x) for x in (y1, err, dense["k"], f_last)])
        # round-off of sums of n stages with coefficients up to max_i sum_j |a_ij| (Tsit5: 27,
        # Dopri8: 74), in another order
        tab = fused.tableau
        bound = len(tab.c) * np.finfo(float).eps * max(np.abs(r).sum() for r in tab.a_lower)
        for name, a, b in zip(("y1", "error", "k", "fsal"), *out):
            assert np.abs(a - b).max() <= bound * max(1.0, np.abs(a).max()), (name, h)
        assert np.abs(out[0][1]).max() > 1e-15  # a nonzero error estimate was compared


@pytest.mark.parametrize("generic,fused", SLOW_TSIT5)
def test_whole_solve_as_diffrax(generic, fused):
    """Whole solves, with and without rejected steps. Tsit5 takes the same steps as diffrax's
    to round-off. Dopri8's embedded error estimate is a sum with cancellation (sum |b_err_j|
    = 5.8 for an O(h^8) result), so when it is small its round-off moves the next step size:
    on this 8 x 8 generator at rtol 1e-6 the second step ends at a slightly different time,
    and from there the grids differ (as for two orders of the same sum in diffrax itself).
    Both solves are then right to their tolerance and differ by the dense output's error at
    the save times (measured: 3e-11 at rtol 1e-6; 3e-13 at rtol 1e-8, 1.8e-10 with the
    generator scaled by 5), so for Dopri8 the values are compared at 0.1 rtol (each solve's
    accuracy is checked against expm below) and the step counts to within one step."""
    M, rho0 = _liouvillian()
    ts = jnp.linspace(0.0, 4.0, 9)
    tsit5 = fused is FusedTsit5
    for rtol, scale in ((1e-6, 1.0), (1e-10 if tsit5 else 1e-8, 1.0), (1e-8, 3.0 if tsit5 else 5.0)):
        a = _solve(generic(), rho0, M, rtol, ts, y_scale=scale)
        b = _solve(fused(), rho0, M, rtol, ts, y_scale=scale)
        steps = [[int(x.stats[k]) for x in (a, b)] for k in ("num_steps", "num_rejected_steps")]
        if scale > 1.0:  # the generator scaled up: the first step guess is too long
            assert min(steps[1]) > 0, steps
        if tsit5:
            assert steps[0][0] == steps[0][1] and steps[1][0] == steps[1][1], steps
            assert np.abs(np.asarray(a.ys) - np.asarray(b.ys)).max() < 1e-13
        else:
            assert abs(steps[0][0] - steps[0][1]) <= 1, steps
            assert np.abs(np.asarray(a.ys) - np.asarray(b.ys)).max() < 0.1 * rtol


@pytest.mark.parametrize("fused", [FusedTsit5, FusedDopri8])
def test_accuracy_against_the_matrix_exponential(fused):
    """Dense output at save times between steps, against expm (independent of diffrax)."""
    M, rho0 = _liouvillian()
    ts = jnp.linspace(0.0, 3.0, 13)
    ys = np.asarray(_solve(fused(), rho0, M, 1e-11, ts).ys)
    Mn, r0 = np.asarray(M), np.asarray(rho0).reshape(-1)
    for t, y in zip(np.asarray(ts), ys):
        assert np.abs(y.reshape(-1) - scipy.linalg.expm(Mn * t) @ r0).max() < 1e-9


@pytest.mark.parametrize("generic,fused", SLOW_TSIT5)
def test_gradient_and_vmap_match_diffrax(generic, fused):
    M, rho0 = _liouvillian()
    ts = jnp.linspace(0.0, 2.0, 3)

    def f(solver, s):
        return jnp.real(_solve(solver, rho0, M, 1e-9, ts, y_scale=s).ys[-1, 0, 0])

    ga = jax.grad(lambda s: f(generic(), s))(1.3)
    gb = jax.grad(lambda s: f(fused(), s))(1.3)
    fd = (f(fused(), 1.3 + 1e-5) - f(fused(), 1.3 - 1e-5)) / 2e-5
    assert abs(float(gb) - float(ga)) < 1e-12 and abs(float(gb) - float(fd)) < 1e-7 * abs(float(fd))
    assert abs(float(fd)) > 1e-3
    scales = jnp.array([0.7, 1.3])
    vb = jax.vmap(lambda s: f(fused(), s))(scales)
    for s, v in zip(scales, np.asarray(vb)):
        assert abs(v - float(f(generic(), s))) < 1e-12


def _counted(cls, run):
    """Run ``run()`` with ``cls.step`` counted (traced once per compilation)."""
    calls, step = [], cls.step

    def counted(self, *args):
        calls.append(1)
        return step(self, *args)

    cls.step = counted
    try:
        jax.clear_caches()
        return run(), bool(calls)
    finally:
        cls.step = step


def test_mesolve_runs_the_fused_steps():
    """The default method runs FusedDopri8, an explicit diffrax.Tsit5() FusedTsit5, each with
    diffrax's generic step's results; another solver agrees to its tolerance."""
    s = paper_system(4, T=1.5, Tr=2.5)
    eq = jr.local_lindblad(s, 1)
    psi0 = jr.product_state(s.model, 0)
    ts = jnp.linspace(0.0, 2.0, 5)
    e = [jr.operator_on(jr.sigmaz(), 0, s.model)]
    assert type(jr.Diffrax().solver) is dfx.Dopri8
    for method, fused, generic in ((jr.Diffrax(), FusedDopri8, DiffraxDopri8),
                                   (jr.Diffrax(solver=dfx.Tsit5()), FusedTsit5, DiffraxTsit5)):
        a, used = _counted(fused, lambda: jr.mesolve(eq, psi0, ts, e, method=method))
        assert used, f"mesolve did not run {fused.__name__} for {type(method.solver).__name__}"
        b = jr.mesolve(eq, psi0, ts, e, method=jr.Diffrax(solver=generic()))
        assert abs(int(a.stats["num_steps"]) - int(b.stats["num_steps"])) <= 1
        # to round-off for Tsit5, to the dense output's error for Dopri8 (its step sizes follow
        # the round-off of its error estimate: test_whole_solve_as_diffrax)
        assert np.abs(np.asarray(a.states) - np.asarray(b.states)).max() < 0.1 * method.rtol
        c = jr.mesolve(eq, psi0, ts, e, method=jr.Diffrax(solver=dfx.Dopri5()))
        assert np.abs(np.asarray(a.states) - np.asarray(c.states)).max() < 1e-7
