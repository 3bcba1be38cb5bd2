import numpy as np
import pytest

import jaxredfield as jr


def test_coupling_validation():
    bath = jr.OhmicBath(0.25, 1.0)
    m = jr.xxz_chain(3)
    with pytest.raises(ValueError, match="Hermitian"):
        jr.Coupling(0, jr.sigmap(), bath)
    with pytest.raises(ValueError, match="outside the chain"):
        jr.OpenSystem(m, [jr.Coupling(3, jr.sigmax(), bath)])
    with pytest.raises(ValueError, match="site dimension"):
        jr.OpenSystem(m, [jr.Coupling(0, np.eye(3), bath)])
    with pytest.raises(TypeError, match="bath"):
        jr.Coupling(0, jr.sigmax(), 1.0)
    with pytest.raises(ValueError, match="couplings"):
        jr.OpenSystem(m, [])


def test_many_baths():
    m = jr.xxz_chain(4)
    cs = [jr.Coupling(i, jr.sigmax(), jr.OhmicBath(0.1, 1.0 + i)) for i in range(4)]
    s = jr.OpenSystem(m, cs)
    eq = jr.local_redfield(s, 1)
    assert len(eq.redfield_terms) == 4
