r"""Master equations as generators d rho/dt = G(rho), all of the form

    G(rho) = -i[H, rho] + sum_j ([u_j rho, v_j] + h.c.)                (Redfield part, eq. 1)
             + sum_k D[L_k](rho) - sum_m D[M_m](rho)                   (Lindblad / pseudo-Lindblad)

with D[L](rho) = L rho L^dag - {L^dag L, rho}/2. Every operator is a :class:`LocalOperator`
(a cluster operator for the local equations, a full matrix for exact Redfield), so the same
generator works matrix-free. Builders:

- :func:`redfield` -- exact Redfield, eq. (1) (eigenbasis; small systems).
- :func:`adhoc_redfield` -- eq. (3), one expansion energy eps0.
- :func:`local_redfield` -- eq. (4), the local Redfield equation.
- :func:`pseudo_lindblad` -- any Redfield-form equation rewritten as
  -i[H + H_c, rho] + D[L_+] - D[L_-] (SM E), exact for any lambda.
- :func:`local_lindblad` -- keeps L_+ only, with the paper's lambda_loc (main text, SM H).
- :func:`adhoc_lindblad` -- the ad-hoc local Lindblad equation (SM E, F, Fig. S.5): eq. (3)
  with L_+ only and lambda = W(eps0).
- :func:`standard_local_lindblad` -- traditional local Lindblad: rates 2 Re W(eps) on the
  local transitions (sigma^-/sigma^+ with 2W(-+2h_i) for the XXZ chain).
- :func:`lindblad` -- a user's Lindblad equation (Hermitian H checked).

Guarantees (concrete inputs): W is evaluated only at the energies a coupling needs (nonzero
components; :func:`~jaxredfield.expansion.bath_coefficients`), a needed W that is not finite
raises a ``ValueError`` naming the coupling and the energy, and every builder checks that the
operators it returns are finite (a ``ValueError`` names the operator otherwise): no NaN leaves
a builder silently.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_equation_finite, check_nonneg_int, is_concrete
from .expansion import (MAX_CLUSTER_DIM, _label, adhoc_u, bath_coefficients, exact_u, lam_loc,
                        local_components, local_u, needed)
from .operators import LocalOperator, apply_left, apply_right
from .operators.local import embed, merge_terms
from .system import OpenSystem


class MasterEquation(eqx.Module):
    """A master-equation generator (see module docstring). Solvers accept any instance."""

    hamiltonian: tuple  # LocalOperators summing to H (or H_eff)
    redfield_terms: tuple  # (u, v) pairs
    jumps: tuple  # L_k with positive sign
    negative_jumps: tuple  # M_m entering with a negative rate (pseudo-Lindblad)
    L: int = eqx.field(static=True)
    d: int = eqx.field(static=True)
    name: str = eqx.field(static=True)

    @property
    def dim(self) -> int:
        return self.d**self.L

    @property
    def is_lindblad(self) -> bool:
        """True when the equation has Lindblad form (CPTP: unravelable by standard jumps)."""
        return not self.redfield_terms and not self.negative_jumps

    def __call__(self, rho):
        """d rho / dt for a density matrix rho of shape (d^L, d^L); linear in rho (also for
        non-Hermitian rho)."""
        out = jnp.zeros_like(rho)
        for h in self.hamiltonian:
            out = out - 1j * (apply_left(h, rho) - apply_right(rho, h))
        for u, v in self.redfield_terms:
            # [u rho, v] + h.c. = u rho v - v u rho + v^dag rho u^dag - rho u^dag v^dag (eq. S.2;
            # v^dag = v for the Hermitian coupling of the main text)
            ud, vd = u.dag(), v.dag()
            urho = apply_left(u, rho)
            rhoud = apply_right(rho, ud)
            out = out + apply_right(urho, v) - apply_left(v, urho)
            out = out + apply_left(vd, rhoud) - apply_right(rhoud, vd)
        for sign, ops in ((1.0, self.jumps), (-1.0, self.negative_jumps)):
            for Lk in ops:
                out = out + sign * _dissipator(Lk, rho)
        return out

    def hamiltonian_matrix(self):
        """Dense d^L x d^L matrix of the Hamiltonian part (small L)."""
        return sum(h.dense() for h in self.hamiltonian)


def _dissipator(L: LocalOperator, rho):
    LdL = L.with_matrix(L.matrix.conj().T @ L.matrix)
    return (
        apply_right(apply_left(L, rho), L.dag())
        - 0.5 * apply_left(LdL, rho)
        - 0.5 * apply_right(rho, LdL)
    )


def _check_system(system):
    if not isinstance(system, OpenSystem):
        raise TypeError(f"`system` must be an OpenSystem, got {type(system).__name__}")


def _check_finite(eq: MasterEquation) -> MasterEquation:
    """Every builder's last step: no NaN leaves a builder silently (see
    :func:`~jaxredfield._checks.check_equation_finite`)."""
    check_equation_finite(eq, None)
    return eq


def _per_coupling(x, n: int, name: str):
    """A scalar, or a sequence with one value per coupling."""
    if not isinstance(x, (list, tuple)) and jnp.ndim(x) == 0:  # (jnp.ndim: tracers too)
        return [x] * n
    if len(x) != n:
        raise ValueError(f"`{name}` needs one value per coupling ({n}), got {len(x)}")
    return list(x)


def _redfield_form(system, us, name):
    terms = tuple((u, system.coupling_operator(n)) for n, u in enumerate(us))
    m = system.model
    return _check_finite(MasterEquation(m.terms, terms, (), (), m.L, m.d, name))


def redfield(system: OpenSystem, max_memory=None) -> MasterEquation:
    """Exact Redfield equation, eq. (1): u_j from the full eigenbasis of H_S (global; small
    systems). Refuses sizes beyond ``max_memory`` bytes (default 8 GiB)."""
    _check_system(system)
    us = [exact_u(system, n, max_memory) for n in range(len(system.couplings))]
    return _redfield_form(system, us, "redfield")


def adhoc_redfield(system: OpenSystem, order: int, eps0, max_cluster_dim=MAX_CLUSTER_DIM) -> MasterEquation:
    """Ad-hoc local Redfield equation, eq. (3): u_j = sum_{n<=order} W^{(n)}(eps0)/n!
    ([H,.] - eps0)^n [v_j]. ``eps0``: one energy, or one per coupling."""
    _check_system(system)
    order = check_nonneg_int(order, "order")
    eps = _per_coupling(eps0, len(system.couplings), "eps0")
    us = [adhoc_u(system, n, order, eps[n], max_cluster_dim) for n in range(len(eps))]
    return _redfield_form(system, us, f"adhoc_redfield(N={order})")


def local_redfield(system: OpenSystem, order: int, energies=None, max_cluster_dim=MAX_CLUSTER_DIM) -> MasterEquation:
    """Local Redfield equation, eq. (4): expansion energies eps_kq = E_k^loc - E_q^loc of the
    coupling site's local Hamiltonian (``energies``: optional per-coupling d x d overrides)."""
    _check_system(system)
    order = check_nonneg_int(order, "order")
    nc = len(system.couplings)
    energies = [None] * nc if energies is None else _per_coupling_arrays(energies, nc)
    us = [local_u(system, n, order, energies[n], max_cluster_dim) for n in range(nc)]
    return _redfield_form(system, us, f"local_redfield(N={order})")


