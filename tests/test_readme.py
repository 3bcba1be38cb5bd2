"""The README's example and the documentation's code blocks run as written (keeps the docs
true to the code); each checked against something independent of the line that computes it."""

import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).parents[1]


def _blocks(path):
    return re.findall(r"^```python\n(.*?)^```", (ROOT / path).read_text(), re.S | re.M)


def test_readme_example_runs():
    """The README's example: local Redfield N = 4 near exact Redfield, a uniform steady
    current, and the trajectories' mean within 5 standard errors of mesolve of the same
    equation (two engines: diffrax on the density matrix, Chebyshev quantum jumps)."""
    (code,) = _blocks("README.md")
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert ns["res"].expect.shape == (6, 51)
    d = float(ns["jr"].trace_distance(ns["rho_ss"], ns["exact"]))
    assert 1e-4 < d < 5e-2
    j = np.array(ns["j"])
    assert np.allclose(j, j[0], rtol=1e-6)  # steady state: uniform bulk current
    traj, me = ns["traj"], np.asarray(ns["res"].expect)[:, ::5]
    z = np.abs(np.asarray(traj.expect) - me)[:, 1:] / np.asarray(traj.expect_stderr)[:, 1:]
    assert z.max() < 5, z.max()


@pytest.mark.slow  # ~40 s; the same calls as the README's example (test_readme_example_runs)
def test_usage_example_runs():
    """docs/usage.md's first example (the full form of the README's)."""
    code = _blocks("docs/usage.md")[0]
    ns: dict = {}
    exec(compile(code, "docs/usage.md", "exec"), ns)
    assert ns["res"].expect.shape == (6, 51)
    d = float(ns["jr"].trace_distance(ns["rho_ss"], ns["exact"]))
    assert 1e-4 < d < 5e-2


@pytest.mark.slow  # ~70 s: 5000 signed trajectories at L = 6, N = 4 (covered fast by test_signed_trajectories)
def test_signed_and_gradient_examples_run():
    """docs/usage.md's signed-trajectory and docs/gradients.md's gradient snippets, run as
    written after the usage example (whose names they use): the trace estimate E[mu] is 1
    within 4 standard errors, and the gradient is finite and non-zero."""
    usage = _blocks("docs/usage.md")
    ns: dict = {}
    for code in (usage[0], usage[1], _blocks("docs/gradients.md")[0]):
        exec(compile(code, "docs", "exec"), ns)
    res = ns["res"]
    assert res.expect.shape == (6, 5) and res.stats["weight_rms"][-1] > 1.0
    tr, tse = np.asarray(res.stats["trace_mean"]), np.asarray(res.stats["trace_stderr"])
    assert np.all(np.abs(tr - 1) <= 4 * tse + 1e-12)
    g = np.asarray(ns["jax"].jit(ns["jax"].grad(ns["current"]))(ns["jnp"].array([6.6, 1.0, 1.0])))
    assert np.all(np.isfinite(g)) and np.all(np.abs(g) > 1e-4)
