"""The benchmark scripts and their shared harness (benchmarks/_harness.py): every script
imports (a broken import is found here, not after a long run), the harness's data-only files
round-trip, and the peers' operators are the full matrices (against NumPy's kron)."""

import importlib
import pathlib
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import jaxredfield as jr

BENCH = pathlib.Path(__file__).parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def harness():
    sys.path.insert(0, str(BENCH))
    try:
        yield importlib.import_module("_harness")
    finally:
        sys.path.remove(str(BENCH))


@pytest.mark.parametrize("script", sorted(p.stem for p in BENCH.glob("*.py")))
def test_every_benchmark_imports(harness, script):
    importlib.import_module(script)  # module level only: each runs its work under __main__


def test_data_files_round_trip(harness, tmp_path):
    m = sp.random(6, 5, density=0.3, format="csr", random_state=0) * (1 + 2j)
    obj = {"a": np.arange(6.0).reshape(2, 3), "t": (1, 2.5, "x", None), "l": [m, np.int64(3)],
           "d": {"nested": [np.array([1 + 1j])]}}
    harness.save_data(tmp_path / "f.npz", obj)
    back = harness.load_data(tmp_path / "f.npz")
    assert np.array_equal(back["a"], obj["a"]) and back["t"] == obj["t"]
    assert (back["l"][0] != m).nnz == 0 and back["l"][1] == 3 and isinstance(back["l"], list)
    assert np.array_equal(back["d"]["nested"][0], obj["d"]["nested"][0])


def test_peers_get_the_full_operators(harness):
    L = 4
    model = jr.xxz_chain(L)
    op = jr.operator_on(np.kron(jr.sigmax(), jr.sigmaz()), (1, 2), model)
    dense = np.kron(np.kron(np.eye(2), np.kron(np.asarray(jr.sigmax()), np.asarray(jr.sigmaz()))), np.eye(2))
    assert np.allclose(harness.sparse(op).toarray(), dense)
    eq, psi0, e_ops = harness.problem(L)
    P = harness.pieces(eq, psi0, e_ops)
    assert P["H"].shape == (2**L, 2**L) and len(P["e_ops"]) == L and len(P["jumps"]) == len(eq.jumps)
    z0 = np.kron(np.asarray(jr.sigmaz()), np.eye(2 ** (L - 1)))
    assert np.allclose(P["e_ops"][0].toarray(), z0)
