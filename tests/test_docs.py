"""The documentation site (mkdocs.yml, docs/; built strictly by `make docs` in CI): every
public name has an API entry, every page of the nav exists, and every README section the pages
include is still marked in the README (a renamed or removed section fails here, not silently)."""

import os
import re

import pytest

import jaxredfield as jr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def test_every_public_name_has_an_api_entry():
    entries = set(re.findall(r"^::: jaxredfield\.(\w+)$", _read("docs", "api.md"), re.M))
    assert set(jr.__all__) - entries == set(), "add these to docs/api.md"
    assert entries - set(jr.__all__) == set(), "docs/api.md names what jaxredfield does not export"


def test_nav_pages_exist_and_included_sections_are_marked():
    nav = re.findall(r"^\s+- (?:[^:\n]+: )?(\S+\.md)$", _read("mkdocs.yml"), re.M)
    assert "api.md" in nav and "method.md" in nav and "tutorials/long_chains.md" in nav
    readme = _read("README.md")
    for page in nav:
        text = _read("docs", page)
        for path, section in re.findall(r'^--8<-- "([^":]+):([\w-]+)"$', text, re.M):
            src = _read(path)
            assert f"--8<-- [start:{section}]" in src and f"--8<-- [end:{section}]" in src, (page, section)
        for path in re.findall(r'^--8<-- "([^":]+)"$', text, re.M):  # whole files (results, examples)
            assert os.path.exists(os.path.join(ROOT, path)), (page, path)
    assert len(re.findall(r"--8<-- \[start:", readme)) == len(re.findall(r"--8<-- \[end:", readme))


def test_the_home_page_example_runs():
    """The first example of docs/index.md, as written (L = 6: a GMRES steady state and 100
    trajectories): the steady current of local Redfield N = 2 against the dense solve of the
    same equation (an independent solver), and the trajectories' magnetization in [-1, 1]."""
    import numpy as np

    code = re.search(r"```python\n(.*?)```", _read("docs", "index.md"), re.S).group(1)
    scope = {}
    exec(compile(code, "docs/index.md", "exec"), scope)
    rho, eq, model, res = scope["rho"], scope["eq"], scope["model"], scope["res"]
    dense = jr.steadystate(eq, method=jr.Direct())
    j = jr.spin_current(model, 2)
    assert abs(complex(jr.expect(j, rho)) - complex(jr.expect(j, dense))) < 1e-9
    z = np.asarray(res.expect)
    assert z.shape == (6, 11) and np.all(np.abs(z) <= 1 + 1e-12)


@pytest.mark.parametrize("page, bound", [("bosons", 1e-3), ("drude", 3e-2), ("own_model", 3e-2)])
def test_howto_examples_run(page, bound):
    """Each how-to's code, as written, against its independent reference: the grand-canonical
    state (bosons, one T and mu; measured 2.5e-4), exact Redfield (Drude, 0.012), the Gibbs
    state (own model and bath at one temperature, 0.014): the local Redfield N = 2 error."""
    import contextlib
    import io

    code = re.search(r"```python\n(.*?)```", _read("docs", "howto", f"{page}.md"), re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"docs/howto/{page}.md", "exec"), {})
    d = float(out.getvalue().split()[0].strip("(),"))
    assert 0 <= d < bound, out.getvalue()
