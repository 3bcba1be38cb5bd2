"""Product states: the dense vector against QuTiP's tensor(), use as psi0, bad input."""

import jax
import numpy as np
import pytest
import qutip

import jaxredfield as jr


def test_dense_matches_qutip_tensor(rng):
    up, down = qutip.basis(2, 0), qutip.basis(2, 1)  # DESIGN.md: basis (|up>, |down>)
    model = jr.xxz_chain(4)
    cases = {
        "up": (0, qutip.tensor([up] * 4)),
        "plus": (np.ones(2), qutip.tensor([(up + down).unit()] * 4)),
        "neel": ([0, 1, 0, 1], qutip.tensor([up, down, up, down])),
    }
    for name, (states, ref) in cases.items():
        psi = np.asarray(jr.product_state(model, states).dense())
        np.testing.assert_allclose(psi, ref.full()[:, 0], atol=1e-15, err_msg=name)
    # d = 3, random local vectors, unnormalized on input
    bh = jr.bose_hubbard_chain(3, nmax=2)
    vs = [rng.normal(size=3) + 1j * rng.normal(size=3) for _ in range(3)]
    ref = qutip.tensor([qutip.Qobj(v[:, None]).unit() for v in vs]).full()[:, 0]
    ps = jr.product_state(bh, vs)
    assert (ps.L, ps.d) == (3, 3) and repr(ps) == "ProductState(L=3, d=3)"
    np.testing.assert_allclose(np.asarray(ps.dense()), ref, atol=1e-15)


def test_accepted_as_psi0_by_every_mcsolve_method_and_by_mesolve():
    model = jr.xxz_chain(4)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    eq = jr.local_lindblad(system, 1)
    ps = jr.product_state(model, np.ones(2))
    dense = np.full(16, 0.25)
    ts = np.linspace(0.0, 1.0, 3)
    e_ops = [jr.operator_on(jr.sigmaz(), 0, model)]
    for method in (jr.Chebyshev(), jr.Diffrax()):
        a, b = (jr.mcsolve(eq, x, ts, 4, jax.random.key(0), e_ops=e_ops, method=method, progress=False)
                for x in (ps, dense))
        # the same trajectories (the two vectors differ by round-off: (1/sqrt 2)^4 vs 1/4)
        np.testing.assert_array_equal(a.stats["njumps"], b.stats["njumps"])
        np.testing.assert_allclose(np.asarray(a.expect), np.asarray(b.expect), rtol=0, atol=1e-12)
    # mesolve: the two starts differ by round-off, which moves the default Dopri8's step sizes
    # (its first error estimate is at round-off level), so the values at save times between
    # steps differ by the dense output's error, not by round-off (measured 2.1e-11; rtol 1e-8)
    a, b = (jr.mesolve(eq, x, ts, e_ops=e_ops) for x in (ps, dense))
    np.testing.assert_allclose(np.asarray(a.expect), np.asarray(b.expect), rtol=0, atol=1e-10)


def test_bad_input_names_the_argument():
    model = jr.xxz_chain(3)
    with pytest.raises(ValueError, match=r"`states`: a list holds one local state per site, L = 3, got 2"):
        jr.product_state(model, [0, 1])
    with pytest.raises(ValueError, match=r"`states`\[1\]: basis index 2 is outside 0...1"):
        jr.product_state(model, [0, 2, 0])
    with pytest.raises(ValueError, match=r"`states`: a local state must have shape \(2,\)"):
        jr.product_state(model, np.ones(3))
    with pytest.raises(ValueError, match=r"`states`\[0\]: the local vector must be finite and nonzero"):
        jr.product_state(model, [np.zeros(2), 0, 0])
    with pytest.raises(ValueError, match=r"`states`: the local vector must be finite and nonzero"):
        jr.product_state(model, np.array([np.nan, 1.0]))
    big = jr.product_state(jr.xxz_chain(40), 0)  # fine as local vectors ...
    with pytest.raises(MemoryError, match=r"\(L = 40\) would need 1.64e\+04 GiB.*Keep it as a ProductState"):
        big.dense()  # ... but not as a 2^40 vector
    with pytest.raises(ValueError, match=r"`psi0` must be a state vector of shape \(16,\)"):
        eq = jr.standard_local_lindblad(jr.boundary_driven(jr.xxz_chain(4), jr.OhmicBath(0.25, 2.2),
                                                           jr.OhmicBath(0.25, 2.2)))
        jr.mcsolve(eq, jr.product_state(model, 0), [0.0, 1.0], 2, jax.random.key(0), progress=False)
