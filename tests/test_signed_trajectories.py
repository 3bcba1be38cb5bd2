"""Signed (pseudo-Lindblad) trajectories of the local Redfield equation (issue: beyond the
paper): unbiased against mesolve, closer to exact Redfield than the local Lindblad
trajectories at N = 4, variance report, explosion stop, clock construction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.trajectories._unravelling import damping_terms

from .conftest import paper_system

TS = jnp.array([0.0, 0.5, 1.0, 1.5])


def observables(model):
    L = model.L
    return [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)] + [jr.spin_current(model, i) for i in range(L - 1)]


def up_state(L):
    psi = np.zeros(2**L)
    psi[0] = 1.0
    return psi


# two of the four in the default run (~25 s each): both orders N, both chain lengths
# N = 4 at L = 5 (44 s) in the slow run: the signed machinery is the same as N = 1 at L = 6,
# only the equation differs (local Redfield orders are checked densely in tests/test_expansion.py)
@pytest.mark.parametrize("L, N", [pytest.param(5, 1, marks=pytest.mark.slow),
                                  pytest.param(5, 4, marks=pytest.mark.slow), (6, 1),
                                  pytest.param(6, 4, marks=pytest.mark.slow)])
def test_signed_average_is_local_redfield(L, N):
    """2000 signed trajectories of pseudo_lindblad(local_redfield, lambda_loc) against mesolve
    of local Redfield: every sigma^z_i and current at t = 0.5, 1, 1.5 within 4 standard errors
    (measured max |z|: 1.9 at L=5, N=4; 1.7 at L=6, N=1). At L = 5, N = 4 the local Lindblad
    trajectories (same count, same key) miss exact Redfield by far more than the noise, the
    signed ones do not (paper Fig. 2(d)/S.9: local Lindblad does not converge with N).
    Measured at L = 5: sum of squared z against exact Redfield 23 (27 values) vs 477."""
    s = paper_system(L, T=2.2)
    e_ops, psi0 = observables(s.model), up_state(L)
    lr = jr.local_redfield(s, N)
    ref = np.asarray(jr.mesolve(lr, psi0, TS, e_ops=e_ops, save_states=False).expect).real
    res = jr.mcsolve(jr.pseudo_lindblad(lr, jr.lam_loc(s)), psi0, TS, 2000, jax.random.key(7),
                     e_ops=e_ops, batch_size=500, progress=False, max_trace_error=0.1)
    mean, se = np.asarray(res.expect), np.asarray(res.expect_stderr)
    assert np.allclose(mean[:, 0], ref[:, 0], atol=1e-12)
    z = (mean - ref)[:, 1:] / se[:, 1:]
    assert np.all(np.abs(z) < 4), z
    # the trace estimate is 1 within its error, and the variance report grows from 1
    tr, tse, rms = np.asarray(res.stats["trace_mean"]), np.asarray(res.stats["trace_stderr"]), np.asarray(res.stats["weight_rms"])
    assert tr[0] == 1.0 and np.all(np.abs(tr[1:] - 1) < 4 * tse[1:])
    assert rms[0] == 1.0 and np.all(np.diff(rms) > 0)
    assert np.all(np.asarray(res.stats["negative_fraction"])[1:] > 0)  # signs really occur
    if (L, N) == (5, 4):
        exact = np.asarray(jr.mesolve(jr.redfield(s), psi0, TS, e_ops=e_ops, save_states=False).expect).real
        ll = jr.mcsolve(jr.local_lindblad(s, N), psi0, TS, 2000, jax.random.key(7), e_ops=e_ops,
                        batch_size=500, progress=False)
        chi_signed = np.sum(((mean - exact)[:, 1:] / se[:, 1:]) ** 2)
        chi_ll = np.sum(((np.asarray(ll.expect) - exact)[:, 1:] / np.asarray(ll.expect_stderr)[:, 1:]) ** 2)
        n = z.size
        assert chi_signed < 2 * n < chi_ll / 5, (chi_signed, chi_ll, n)


def test_adhoc_and_exact_redfield_unravel_too():
    """pseudo_lindblad of adhoc_redfield and of exact redfield (L = 3): signed average within
    4 standard errors of mesolve."""
    s = paper_system(3, T=3.0)
    e_ops, psi0 = observables(s.model), up_state(3)
    for eq, lam in ((jr.adhoc_redfield(s, 2, 0.0), 0.75), (jr.redfield(s), jr.lam_loc(s))):
        ref = np.asarray(jr.mesolve(eq, psi0, TS, e_ops=e_ops, save_states=False).expect).real
        res = jr.mcsolve(jr.pseudo_lindblad(eq, lam), psi0, TS, 1000, jax.random.key(3), e_ops=e_ops,
                         batch_size=500, progress=False, max_trace_error=0.2)
        z = (np.asarray(res.expect) - ref)[:, 1:] / np.asarray(res.expect_stderr)[:, 1:]
        assert np.all(np.abs(z) < 4), (eq.name, z)


def test_chebyshev_and_diffrax_signed_agree():
    """Same key, same jumps, same weights: the two propagators give the same signed averages."""
    s = paper_system(4, T=2.2)
    e_ops, psi0 = observables(s.model), up_state(4)
    pl = jr.pseudo_lindblad(jr.local_redfield(s, 2), jr.lam_loc(s))
    kw = dict(e_ops=e_ops, batch_size=16, progress=False, max_trace_error=10.0, keep_trajectories=True)
    a = jr.mcsolve(pl, psi0, TS, 16, jax.random.key(5), **kw)
    b = jr.mcsolve(pl, psi0, TS, 16, jax.random.key(5), method=jr.Diffrax(rtol=1e-10, atol=1e-12), **kw)
    assert np.array_equal(a.stats["njumps"], b.stats["njumps"])
    assert np.allclose(np.asarray(a.expect_trajectories), np.asarray(b.expect_trajectories), atol=1e-6)
    assert np.allclose(np.asarray(a.stats["trace_mean"]), np.asarray(b.stats["trace_mean"]), atol=1e-6)


def test_clock_terms():
    """The clock of a pseudo-Lindblad pair is L+^dag L+ - L-^dag L- = u^dag v + v^dag u
    (lambda-independent): positive definite on the paper's chain at T = 2.2h (c = 0); at
    T = 1h and N = 1 it is not, and the shift c > 0 keeps every term positive semidefinite
    and the clock rate >= CLOCK_FLOOR sum ||L-||^2."""
    from jaxredfield.trajectories._unravelling import CLOCK_FLOOR

    for T, expect_shift in ((2.2, {"loc": False, "poor": True}), (1.0, {"loc": True, "poor": True})):
        s = paper_system(4, T=T)
        lr = jr.local_redfield(s, 1)
        ref = sum(np.asarray(u.dense()).conj().T @ np.asarray(v.dense()) + np.asarray(v.dense()).conj().T
                  @ np.asarray(u.dense()) for u, v in lr.redfield_terms)
        for name, lam in (("loc", jr.lam_loc(s)), ("poor", [0.3, 2.0])):  # poor: larger L-
            pl = jr.pseudo_lindblad(lr, lam)
            terms, c = damping_terms(pl)
            C = sum(np.linalg.norm(np.asarray(m.matrix), 2) ** 2 for m in pl.negative_jumps)
            # the clock rate must stay >= CLOCK_FLOOR C in every state, so c is at least
            # CLOCK_FLOOR C - lambda_min(Gamma_s) (and >= 0); c > 0 where this bound is > 0
            # (T = 1: Gamma_s is indefinite; T = 2.2 with the poor lambda: the floor), and
            # c = 0 at T = 2.2 with lambda_loc (module docstring)
            bound = max(0.0, CLOCK_FLOOR * C - np.linalg.eigvalsh(ref)[0])
            assert (c > 0) == expect_shift[name], (T, name, c)
            assert (bound > 0) == expect_shift[name], (T, name, bound)
            assert c >= bound - 1e-12
            G = sum(np.asarray(t.dense()) for t in terms) - c * np.eye(16)
            assert np.allclose(G, ref, atol=1e-12)
            for t in terms:
                assert np.linalg.eigvalsh(np.asarray(t.matrix))[0] > -1e-12
            assert np.linalg.eigvalsh(G)[0] + c >= CLOCK_FLOOR * C - 1e-12


def _dense_redfield_generator(eq):
    """NumPy Liouvillian (row-major vec) of -i[H, rho] + sum_j ([u_j rho, v_j] + h.c.), eq. (S.2),
    from the dense matrices of ``eq``'s terms."""
    D = eq.dim
    eye = np.eye(D)

    def left(a):
        return np.kron(a, eye)

    def right(b):
        return np.kron(eye, b.T)

    H = sum(np.asarray(h.dense()) for h in eq.hamiltonian)
    gen = -1j * (left(H) - right(H))
    for u, v in eq.redfield_terms:
        U, V = np.asarray(u.dense()), np.asarray(v.dense())
        Ud, Vd = U.conj().T, V.conj().T
        gen = gen + left(U) @ right(V) - left(V @ U) + left(Vd) @ right(Ud) - right(Ud @ Vd)
    return gen


