"""An open system: a lattice model coupled to baths through site-local Hermitian operators.

H_SB = sum_j v_j (x) B_j with v_j acting on one site (paper eq. (1); several baths as in
eq. (5)'s two-bath XXZ setup)."""

from __future__ import annotations

import equinox as eqx
import numpy as np

from ._checks import as_matrix, check_hermitian
from .baths import AbstractBath, CallableBath, check_gamma_T
from .models import LatticeModel, _check_site
from .operators import LocalOperator, create, destroy, sigmax


class Coupling(eqx.Module):
    """A bath coupled to ``site`` through the d x d operator ``op`` (v in eq. 1).

    One bath operator, Hermitian coupling (the paper's main text): ``op`` = v is Hermitian
    and the Redfield term is [u rho, v] + h.c. with u = sum_kq W(E_k - E_q) |k><k|v|q><q|.

    Several bath operators (SM A, eqs. S.1-S.4): H_SB = sum_alpha v_alpha (x) B_alpha gives
    terms [u_alpha rho, v_alpha] + h.c. with u_alpha = sum_beta int v~_beta(-tau)
    C_alpha,beta(tau); when each alpha has one partner beta (e.g. the particle reservoir of
    SM C: v_1 = a, partner a^dag), pass ``partner`` = v_beta and ``bath`` with
    W(E) = int e^{-iE tau} C_alpha,beta(tau): u = sum_kq W(E_k - E_q) |k><k|partner|q><q|.
    ``op`` and ``partner`` may then be non-Hermitian. Such couplings work in the Redfield-form
    equations (``redfield``, ``adhoc_redfield``, ``local_redfield``); the pseudo-Lindblad
    and Lindblad forms assume a Hermitian v and refuse them. See :func:`particle_reservoir`.

    ``op``/``partner`` may be NumPy/JAX arrays or ``qutip.Qobj``.
    """

    op: object
    bath: AbstractBath
    partner: object
    site: int = eqx.field(static=True)

    def __init__(self, site, op, bath, partner=None):
        if isinstance(site, bool) or not isinstance(site, (int, np.integer)) or site < 0:
            raise ValueError(f"`site` must be a non-negative integer (0-based), got {site!r}")
        if not isinstance(bath, AbstractBath):
            raise TypeError(
                f"`bath` must be a bath object such as OhmicBath(gamma, T), got {type(bath).__name__}"
            )
        m = as_matrix(op, "op")
        if partner is None:
            check_hermitian(m, "op (coupling operator v; pass `partner=` for a non-Hermitian "
                               "multi-operator coupling, SM A)")
        else:
            partner = as_matrix(partner, "partner")
            if partner.shape != m.shape:
                raise ValueError(f"`partner` has shape {partner.shape}, `op` has {m.shape}: give "
                                 "two single-site operators of the same shape")
        self.site = int(site)
        self.op = m
        self.bath = bath
        self.partner = partner

    @property
    def transformed(self):
        """The operator whose eigen-components build u: ``partner``, or v itself."""
        return self.op if self.partner is None else self.partner

    @property
    def is_hermitian_single(self) -> bool:
        """True for the main text's form: one Hermitian v, no partner."""
        return self.partner is None


class OpenSystem(eqx.Module):
    """A :class:`LatticeModel` with a list of :class:`Coupling` s (any number of baths)."""

    model: LatticeModel
    couplings: tuple

    def __init__(self, model, couplings):
        if not isinstance(model, LatticeModel):
            raise TypeError(f"`model` must be a LatticeModel (e.g. xxz_chain(L)), got {type(model).__name__}")
        couplings = tuple(couplings)
        if not couplings:
            raise ValueError("`couplings` is empty: give at least one Coupling(site, op, bath)")
        for n, c in enumerate(couplings):
            if not isinstance(c, Coupling):
                raise TypeError(f"`couplings[{n}]` must be a Coupling, got {type(c).__name__}")
            _check_site(c.site, model.L)
            if c.op.shape != (model.d, model.d):
                raise ValueError(
                    f"`couplings[{n}].op` has shape {c.op.shape} but the site dimension is "
                    f"{model.d}: give a {model.d}x{model.d} single-site operator"
                )
        self.model = model
        self.couplings = couplings

    def coupling_operator(self, n: int) -> LocalOperator:
        """v_n as a :class:`LocalOperator` on its site."""
        c = self.couplings[n]
        return LocalOperator(c.op, (c.site,), self.model.L, self.model.d)


def boundary_driven(model: LatticeModel, bath_left, bath_right, op=None) -> OpenSystem:
    """The paper's setup (Fig. 1b): bath_left on site 0 and bath_right on site L-1, both
    through ``op`` (default sigma^x)."""
    op = sigmax() if op is None else op
    return OpenSystem(model, [Coupling(0, op, bath_left), Coupling(model.L - 1, op, bath_right)])


def particle_reservoir(site: int, nmax: int, gamma, T, mu) -> list:
    r"""A bosonic particle reservoir on ``site`` (SM C, eqs. S.19-S.33): two couplings,

        [u_1 rho, a] + h.c. with u_1 from a^dag and W_1(E) = J(E) n_B(E),
        [u_2 rho, a^dag] + h.c. with u_2 from a  and W_2(E) = J(-E) (1 + n_B(-E)),

    flat J(E) = ``gamma`` and n_B(E) = 1/(e^{(E - mu)/T} - 1) (chemical potential ``mu``, real
    W as in the paper). W_1(E) / W_2(-E) = e^{-(E - mu)/T}: the grand-canonical state
    e^{-(H - mu N)/T} is stationary. The Taylor radius of W_1 around eps is |eps - mu| (the
    pole of n_B), that of W_2 is |eps + mu|. Returns a list to add to an OpenSystem's couplings.
    Requires ``mu <= 0`` (``ValueError`` otherwise: n_B would be negative for 0 <= E < mu).
    """
    check_gamma_T(gamma, T)
    if not float(mu) <= 0:
        raise ValueError(
            f"`mu` (chemical potential) must be <= 0 for a bosonic reservoir, got {mu!r}: the "
            "flat J(E) = gamma reaches E = 0, and n_B(E) = 1/(e^{(E - mu)/T} - 1) is negative "
            "(a negative occupation) for E < mu. Measure energies so that the particle energies "
            "lie above mu, i.e. shift the on-site energies instead of raising mu above 0"
        )
    import jax.numpy as jnp

    W1 = CallableBath(lambda E: gamma / jnp.expm1((E - mu) / T), temperature=T,
                      radius=lambda e: abs(float(e) - mu))
    W2 = CallableBath(lambda E: -gamma / jnp.expm1((E + mu) / T), temperature=T,
                      radius=lambda e: abs(float(e) + mu))
    a, ad = destroy(nmax), create(nmax)
    return [Coupling(site, a, W1, partner=ad), Coupling(site, ad, W2, partner=a)]
