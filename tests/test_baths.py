"""W(E) of the ohmic bath and its autodiff derivatives (eq. S.12)."""

from fractions import Fraction
from math import factorial

import jax
import mpmath
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.baths import bose_x_over_expm1, derivatives

from . import reference as R


def bernoulli(n):
    B = [Fraction(1)]
    for m in range(1, n + 1):
        B.append(-sum(Fraction(factorial(m + 1), factorial(k) * factorial(m + 1 - k)) * B[k]
                      for k in range(m)) / (m + 1))
    return B


@pytest.mark.parametrize("gamma,T", [(0.25, 2.2), (1.0, 0.3), (0.1, 10.0)])
def test_derivatives_at_zero_are_bernoulli(gamma, T):
    """W^(n)(0) = gamma T^(1-n) B_n (DESIGN.md): exact check of autodiff at the removable
    singularity, n <= 8, to 1e-10 relative."""
    bath = jr.OhmicBath(gamma, T)
    d = np.asarray(derivatives(bath.W, 0.0, 8))
    B = bernoulli(8)
    for n in range(9):
        ref = gamma * T ** (1 - n) * float(B[n])
        if ref == 0:
            assert abs(d[n]) < 1e-14 * gamma * T ** (1 - n)
        else:
            assert abs(d[n] - ref) <= 1e-10 * abs(ref), (n, d[n], ref)
        assert np.isfinite(d[n])


@pytest.mark.parametrize("E", [0.37, -0.9, 1.0, 2.0, -2.0, 4.4, -6.6, 15.0, -25.0])
def test_derivatives_against_high_precision(E):
    """Away from 0 (both sides of the series/closed-form switch): mpmath at 50 digits."""
    gamma, T = 0.25, 2.2
    d = np.asarray(derivatives(jr.OhmicBath(gamma, T).W, E, 8))
    mpmath.mp.dps = 50
    for n in range(9):
        ref = complex(mpmath.diff(lambda x: gamma * x / (mpmath.exp(x / T) - 1), mpmath.mpf(E), n))
        assert abs(d[n] - ref) <= 1e-10 * abs(ref), (n, d[n], ref)


def test_detailed_balance_and_value():
    bath = jr.OhmicBath(0.25, 1.3)
    E = np.linspace(-8, 8, 33)
    W = np.asarray(bath.W(E)).real
    assert np.allclose(W[::-1], np.exp(E / 1.3) * W, rtol=1e-12)
    assert np.allclose(np.asarray(bath.W(0.0)), 0.25 * 1.3, rtol=1e-15)
    assert np.all(np.asarray(bath.W(E)).imag == 0)


def test_series_branch_is_continuous_at_switch():
    x = np.array([0.999999999, 1.000000001, -0.999999999, -1.000000001])
    f = np.asarray(bose_x_over_expm1(x))
    assert np.allclose(f, x / np.expm1(x), rtol=1e-13)


def test_vectorized_derivatives_shape():
    d = derivatives(jr.OhmicBath(1.0, 1.0).W, np.zeros((2, 3)), 3)
    assert d.shape == (4, 2, 3)


@pytest.mark.parametrize("T", [0.0, -1.0])
def test_bad_temperature(T):
    with pytest.raises(ValueError, match="`T`"):
        jr.OhmicBath(0.25, T)


def test_bad_gamma():
    with pytest.raises(ValueError, match="`gamma`"):
        jr.OhmicBath(-0.1, 1.0)


# --- Drude-Lorentz bath (SM I) ------------------------------------------------------------
G, TD, ED = 0.25, 2.2, 30.0


def test_drude_lorentz_real_part_is_JD_nB_and_lamb_shift():
    b = jr.DrudeLorentzBath(G, TD, ED)
    E = np.array([-8.0, -3.0, -0.5, 0.7, 2.0, 5.0, 12.0])
    W = np.asarray(b.W(E))
    assert np.allclose(W.real, G * E / (1 + E**2 / ED**2) / np.expm1(E / TD), rtol=1e-12, atol=1e-14)
    assert abs(complex(b.W(0.0)) - (G * TD - 0.5j * G * ED)) < 1e-12  # Im W_D(0) = -gamma E_D / 2 (SM I)


