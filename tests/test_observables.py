import numpy as np
import pytest

import jaxredfield as jr

from .conftest import random_density_matrix


def test_trace_distance_is_nuclear_norm(rng):
    a = np.diag([1.0, 0.0]); b = np.diag([0.0, 1.0])
    assert float(jr.trace_distance(a, b)) == pytest.approx(2.0)  # no factor 1/2
    r1, r2 = random_density_matrix(rng, 6), random_density_matrix(rng, 6)
    assert float(jr.trace_distance(r1, r2)) == pytest.approx(np.abs(np.linalg.eigvalsh(r1 - r2)).sum(), rel=1e-12)


def test_spin_current_obeys_continuity(rng):
    """Closed chain: d<sigma^z_i>/dt = i<[H, sigma^z_i]> = j_{i-1} - j_i."""
    m = jr.xxz_chain(5, J=0.8, Delta=0.4)
    H = np.asarray(m.dense())
    rho = random_density_matrix(rng, 32)
    j = [complex(jr.expect(jr.spin_current(m, i), rho)) for i in range(4)]
    assert all(abs(x.imag) < 1e-13 for x in j)
    for i in range(5):
        sz = np.asarray(jr.operator_on(jr.sigmaz(), i, m).dense())
        dsz = (1j * np.trace(rho @ (H @ sz - sz @ H))).real
        rhs = (j[i - 1].real if i > 0 else 0.0) - (j[i].real if i < 4 else 0.0)
        assert dsz == pytest.approx(rhs, abs=1e-12)


def test_eigenstate_populations_and_expect(rng):
    m = jr.xxz_chain(3)
    rho = random_density_matrix(rng, 8)
    E, p = jr.eigenstate_populations(m, rho)
    assert np.all(np.diff(np.asarray(E)) >= 0)
    assert float(np.sum(p)) == pytest.approx(1.0)
    psi = np.zeros(8); psi[0] = 1  # |up up up>
    assert complex(jr.expect(jr.operator_on(jr.sigmaz(), 1, m), psi)) == pytest.approx(1.0)
    zz = jr.operator_on(np.kron(jr.sigmaz(), jr.sigmaz()), (0, 2), m)
    assert complex(jr.expect(zz, psi)) == pytest.approx(1.0)


def test_current_bond_index_checked():
    with pytest.raises(ValueError, match="`i`"):
        jr.spin_current(jr.xxz_chain(3), 2)


def test_hermitian_flag_is_declared_and_checked():
    """The builders declare Hermiticity statically (known under jax.jit, where the matrix is
    traced); a false declaration is refused; an undeclared operator is checked numerically."""
    m = jr.xxz_chain(3)
    assert all(o.hermitian is True for o in jr.magnetization(m))
    assert jr.spin_current(m, 0).hermitian is True
    assert jr.operator_on(jr.sigmap(), 1, m).hermitian is False
    assert jr.operator_on(jr.sigmap(), 1, m).dag().is_hermitian() is False
    with pytest.raises(ValueError, match="hermitian=True"):
        jr.LocalOperator(jr.sigmap(), 0, 3, 2, hermitian=True)
    with pytest.raises(ValueError, match="`charge`"):
        jr.bond_current(m, 0, charge=jr.sigmap())
    assert jr.LocalOperator(np.kron(jr.sigmax(), jr.sigmay()), (0, 2), 3, 2).is_hermitian()
