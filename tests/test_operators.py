"""Matrix-free local operators vs dense Kronecker matrices (QuTiP tensor order)."""

import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.operators import apply_left, apply_right, embed

from .conftest import random_matrix


def dense_embed(op, sites, L, d):
    """Independent reference: build the full matrix element by element."""
    D = d**L
    out = np.zeros((D, D), dtype=complex)
    k = len(sites)
    for a in range(D):
        da = np.unravel_index(a, (d,) * L)
        for b in range(D):
            db = np.unravel_index(b, (d,) * L)
            if any(da[s] != db[s] for s in range(L) if s not in sites):
                continue
            ia = np.ravel_multi_index([da[s] for s in sites], (d,) * k)
            ib = np.ravel_multi_index([db[s] for s in sites], (d,) * k)
            out[a, b] = op[ia, ib]
    return out


@pytest.mark.parametrize("L,d,sites", [(3, 2, (1,)), (4, 2, (0, 2)), (4, 2, (3, 1)), (3, 3, (2, 0)),
                                       (5, 2, (1, 2, 4)), (3, 3, (0, 1, 2))])
def test_embed_and_apply_match_dense(rng, L, d, sites):
    k = len(sites)
    op = random_matrix(rng, d**k)
    ref = dense_embed(op, sites, L, d)
    lo = jr.LocalOperator(op, sites, L, d)
    assert np.allclose(np.asarray(lo.dense()), ref, atol=1e-13)
    psi = rng.normal(size=d**L) + 1j * rng.normal(size=d**L)
    rho = random_matrix(rng, d**L)
    assert np.allclose(np.asarray(apply_left(lo, psi)), ref @ psi, atol=1e-12)
    assert np.allclose(np.asarray(apply_left(lo, rho)), ref @ rho, atol=1e-12)
    assert np.allclose(np.asarray(apply_right(rho, lo)), rho @ ref, atol=1e-12)


def test_kron_order_is_qutip_order():
    """Site 0 is the leftmost Kronecker factor: sigma_z on site 0 of 2 sites."""
    op = jr.LocalOperator(jr.sigmaz(), 0, 2, 2).dense()
    assert np.allclose(np.asarray(op), np.kron(jr.sigmaz(), np.eye(2)))


def test_spin_conventions():
    up = np.array([1, 0])
    assert np.allclose(jr.sigmaz() @ up, up)
    assert np.allclose(jr.sigmap(), np.outer(up, [0, 1]))
    assert np.allclose(jr.sigmax(), jr.sigmap() + jr.sigmam())
    assert np.allclose(jr.sigmay(), -1j * (jr.sigmap() - jr.sigmam()))


def test_embed_reorders_sites(rng):
    op = random_matrix(rng, 4)
    a = embed(op, (0, 1), (1, 0), 2)
    swap = np.eye(4)[[0, 2, 1, 3]]
    assert np.allclose(np.asarray(a), swap @ op @ swap)


def test_bad_local_operator():
    with pytest.raises(ValueError, match="outside the chain"):
        jr.LocalOperator(np.eye(2), 5, 3, 2)
    with pytest.raises(ValueError, match="must have shape"):
        jr.LocalOperator(np.eye(3), 0, 3, 2)
