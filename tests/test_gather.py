"""Fused gather kernel vs dense matrices (d = 2 and d = 3, non-Hermitian terms too)."""

import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.operators._gather import GatherOperator

from .conftest import random_matrix


@pytest.mark.parametrize("L,d", [(6, 2), (10, 2), (4, 3)])
def test_gather_operator_matches_dense(rng, L, d):
    ops = [jr.LocalOperator(random_matrix(rng, d * d), (i, i + 1), L, d) for i in range(L - 1)]
    ops += [jr.LocalOperator(random_matrix(rng, d), i, L, d) for i in range(L)]
    ops += [jr.LocalOperator(random_matrix(rng, d * d), (L - 1, 0), L, d)]  # unsorted, long range
    g = GatherOperator.from_local(ops)
    psi = rng.normal(size=(3, d**L)) + 1j * rng.normal(size=(3, d**L))
    ref = sum(np.asarray(jr.operators.apply_left(o, psi.T)).T for o in ops)
    assert np.allclose(np.asarray(g.apply(psi)), ref, atol=1e-11)
    if L <= 6:
        H = sum(np.asarray(o.dense()) for o in ops)
        assert np.allclose(np.asarray(g.apply(psi[0])), H @ psi[0], atol=1e-11)


def test_xxz_uses_two_gathers_per_bond():
    m = jr.xxz_chain(8)
    g = GatherOperator.from_local(m.terms)
    assert len(g.coeffs) == 7  # one flip-flop gather per bond; fields and zz are diagonal
    psi = np.random.default_rng(0).normal(size=256) + 0j
    assert np.allclose(np.asarray(g.apply(psi)), np.asarray(m.dense()) @ psi, atol=1e-12)
