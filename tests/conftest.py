import os
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true")
# one persistent XLA compilation cache per test session, in a temporary folder shared by the
# test processes (pytest-xdist workers inherit this environment from the controller), the helper
# processes and the subprocesses the tests start (examples, CLI, SLURM steps): a program that
# several tests compile (the same equation, solver and shapes) is compiled once per session.
# Nothing outside the folder is read or written; it is removed at the end (pytest_unconfigure).
# `JAXREDFIELD_CACHE=0 make test` runs without it (tests/test_cache.py tests the cache itself).
if not os.environ.get("JAXREDFIELD_TEST_CACHE_DIR"):
    os.environ["JAXREDFIELD_TEST_CACHE_DIR"] = tempfile.mkdtemp(prefix="jaxredfield-test-xla-")
    _SESSION_CACHE_OWNER = True
else:
    _SESSION_CACHE_OWNER = False
os.environ.setdefault("JAXREDFIELD_CACHE", "1")
os.environ.setdefault("JAXREDFIELD_CACHE_DIR", os.environ["JAXREDFIELD_TEST_CACHE_DIR"])
# mcsolve's default uses every core through helper processes; the suite already runs two test
# processes on two cores, so it computes in-process, and tests/test_workers.py asks for workers=2
os.environ.setdefault("JAXREDFIELD_WORKERS", "1")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jaxredfield as jr  # noqa: E402  (enables float64)

jax.config.update("jax_enable_x64", True)
jr.set_progress(False)  # no progress bars in the test logs (tests that check a bar pass progress=True)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def random_density_matrix(rng, D):
    a = rng.normal(size=(D, D)) + 1j * rng.normal(size=(D, D))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


def random_matrix(rng, D):
    return rng.normal(size=(D, D)) + 1j * rng.normal(size=(D, D))


def paper_system(L, T=2.2, Tr=None, J=1.0, gamma=0.25, h=1.0, delta=-0.07, Delta=0.7):
    """The paper's boundary-driven XXZ chain (Fig. 2)."""
    m = jr.xxz_chain(L, J=J, Delta=Delta, h=h, delta=delta)
    return jr.boundary_driven(m, jr.OhmicBath(gamma, T), jr.OhmicBath(gamma, T if Tr is None else Tr))


@pytest.fixture(autouse=True, scope="module")
def _free_compiled_programs():
    """Free every test module's compiled XLA programs after it: one pytest process compiles
    hundreds of programs (RSS grew to 7 GB), and the full default run crashed twice with a
    segmentation fault inside XLA's compiler at the same test (test_tuning_is_reproducible),
    which passes alone and after the MPS tests; the cause is not identified."""
    yield
    jax.clear_caches()


def pytest_unconfigure(config):
    """The process that made the session's compilation cache folder removes it."""
    if _SESSION_CACHE_OWNER and not hasattr(config, "workerinput"):
        shutil.rmtree(os.environ["JAXREDFIELD_TEST_CACHE_DIR"], ignore_errors=True)
