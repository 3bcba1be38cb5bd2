"""The README's usage example runs as written (keeps the docs true to the code)."""

import pathlib
import re

import numpy as np
import pytest


def test_readme_usage_example_runs():
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert ns["res"].expect.shape == (6, 51)
    d = float(ns["jr"].trace_distance(ns["rho_ss"], ns["exact"]))
    assert 1e-4 < d < 5e-2
    j = np.array(ns["j"])
    assert np.allclose(j, j[0], rtol=1e-6)  # steady state: uniform bulk current


@pytest.mark.slow  # ~70 s: 5000 signed trajectories at L = 6, N = 4 (covered fast by test_signed_trajectories)
def test_readme_signed_and_gradient_examples_run():
    """The README's signed-trajectory and gradient snippets, run as written after the usage
    example (whose names they use): the trace estimate E[mu] is 1 within 4 standard errors,
    and the gradient is finite and non-zero."""
    text = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 3
    ns: dict = {}
    for b in blocks:
        exec(compile(b, "README.md", "exec"), ns)
    res = ns["res"]
    assert res.expect.shape == (6, 5) and res.stats["weight_rms"][-1] > 1.0
    tr, tse = np.asarray(res.stats["trace_mean"]), np.asarray(res.stats["trace_stderr"])
    assert np.all(np.abs(tr - 1) <= 4 * tse + 1e-12)
    g = np.asarray(ns["jax"].jit(ns["jax"].grad(ns["current"]))(ns["jnp"].array([6.6, 1.0, 1.0])))
    assert np.all(np.isfinite(g)) and np.all(np.abs(g) > 1e-4)