def _per_coupling_arrays(x, n):
    if len(x) != n:
        raise ValueError(f"`energies` needs one (d, d) array per coupling ({n}), got {len(x)}")
    return list(x)


def _union(a: LocalOperator, b: LocalOperator):
    sites = tuple(sorted(set(a.sites) | set(b.sites)))
    return a.on(sites), b.on(sites)


def _check_lam(lam, n):
    if is_concrete(lam):
        lam_c = complex(lam)
        if not np.isfinite(lam_c):
            raise ValueError(f"`lam` for coupling {n} is not finite: {lam!r}")
        if not lam_c.real > 0:
            raise ValueError(
                f"`lam` for coupling {n} must have a positive real part, got {lam!r} "
                "(use lam=None for the paper's lambda_loc)"
            )


def pseudo_lindblad(eq: MasterEquation, lam, keep_negative: bool = True) -> MasterEquation:
    r"""Rewrite a Redfield-form equation in pseudo-Lindblad form (SM E, Becker et al.):

        [u rho, v] + h.c. = -i[H_c, rho] + D[L_+](rho) - D[L_-](rho),
        H_c = -(i/2)(v u - u^dag v),
        L_+ = (u + lam^* v)/sqrt(2 Re lam),  L_- = (u - lam v)/sqrt(2 Re lam)

    (for real lam: L_+- = (u +- lam v)/sqrt(2 lam)), exact for every lam with Re lam > 0.
    ``lam``: one value or one per Redfield term. ``keep_negative=False`` drops L_- (the local
    Lindblad approximation).
    """
    if not eq.redfield_terms:
        raise ValueError("`eq` has no Redfield terms to rewrite")
    lams = _per_coupling(lam, len(eq.redfield_terms), "lam")
    for n, (_, v) in enumerate(eq.redfield_terms):
        if not isinstance(v.matrix, jax.core.Tracer) and not v.is_hermitian():
            raise ValueError(
                f"Redfield term {n} has a non-Hermitian coupling operator (a multi-operator "
                "coupling such as particle_reservoir, SM A); the pseudo-Lindblad form of SM E "
                "assumes a Hermitian v. Use the Redfield form (redfield / local_redfield) with "
                "mesolve or steadystate."
            )
    hs, plus, minus = list(eq.hamiltonian), [], []
    for n, ((u, v), lm) in enumerate(zip(eq.redfield_terms, lams)):
        _check_lam(lm, n)
        uc, vc = _union(u, v)
        U, V = uc.matrix, vc.matrix
        Hc = -0.5j * (V @ U - U.conj().T @ V)
        norm = jnp.sqrt(2.0 * jnp.real(lm))
        hs.append(uc.with_matrix(Hc))
        plus.append(uc.with_matrix((U + jnp.conj(lm) * V) / norm))
        minus.append(uc.with_matrix((U - lm * V) / norm))
    return _check_finite(MasterEquation(
        tuple(hs), (), tuple(plus), tuple(minus) if keep_negative else (), eq.L, eq.d,
        f"pseudo_lindblad[{eq.name}]" if keep_negative else f"lindblad_plus[{eq.name}]",
    ))


