"""W(E) of the ohmic bath and its autodiff derivatives (eq. S.12)."""

from fractions import Fraction
from math import factorial

import mpmath
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.baths import bose_x_over_expm1, derivatives


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
