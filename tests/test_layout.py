"""The package's layout (docs/layout.md): no import cycles between its modules, counting
imports inside functions too (a lazy import is still a cycle of the design), and the argument
checks (`_checks.py`, the floor) import nothing of the package. A static scan of the sources
(ast), so a cycle fails here even where Python would resolve it at run time."""

import ast
import os

PKG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "jaxredfield")


def _modules():
    mods = {}
    for folder, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(folder, f)
                name = os.path.relpath(path, os.path.dirname(PKG))[:-3].replace(os.sep, ".")
                mods[name[:-9] if name.endswith(".__init__") else name] = path
    return mods


def _graph(mods):
    """module -> the package's modules it imports (anywhere in its source); a module importing
    its own parent package (re-exports of an __init__) is not an edge."""
    g = {m: set() for m in mods}
    for m, path in mods.items():
        pkg = m if path.endswith("__init__.py") else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                parts = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                base = ".".join(parts) + ("." + node.module if node.module else "")
            elif node.module and node.module.split(".")[0] == "jaxredfield":
                base = node.module
            else:
                continue
            for a in node.names:
                t = base + "." + a.name if base + "." + a.name in mods else base
                if t in mods and t != m and not m.startswith(t + "."):
                    g[m].add(t)
    return g


def _cycles(g):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_and_checks_is_the_floor():
    g = _graph(_modules())
    assert "jaxredfield.observables" in g and "jaxredfield._checks" in g["jaxredfield.observables"]
    assert g["jaxredfield._checks"] == set(), g["jaxredfield._checks"]
    assert _cycles(g) == []


def test_the_scan_finds_a_cycle():
    """The detector itself: a made-up graph with a lazy back edge is a cycle."""
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(g) == [["a", "b", "c"]]
