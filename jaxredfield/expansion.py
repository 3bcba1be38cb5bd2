r"""The Redfield jump operator u = \int_0^\infty d\tau\, \tilde v(-\tau) C(\tau) and its
expansions.

- :func:`exact_u`: eq. (1)/(S.8), u = sum_kq W(E_k - E_q) |k><k|v|q><q| (full eigenbasis;
  small systems only).
- :func:`adhoc_u`: eq. (3), u ~ sum_n W^{(n)}(eps0)/n! ([H,.] - eps0)^n [v].
- :func:`local_u`: eq. (4), one expansion energy eps_kq = E_k^loc - E_q^loc per component
  v_kq of v in the eigenbasis of the coupling site's local Hamiltonian.

The expansions are built exactly on the cluster of sites that n nested commutators reach
(the support of ad_H^N[v]: N+1 sites at a chain's end, 2N+1 in the bulk), so u is a local
operator that acts on many-body states without any d^L x d^L matrix.
"""

from __future__ import annotations

import warnings
from functools import partial
from math import factorial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_memory, check_nonneg_int, is_concrete
from .baths import derivatives
from .operators import LocalOperator, embed

#: largest cluster dimension d^|C| built densely by default
MAX_CLUSTER_DIM = 4096

#: a matrix element <k|v|q> below this fraction of the largest is numerical zero: W is not
#: evaluated at its transition energy (components k = q of a sigma^x coupling, eps = 0)
WEIGHT_RTOL = 1e-12


@partial(jax.jit, static_argnums=3)
def nested_commutators(H, X, eps, order: int):
    r"""[X, ad X, ad^2 X, ..., ad^order X] with ad X = [H, X] - eps X (the superoperator
    ([H,.] - eps) of eqs. (2)-(4)), as a jitted linear map; ``eps`` may be a batch with
    matching leading axis of ``X``."""
    eps = jnp.asarray(eps)[..., None, None]

    def step(Y, _):
        Yn = H @ Y - Y @ H - eps * Y
        return Yn, Yn

    _, ys = jax.lax.scan(step, X, None, length=order)
    return jnp.concatenate([X[None], ys], axis=0)


def taylor_coefficients(W, eps, order: int):
    """W^{(n)}(eps)/n! for n = 0..order (autodiff derivatives, eq. 3)."""
    d = derivatives(W, eps, order)
    fact = jnp.asarray([float(factorial(n)) for n in range(order + 1)])
    return d / fact.reshape((order + 1,) + (1,) * (d.ndim - 1))


def needed(weights):
    """Mask of the components whose weight (|<k|v|q>| or max |vhat_kq|) is not numerical zero
    (> ``WEIGHT_RTOL`` times the largest); works on traced weights."""
    w = jnp.abs(jnp.asarray(weights))
    return w > WEIGHT_RTOL * jnp.max(w)


def bath_coefficients(bath, energies, mask, order: int, what: str):
    r"""W^{(n)}(E)/n!, n = 0..order, at the energies where ``mask`` is True, and exactly 0
    elsewhere (shape (order+1,) + energies.shape).

    W is never evaluated at a masked-out energy: those get ``bath.regular_energy`` and the
    result is discarded (the "double where": the value *and* its gradient stay finite when W
    has a removable singularity or a pole at an unneeded energy, e.g. 0/0 at E = 0). A needed
    value that is not finite raises a ``ValueError`` naming ``what`` (the coupling) and the
    energy; under tracing, ``eqx.error_if`` raises at run time instead.
    """
    E = jnp.asarray(energies, dtype=jnp.float64)
    mask = jnp.asarray(mask, dtype=bool)
    coeffs = taylor_coefficients(bath.W, jnp.where(mask, E, bath.regular_energy), order)
    bad = mask & ~jnp.all(jnp.isfinite(coeffs), axis=0)
    which = "W" if order == 0 else f"W or one of its derivatives W^(n), n <= {order},"
    how = (" Write W so that it is finite there: a removable singularity such as "
           "g*E/jnp.expm1(E/T) at E = 0 as g*T*jaxredfield.baths.bose_x_over_expm1(E/T), or "
           "with jnp.where(E == 0, limit, expression at a safe argument).")
    if is_concrete(coeffs):
        bad = np.asarray(bad)
        if bad.any():
            e = float(np.asarray(E)[bad].reshape(-1)[0])
            raise ValueError(
                f"{what}: {which} is not finite at E = {e:.6g}, a transition or expansion "
                f"energy this coupling needs.{how}{bath.singularity_note()}"
            )
    else:
        coeffs = eqx.error_if(coeffs, jnp.any(bad), f"{what}: {which} is not finite at a "
                              "transition or expansion energy this coupling needs (a singular "
                              "point of W there, or energies/parameters out of range, e.g. a "
                              f"diverging optimizer step).{how}")
    return jnp.where(mask, coeffs, 0.0)


