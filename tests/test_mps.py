"""The MPS core (jaxredfield.mps): every check against an independent reference: NumPy
Kronecker products and contractions, and scipy.linalg.expm of the dense H_nh."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl

import jaxredfield as jr
from jaxredfield import mps as M


# -- independent references ------------------------------------------------------------------
def kron_all(vectors):
    out = np.ones(1, complex)
    for v in vectors:
        out = np.kron(out, v)
    return out


def dense_of_tensors(t):
    """Plain NumPy contraction of the site tensors with the boundary vectors e_0."""
    t = np.asarray(t)
    v = t[0][0]  # (d, chi): left boundary index 0
    for a in t[1:]:
        v = np.tensordot(v, a, axes=(-1, 0))  # (..., d, chi)
    return v[..., 0].reshape(-1)


def op_on(matrix, j, k, L, d):
    """The d^L matrix of a k-site ``matrix`` on sites j..j+k-1 (ascending Kronecker order)."""
    return np.kron(np.kron(np.eye(d**j), matrix), np.eye(d ** (L - j - k)))


def random_mps(rng, L, d, chi, used=None):
    """Random tensors; with ``used`` only the leading used x used block of every bond is
    nonzero (a small state in a large padded storage)."""
    t = rng.normal(size=(L, chi, d, chi)) + 1j * rng.normal(size=(L, chi, d, chi))
    if used is not None:
        t[:, used:] = 0
        t[:, :, :, used:] = 0
    t[0, 1:] = 0
    t[-1, :, :, 1:] = 0
    return M.MatrixProductState(jnp.asarray(t))


def random_product(rng, L, d):
    v = rng.normal(size=(L, d)) + 1j * rng.normal(size=(L, d))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def h_nh_dense(hamiltonian, damping):
    return (sum(np.asarray(h.dense()) for h in hamiltonian)
            - 0.5j * sum(np.asarray(g.dense()) for g in damping))


def xxz_equation(L=6, order=1):
    model = jr.xxz_chain(L)
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 2.2))
    eq = jr.local_lindblad(system, order)  # jumps on order + 1 sites at each chain end
    return eq.hamiltonian, M.damping_from_jumps(eq.jumps)


def permuted(matrix, sites, d):
    """The matrix of an operator given in the Kronecker order of ``sites``, in ascending site
    order (NumPy transpose of the 2k tensor indices)."""
    k = len(sites)
    order = np.argsort(sites)  # ascending position p holds the factor of sites[order[p]]
    t = np.asarray(matrix).reshape((d,) * (2 * k))
    return t.transpose(list(order) + [k + p for p in order]).reshape(d**k, d**k)


@pytest.fixture(scope="module")
def xxz():
    h, g = xxz_equation(6)
    tebd = M.TEBD.build(h, g, 8)
    step = eqx.filter_jit(lambda m, s: tebd.step(m, s))
    v = random_product(np.random.default_rng(7), 6, 2)
    return tebd, step, h_nh_dense(h, g), v


def step_error(step, hnh, v, chi, s):
    m = M.canonicalize(M.from_product(v, chi))
    m1, _ = step(m, jnp.asarray(s))
    exact = sl.expm(-1j * hnh * s) @ kron_all(v)
    return np.linalg.norm(np.asarray(M.to_dense(m1)) - exact)


# -- the state ---------------------------------------------------------------------------------
@pytest.mark.parametrize("L,d", [(5, 2), (4, 3)])
def test_from_product_matches_kron(rng, L, d):
    v = rng.normal(size=(L, d)) + 1j * rng.normal(size=(L, d))
    m = M.from_product(v, 4)
    assert m.tensors.shape == (L, 4, d, 4)
    np.testing.assert_allclose(M.to_dense(m), kron_all(v), atol=1e-14)
    np.testing.assert_allclose(dense_of_tensors(m.tensors), kron_all(v), atol=1e-14)
    assert np.isclose(M.norm2(m), np.prod(np.linalg.norm(v, axis=1) ** 2), rtol=1e-13)


@pytest.mark.parametrize("L,d,chi,center,used", [(6, 2, 8, 0, None), (5, 2, 7, 0, None),
                                                  (4, 3, 5, 0, None), (6, 2, 8, 3, None),
                                                  (5, 2, 7, 4, None), (6, 2, 16, 2, 3),
                                                  (7, 2, 16, 0, 6)])
def test_canonicalize_keeps_state_and_puts_norm_on_the_center(rng, L, d, chi, center, used):
    # chi = 7 > 4 = the largest rank at L = 5: padded bonds; chi = 16 with 3 or 6 of the bond
    # indices used: the smaller bond sizes of jaxredfield.mps.by_size (4 and 8)
    m = random_mps(rng, L, d, chi, used)
    psi = dense_of_tensors(m.tensors)
    np.testing.assert_allclose(M.to_dense(m), psi, atol=1e-12 * np.abs(psi).max())
    c = M.canonicalize(m, center)
    t = np.asarray(c.tensors)
    np.testing.assert_allclose(dense_of_tensors(t), psi, atol=1e-11 * np.abs(psi).max())
    n2 = np.vdot(psi, psi).real
    assert np.isclose(np.sum(np.abs(t[center]) ** 2), n2, rtol=1e-11)
    assert np.isclose(M.norm2(m), n2, rtol=1e-11)
    assert np.isclose(M.norm2(c), n2, rtol=1e-11)
    assert np.all(t[0, 1:] == 0) and np.all(t[-1, :, :, 1:] == 0)
    # every site left of the center left-orthonormal, right of it right-orthonormal, on the
    # bond indices that carry weight (the environments of the center are identities there)
    env = np.zeros((chi, chi), complex)
    env[0, 0] = 1
    for a in t[:center]:
        env = np.einsum("ab,asc,bsd->cd", env, a, a.conj())
    used = np.abs(t[center]).sum(axis=(1, 2)) > 1e-10 * np.abs(t[center]).max()
    np.testing.assert_allclose(env[np.ix_(used, used)], np.eye(used.sum()), atol=1e-11)
    env = np.zeros((chi, chi), complex)
    env[0, 0] = 1
    for a in t[center + 1:][::-1]:
        env = np.einsum("cd,asc,bsd->ab", env, a, a.conj())
    used = np.abs(t[center]).sum(axis=(0, 1)) > 1e-10 * np.abs(t[center]).max()
    np.testing.assert_allclose(env[np.ix_(used, used)], np.eye(used.sum()), atol=1e-11)


@pytest.mark.parametrize("d", [2, 3])
def test_expect_local_matches_dense(rng, d):
    L, chi = 5, 4
    m = random_mps(rng, L, d, chi)  # not canonical: environments in any gauge
    psi = dense_of_tensors(m.tensors)
    for k in (1, 2, 3, 5):
        o = rng.normal(size=(d**k, d**k)) + 1j * rng.normal(size=(d**k, d**k))
        for j in range(L - k + 1):
            ref = np.vdot(psi, op_on(o, j, k, L, d) @ psi)
            got = M.expect_local(m, o, tuple(range(j, j + k)))
            assert np.isclose(got, ref, rtol=1e-11), (k, j)
    # three sites in a scrambled order
    o = rng.normal(size=(d**3, d**3)) + 1j * rng.normal(size=(d**3, d**3))
    ref = np.vdot(psi, op_on(permuted(o, (3, 1, 2), d), 1, 3, L, d) @ psi)
    assert np.isclose(M.expect_local(m, o, (3, 1, 2)), ref, rtol=1e-11)
    # sites listed in descending order: the matrix is in that Kronecker order
    o = rng.normal(size=(d * d, d * d))
    swap = np.eye(d * d)[[(i % d) * d + i // d for i in range(d * d)]]
    ref = np.vdot(psi, op_on(swap @ o @ swap, 1, 2, L, d) @ psi)
    assert np.isclose(M.expect_local(m, o, (2, 1)), ref, rtol=1e-11)


@pytest.mark.parametrize("d", [2, 3])
def test_apply_local_matches_dense(rng, d):
    L = 4
    chi = d**2  # the largest rank of a 4-site chain: the split is exact
    m = random_mps(rng, L, d, chi)
    psi = dense_of_tensors(m.tensors)
    for k in (1, 2, 3, 4):
        o = rng.normal(size=(d**k, d**k)) + 1j * rng.normal(size=(d**k, d**k))
        for j in range(L - k + 1):
            out, w = M.apply_local(m, o, tuple(range(j, j + k)))
            ref = op_on(o, j, k, L, d) @ psi
            np.testing.assert_allclose(M.to_dense(out), ref, atol=1e-11 * np.abs(ref).max())
            assert float(w) < 1e-25
            if k >= 2:  # the center ends at the first site of the block
                t = np.asarray(out.tensors)
                assert np.isclose(np.sum(np.abs(t[j]) ** 2), np.vdot(ref, ref).real, rtol=1e-10)
    o = rng.normal(size=(d**3, d**3)) + 1j * rng.normal(size=(d**3, d**3))
    out, _ = M.apply_local(m, o, (2, 0, 1))
    ref = op_on(permuted(o, (2, 0, 1), d), 0, 3, L, d) @ psi
    np.testing.assert_allclose(M.to_dense(out), ref, atol=1e-11 * np.abs(ref).max())


def test_apply_local_three_sites_truncated(rng):
    """A random three-site operator on a product state kept at bond dimension 1: the two
    truncated SVDs (site 3 split off first, then site 2, center back on site 1) give the
    state and the summed weight of the same sequence of NumPy SVDs."""
    L, d = 5, 2
    v = random_product(rng, L, d)
    o = rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8))
    out, w = M.apply_local(M.from_product(v, 1), o, (1, 2, 3))
    theta = (o @ kron_all(v[1:4])).reshape(4, 2)  # sites 1, 2 | site 3
    u, s, vh = np.linalg.svd(theta)
    w1 = s[1] ** 2 / np.sum(s**2)
    u2, s2, vh2 = np.linalg.svd((u[:, 0] * s[0]).reshape(2, 2))  # site 1 | site 2
    w2 = s2[1] ** 2 / np.sum(s2**2)
    ref = kron_all([v[0], u2[:, 0] * s2[0], vh2[0], vh[0], v[4]])
    assert w1 > 1e-3 and w2 > 1e-3  # both truncations are real
    assert np.isclose(float(w), w1 + w2, rtol=1e-8)
    np.testing.assert_allclose(M.to_dense(out), ref, atol=1e-12 * np.abs(ref).max())
    exact = op_on(o, 1, 3, L, d) @ kron_all(v)
    assert np.isclose(M.norm2(out), (1 - w1) * (1 - w2) * np.vdot(exact, exact).real, rtol=1e-10)


def test_apply_local_discarded_weight_is_the_norm_error(rng):
    """At the orthogonality center a truncated split cuts exactly the discarded weight: an
    entangling gate on a product state kept at bond dimension 1."""
    L, d = 4, 2
    v = random_product(rng, L, d)
    o = sl.expm(-1j * (rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))))
    out, w = M.apply_local(M.from_product(v, 1), o, (1, 2))
    exact = op_on(o, 1, 2, L, d) @ kron_all(v)
    got = np.asarray(M.to_dense(out))
    assert float(w) > 1e-3  # the truncation is real
    rel = np.vdot(exact - got, exact - got).real / np.vdot(exact, exact).real
    assert np.isclose(float(w), rel, rtol=1e-8)
    assert np.isclose(M.norm2(out), (1 - float(w)) * np.vdot(exact, exact).real, rtol=1e-10)


def test_truncate_cutoff_rank_and_weight(rng):
    """_truncate against a matrix built from chosen singular values (NumPy QR factors)."""
    m, n = 12, 10
    u = np.linalg.qr(rng.normal(size=(m, m)) + 1j * rng.normal(size=(m, m)))[0][:, :6]
    v = np.linalg.qr(rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n)))[0][:, :6]
    sv = np.array([1.0, 0.3, 0.1, 1e-3, 1e-5, 1e-6])
    mat = jnp.asarray((u * sv) @ v.conj().T)
    w = sv**2
    for cutoff, chi, rank in [(0.0, 8, 6), (0.0, 4, 4), (1e-9, 8, 4), (1e-5, 8, 3), (1e-9, 2, 2)]:
        for keep in ("left", "right"):
            p, c, cut = M._mps._truncate(mat, chi, keep, cutoff)
            assert p.shape == (m, min(chi, n)) and c.shape == (min(chi, n), n)
            ref = (u[:, :rank] * sv[:rank]) @ v[:, :rank].conj().T  # the truncated SVD
            np.testing.assert_allclose(p @ c, ref, atol=1e-12)
            iso = p if keep == "left" else c.conj().T
            np.testing.assert_allclose(iso[:, :rank].conj().T @ iso[:, :rank], np.eye(rank), atol=1e-12)
            assert np.all(np.asarray(iso[:, rank:]) == 0)  # unused directions: exact zeros
            assert np.isclose(float(cut), w[rank:].sum() / w.sum(), rtol=1e-6, atol=1e-15)


def test_used_bonds_and_sizes(rng):
    assert M.bond_sizes(8) == [8] and M.bond_sizes(64) == [8, 16, 32, 64]
    assert M.bond_sizes(20) == [4, 5, 10, 20]
    m = random_mps(rng, 5, 2, 16, used=3)
    assert [int(M.used(a, "left")) for a in m.tensors] == [1, 3, 3, 3, 3]
    assert [int(M.used(a, "right")) for a in m.tensors] == [3, 3, 3, 3, 1]
    # a right-to-left sweep: each bond's rank is that of the site's matrix (sites >= i), at most
    # d^(L - i - 1) -- the last bonds 2 and 1 -- and at most the 3 used indices elsewhere
    c = M.canonicalize(m, 0)
    assert [int(M.used(a, "right")) for a in c.tensors] == [3, 3, 3, 2, 1]


# -- TEBD --------------------------------------------------------------------------------------
def test_gate_exponential_matches_scipy(rng):
    """The TEBD gates' exp (Taylor with scaling and squaring) against scipy's Pade expm: batches
    of 2x2 ... 9x9 complex matrices (two- and three-site gates of spins, d = 3 bosons) from
    norm 1e-8 to ~100, a zero matrix, and backward steps (-A): relative error <= 2e-14, i.e.
    round-off (measured 1e-15 at the gates' norms ~0.1-1, 2e-13 at norm ~100)."""
    from jaxredfield.mps._tebd import expm_small

    for n in (2, 4, 8, 9):
        for scale in (1e-8, 0.05, 0.5, 3.0, 30.0):
            a = (rng.normal(size=(5, n, n)) + 1j * rng.normal(size=(5, n, n))) * scale / n
            for x in (a, -a):
                got = np.asarray(expm_small(jnp.asarray(x)))
                ref = np.stack([sl.expm(m) for m in x])
                tol = 2e-14 * max(1.0, scale)
                assert np.max(np.abs(got - ref)) <= tol * np.max(np.abs(ref)), (n, scale)
    np.testing.assert_array_equal(np.asarray(expm_small(jnp.zeros((3, 4, 4), complex))),
                                  np.broadcast_to(np.eye(4), (3, 4, 4)))
    for bad in (np.inf, np.nan):  # NaN out, at once (not an unbounded number of squarings)
        assert np.isnan(np.asarray(expm_small(jnp.full((2, 4, 4), bad, complex)))).any()


def test_tebd_one_step_is_second_order(xxz):
    _, step, hnh, v = xxz
    e = [step_error(step, hnh, v, 8, s) for s in (0.2, 0.1, 0.05)]
    assert e[2] < 1e-3
    for a, b in zip(e, e[1:]):
        assert 6 < a / b < 10, e  # local error ~ s^3


def test_tebd_backward_step(xxz):
    _, step, hnh, v = xxz
    e = [step_error(step, hnh, v, 8, s) for s in (-0.1, -0.05)]
    assert e[1] < 1e-3
    assert 6 < e[0] / e[1] < 10, e


def test_tebd_evolution_to_t1(xxz):
    tebd, _, hnh, v = xxz
    n, t = 100, 1.0

    @jax.jit
    def run(m):
        def body(m, _):
            m, w = tebd.step(m, t / n)
            return m, (M.norm2(m), w)

        return jax.lax.scan(body, m, None, length=n)

    m, (norms, w) = run(M.canonicalize(M.from_product(v, 8)))
    exact = sl.expm(-1j * hnh * t) @ kron_all(v)
    got = np.asarray(M.to_dense(m))
    assert np.linalg.norm(got - exact) < 1e-4
    assert abs(np.vdot(got, got).real - np.vdot(exact, exact).real) < 1e-4
    assert np.vdot(exact, exact).real < 0.99  # the damping is visible
    norms = np.asarray(norms)
    assert np.all(np.diff(np.concatenate([[1.0], norms])) < 0)
    assert np.isclose(norms[-1], np.vdot(got, got).real, rtol=1e-12)
    assert float(np.max(w)) < 1e-20  # max_bond 8 = exact at L = 6


def test_tebd_bond_sizes_are_exact(monkeypatch):
    """L = 8 at chi = 16 (exact): the steps pick bond sizes 4, 8, 16 as the state entangles
    (jaxredfield.mps.by_size); the result equals the one computed at the full size only, and
    expm of the dense H_nh to the Trotter error."""
    h, g = xxz_equation(8)
    v = random_product(np.random.default_rng(3), 8, 2)

    def run(cutoff=0.0):
        tebd = M.TEBD.build(h, g, 16, cutoff=cutoff)

        @jax.jit
        def go(m):
            def body(m, _):
                m, w = tebd.step(m, 0.05)
                return m, (M.used(m.tensors[4], "left"), w)

            return jax.lax.scan(body, m, None, length=40)

        return go(M.canonicalize(M.from_product(v, 16)))

    m, (mid, w) = run()
    assert int(mid[0]) <= 4 and int(mid[-1]) > 8  # the middle bond grows through the sizes
    with monkeypatch.context() as mp:
        mp.setattr(M._mps, "bond_sizes", lambda chi: [int(chi)])
        full, _ = run()
    a, b = np.asarray(M.to_dense(m)), np.asarray(M.to_dense(full))
    print("bond sizes vs full size: relative difference", np.linalg.norm(a - b) / np.linalg.norm(b))
    assert np.linalg.norm(a - b) < 1e-12 * np.linalg.norm(b)  # round-off of 560 SVDs
    exact = sl.expm(-1j * h_nh_dense(h, g) * 2.0) @ kron_all(v)
    assert np.linalg.norm(np.asarray(M.to_dense(m)) - exact) < 2e-3
    assert float(np.max(w)) < 1e-20
    # cutoff 1e-12 (the MPS default): each truncation cuts a relative weight w_i <= 1e-12, i.e. moves the (sub-normalized, contracting) state by <= sqrt(w_i),
    # so the runs differ by at most sum_i sqrt(w_i) <= sqrt(n sum_i w_i) (n = 40 x 14 SVDs)
    cut, (_, wc) = run(1e-12)
    total = float(np.sum(wc))
    assert 0 < total < 40 * 14 * 1e-12
    diff = np.linalg.norm(np.asarray(M.to_dense(cut)) - b)
    print("cutoff 1e-12: summed discarded weight", total, "difference", diff)
    assert diff < np.sqrt(40 * 14 * total) + 1e-11


def test_tebd_shrinking_bonds_leave_no_stale_entries():
    """A gate writes only the region of the storage that its block's old and new tensors use
    (mps/_tebd.py, in place): when the bonds shrink, nothing of the old tensors may remain.
    An entangled random MPS (bonds 8 in storage of chi = 32: sizes 4, 8, 16, 32) under strong
    damping of |1> on every site (each half gate damps it by e^-50 or more) nearly becomes the
    product state |0...0>: the bonds shrink (8 -> at most 2), the state equals the dense
    product of the same gates (NumPy, the palindromic order of the module docstring) and
    every site right of the center is right-orthonormal on exactly the rows it uses. Fails
    (state off by 80 %) when a gate's size ignores the old bond on its block's right."""
    L, d, chi, s = 6, 2, 32, 0.1
    model = jr.xxz_chain(L)
    h, _ = xxz_equation(L)
    damping = [jr.operator_on(np.diag([0.0, 4000.0]), i, model) for i in range(L)]
    tebd = M.TEBD.build(h, damping, chi)
    m = M.canonicalize(random_mps(np.random.default_rng(11), L, d, chi, used=8))
    assert int(np.max(np.asarray(M.bond_dims(m.tensors)))) == 8
    out, _ = eqx.filter_jit(lambda m, s: tebd.step(m, s))(m, s)
    bh = np.asarray(tebd.bond_h)
    nb = bh.shape[0]
    ref = dense_of_tensors(m.tensors)
    for b, frac in [(b, 0.5) for b in range(nb - 1)] + [(nb - 1, 1.0)] + [(b, 0.5) for b in range(nb - 2, -1, -1)]:
        ref = op_on(sl.expm(-1j * s * frac * bh[b]), b, 2, L, d) @ ref
    got = dense_of_tensors(out.tensors)
    assert np.linalg.norm(got - ref) < 1e-12 * np.linalg.norm(ref)
    # the step leaves sites 1..L-1 right-orthonormal: B B^dagger = 1 on the rows a site uses;
    # an old entry left beyond a shrunken bond would break it (and inflate the bond read off)
    t = np.asarray(out.tensors)
    bonds = np.asarray(M.bond_dims(out.tensors))
    assert bonds.max() <= 2  # (from 8; a round-off direction of weight ~1e-16 may stay)
    for i in range(1, L):
        ul = int(M.used(out.tensors[i], "left"))
        b = t[i][:ul].reshape(ul, -1)
        np.testing.assert_allclose(b @ b.conj().T, np.eye(ul), atol=1e-10)


def test_tebd_vmap_over_step_lengths(xxz):
    tebd, _, _, v = xxz
    m = M.canonicalize(M.from_product(v, 8))
    s = jnp.asarray([0.05, -0.03, 0.11])
    batched, _ = jax.jit(jax.vmap(tebd.step, in_axes=(None, 0)))(m, s)
    for i in range(3):
        one, _ = tebd.step(m, s[i])
        np.testing.assert_allclose(batched.tensors[i], one.tensors, atol=1e-13)


def test_tebd_three_site_terms_one_step_is_second_order():
    """Local Lindblad N = 2: damping terms on three sites at each chain end (blocks of w = 3
    sites), L = 6, against expm of the dense H_nh; third-order local error, and t = 1."""
    h, g = xxz_equation(6, order=2)
    assert max(len(o.sites) for o in list(h) + list(g)) == 3
    tebd = M.TEBD.build(h, g, 8)
    assert tebd.width == 3 and tebd.bond_h.shape == (4, 8, 8)
    hnh = h_nh_dense(h, g)
    blocks = sum(op_on(hb, b, 3, 6, 2) for b, hb in enumerate(np.asarray(tebd.bond_h)))
    np.testing.assert_allclose(blocks, hnh, atol=1e-13)  # sum_b h_b = H_nh
    step = eqx.filter_jit(lambda m, s: tebd.step(m, s))
    v = random_product(np.random.default_rng(7), 6, 2)
    e = [step_error(step, hnh, v, 8, s) for s in (0.2, 0.1, 0.05)]
    print("three-site TEBD one-step errors", e, [a / b for a, b in zip(e, e[1:])])
    assert e[2] < 1e-3
    for a, b in zip(e, e[1:]):
        assert 6 < a / b < 10, e  # local error ~ s^3
    e = [step_error(step, hnh, v, 8, s) for s in (-0.1, -0.05)]
    assert 6 < e[0] / e[1] < 10, e
    m = M.canonicalize(M.from_product(v, 8))
    for _ in range(50):
        m, w = step(m, jnp.asarray(0.02))
    exact = sl.expm(-1j * hnh * 1.0) @ kron_all(v)
    got = np.asarray(M.to_dense(m))
    assert np.linalg.norm(got - exact) < 1e-3
    assert np.vdot(exact, exact).real < 0.99 and float(w) < 1e-20
    # the step leaves the center at site 0
    assert np.isclose(np.sum(np.abs(np.asarray(m.tensors[0])) ** 2), np.vdot(got, got).real,
                      rtol=1e-10)


def test_tebd_whole_chain_block():
    """A term on all L = 4 sites: one block, the step is one exact gate exp(-i H_nh s)."""
    rng = np.random.default_rng(5)
    L, d = 4, 2
    a = rng.normal(size=(16, 16)) + 1j * rng.normal(size=(16, 16))
    h = [jr.LocalOperator(a + a.conj().T, (0, 1, 2, 3), L, d)]
    g = [jr.LocalOperator(0.3 * np.eye(2), (1,), L, d)]
    tebd = M.TEBD.build(h, g, 4)
    v = random_product(rng, L, d)
    m, w = tebd.step(M.canonicalize(M.from_product(v, 4)), 0.3)
    exact = sl.expm(-1j * h_nh_dense(h, g) * 0.3) @ kron_all(v)
    np.testing.assert_allclose(M.to_dense(m), exact, atol=1e-11)
    assert float(w) < 1e-25


def test_mps_rejects_non_contiguous_sites():
    L, d = 5, 2
    far = jr.LocalOperator(np.eye(4), (0, 2), L, d)
    with pytest.raises(NotImplementedError, match=r"\(0, 2\)"):
        M.TEBD.build([], [far], 8)
    gap = jr.LocalOperator(np.eye(8), (1, 2, 4), L, d)
    with pytest.raises(NotImplementedError, match=r"\(1, 2, 4\)"):
        M.TEBD.build([gap], [], 8)
    with pytest.raises(NotImplementedError, match=r"\(1, 3\)"):
        M.bond_terms([jr.LocalOperator(np.eye(4), (1, 3), L, d)], [], L, d, width=3)
    mps = M.from_product(np.ones((L, d)), 2)
    with pytest.raises(NotImplementedError, match=r"\(0, 2\)"):
        M.expect_local(mps, np.eye(4), (0, 2))
    with pytest.raises(NotImplementedError, match=r"\(0, 2, 3\)"):
        M.apply_local(mps, np.eye(8), (0, 2, 3))


def test_tebd_bose_hubbard_d3():
    """d = 3 (Bose-Hubbard, nmax = 2) with one-site loss and gain as damping, L = 5."""
    L, nmax = 5, 2
    model = jr.bose_hubbard_chain(L, nmax=nmax)
    a = jr.destroy(nmax)
    jumps = [jr.LocalOperator(0.7 * a, (0,), L, 3),
             jr.LocalOperator(0.4 * a.conj().T, (L - 1,), L, 3)]
    g = M.damping_from_jumps(jumps)
    h = list(model.terms)
    hnh = h_nh_dense(h, g)
    tebd = M.TEBD.build(h, g, 9)  # 3^2: exact at L = 5
    step = eqx.filter_jit(lambda m, s: tebd.step(m, s))
    v = random_product(np.random.default_rng(3), L, 3)
    e = [step_error(step, hnh, v, 9, s) for s in (0.1, 0.05)]
    assert 6 < e[0] / e[1] < 10, e
    m = M.canonicalize(M.from_product(v, 9))
    for _ in range(20):
        m, w = step(m, jnp.asarray(0.01))
    exact = sl.expm(-1j * hnh * 0.2) @ kron_all(v)
    assert np.linalg.norm(np.asarray(M.to_dense(m)) - exact) < 1e-4
    assert float(w) < 1e-20


def test_expect_many_matches_expect_local_and_dense():
    """Shared environments: the same values as one expect_local per operator and as dense
    <psi|O|psi>, for 1-, 2- and 3-site operators on a random (non-canonical) MPS."""
    import jaxredfield.mps as M

    rng = np.random.default_rng(3)
    L, chi, d = 5, 4, 2
    t = rng.normal(size=(L, chi, d, chi)) + 1j * rng.normal(size=(L, chi, d, chi))
    t[0, 1:] = 0
    t[-1, :, :, 1:] = 0
    mps = M.MatrixProductState(jnp.asarray(t))
    psi = np.asarray(M.to_dense(mps))
    ops = []
    for sites in [(0,), (4,), (1, 2), (3, 2), (2, 3, 4), (0, 1, 2)]:
        k = len(sites)
        a = rng.normal(size=(d**k, d**k)) + 1j * rng.normal(size=(d**k, d**k))
        ops.append((a, sites))
    got = np.asarray(M.expect_many(mps, ops))
    one = np.array([complex(M.expect_local(mps, a, s)) for a, s in ops])
    dense = np.array([psi.conj() @ np.asarray(jr.LocalOperator(a, s, L, d).dense()) @ psi for a, s in ops])
    np.testing.assert_allclose(got, one, rtol=1e-12, atol=1e-12 * np.abs(dense).max())
    np.testing.assert_allclose(got, dense, rtol=1e-10, atol=1e-10 * np.abs(dense).max())


def test_expect_many_program_does_not_grow_with_the_number_of_operators():
    """The traced program of a profile and every current (issue 29): the same number of
    equations at L = 6 and L = 40 (one scan per operator width, the first sites traced), so
    compilation does not grow with L; before, each operator added its own branches."""
    def n_eqns(L):
        mps = M.from_product(np.tile([1.0, 0.0], (L, 1)), 8)
        sz = np.diag([1.0, -1.0])
        ops = [(sz, (i,)) for i in range(L)] + [(np.kron(sz, sz), (i, i + 1)) for i in range(L - 1)]
        for center_at_0 in (False, True):
            jaxpr = jax.make_jaxpr(lambda t: M.expect_many(M.MatrixProductState(t), ops, center_at_0))(mps.tensors)
            yield len(jaxpr.eqns)

    assert list(n_eqns(6)) == list(n_eqns(40))