def local_lindblad(system: OpenSystem, order: int, lam=None, energies=None,
                   max_cluster_dim=MAX_CLUSTER_DIM) -> MasterEquation:
    """The paper's local Lindblad equation: d rho/dt = -i[H_eff, rho] + sum_j D[L_+,j](rho),
    L_+ = (u_loc + lam v)/sqrt(2 lam), H_eff = H_S - (i/2) sum_j (v_j u_j - u_j^dag v_j),
    u_loc of eq. (4). ``lam=None``: lambda_loc of the main text / SM H per coupling; a float
    (or one per coupling) overrides it."""
    eq = local_redfield(system, order, energies, max_cluster_dim)
    nc = len(system.couplings)
    lams = [lam_loc(system, n) for n in range(nc)] if lam is None else _per_coupling(lam, nc, "lam")
    out = pseudo_lindblad(eq, lams, keep_negative=False)
    return MasterEquation(out.hamiltonian, (), out.jumps, (), out.L, out.d,
                          f"local_lindblad(N={order})")


def adhoc_lindblad(system: OpenSystem, order: int, eps0, lam=None,
                   max_cluster_dim=MAX_CLUSTER_DIM) -> MasterEquation:
    r"""The ad-hoc local Lindblad equation (SM E, F; eqs. (S.50), (S.52), (S.53)):

        d rho/dt = -i[H_eff, rho] + sum_j D[L_+,j](rho),   H_eff = H_S - (i/2) sum_j (v_j u_j - u_j^dag v_j),
        L_+ = (u + W(eps0)^* v) / sqrt(2 Re W(eps0))

    with u the ad-hoc expansion of eq. (3) at ``order`` around ``eps0`` (one energy, or one per
    coupling). The paper's choice lambda = W(eps0) (``lam=None``; complex for a Drude bath,
    SM E) cancels the leading order u^(0) = W(eps0) v of the dropped L_- = (u - lambda v)/..., so
    at order 0 the equation equals the ad-hoc local Redfield equation exactly. ``lam``: one
    value (or one per coupling) with Re lam > 0 overrides it.
    """
    _check_system(system)
    nc = len(system.couplings)
    eps = _per_coupling(eps0, nc, "eps0")
    for n, e in enumerate(eps):
        if is_concrete(e) and not (np.isrealobj(e) and np.isfinite(e)):
            raise ValueError(f"`eps0` for coupling {n} must be a finite real energy, got {e!r}")
    eq = adhoc_redfield(system, order, eps, max_cluster_dim)
    if lam is None:
        lams = [bath_coefficients(system.couplings[n].bath, e, True, 0, _label(system, n))[0]
                for n, e in enumerate(eps)]  # W(eps0), a ValueError if not finite
        for n, lm in enumerate(lams):
            if is_concrete(lm) and not complex(lm).real > 0:
                raise ValueError(
                    f"coupling {n}: W(eps0) = {complex(lm):.4g} has no positive real part, so "
                    "lambda = W(eps0) (SM E) is not allowed; pass `lam=` with Re lam > 0"
                )
    else:
        lams = _per_coupling(lam, nc, "lam")
    out = pseudo_lindblad(eq, lams, keep_negative=False)
    return MasterEquation(out.hamiltonian, (), out.jumps, (), out.L, out.d,
                          f"adhoc_lindblad(N={order})")


