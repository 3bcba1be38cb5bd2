"""jr.sweep (issue 25, item 2): a parameter scan on every core gives the serial loop's values,
closures travel to the helpers, and gradients through it equal central differences and the
gradient of the serial loop (also under jit)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield import _pool

needs_two = pytest.mark.skipif(len(_pool.usable_cores()) < 2, reason="needs 2 usable cores")
TS = np.linspace(2.5, 6.0, 6)  # right-bath temperatures (left: 2.2)


def current(T_right, L=4):
    """Steady-state spin current on bond 1 of the paper's chain, local Redfield N = 2."""
    model = jr.xxz_chain(L)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, T_right))
    rho = jr.steadystate(jr.local_redfield(system, 2))
    return jnp.real(jr.expect(jr.spin_current(model, 1), rho))


@pytest.fixture(scope="module")
def serial():
    return np.array([current(T) for T in TS])


@needs_two
def test_sweep_equals_the_serial_loop(serial):
    par = jr.sweep(current, TS, workers=2)
    assert par.shape == (6,)
    np.testing.assert_allclose(np.asarray(par), serial, rtol=0, atol=1e-13)
    assert np.all(np.diff(serial) < 0)  # a hotter right bath drives a larger current (to the left: < 0)
    # a closure and a pytree output: <sigma^z_i> of a short mesolve for each J
    model_of = lambda J: jr.xxz_chain(3, J=J)  # noqa: E731

    def mags(J):
        m = model_of(J)
        s = jr.boundary_driven(m, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
        r = jr.mesolve(jr.local_lindblad(s, 1), jr.product_state(m, 0), np.linspace(0, 1, 3),
                       jr.magnetization(m))
        return {"mz": jnp.real(r.expect[:, -1]), "J": J}

    Js = np.array([0.5, 1.0, 1.5])
    got = jr.sweep(mags, Js, workers=2)
    for i, J in enumerate(Js):
        ref = mags(J)
        np.testing.assert_allclose(np.asarray(got["mz"][i]), np.asarray(ref["mz"]), rtol=0, atol=1e-12)
        assert float(got["J"][i]) == J


@needs_two
def test_gradient_through_sweep(serial):
    """d/dT of sum_i j(T_i)^2 through the sweep: equal to the serial loop's jax.grad and to
    central differences of the serial values (h = 1e-4: error ~h^2 j''' ~ 1e-10)."""
    loss = lambda T: jnp.sum(jr.sweep(current, T, workers=2) ** 2)  # noqa: E731
    g = np.asarray(jax.grad(loss)(jnp.asarray(TS)))
    g_loop = np.asarray(jax.grad(lambda T: sum(current(t) ** 2 for t in T))(jnp.asarray(TS)))
    np.testing.assert_allclose(g, g_loop, rtol=1e-10, atol=0)
    h = 1e-4
    fd = np.array([(current(T + h) ** 2 - current(T - h) ** 2) / (2 * h) for T in TS])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=0)
    jitted = jax.jit(lambda T: jr.sweep(current, T, workers=2))(jnp.asarray(TS))
    np.testing.assert_allclose(np.asarray(jitted), serial, rtol=0, atol=1e-13)


def test_sweep_in_one_process_and_bad_values(serial):
    np.testing.assert_allclose(np.asarray(jr.sweep(current, TS[:2], workers=1)), serial[:2], rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="`values` must have a leading axis"):
        jr.sweep(current, 3.0)
    with pytest.raises(ValueError, match="`values` is empty"):
        jr.sweep(current, np.zeros(0))
    with pytest.raises(ValueError, match="`chunk` must be a positive integer"):
        jr.sweep(current, TS, chunk=0)


def test_sweep_refuses_results_that_are_not_data():
    """Results travel between processes as data (no pickles): a namedtuple result is refused
    with the fix, in this process as in a helper; a dict of arrays comes back as a dict."""
    import collections

    P = collections.namedtuple("P", "x")
    for w in (1, 2):
        with pytest.raises((TypeError, RuntimeError), match="plain tuples/lists/dicts"):
            jr.sweep(lambda v: P(v), np.arange(2.0), workers=w)
    out = jr.sweep(lambda v: {"x": v, "y": (2 * v, None)}, np.arange(3.0), workers=2)
    np.testing.assert_array_equal(np.asarray(out["y"][0]), [0.0, 2.0, 4.0])


@needs_two
def test_sweep_sends_a_program_not_code():
    """With helpers, ``f`` travels as ``jax.jit(f)`` exported to StableHLO (data): a function
    jit cannot trace is computed here, one value after another, with a warning naming why; a
    runtime error inside the exported program (equinox's error_if, as an unconverged solver
    raises it) is not returned as NaN but raised here, as the serial loop raises it."""
    import functools
    import sys

    import equinox as eqx

    sw = sys.modules["jaxredfield.sweep"]
    ref = sw._by_name(functools.partial(current, L=4))  # a module-level function: by its name
    assert ref["q"] == "current" and ref["kwargs"] == {"L": 4} and ref["m"].endswith("test_sweep")
    assert sw._named(ref)(3.0) == current(3.0, L=4)
    assert sw._by_name(lambda v: v) is None and sw._by_name(functools.partial(current, L=object())) is None

    def branchy(v):  # a Python `if` on the parameter: not traceable
        return v**2 if v > 1 else -v

    with pytest.warns(RuntimeWarning, match=r"cannot be traced by jax.jit \(TracerBoolConversionError.*its values are computed here"):
        got = jr.sweep(branchy, np.array([0.5, 2.0]), workers=2)
    np.testing.assert_array_equal(np.asarray(got), [-0.5, 4.0])

    def checked(v):
        return eqx.error_if(jnp.sqrt(v), v > 2.0, "parameter above 2")

    np.testing.assert_array_equal(np.asarray(jr.sweep(checked, np.array([1.0, 4.0 / 4]), workers=2)), [1.0, 1.0])
    with pytest.raises(Exception, match="parameter above 2"):
        jr.sweep(checked, np.array([1.0, 4.0]), workers=2)
    with pytest.raises(Exception, match="parameter above 2"):  # the serial call raises after the export too
        checked(np.float64(4.0))