def local_eigensystem(model, site: int):
    """Eigenvalues E^loc and eigenvectors (columns) of H_S^{loc,site}."""
    return jnp.linalg.eigh(model.local_hamiltonian(site))


def local_components(model, site: int, op):
    """The spectral decomposition of a single-site operator v in the local eigenbasis:
    returns (vhat, eps) with vhat[k, q] = |k><k|v|q><q| (d x d matrices, shape (d, d, d, d))
    and eps[k, q] = E_k^loc - E_q^loc (the local transition energies of eq. 4)."""
    E, U = local_eigensystem(model, site)
    vt = U.conj().T @ jnp.asarray(op) @ U  # <k|v|q>
    vhat = jnp.einsum("ik,kq,jq->kqij", U, vt, U.conj())
    eps = E[:, None] - E[None, :]
    return vhat, eps


def _cluster(model, site: int, order: int, max_cluster_dim: int):
    sites = model.cluster((site,), order)
    dim = model.d ** len(sites)
    if dim > max_cluster_dim:
        raise MemoryError(
            f"order {order} around site {site} reaches the {len(sites)}-site cluster {sites} "
            f"(dimension {dim} > max_cluster_dim={max_cluster_dim}); lower `order` or raise "
            "`max_cluster_dim`"
        )
    return sites


def series_u(model, site: int, vhats, eps, bath, order: int, max_cluster_dim=MAX_CLUSTER_DIM,
             what: str = "coupling"):
    r"""sum_c sum_{n<=order} W^{(n)}(eps_c)/n! ([H,.] - eps_c)^n [vhat_c] on the cluster of
    ``site``: the common engine of eqs. (3) and (4). ``vhats``: (C, d, d) single-site
    components; ``eps``: (C,) expansion energies; ``bath``: the coupling's bath. Components
    of zero weight are skipped: W is evaluated only at the energies of nonzero components
    (:func:`bath_coefficients`). Returns a :class:`LocalOperator`."""
    order = check_nonneg_int(order, "order")
    sites = _cluster(model, site, order, max_cluster_dim)
    Hc = model.hamiltonian_on(sites)
    vhats = jnp.asarray(vhats)
    X0 = jax.vmap(lambda v: embed(v, (site,), sites, model.d))(vhats)
    mask = needed(jnp.max(jnp.abs(vhats), axis=(1, 2)))
    coeffs = bath_coefficients(bath, eps, mask, order, what)  # (order+1, C)
    Xs = nested_commutators(Hc, X0, jnp.asarray(eps, dtype=jnp.float64), order)  # (order+1, C, D, D)
    u = jnp.einsum("nc,ncij->ij", coeffs, Xs)
    return LocalOperator(u, sites, model.L, model.d)


def _label(system, n):
    c = system.couplings[n]
    return f"coupling {n} (site {c.site}, {type(c.bath).__name__})"


def _nonzero_transitions(model, site, op):
    """(vhat, eps, sel): local components, transition energies and the NumPy mask of the
    nonzero components (concrete inputs), or sel None when traced."""
    vhat, eps = local_components(model, site, op)
    d = model.d
    if not is_concrete(vhat):
        return vhat, eps, None
    sel = np.asarray(needed(jnp.max(jnp.abs(vhat), axis=(2, 3)))).reshape(d * d)
    return vhat, eps, sel


