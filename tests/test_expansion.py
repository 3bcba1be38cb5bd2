"""Expansions of the Redfield jump operator: eqs. (1), (3), (4)."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.expansion import nested_commutators

from .conftest import paper_system, random_matrix


def test_nested_commutators_match_loop(rng):
    H = random_matrix(rng, 8)
    H = H + H.conj().T
    X = random_matrix(rng, 8)
    out = np.asarray(nested_commutators(jnp.asarray(H), jnp.asarray(X)[None], jnp.asarray([0.7]), 4))
    Y = X.copy()
    for n in range(5):
        assert np.allclose(out[n, 0], Y, atol=1e-9 * np.abs(Y).max())
        Y = H @ Y - Y @ H - 0.7 * Y


def exact_u_reference(system, n):
    """Independent numpy version of eq. (S.8)."""
    H = np.asarray(system.model.dense())
    E, V = np.linalg.eigh(H)
    c = system.couplings[n]
    v = np.asarray(system.coupling_operator(n).dense())
    vt = V.conj().T @ v @ V
    W = np.vectorize(lambda e: complex(c.bath.W(e)))(E[:, None] - E[None, :])
    return V @ (W * vt) @ V.conj().T


def test_exact_u_matches_reference():
    s = paper_system(4, T=1.3, Tr=2.9)
    for n in range(2):
        assert np.allclose(np.asarray(jr.exact_u(s, n).dense()), exact_u_reference(s, n), atol=1e-12)


def u_error(s, order, n=0, kind="local", eps0=0.0):
    ex = np.asarray(jr.exact_u(s, n).dense())
    if kind == "local":
        u = jr.local_u(s, n, order)
    else:
        u = jr.adhoc_u(s, n, order, eps0)
    return np.linalg.norm(np.asarray(u.dense()) - ex) / np.linalg.norm(ex)


def test_local_u_converges_to_exact_at_high_T():
    """Eq. (4) -> eq. (1) as N grows (T = 8h, J = h): relative error falls monotonically and
    by more than 1e4 from N = 0 to N = 6."""
    s = paper_system(5, T=8.0)
    errs = [u_error(s, N) for N in range(7)]
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-4 * errs[0], errs


def test_adhoc_u_converges_at_high_T():
    s = paper_system(5, T=8.0)
    errs = [u_error(s, N, kind="adhoc", eps0=0.0) for N in (0, 2, 4, 6)]
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-3


@pytest.mark.parametrize("T", [0.2, 1.0, 5.0])
def test_order_zero_exact_without_bonds(T):
    """H_S^resid = 0: the local Redfield operator at N = 0 is exact at all T (main text)."""
    m = jr.xxz_chain(4, J=0.0)
    s = jr.boundary_driven(m, jr.OhmicBath(0.3, T), jr.OhmicBath(0.3, 2 * T))
    for n in range(2):
        ex = np.asarray(jr.exact_u(s, n).dense())
        loc = np.asarray(jr.local_u(s, n, 0).dense())
        assert np.allclose(loc, ex, atol=1e-13 * np.abs(ex).max())
    # and the higher orders add nothing
    assert np.allclose(np.asarray(jr.local_u(s, 0, 3).dense()), np.asarray(jr.exact_u(s, 0).dense()), atol=1e-12)


def test_local_energies_are_generic_not_hardcoded():
    """A sigma_x field on the coupling site: expansion energies come from its eigenbasis."""
    sx, sz = jr.sigmax(), jr.sigmaz()
    m = jr.LatticeModel.from_terms(3, 2, [(0, 0.8 * sx + 0.3 * sz), (1, sz), (2, sz),
                                          ((0, 1), -0.0 * np.kron(sx, sx))])
    s = jr.OpenSystem(m, [jr.Coupling(0, jr.sigmaz(), jr.OhmicBath(0.2, 0.7))])
    ex = np.asarray(jr.exact_u(s, 0).dense())
    assert np.allclose(np.asarray(jr.local_u(s, 0, 0).dense()), ex, atol=1e-13)


def test_cluster_support():
    s = jr.OpenSystem(jr.xxz_chain(9), [jr.Coupling(0, jr.sigmax(), jr.OhmicBath(0.25, 2.2)),
                                        jr.Coupling(4, jr.sigmax(), jr.OhmicBath(0.25, 2.2))])
    assert jr.local_u(s, 0, 3).sites == (0, 1, 2, 3)  # boundary: N + 1 sites
    assert jr.local_u(s, 1, 2).sites == (2, 3, 4, 5, 6)  # bulk: 2N + 1 sites
    with pytest.raises(MemoryError, match="max_cluster_dim"):
        jr.local_u(s, 1, 4, max_cluster_dim=256)


def test_lam_loc_xxz_closed_form():
    """For v = sigma_x on H^loc = h sigma_z, eq. (S.55) has r = (1, e^{-2h/T}) on the
    transitions (+2h, -2h); with detailed balance W(-2h) = e^{2h/T} W(2h):
    lambda_loc^2 = 2 W(2h)^2 / (1 + e^{-4h/T})."""
    T = 1.7
    s = paper_system(3, T=T)
    for n, h in ((0, 1.0), (1, 1.0 - 2 * 0.07)):  # site 2: h_2 = h + 2 delta
        W = complex(s.couplings[n].bath.W(2 * h)).real
        ref = W * np.sqrt(2 / (1 + np.exp(-4 * h / T)))
        assert abs(complex(jr.lam_loc(s, n)) - ref) < 1e-14


def test_convergence_warning_at_low_T():
    """SM B: transitions outside the Taylor radius sqrt(eps^2 + (2 pi T)^2) -> warning."""
    with pytest.warns(RuntimeWarning, match="radius"):
        jr.local_u(paper_system(4, T=0.3), 0, 2)
    with pytest.warns(RuntimeWarning, match="radius"):
        jr.adhoc_u(paper_system(4, T=0.3), 0, 2, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jr.local_u(paper_system(4, T=2.2), 0, 4)


def test_negative_order_rejected():
    with pytest.raises(ValueError, match="`order`"):
        jr.local_redfield(paper_system(3), -1)
    with pytest.raises(ValueError, match="`order`"):
        jr.adhoc_redfield(paper_system(3), 1.5, 0.0)