def test_signed_average_with_clock_shift():
    """The clock-shift path c > 0 (module docstring): at T = 1h, N = 1, lambda = 1 the clock
    term u^dag v + v^dag u is indefinite and c = 0.90. 400 signed trajectories from the Neel
    state |up down up> against the dense NumPy/SciPy solution of the local Redfield equation
    (expm of its Liouvillian): every sigma^z_i and current at t = 0.25, 0.5, 0.75 within 4
    standard errors (measured max |z| 2.0; the dynamics moves by 7.8 standard errors), and
    the trace estimate within 4 standard errors of 1 (measured 0.992 +- 0.117 at t = 0.75;
    without the factor e^{ct} it would be e^{-0.67} = 0.51, 4.2 standard errors off). The shift is really used: every trajectory without jumps carries
    the weight mu(t) = e^{ct} exactly."""
    import scipy.linalg

    s = paper_system(3, T=1.0)
    lr = jr.local_redfield(s, 1)
    pl = jr.pseudo_lindblad(lr, 1.0)
    c = damping_terms(pl)[1]
    assert c > 0.5
    ts = np.array([0.0, 0.25, 0.5, 0.75])
    e_ops = observables(s.model)
    psi0 = np.zeros(8)
    psi0[0b010] = 1.0
    gen = _dense_redfield_generator(lr)
    rho0 = np.outer(psi0, psi0).ravel()
    rhos = [(scipy.linalg.expm(gen * t) @ rho0).reshape(8, 8) for t in ts]
    ref = np.array([[np.trace(np.asarray(o.dense()) @ r).real for r in rhos] for o in e_ops])
    res = jr.mcsolve(pl, psi0, ts, 400, jax.random.key(1), e_ops=e_ops, batch_size=400, progress=False,
                     max_trace_error=0.5, keep_trajectories=True)
    mean, se = np.asarray(res.expect), np.asarray(res.expect_stderr)
    z = (mean - ref)[:, 1:] / se[:, 1:]
    assert np.all(np.abs(z) < 4), z
    assert np.max(np.abs(ref[:, -1] - ref[:, 0]) / se[:, -1]) > 5  # the dynamics is resolved
    tr, tse = np.asarray(res.stats["trace_mean"]), np.asarray(res.stats["trace_stderr"])
    assert np.all(np.abs(tr[1:] - 1) < 4 * tse[1:]) and abs(np.exp(-c * ts[-1]) - 1) > 4 * tse[-1]
    mu = np.asarray(res.expect_trajectories)[:, -1, :].real
    none = res.stats["njumps"] == 0
    assert 10 <= none.sum() < 400
    np.testing.assert_allclose(mu[none], np.broadcast_to(np.exp(c * ts), mu[none].shape), rtol=1e-12)
    assert np.all(np.asarray(res.stats["negative_fraction"])[1:] > 0)


