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


def check_gamma_T(gamma, T) -> None:
    """The parameters every bath shares: temperature ``T`` > 0 and dissipation strength
    ``gamma`` >= 0, checked where concrete (traced values pass: gradients in T and gamma)."""
    if is_concrete(T) and not float(T) > 0:
        raise ValueError(f"`T` (bath temperature) must be > 0, got {T!r}")
    if is_concrete(gamma) and not float(gamma) >= 0:
        raise ValueError(f"`gamma` (dissipation strength) must be >= 0, got {gamma!r}")


class AbstractBath(eqx.Module):
    """A bath: ``W(E)`` (complex in general), optionally a temperature and the radius of
    convergence of W's Taylor series (for the warning of SM B)."""

    def W(self, E):
        raise NotImplementedError

    #: an energy where W and its derivatives are finite: the expansions evaluate W there (and
    #: discard the value) for components that need no W, so a singular point of the user's W
    #: (e.g. 0/0 at E = 0) never enters a result or its gradient (the "double where" trick)
    regular_energy = 0.3

    def singularity_note(self) -> str:
        """Extra text for the error raised when W is not finite at an energy that is needed."""
        return ""

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
        check_gamma_T(gamma, T)
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


class DrudeLorentzBath(AbstractBath):
    r"""Ohmic bath with a Drude (Lorentz) cutoff, J_D(E) = gamma E / (1 + E^2/E_D^2) (SM I).

    W is the one-sided transform of the correlation function of eq. (S.59),

        C(t) = (gamma/2) E_D^2 [cot(E_D/2T) - i] e^{-E_D t}
               - 2 gamma T sum_{l>=1} nu_l e^{-nu_l t} / (1 - (nu_l/E_D)^2),  nu_l = 2 pi l T,

    term by term (int_0^inf e^{-iEt} e^{-a t} dt = 1/(a + iE)):

        W_D(E) = (gamma/2) E_D^2 [cot(E_D/2T) - i] / (E_D + iE)
                 + 2 gamma T E_D^2 sum_{l>=1} nu_l / ((nu_l^2 - E_D^2)(nu_l + iE)),

    which is eq. (S.61): Re W_D = J_D(E) n_B(E), and the imaginary part (the Lamb shift,
    Im W_D(0) = -gamma E_D/2) is kept. The Matsubara sum is converged to ``tol`` (relative
    to gamma T), not cut at a fixed count: the first M terms are summed explicitly, with M
    such that E_D and |E| <= ``e_max`` stay below nu_{M+1}/2, and the tail l > M is the
    expansion nu/((nu^2 - E_D^2)(nu + iE)) = sum_k c_k(E) nu^{-k-2} summed with Hurwitz zeta
    values zeta(k + 2, M + 1) up to the order where 2^{-k} < tol. Everything is elementwise
    arithmetic in E, so autodiff (``jet``) gives the derivatives of eqs. (3)/(4). Requires
    E_D not a Matsubara frequency (the bath's own pole cancellation point). For E_D -> inf,
    Re W_D -> the ohmic gamma E n_B(E).
    """

    gamma: float
    T: float
    E_D: float
    e_max: float
    _nu: np.ndarray
    _zeta: np.ndarray
    _cot: float

    def __init__(self, gamma, T, E_D, e_max=None, tol: float = 1e-13):
        check_gamma_T(gamma, T)
        if not float(E_D) > 0:
            raise ValueError(f"`E_D` (Drude cutoff) must be > 0, got {E_D!r}")
        T, E_D = float(T), float(E_D)
        e_max = float(e_max) if e_max is not None else 20.0 * (T + E_D)
        if abs(E_D / (2 * np.pi * T) - round(E_D / (2 * np.pi * T))) < 1e-9:
            raise ValueError(f"`E_D` = {E_D} equals a Matsubara frequency 2 pi l T; shift it slightly")
        M = int(np.ceil(2 * max(E_D, e_max) / (2 * np.pi * T)))
        K = int(np.ceil(np.log2(1 / tol))) + 8  # |c_k| nu_{M+1}^-k <= (k + 1) 2^-k
        from jax.scipy.special import zeta

        self.gamma, self.T, self.E_D, self.e_max = gamma, T, E_D, e_max
        self._nu = 2 * np.pi * T * np.arange(1, M + 1)
        q = float(M + 1)
        self._zeta = np.array([float(zeta(float(k + 2), q)) for k in range(K)]) / (2 * np.pi * T) ** (
            np.arange(K) + 2)
        self._cot = 1.0 / np.tan(E_D / (2 * T))

    def W(self, E):
        """W_D(E) of eq. (S.61) for |E| <= ``e_max``. Beyond it the Matsubara tail series
        diverges: a concrete E there raises ValueError naming ``e_max``; a traced E gives NaN
        (which the equation builders and solvers refuse with an error), never a wrong number."""
        E = jnp.asarray(E)
        if is_concrete(E) and E.size and float(jnp.max(jnp.abs(E))) > self.e_max:
            far = float(jnp.max(jnp.abs(E)))
            raise ValueError(
                f"DrudeLorentzBath.W: |E| = {far:.4g} exceeds `e_max` = {self.e_max:.4g}, beyond "
                "which the Matsubara tail series of W_D does not converge; build the bath with a "
                f"larger `e_max` (e.g. DrudeLorentzBath(gamma, T, E_D, e_max={2 * far:.3g}))"
            )
        a2, b = self.E_D**2, 1j * E
        first = 0.5 * self.gamma * a2 * (self._cot - 1j) / (self.E_D + b)
        nu = self._nu.reshape((-1,) + (1,) * E.ndim)
        explicit = jnp.sum(nu / ((nu**2 - a2) * (nu + b)), axis=0)
        # tail: 1/((1 - a^2/nu^2)(1 + b/nu)) = sum_k c_k nu^{-k}, c_k = sum_j a^{2j} (-b)^{k-2j},
        # i.e. c_k = a^2 c_{k-2} + (-b)^k
        c_prev2, c_prev1, pw = jnp.zeros_like(b), jnp.ones_like(b), jnp.ones_like(b)
        tail = self._zeta[0] * c_prev1
        for k in range(1, len(self._zeta)):
            pw = -b * pw
            c = a2 * c_prev2 + pw
            tail = tail + self._zeta[k] * c
            c_prev2, c_prev1 = c_prev1, c
        w = (first + 2 * self.gamma * self.T * a2 * (explicit + tail)).astype(jnp.complex128)
        return jnp.where(jnp.abs(E) <= self.e_max, w, jnp.nan)

    @property
    def temperature(self):
        return self.T

    def convergence_radius(self, eps0):
        # poles of W_D: E = i E_D (Drude) and E = i nu_l (Matsubara)
        if not is_concrete(eps0):
            return None
        return float(np.hypot(eps0, min(self.E_D, 2 * np.pi * self.T)))


