"""An open system: a lattice model coupled to baths through site-local Hermitian operators.

H_SB = sum_j v_j (x) B_j with v_j acting on one site (paper eq. (1); several baths as in
eq. (5)'s two-bath XXZ setup)."""

from __future__ import annotations

import equinox as eqx
import numpy as np

from ._checks import as_matrix, check_hermitian
from .baths import AbstractBath
from .models import LatticeModel, _check_site
from .operators import LocalOperator


class Coupling(eqx.Module):
    """A bath coupled to ``site`` through the Hermitian d x d operator ``op`` (v in eq. 1).

    ``op`` may be a NumPy/JAX array or a ``qutip.Qobj``.
    """

    op: object
    bath: AbstractBath
    site: int = eqx.field(static=True)

    def __init__(self, site, op, bath):
        if isinstance(site, bool) or not isinstance(site, (int, np.integer)) or site < 0:
            raise ValueError(f"`site` must be a non-negative integer (0-based), got {site!r}")
        if not isinstance(bath, AbstractBath):
            raise TypeError(
                f"`bath` must be a bath object such as OhmicBath(gamma, T), got {type(bath).__name__}"
            )
        m = as_matrix(op, "op")
        check_hermitian(m, "op (coupling operator v)")
        self.site = int(site)
        self.op = m
        self.bath = bath


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
    from .operators import sigmax

    op = sigmax() if op is None else op
    return OpenSystem(model, [Coupling(0, op, bath_left), Coupling(model.L - 1, op, bath_right)])
