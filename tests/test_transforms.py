"""Every public function under jax.grad, jax.jit and jax.vmap in combination (issue 11, item 4).

The function under test builds everything from its parameters inside the function, as a user
would: p = (J, T_r) -> the XXZ chain with coupling J, boundary-driven ohmic baths at T_l and
T_r, a master equation, its steady state (dense or GMRES) or its state at time t (mesolve),
and the spin current on bond 0. Each combination

    eager value, jit, grad, jit(grad), grad(jit), vmap, vmap(grad), jit(vmap(grad))

must give the same numbers: values equal to the jitted value (1e-9 relative), gradients equal
to central finite differences of the jitted value (1e-6 relative; the difference's own error
is ~ step^2 |f'''| / 6 ~ 1e-9 at step 1e-4, and the GMRES tolerance 1e-12 adds
~1e-12 / step = 1e-8). A representative subset runs by default; the full cross product is
marked slow. lam_loc and the ohmic W are checked the same way against closed forms.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr

L = 2
T_L, GAMMA = 2.2, 0.25
P0 = np.array([1.0, 3.0])  # (J, T_r)
PB = np.array([[1.0, 3.0], [0.8, 2.0]])  # a batch for vmap
STEP = 1e-4


def _equation(kind, system):
    if kind == "local_redfield":
        return jr.local_redfield(system, 1)
    if kind == "local_lindblad":
        return jr.local_lindblad(system, 1)
    if kind == "redfield":
        return jr.redfield(system)
    raise ValueError(kind)


STEADY_METHODS = {"dense": jr.Direct(), "iterative": jr.GMRES()}


def current(kind: str, method: str):
    """p = (J, T_r) -> spin current on bond 0 of ``kind``'s steady state (``method`` dense or
    iterative) or of its state at t = 1 from |+>^L (``method`` mesolve)."""

    def j(p):
        model = jr.xxz_chain(L, J=p[0], Delta=0.7, h=1.0, delta=-0.07)
        system = jr.boundary_driven(model, jr.OhmicBath(GAMMA, T_L), jr.OhmicBath(GAMMA, p[1]))
        eq = _equation(kind, system)
        op = jr.spin_current(model, 0)
        if method == "mesolve":
            psi0 = jnp.ones(2**L) / np.sqrt(2**L)
            res = jr.mesolve(eq, psi0, jnp.array([0.0, 1.0]), e_ops=[op], save_states=False,
                             method=jr.Diffrax(rtol=1e-11, atol=1e-13))
            # a Hermitian e_op gives real values also when traced (issue 11: is_hermitian()
            # was False under tracing, so e_ops silently turned complex under jit / grad)
            assert not jnp.iscomplexobj(res.expect), res.expect.dtype
            return res.expect[0, -1]
        return jnp.real(jr.expect(op, jr.steadystate(eq, method=STEADY_METHODS[method])))

    return j


COMBOS = {
    "eager": lambda f: f,
    "jit": jax.jit,
    "grad": jax.grad,
    "jit(grad)": lambda f: jax.jit(jax.grad(f)),
    "grad(jit)": lambda f: jax.grad(jax.jit(f)),
    "vmap": jax.vmap,
    "vmap(grad)": lambda f: jax.vmap(jax.grad(f)),
    "jit(vmap(grad))": lambda f: jax.jit(jax.vmap(jax.grad(f))),
}
IS_GRAD = {c: "grad" in c for c in COMBOS}
IS_BATCHED = {c: c.startswith("vmap") or c.startswith("jit(vmap") for c in COMBOS}

CASES = {
    "local_redfield-dense": ("local_redfield", "dense"),
    "local_redfield-iterative": ("local_redfield", "iterative"),
    "local_lindblad-dense": ("local_lindblad", "dense"),
    "redfield-dense": ("redfield", "dense"),
    "local_redfield-mesolve": ("local_redfield", "mesolve"),
}
#: the default run (the suite's time budget: each compilation costs seconds): grad without
#: jit through a steady state (issue 11 item 4, fixed in 14a3566 without a test), every
#: combination on W and the full composition jit(vmap(grad)) on lam_loc; every other pair
#: is marked slow (all 56 pass)
FAST = {("local_redfield-dense", "grad")}
SCALAR_FAST = {("W", c) for c in COMBOS} | {("lam_loc", "grad"), ("lam_loc", "jit(vmap(grad))")}


@functools.lru_cache(maxsize=None)
def _jitted(case):
    return jax.jit(current(*CASES[case]))


def central_differences(f, p, step=STEP):
    p = np.asarray(p, dtype=float)
    out = []
    for i in range(p.size):
        e = np.zeros_like(p)
        e[i] = step
        out.append((float(f(p + e)) - float(f(p - e))) / (2 * step))
    return np.array(out)


@functools.lru_cache(maxsize=None)
def _reference(case):
    """(values, finite-difference gradients) at the rows of PB (PB[0] = P0), from the jitted
    function only."""
    f = _jitted(case)
    vals = np.array([float(f(jnp.asarray(p))) for p in PB])
    grads = np.array([central_differences(f, p) for p in PB])
    return vals, grads


def _params():
    out = []
    for case in CASES:
        for combo in COMBOS:
            marks = () if (case, combo) in FAST else (pytest.mark.slow,)
            out.append(pytest.param(case, combo, id=f"{case}-{combo}", marks=marks))
    return out


@pytest.mark.parametrize("case, combo", _params())
def test_current_under_transformations(case, combo):
    f = current(*CASES[case])
    vals, grads = _reference(case)
    assert np.all(np.abs(grads) > 1e-3), grads  # every derivative is non-trivial
    x = jnp.asarray(PB if IS_BATCHED[combo] else P0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.asarray(COMBOS[combo](f)(x))
    assert np.all(np.isfinite(out)), out
    want = grads if IS_GRAD[combo] else vals
    want = want if IS_BATCHED[combo] else want[0]
    rtol = 1e-6 if IS_GRAD[combo] else 1e-9
    np.testing.assert_allclose(out, want, rtol=rtol, atol=rtol * np.max(np.abs(want)))


# -- lam_loc and W: closed forms -----------------------------------------------------------------

def _ohmic_w(E, gamma, T):
    """gamma E / (e^{E/T} - 1), gamma T at E = 0 (NumPy)."""
    E = np.asarray(E, dtype=float)
    safe = np.where(E == 0, 1.0, E)
    return np.where(E == 0, gamma * T, gamma * safe / np.expm1(safe / T))


def lam_of(p):
    """p = (h, T) -> lambda_loc of a sigma^x coupling on site 0 of an XXZ chain with field h."""
    model = jr.xxz_chain(L, J=0.6, Delta=0.7, h=p[0], delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(GAMMA, p[1]), jr.OhmicBath(GAMMA, 1.5))
    return jnp.real(jr.lam_loc(system, 0))


def lam_closed_form(p):
    r"""(S.55)-(S.56) by hand. On site 0, H_loc = h sigma^z (E = -h, +h): sigma^x connects
    them with <k|v|q> = 1, eps = +2h from the ground state (weight 1) and eps = -2h from the
    excited state (weight e^{-2h/T}), so

        lambda_loc^2 = (W(2h)^2 + W(-2h)^2 e^{-4h/T}) / (1 + e^{-4h/T})

    (= 2 W(2h)^2 / (1 + e^{-4h/T}) by detailed balance; 0.4425 at gamma = 0.25, h = 1, T = 2.2)."""
    h, T = p
    b = np.exp(-4 * h / T)
    return float(np.sqrt((_ohmic_w(2 * h, GAMMA, T) ** 2 + _ohmic_w(-2 * h, GAMMA, T) ** 2 * b) / (1 + b)))


E_GRID = np.array([-3.0, -0.4, 0.0, 0.4, 3.0])


def w_of(p):
    """p = (gamma, T) -> Re W on E_GRID, summed with distinct weights (one scalar)."""
    w = jr.OhmicBath(p[0], p[1]).W(jnp.asarray(E_GRID))
    return jnp.sum(jnp.real(w) * jnp.arange(1.0, 1.0 + E_GRID.size))


def w_closed_form(p):
    return float(np.sum(_ohmic_w(E_GRID, *p) * np.arange(1.0, 1.0 + E_GRID.size)))


SCALARS = {
    "lam_loc": (lam_of, lam_closed_form, np.array([[1.0, 2.2], [0.7, 0.9]])),
    "W": (w_of, w_closed_form, np.array([[0.25, 2.2], [0.4, 0.5]])),
}


def _scalar_params():
    return [pytest.param(name, combo, id=f"{name}-{combo}",
                         marks=() if (name, combo) in SCALAR_FAST else (pytest.mark.slow,))
            for name in SCALARS for combo in COMBOS]


@pytest.mark.parametrize("name, combo", _scalar_params())
def test_lam_loc_and_w_under_transformations(name, combo):
    """Values equal the closed form (1e-12 relative), gradients its central differences
    (step 1e-5 in float64 on an analytic function: error ~1e-10, so 1e-7 relative)."""
    f, closed, P = SCALARS[name]
    vals = np.array([closed(p) for p in P])
    grads = np.array([central_differences(closed, p, step=1e-5) for p in P])
    assert np.all(np.abs(grads) > 1e-3), grads
    x = jnp.asarray(P if IS_BATCHED[combo] else P[0])
    out = np.asarray(COMBOS[combo](f)(x))
    want = grads if IS_GRAD[combo] else vals
    want = want if IS_BATCHED[combo] else want[0]
    rtol = 1e-7 if IS_GRAD[combo] else 1e-12
    np.testing.assert_allclose(out, want, rtol=rtol, atol=rtol * np.max(np.abs(want)))
