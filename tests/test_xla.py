"""jaxredfield._xla: when the import asks XLA:CPU for 512-bit vector code."""

import os

import pytest

from jaxredfield import _xla


@pytest.fixture
def avx512(monkeypatch):
    monkeypatch.setattr(_xla, "_cpu_has_avx512", lambda: True)
    monkeypatch.setattr(_xla, "_jaxlib_new_enough", lambda: True)


def test_flag_added_once_and_kept_with_other_flags(avx512):
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    assert _xla.apply(env)
    assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2 " + _xla.FLAG
    assert not _xla.apply(env)  # already set: not appended twice
    assert env["XLA_FLAGS"].count("prefer_vector_width") == 1


def test_user_setting_and_switch_win(avx512):
    env = {"XLA_FLAGS": "--xla_cpu_prefer_vector_width=256"}
    assert not _xla.apply(env) and env["XLA_FLAGS"] == "--xla_cpu_prefer_vector_width=256"
    for off in ("0", "off", "false"):
        env = {"JAXREDFIELD_XLA_FLAGS": off}
        assert not _xla.apply(env) and "XLA_FLAGS" not in env


def test_no_flag_without_avx512_or_with_old_jaxlib(monkeypatch):
    monkeypatch.setattr(_xla, "_jaxlib_new_enough", lambda: True)
    monkeypatch.setattr(_xla, "_cpu_has_avx512", lambda: False)
    env = {}
    assert not _xla.apply(env) and env == {}
    monkeypatch.setattr(_xla, "_cpu_has_avx512", lambda: True)
    monkeypatch.setattr(_xla, "_jaxlib_new_enough", lambda: False)
    assert not _xla.apply(env) and env == {}


def test_this_process_got_the_flag():
    """The import applied the rule to this process (conftest imports jaxredfield before any
    JAX computation and leaves the switch alone)."""
    if not (_xla._cpu_has_avx512() and _xla._jaxlib_new_enough()):
        pytest.skip("no AVX-512 or an older jaxlib: the flag is not wanted here")
    assert _xla.FLAG in os.environ.get("XLA_FLAGS", "")