def test_drude_lorentz_matsubara_tail_is_converged():
    """The tail of the Matsubara sum (Hurwitz-zeta expansion) against many explicit terms:
    e_max = 1 leaves only M = 5 explicit terms, the default bath (e_max = 644) sums 94."""
    few, many = jr.DrudeLorentzBath(G, TD, ED, e_max=1.0), jr.DrudeLorentzBath(G, TD, ED)
    assert len(few._nu) < 10 < 50 < len(many._nu)
    E = np.linspace(-1.0, 1.0, 9)
    assert np.allclose(np.asarray(few.W(E)), np.asarray(many.W(E)), rtol=1e-13, atol=1e-13)
    d_few, d_many = derivatives(few.W, E, 4), derivatives(many.W, E, 4)
    assert np.allclose(np.asarray(d_few), np.asarray(d_many), rtol=1e-11, atol=1e-12)


DRUDE_CASES = [(0.25, 2.2, 30.0), (0.25, 2.0, 10.0), (1.0, 0.3, 5.0), (0.1, 10.0, 3.0)]


def test_drude_reference_is_eq_S61():
    """The reference W_D of tests/reference.py (term-by-term transform of C(t), eq. S.59,
    summed with digamma functions) against eq. (S.61) as printed (its Matsubara sum by
    mpmath.nsum) on a grid of energies and two baths. Measured: <= 4e-15 relative."""
    for g, t, ed in DRUDE_CASES[:2]:
        W = R.drude_W(g, t, ed)
        for E in (-25.0, -3.0, -0.1, 0.7, 5.0, 40.0):
            ref = R.drude_W_s61(g, t, ed, E)
            assert abs(complex(W(E)) - ref) < 1e-13 * abs(ref), (g, t, ed, E)


@pytest.mark.slow
def test_drude_reference_is_the_transform_of_C():
    """The reference W_D against a direct numerical Fourier-Laplace transform of C(t) (eq. S.59
    with its Matsubara sum as Lerch transcendents), eq. (S.60), at one energy (mpmath quadrature,
    ~25 s). Measured: 3e-15 relative."""
    mpmath.mp.dps = 15
    num = R.drude_W_quad(G, TD, ED, 0.7)
    assert abs(num - complex(R.drude_W(G, TD, ED)(0.7))) < 1e-12 * abs(num)


@pytest.mark.parametrize("g,t,ed", DRUDE_CASES)
def test_drude_lorentz_W_on_a_grid(g, t, ed):
    """W_D and its autodiff derivatives (n <= 4) against the reference W_D (mpmath, 30-40
    digits) on energies from -e_max to e_max: negative, 0, tiny, positive, large. Values:
    |W - W_ref| <= 1e-13 (gamma (T + E_D) + |W_ref|) -- the library converges its Matsubara
    sum to 1e-13 gamma T and the Drude and Matsubara parts are each of size gamma (T + E_D);
    derivatives to 1e-12 relative. Measured: <= 1.1e-15 (values), 9e-15 (derivatives)."""
    from math import factorial

    b = jr.DrudeLorentzBath(g, t, ed)
    W = R.drude_W(g, t, ed)
    em = b.e_max
    E = np.array([-em, -0.5 * em, -30.0, -2.5, -0.1, 0.0, 1e-6, 0.3, 2.0, 17.0, 0.5 * em, em])
    ref = R.W_values(W, E)
    got = np.asarray(b.W(E))
    scale = g * (t + ed) + np.abs(ref)
    assert np.all(np.abs(got - ref) <= 1e-13 * scale), np.abs(got - ref) / scale
    Ed = np.array([-20.0, -2.5, 0.0, 0.3, 4.0, 50.0])
    d = np.asarray(derivatives(b.W, Ed, 4))
    fact = np.array([factorial(n) for n in range(5)])
    for k, e in enumerate(Ed):
        dref = R.taylor(W, e, 4) * fact
        assert np.all(np.abs(d[:, k] - dref) <= 1e-12 * np.abs(dref)), (e, d[:, k], dref)