def adhoc_u(system, n: int, order: int, eps0, max_cluster_dim=MAX_CLUSTER_DIM) -> LocalOperator:
    """Eq. (3): the ad-hoc expansion of coupling n's jump operator around one energy eps0.

    Needs W^{(k)}(eps0), k <= order (a ``ValueError`` names the coupling if one is not
    finite). Warns (SM B) when a local transition the coupling drives (energy E_k^loc -
    E_q^loc of a nonzero component, +- the spread from H_S^resid) lies outside W's Taylor
    disk around eps0."""
    c = system.couplings[n]
    model = system.model
    if is_concrete(eps0):
        _, eps_loc, sel = _nonzero_transitions(model, c.site, c.transformed)
        if sel is not None:
            tr = np.asarray(eps_loc).reshape(-1)[sel]
            _warn_convergence(system, n, order, tr, np.full(tr.shape, float(eps0)))
    return series_u(model, c.site, jnp.asarray(c.transformed)[None], jnp.asarray([eps0]),
                    c.bath, order, max_cluster_dim, _label(system, n))


def local_u(system, n: int, order: int, energies=None, max_cluster_dim=MAX_CLUSTER_DIM) -> LocalOperator:
    """Eq. (4): the local expansion of coupling n's jump operator, one expansion energy
    eps_kq = E_k^loc - E_q^loc (or ``energies[k, q]`` if given) per local component.

    W and its derivatives are evaluated only at the energies of components with nonzero
    weight (never at eps = 0 for the k = q components of a sigma^x coupling); a needed value
    that is not finite raises a ``ValueError`` naming the coupling and the energy."""
    c = system.couplings[n]
    model = system.model
    vhat, eps_loc, sel = _nonzero_transitions(model, c.site, c.transformed)
    eps = eps_loc if energies is None else jnp.asarray(energies, dtype=jnp.float64)
    if eps.shape != (model.d, model.d):
        raise ValueError(f"`energies` must have shape {(model.d, model.d)}, got {eps.shape}")
    d = model.d
    if sel is not None and is_concrete(eps):
        _warn_convergence(system, n, order, np.asarray(eps_loc).reshape(-1)[sel],
                          np.asarray(eps).reshape(-1)[sel])
    return series_u(model, c.site, vhat.reshape(d * d, d, d), eps.reshape(-1), c.bath,
                    order, max_cluster_dim, _label(system, n))


def exact_u(system, n: int, max_memory=None) -> LocalOperator:
    """Eq. (1)/(S.8): u = sum_kq W(E_k - E_q) |k><k|v|q><q| from the full eigenbasis of the
    dense Hamiltonian (d^L x d^L; small systems only). W is evaluated only for the pairs
    with <k|v|q> above ``WEIGHT_RTOL`` of the largest element; a needed non-finite value
    raises a ``ValueError`` naming the coupling and the energy."""
    c = system.couplings[n]
    model = system.model
    D = model.dim
    check_memory(
        16.0 * 6 * D**2,
        f"the exact (global) Redfield operator u at dimension {D}",
        "Use local_redfield(system, order) or local_lindblad(system, order), which need no "
        "diagonalization.",
        max_memory,
    )
    H = model.dense(max_memory=max_memory)
    E, V = jnp.linalg.eigh(H)
    v = embed(jnp.asarray(c.transformed), (c.site,), tuple(range(model.L)), model.d)
    vt = V.conj().T @ v @ V
    # W only where <k|v|q> is not numerical zero (relative threshold WEIGHT_RTOL): the
    # diagonal k = q (E = 0) of a sigma^x coupling is never evaluated
    Wm = bath_coefficients(c.bath, E[:, None] - E[None, :], needed(vt), 0, _label(system, n))[0]
    u = V @ (Wm * vt) @ V.conj().T
    return LocalOperator(u, tuple(range(model.L)), model.L, model.d)


