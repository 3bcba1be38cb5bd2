"""Persistent compilation cache (jaxredfield._cache): the helper sets JAX's options, the
environment switches work, and a second process loads what the first one compiled."""

import json
import os
import subprocess
import sys

import jax
import pytest

import jaxredfield as jr
from jaxredfield import _cache

OPTIONS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
           "jax_persistent_cache_min_entry_size_bytes", "jax_enable_compilation_cache")


@pytest.fixture
def restore_jax_cache():
    """The test process keeps its cache off: put JAX's options back afterwards."""
    from jax.experimental.compilation_cache import compilation_cache

    old = {k: getattr(jax.config, k) for k in OPTIONS}
    yield
    for k, v in old.items():
        jax.config.update(k, v)
    compilation_cache.reset_cache()


def test_helper_sets_options(tmp_path, monkeypatch, restore_jax_cache):
    monkeypatch.delenv("JAXREDFIELD_CACHE", raising=False)
    folder = jr.enable_compilation_cache(tmp_path / "a" / "xla")
    assert folder == str(tmp_path / "a" / "xla") and os.path.isdir(folder)
    assert jax.config.jax_compilation_cache_dir == folder
    assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0
    assert jax.config.jax_persistent_cache_min_entry_size_bytes == -1
    assert jax.config.jax_enable_compilation_cache
    # default folder: $JAXREDFIELD_CACHE_DIR, then ~/.cache/jaxredfield/xla
    monkeypatch.setenv("JAXREDFIELD_CACHE_DIR", str(tmp_path / "b"))
    assert jr.enable_compilation_cache() == str(tmp_path / "b")
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "b")
    monkeypatch.delenv("JAXREDFIELD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _cache.default_cache_dir() == str(tmp_path / "xdg" / "jaxredfield" / "xla")


def test_switch_off(tmp_path, monkeypatch, restore_jax_cache):
    monkeypatch.setenv("JAXREDFIELD_CACHE", "0")
    before = jax.config.jax_compilation_cache_dir
    assert jr.enable_compilation_cache(tmp_path / "x") is None
    assert jax.config.jax_compilation_cache_dir == before
    assert not (tmp_path / "x").exists()


CHILD = r"""
import json, sys
import jax.monitoring as mon
hits = []
mon.register_event_listener(lambda e, **kw: hits.append(e) if e.endswith("/cache_hits") else None)
import jax, jax.numpy as jnp
import jaxredfield as jr
at_import = jax.config.jax_compilation_cache_dir
if sys.argv[1] == "call":
    jr.enable_compilation_cache()
f = jax.jit(lambda x: jnp.sin(x) @ x.T + 1.0)
f(jnp.ones((3, 3))).block_until_ready()
print(json.dumps({"hits": len(hits), "at_import": at_import, "dir": jax.config.jax_compilation_cache_dir}))
"""


def test_second_process_hits_cache(tmp_path):
    env = dict(os.environ, JAXREDFIELD_CACHE_DIR=str(tmp_path), JAXREDFIELD_CACHE="")

    def child(how, **extra):
        out = subprocess.run([sys.executable, "-c", CHILD, how], env=dict(env, **extra),
                             capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    first = child("call")  # JAXREDFIELD_CACHE unset: the import leaves the cache off
    assert first == {"hits": 0, "at_import": None, "dir": str(tmp_path)}
    entries = [p.name for p in tmp_path.iterdir() if p.name.endswith("-cache")]
    assert any(name.startswith("jit__lambda") for name in entries), entries
    # the second process turns the cache on through JAXREDFIELD_CACHE=1 at import
    second = child("import", JAXREDFIELD_CACHE="1")
    assert second["at_import"] == str(tmp_path) and second["hits"] >= 1
