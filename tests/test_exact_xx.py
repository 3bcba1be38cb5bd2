"""The exact XX-chain steady state (tests/exact_xx.py, the long-chain reference of issue 26)
against QuTiP's steady state of the same Lindblad equation, built from qutip.tensor products
(no jaxredfield): profile, nearest-neighbour correlations and currents, and current continuity."""

import numpy as np
import pytest
import qutip

from . import exact_xx


def _site(op, i, L):
    return qutip.tensor([op if k == i else qutip.qeye(2) for k in range(L)])


@pytest.mark.parametrize("L", [4, 6])
def test_matches_qutip_and_conserves_the_current(L):
    J = 0.8
    fields = 1.0 - 0.07 * np.arange(L) + 0.3 * np.sin(np.arange(L))  # a ramp and a bump
    gain, loss = np.zeros(L), np.zeros(L)
    gain[0], loss[0], gain[-1], loss[-1] = 0.35, 0.15, 0.05, 0.4
    sx, sy, sz, sp, sm = qutip.sigmax(), qutip.sigmay(), qutip.sigmaz(), qutip.sigmap(), qutip.sigmam()
    H = sum(-J * (_site(sx, i, L) * _site(sx, i + 1, L) + _site(sy, i, L) * _site(sy, i + 1, L))
            for i in range(L - 1)) + sum(fields[i] * _site(sz, i, L) for i in range(L))
    c_ops = [np.sqrt(r) * _site(op, i, L) for i in range(L) for r, op in ((gain[i], sp), (loss[i], sm)) if r > 0]
    rho = qutip.steadystate(H, c_ops)
    z_q = np.array([qutip.expect(_site(sz, i, L), rho) for i in range(L)])
    pm_q = np.array([qutip.expect(_site(sp, i, L) * _site(sm, i + 1, L), rho) for i in range(L - 1)])
    # j_i = -i <[H^{i,i+1}, sigma^z_i]>, the bond term's commutator built in QuTiP
    j_q = []
    for i in range(L - 1):
        hb = -J * (_site(sx, i, L) * _site(sx, i + 1, L) + _site(sy, i, L) * _site(sy, i + 1, L))
        j_q.append(np.real(qutip.expect(-1j * (hb * _site(sz, i, L) - _site(sz, i, L) * hb), rho)))

    G = exact_xx.steady_correlations(J, fields, gain, loss)
    np.testing.assert_allclose(exact_xx.magnetization(G), z_q, atol=1e-10)
    np.testing.assert_allclose(np.diag(G, k=1), pm_q, atol=1e-10)
    j = exact_xx.spin_currents(G, J)
    np.testing.assert_allclose(j, j_q, atol=1e-10)
    assert np.abs(j).min() > 1e-3  # a current flows, the same on every bond
    np.testing.assert_allclose(j, j[0], rtol=1e-9)
