"""The README's usage example runs as written (keeps the docs true to the code)."""

import pathlib
import re

import numpy as np


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
