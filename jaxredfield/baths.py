r"""Baths, described by the one-sided Fourier-Laplace transform of their correlation function

    W(E) = \int_0^\infty d\tau\, e^{-iE\tau} C(\tau)        (paper eq. (S.7)),

E > 0 meaning absorption of energy E from the bath. The expansion of eqs. (3)/(4) needs
W and its derivatives W^{(n)}(\epsilon); they come from JAX autodiff (:func:`derivatives`).
"""

from __future__ import annotations

from fractions import Fraction
from math import factorial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import is_concrete


def _bernoulli(nmax: int) -> list[Fraction]:
    """Bernoulli numbers B_0..B_nmax (B_1 = -1/2), exact."""
    B = [Fraction(0)] * (nmax + 1)
    B[0] = Fraction(1)
    for m in range(1, nmax + 1):
        B[m] = -sum(Fraction(factorial(m + 1), factorial(k) * factorial(m + 1 - k)) * B[k]
                    for k in range(m)) / (m + 1)
    return B


_NSERIES = 48
#: Taylor coefficients of x / (e^x - 1) = sum_n B_n x^n / n!
_BERN_COEFFS = np.array([float(b / factorial(n)) for n, b in enumerate(_bernoulli(_NSERIES))])
_SWITCH = 1.0  # |x| below which the series is used (radius of convergence is 2 pi)


@jax.jit
def bose_x_over_expm1(x):
    r"""f(x) = x / (e^x - 1), analytic at x = 0 (f(0) = 1), with exact autodiff derivatives of
    every order: a 48-term Bernoulli series for |x| < 1 (truncation error < 1e-30), the closed
    form elsewhere (evaluated at a safe point inside the series region, so no NaN leaks into
    derivatives)."""
    x = jnp.asarray(x)
    small = jnp.abs(x) < _SWITCH
    xs = jnp.where(small, x, 0.0)
    xl = jnp.where(small, 2.0 * _SWITCH, x)
    series = jnp.zeros_like(xs) + _BERN_COEFFS[-1]
    for c in _BERN_COEFFS[-2::-1]:  # Horner, unrolled (Taylor-mode `jet` has no loop rules)
        series = series * xs + c
    closed = xl / jnp.expm1(xl)
    return jnp.where(small, series, closed)


class AbstractBath(eqx.Module):
    """A bath: ``W(E)`` (complex in general), optionally a temperature and the radius of
    convergence of W's Taylor series (for the warning of SM B)."""

    def W(self, E):
        raise NotImplementedError

    @property
    def temperature(self):
        """Bath temperature, or None when the bath has none (used for lambda_loc)."""
        return None

    def convergence_radius(self, eps0):
        """Radius of convergence of W's Taylor series around eps0, or None if unknown."""
        return None

    @property
    def is_real(self) -> bool:
        """True when Im W = 0 for real E (no Lamb shift)."""
        return False


class OhmicBath(AbstractBath):
    r"""Pure ohmic bath, J(E) = gamma E (paper eq. (S.12)):

        W(E) = gamma E / (e^{E/T} - 1) = gamma T f(E/T),  f(x) = x / (e^x - 1),

    real, obeying detailed balance W(-E) = e^{E/T} W(E), with W(0) = gamma T and
    W^{(n)}(0) = gamma T^{1-n} B_n (Bernoulli numbers). Taylor radius around eps0:
    sqrt(eps0^2 + (2 pi T)^2) (Matsubara poles, SM B).
    """

    gamma: float
    T: float

    def __init__(self, gamma, T):
        if is_concrete(T) and not float(T) > 0:
            raise ValueError(f"`T` (bath temperature) must be > 0, got {T!r}")
        if is_concrete(gamma) and not float(gamma) >= 0:
            raise ValueError(f"`gamma` (dissipation strength) must be >= 0, got {gamma!r}")
        self.gamma = gamma
        self.T = T

    def W(self, E):
        return (self.gamma * self.T * bose_x_over_expm1(jnp.asarray(E) / self.T)).astype(
            jnp.complex128
        )

    @property
    def temperature(self):
        return self.T

    def convergence_radius(self, eps0):
        if not (is_concrete(self.T) and is_concrete(eps0)):
            return None
        return float(np.hypot(eps0, 2 * np.pi * self.T))

    @property
    def is_real(self) -> bool:
        return True


def derivatives(W, eps, order: int):
    r"""[W(eps), W'(eps), ..., W^{(order)}(eps)] by automatic differentiation (exact up to
    round-off: no finite differences).

    Taylor-mode AD (``jax.experimental.jet``: cost linear in ``order``) when every primitive
    of ``W`` has a jet rule, else nested forward-mode ``jax.jvp`` (cost 2^order). ``W`` maps
    real E to a (complex) scalar; ``eps`` may be an array (derivatives are stacked on a new
    leading axis). Used for the coefficients W^{(n)}(eps)/n! of eqs. (3) and (4).
    """
    eps = jnp.asarray(eps, dtype=jnp.float64)
    flat = eps.reshape(-1)
    if order == 0:
        return jnp.asarray(W(flat), dtype=jnp.complex128).reshape((1,) + eps.shape)
    try:
        out = _jet_derivatives(W, flat, order)
    except (KeyError, NotImplementedError, TypeError):
        out = _jvp_derivatives(W, flat, order)
    return out.reshape((order + 1,) + eps.shape)


def _jet_derivatives(W, flat, order):
    from jax.experimental import jet

    def real_imag(e):
        w = jnp.asarray(W(e), dtype=jnp.complex128)
        return jnp.real(w), jnp.imag(w)

    series = [jnp.ones_like(flat)] + [jnp.zeros_like(flat)] * (order - 1)
    (re0, im0), (re_s, im_s) = jet.jet(real_imag, (flat,), (series,))
    re = jnp.stack([re0] + list(re_s))
    im = jnp.stack([im0] + list(im_s))
    return re + 1j * im


def _jvp_derivatives(W, flat, order):
    def scalar(e):
        fns = [W]
        for _ in range(order):
            f = fns[-1]
            fns.append(lambda x, f=f: jax.jvp(f, (x,), (jnp.ones_like(x),))[1])
        return jnp.stack([jnp.asarray(f(e), dtype=jnp.complex128) for f in fns])

    return jax.vmap(scalar)(flat).T