#: energies tried, in order, for a point where a user's W and its first derivatives are finite
_REGULAR_CANDIDATES = (0.3, -0.3, 0.7, -0.7, 1.3, -1.3, 2.9, -2.9, 6.1, -6.1)


class CallableBath(AbstractBath):
    """A bath from a user's function ``W(E)`` (real E -> complex scalar; vectorized or not).

    It must be differentiable by JAX (jnp operations): the expansions take its derivatives
    by autodiff. ``temperature`` enables lambda_loc and ``radius`` (a function eps0 -> Taylor
    radius of W around eps0) the convergence warning; both optional.

    W is evaluated only at the energies a result needs (transition energies of components
    with nonzero weight, eps0, ...): a W with a pole or a 0/0 elsewhere (a particle reservoir's
    n_B, ``g*E/jnp.expm1(E/T)`` at E = 0) gives finite results as long as it is finite where it
    is used, also under ``jax.grad``. Where a needed value is not finite the equation builders
    raise a ``ValueError`` naming the coupling and the energy. A removable singularity is best
    written away: ``g*T*jaxredfield.baths.bose_x_over_expm1(E/T)`` is the ohmic
    ``g*E/(e^{E/T} - 1)`` with its value ``g*T`` at E = 0 and exact derivatives there.
    """

    fn: object = eqx.field(static=True)
    T: object = None
    radius: object = eqx.field(static=True, default=None)
    regular_energy: float = eqx.field(static=True, default=0.3)
    zero_note: str = eqx.field(static=True, default="")

    def __init__(self, W, temperature=None, radius=None):
        if not callable(W):
            raise TypeError(f"`W` must be a function of the energy, got {type(W).__name__}")
        self.fn, self.T, self.radius = W, temperature, radius
        self.regular_energy, self.zero_note = 0.3, ""
        with jax.ensure_compile_time_eval():  # built inside jit: the checks still run eagerly
            regular, note = self._probe(W)
        if regular is not None:
            self.regular_energy, self.zero_note = regular, note

    @staticmethod
    def _probe(W):
        """(a regular energy, a note on W(0)); (None, "") when W closes over traced values."""
        regular, first_err = None, None
        for e in _REGULAR_CANDIDATES:
            try:
                d = derivatives(W, jnp.asarray([e]), 2)
            except Exception as err:  # noqa: BLE001 - any failure means JAX cannot differentiate it
                first_err = first_err or err
                continue
            if not is_concrete(d):
                return None, ""
            if bool(jnp.all(jnp.isfinite(d))):
                regular = e
                break
        if regular is None:
            if first_err is not None:
                raise ValueError(
                    "`W` must be a JAX-differentiable function of the energy (use jax.numpy, not "
                    f"numpy or math): differentiating it at E=0.3 failed with "
                    f"{type(first_err).__name__}: {first_err}"
                ) from first_err
            raise ValueError(
                "`W` or its first two derivatives are not finite at any of the energies "
                f"{_REGULAR_CANDIDATES}: give a W that is finite on the real axis away from "
                "isolated poles"
            )
        try:
            w0 = complex(np.asarray(W(jnp.asarray(0.0))).reshape(-1)[0])
        except Exception:  # noqa: BLE001 - scalar input unsupported: keep no note
            w0 = 0.0
        note = ""
        if not np.isfinite(w0):
            note = (f" (This CallableBath's W(0) = {w0} was noted when it was built: a 0/0 at "
                    "E = 0 is a removable singularity to write away.)")
        return float(regular), note

    def W(self, E):
        return jnp.asarray(self.fn(jnp.asarray(E)), dtype=jnp.complex128)

    def singularity_note(self) -> str:
        return self.zero_note

    @property
    def temperature(self):
        return self.T

    def convergence_radius(self, eps0):
        return None if self.radius is None else self.radius(eps0)


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