def test_variance_explosion_stops_with_message(tmp_path):
    """A run whose trace estimate is too noisy stops with RuntimeError (not a noisy result);
    the finished chunk is kept in the checkpoint."""
    s = paper_system(4, T=2.2)
    pl = jr.pseudo_lindblad(jr.local_redfield(s, 1), jr.lam_loc(s))
    ck = tmp_path / "run.npz"
    with pytest.raises(RuntimeError, match="variance of the estimator has exploded.*trajectories"):
        jr.mcsolve(pl, up_state(4), jnp.array([0.0, 2.0, 6.0]), 200, jax.random.key(0),
                   e_ops=observables(s.model), batch_size=12, progress=False, checkpoint=ck,
                   max_trace_error=0.05)
    with np.load(ck) as z:  # the first chunk: 12 lanes x 4 trajectories
        assert int(z["done"]) == 48


def test_lindblad_runs_report_no_weights():
    s = paper_system(3, T=2.2)
    res = jr.mcsolve(jr.local_lindblad(s, 1), up_state(3), TS, 8, jax.random.key(0),
                     e_ops=observables(s.model), progress=False)
    assert set(res.stats) == {"njumps", "workers", "chunks_by_helpers", "threads"}  # no signed-run quantities


def test_bad_lambda_for_signed_runs():
    s = paper_system(3, T=2.2)
    lr = jr.local_redfield(s, 1)
    for bad in (0.0, -1.0, [1.0, -0.5], -0.2 + 1j):
        with pytest.raises(ValueError, match="`lam`.*positive real part"):
            jr.pseudo_lindblad(lr, bad)