def standard_local_lindblad(system: OpenSystem) -> MasterEquation:
    """Traditional local Lindblad equation (main text): each coupling's site operator is split
    into local transitions A(eps) = sum_{E_k^loc - E_q^loc = eps} |k><k|v|q><q|, each a jump
    with rate 2 Re W(eps), plus the Lamb shift sum Im W(eps) A^dag A. For the XXZ chain:
    rates gamma_i^{+-} = 2 W(+-2h_i) on sigma_i^{+-}."""
    _check_system(system)
    m = system.model
    hs, jumps = list(m.terms), []
    for n, c in enumerate(system.couplings):
        if not c.is_hermitian_single:
            raise ValueError(
                f"coupling {n} is a multi-operator coupling (`partner` given, e.g. a particle "
                "reservoir); the standard local Lindblad construction needs one Hermitian v per "
                "bath. Use local_redfield or redfield."
            )
        vhat, eps = local_components(m, c.site, c.op)
        keep = np.asarray(needed(jnp.max(jnp.abs(vhat), axis=(2, 3))))
        vhat, eps = np.asarray(vhat), np.asarray(eps)
        groups: dict = {}
        for k in range(m.d):
            for q in range(m.d):
                if not keep[k, q]:  # W is evaluated only on the transitions v drives
                    continue
                key = round(float(eps[k, q]), 10)
                groups[key] = groups.get(key, 0) + vhat[k, q]
        energies = sorted(groups)
        ws = np.asarray(bath_coefficients(c.bath, np.asarray(energies), np.ones(len(energies), bool),
                                          0, _label(system, n))[0])
        v = system.coupling_operator(n)
        for e, w in zip(energies, ws):
            A = groups[e]
            w = complex(w)
            rate = 2 * w.real
            if rate < 0:
                raise ValueError(f"coupling {n}: negative rate 2 Re W({e}) = {rate}")
            jumps.append(v.with_matrix(np.sqrt(rate) * A))
            if abs(w.imag) > 0:
                hs.append(v.with_matrix(w.imag * A.conj().T @ A))
    return _check_finite(MasterEquation(tuple(hs), (), tuple(jumps), (), m.L, m.d,
                                        "standard_local_lindblad"))


def lindblad(H, jump_ops, L: int, d: int) -> MasterEquation:
    """A user's Lindblad equation -i[H, rho] + sum_k D[L_k]: ``H`` and ``jump_ops`` are
    :class:`LocalOperator` s (or lists of them for H) on an ``L``-site lattice of local
    dimension ``d``. Concrete inputs are checked: finite entries, and a Hermitian total H
    (the terms may be non-Hermitian one by one, e.g. A and A^dag given separately); a
    ``ValueError`` names the offending argument."""
    hs = tuple(H) if isinstance(H, (list, tuple)) else (H,)
    jumps = tuple(jump_ops)
    for name, ops in (("H", hs), ("jump_ops", jumps)):
        for k, op in enumerate(ops):
            if not isinstance(op, LocalOperator):
                raise TypeError(f"`{name}[{k}]` must be a LocalOperator, got {type(op).__name__}")
            if (op.L, op.d) != (L, d):
                raise ValueError(f"`{name}[{k}]` is an operator on L={op.L}, d={op.d}; the equation "
                                 f"has L={L}, d={d}")
    _check_hermitian_sum(hs)
    return _check_finite(MasterEquation(hs, (), jumps, (), L, d, "lindblad"))


#: largest dimension of the union of H's supports checked densely for Hermiticity
_HERMITIAN_DENSE_DIM = 4096


def _check_hermitian_sum(hs):
    """Refuse a concrete non-Hermitian H = sum of terms (the generator would not preserve
    Hermiticity, and the Chebyshev propagator's spectral bounds assume a Hermitian H)."""
    if not hs or not all(is_concrete(h.matrix) for h in hs):
        return
    d = hs[0].d
    support = tuple(sorted(set().union(*(h.sites for h in hs))))
    if d ** len(support) <= _HERMITIAN_DENSE_DIM:
        groups = [(support, sum(np.asarray(embed(np.asarray(h.matrix), h.sites, support, d))
                                for h in hs))]
    else:  # equal supports are summed, smaller ones embedded into larger ones
        groups = [(g.sites, np.asarray(g.matrix)) for g in merge_terms(hs)]
    for sites, m in groups:
        dev = float(np.max(np.abs(m - m.conj().T)))
        scale = max(1.0, float(np.max(np.abs(m))))
        if not dev <= 1e-12 * scale:
            raise ValueError(
                f"`H` is not Hermitian (on sites {sites}: max |H - H^dagger| = {dev:.3g}): a "
                "Lindblad equation needs a Hermitian Hamiltonian; pass (H + H^dagger)/2, or put "
                "non-Hermitian (dissipative) parts into `jump_ops`"
            )


__all__ = [
    "MasterEquation", "redfield", "adhoc_redfield", "local_redfield", "pseudo_lindblad",
    "local_lindblad", "adhoc_lindblad", "standard_local_lindblad", "lindblad",
]