def test_drude_lorentz_beyond_e_max_is_refused_not_wrong():
    # the tail series of W_D converges only for |E| <= e_max (it was 1e5 x off at 3 e_max)
    b = jr.DrudeLorentzBath(G, TD, ED, e_max=50.0)
    inside = np.array([-49.0, 49.0])
    ref = R.W_values(R.drude_W(G, TD, ED), inside)
    assert np.all(np.abs(np.asarray(b.W(inside)) - ref) <= 1e-12 * np.abs(ref))
    with pytest.raises(ValueError, match="e_max"):
        b.W(np.array([150.0, -150.0]))
    # traced: NaN (refused downstream), never a silently wrong value
    got = np.asarray(jax.jit(lambda e: b.W(e))(np.array([150.0, 49.0])))
    assert np.isnan(got[0]) and abs(got[1] - ref[1]) <= 1e-12 * abs(ref[1])


def test_drude_lorentz_derivatives_match_finite_differences():
    b = jr.DrudeLorentzBath(G, TD, ED)
    d = np.asarray(derivatives(b.W, np.array([0.0, 1.3]), 2))
    h = 1e-4
    for k, E in enumerate((0.0, 1.3)):
        # central differences of W and of the autodiff first derivative (truncation ~1e-9)
        fd1 = (complex(b.W(E + h)) - complex(b.W(E - h))) / (2 * h)
        d1 = lambda e: complex(np.asarray(derivatives(b.W, np.array([e]), 1))[1, 0])  # noqa: E731
        fd2 = (d1(E + h) - d1(E - h)) / (2 * h)
        assert abs(d[1, k] - fd1) <= 1e-7 * abs(fd1)
        assert abs(d[2, k] - fd2) <= 1e-6 * abs(fd2)


def test_drude_lorentz_large_cutoff_limit_is_ohmic():
    E = np.array([-3.0, -0.2, 0.4, 2.0])
    ohm = np.asarray(jr.OhmicBath(G, TD).W(E)).real
    for ed, tol in ((1e2 + 0.1, 2e-3), (1e4 + 0.1, 2e-7)):  # Re W_D / W_ohm = 1/(1 + E^2/E_D^2)
        w = np.asarray(jr.DrudeLorentzBath(G, TD, ed).W(E)).real
        assert np.max(np.abs(w / ohm - 1)) < tol


def test_drude_lorentz_bad_input():
    with pytest.raises(ValueError, match="E_D"):
        jr.DrudeLorentzBath(G, TD, -1.0)
    with pytest.raises(ValueError, match="Matsubara"):
        jr.DrudeLorentzBath(G, 1.0, 2 * np.pi)


# --- a user's W(E) -----------------------------------------------------------------------
def test_callable_bath_behaves_like_the_builtin_one():
    import jax.numpy as jnp

    ohm = jr.OhmicBath(G, TD)
    user = jr.CallableBath(lambda E: G * E / jnp.expm1(E / TD), temperature=TD)
    E = np.array([-2.0, -0.4, 0.5, 3.0])
    assert np.allclose(np.asarray(user.W(E)), np.asarray(ohm.W(E)), rtol=1e-13)
    assert np.allclose(np.asarray(derivatives(user.W, E, 3)), np.asarray(derivatives(ohm.W, E, 3)), rtol=1e-9)
    with pytest.raises(ValueError, match="JAX-differentiable"):
        jr.CallableBath(lambda E: float(np.exp(-float(E))))
    with pytest.raises(TypeError, match="function"):
        jr.CallableBath(3.0)
