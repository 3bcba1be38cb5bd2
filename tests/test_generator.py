"""The density-matrix right-hand side prepared per term (jaxredfield/solvers/_generator.py,
operators/_dia.py) against the full-space NumPy superoperators of tests/reference.py, for
every generator form; DIA storage against dense matrices; traced builds (jit, grad)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxredfield as jr
from jaxredfield.operators._dia import DiaOperator, n_patterns
from jaxredfield.solvers import _generator
from jaxredfield.solvers._generator import DIA_MAX_PATTERNS, Generator, generator

from . import reference as R
from .conftest import paper_system, random_matrix
from .test_equations import EPS0, Ref


def _apply(M, x):
    """A row-major superoperator on a matrix."""
    D = x.shape[0]
    return (M @ x.reshape(-1)).reshape(D, D)


def _assert_generator(eq, M_ref, rng, rtol=1e-12):
    gen = Generator.build(eq)
    D = eq.dim
    for x in (random_matrix(rng, D), np.eye(D) / D):  # non-Hermitian x too (GMRES iterates)
        want = _apply(M_ref, x)
        got = np.asarray(jax.jit(lambda y: gen(y))(jnp.asarray(x)))
        err = np.abs(got - want).max() / np.abs(want).max()
        assert err < rtol, err
    # the Hermitian form Y + Y^dag (mesolve's), for a Hermitian rho
    a = random_matrix(rng, D)
    rho = a @ a.conj().T
    want = _apply(M_ref, rho)
    got = np.asarray(jax.jit(lambda y: gen.hermitian(y))(jnp.asarray(rho)))
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < rtol, ("hermitian", err)
    return gen


@pytest.mark.parametrize("build,order,model", [
    ("exact", None, "xxz"), ("local", 2, "xxz"), ("adhoc", 1, "xxz"), ("local", 2, "bose_hubbard"),
])
def test_redfield_forms_match_reference(rng, build, order, model):
    """Eq. (1) with exact, ad-hoc (3) or local (4) u: K rho + rho K^dag + sandwiches equals
    the reference superoperator (measured <= 4e-16 relative)."""
    ref = Ref(L=3 if model == "xxz" else 2, model=model)
    eq = {"exact": lambda: jr.redfield(ref.system), "local": lambda: jr.local_redfield(ref.system, order),
          "adhoc": lambda: jr.adhoc_redfield(ref.system, order, EPS0)}[build]()
    us = ref.u(build, order, EPS0)
    _assert_generator(eq, R.redfield_liouvillian(ref.H, list(zip(us, ref.v))), rng)


@pytest.mark.parametrize("kind", ["ohmic", "drude"])
def test_lindblad_forms_match_reference(rng, kind):
    """Pseudo-Lindblad (negative jumps, complex lambda), local Lindblad and standard local
    Lindblad against the reference."""
    ref = Ref(kind=kind)
    pairs = list(zip(ref.u("local", 2), ref.v))
    eq = jr.local_redfield(ref.system, 2)
    _assert_generator(jr.pseudo_lindblad(eq, 0.4 + 0.9j),
                      R.pseudo_lindblad_liouvillian(ref.H, pairs, [0.4 + 0.9j] * 2), rng)
    _assert_generator(jr.local_lindblad(ref.system, 2),
                      R.pseudo_lindblad_liouvillian(ref.H, pairs, ref.lam_loc(), keep_negative=False), rng)
    M = R.standard_local_lindblad_liouvillian(
        ref.H, [(i, ref.hloc[i], ref.vloc, W) for i, W in zip(ref.sites, ref.Ws)], ref.L)
    _assert_generator(jr.standard_local_lindblad(ref.system), M, rng)


def test_wide_cluster_terms_keep_the_contraction(rng):
    """Local Redfield N = 4 at L = 6: the five-site u (60 diagonals) stays a tensor
    contraction, the chain's bonds go to DIA storage; both parts together equal the
    term-by-term generator of the equation (whose own reference tests are in
    test_equations.py) on a non-Hermitian matrix."""
    eq = jr.local_redfield(paper_system(6), 4)
    gen = Generator.build(eq)
    assert gen.k_left.dia is not None and len(gen.k_left.local) == 2
    assert all(n_patterns(u) > DIA_MAX_PATTERNS for u, _ in eq.redfield_terms)
    x = jnp.asarray(random_matrix(rng, 64))
    want = np.asarray(eq(x))
    assert np.abs(np.asarray(gen(x)) - want).max() < 1e-12 * np.abs(want).max()


def test_dia_operator_against_dense(rng):
    """Rows (A x) and columns (x A^T) of a sum of operators on non-contiguous, unsorted sites,
    d = 3, against the dense Kronecker matrices; zero patterns are dropped for concrete
    matrices (a diagonal operator is one diagonal)."""
    L, d = 4, 3
    ops = [jr.LocalOperator(random_matrix(rng, 9), (2, 0), L, d),
           jr.LocalOperator(random_matrix(rng, 3), (3,), L, d),
           jr.LocalOperator(np.diag(rng.normal(size=3)), (1,), L, d)]
    A = sum(np.asarray(o.dense()) for o in ops)
    dia = DiaOperator.from_local(ops)
    x = random_matrix(rng, d**L)[:, :5]
    assert np.abs(np.asarray(dia.rows(jnp.asarray(x))) - A @ x).max() < 1e-12
    y = x.T
    assert np.abs(np.asarray(dia.cols(jnp.asarray(y))) - y @ A.T).max() < 1e-12
    assert len(DiaOperator.from_local([ops[2]]).offsets) == 1


def test_traced_build_keeps_every_pattern_and_is_differentiable(rng):
    """Built inside jit (matrices traced: no zero pattern can be dropped) the generator equals
    the concrete one, and its gradient with respect to J matches central differences."""
    x = jnp.asarray(random_matrix(rng, 16))

    def g(J):
        s = jr.boundary_driven(jr.xxz_chain(4, J=J), jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 3.0))
        return Generator.build(jr.local_lindblad(s, 1))(x)

    a, b = np.asarray(jax.jit(g)(1.1)), np.asarray(g(1.1))
    assert np.abs(a - b).max() < 1e-12 * np.abs(b).max()
    f = lambda J: jnp.real(jnp.vdot(x, g(J)))
    h = 1e-5
    fd = (f(1.1 + h) - f(1.1 - h)) / (2 * h)
    assert abs(float(jax.grad(f)(1.1)) - float(fd)) < 1e-6 * max(1.0, abs(float(fd)))


def test_generator_reused_for_the_same_equation(rng):
    """``generator(eq)`` (mesolve, steadystate) returns the built generator again for the same
    equation object, a new one for an equation with other matrices (also an equal equation
    rebuilt from new arrays), builds afresh for traced matrices, and keeps the last
    ``_CACHE_SIZE`` equations."""
    _generator._CACHE.clear()
    x = jnp.asarray(random_matrix(rng, 16))
    s = paper_system(4, T=1.5, Tr=2.5)
    eq = jr.local_lindblad(s, 1)
    g = generator(eq)
    assert generator(eq) is g
    for other in (jr.standard_local_lindblad(s), jr.local_lindblad(s, 1)):  # other terms; new arrays
        h = generator(other)
        assert h is not g
        np.testing.assert_allclose(np.asarray(h(x)), np.asarray(other(x)), atol=1e-12)
    assert generator(eq, max_patterns=0) is not g  # another representation: another entry
    # traced (inside jit): nothing cached, the same values
    n = len(_generator._CACHE)
    y = jax.jit(lambda J: generator(jr.local_lindblad(paper_system(4, T=1.5, Tr=2.5, J=J), 1))(x))(1.0)
    assert len(_generator._CACHE) == n
    np.testing.assert_allclose(np.asarray(y), np.asarray(g(x)), atol=1e-12)
    for T in np.linspace(1.1, 1.9, _generator._CACHE_SIZE):  # the oldest entries go
        generator(jr.local_lindblad(paper_system(4, T=T, Tr=2.5), 1))
    assert len(_generator._CACHE) == _generator._CACHE_SIZE
    assert generator(eq) is not g