def transition_spread(model, site: int) -> float:
    """Bound on how far H_S^resid moves a transition energy driven by an operator on
    ``site``: twice the summed spectral norms of the residual terms touching the site."""
    s = 0.0
    for t in model.residual_terms:
        if site in t.sites:
            s += float(np.linalg.norm(np.asarray(t.matrix), 2))
    return 2.0 * s


def _warn_convergence(system, n, order, eps_transitions, eps_expansion):
    """SM B: warn when the transitions the coupling drives (local transition energy +-
    spread from the residual terms) lie outside W's Taylor disk around the expansion energy."""
    if order == 0:
        return
    c = system.couplings[n]
    terms = [t.matrix for t in system.model.residual_terms if c.site in t.sites]
    if not all(is_concrete(m) for m in terms):  # model parameters traced (jax.grad, vmap):
        return  # the bound is not computable at trace time; the warning runs on concrete calls
    spread = transition_spread(system.model, c.site)
    for e_tr, e0 in zip(eps_transitions, eps_expansion):
        radius = c.bath.convergence_radius(float(e0))
        if radius is None:
            continue
        reach = abs(float(e_tr) - float(e0)) + spread
        if reach >= radius:
            warnings.warn(
                f"coupling {n} (site {c.site}): transitions up to {reach:.3g} away from the "
                f"expansion energy {float(e0):.3g} lie outside the radius {radius:.3g} of "
                "convergence of W's Taylor series (paper SM B): the expansion may diverge "
                "as `order` grows; raise the temperature or use the exact redfield() for "
                "small systems",
                RuntimeWarning,
                stacklevel=4,
            )
            return


def lam_loc(system, n: int | None = None):
    r"""The paper's lambda_loc (main text; SM H eqs. (S.55)-(S.56)) for coupling n (``n=None``:
    a list, one per coupling, as ``pseudo_lindblad`` and ``local_lindblad`` take it):

        lambda_loc^2 = sum_kq W(eps_kq)^2 |r_kq|^2 / sum_kq |r_kq|^2,
        r_kq = <k|v|q> e^{-(E_q - E_0)/T},   eps_kq = E_k^loc - E_q^loc,

    in the local eigenbasis of the coupling site; lambda_loc is the principal square root.
    For real <k|v|q> (the paper's real eigenvectors) this is (S.55) with the pseudo-norm
    ||A||_pseud^2 = sum_ij A_ij^2 of A_kq = W(eps_kq) r_kq; writing |r_kq|^2 for r_kq^2 makes it
    independent of the eigenvectors' phases and of the basis chosen inside degenerate levels
    (any unitary commuting with H^loc), so v and a rotated v = e^{-i phi sigma^z/2} sigma^x
    e^{i phi sigma^z/2} give the same lambda_loc. Complex W (Lamb shift, Drude bath) keeps
    the pseudo-norm's complex value. W is evaluated only where <k|v|q> is nonzero.
    """
    if n is None:
        return [lam_loc(system, k) for k in range(len(system.couplings))]
    c = system.couplings[n]
    if not c.is_hermitian_single:
        raise ValueError(f"coupling {n} is a multi-operator coupling (`partner` given): "
                         "lambda_loc (SM H) is defined for one Hermitian v; pass `lam=` explicitly")
    T = c.bath.temperature
    if T is None:
        raise ValueError(
            f"coupling {n}: its bath has no temperature, so lambda_loc is undefined; pass `lam=`"
        )
    E, U = local_eigensystem(system.model, c.site)
    vt = U.conj().T @ jnp.asarray(c.op) @ U
    boltz = jnp.exp(-(E - jnp.min(E)) / T)[None, :]
    r2 = jnp.real(vt * jnp.conj(vt)) * boltz**2  # |<k|v|q>|^2 (smooth: no abs at 0 under grad)
    Wk = bath_coefficients(c.bath, E[:, None] - E[None, :], needed(vt), 0, _label(system, n))[0]
    lam = jnp.sqrt(jnp.sum(Wk**2 * r2) / jnp.sum(r2))
    return jnp.where(jnp.abs(jnp.imag(lam)) < 1e-14 * jnp.abs(lam), jnp.real(lam) + 0j, lam)
