"""XLA:CPU code generation: 512-bit vector code on CPUs with AVX-512 (set when imported).

XLA:CPU emits 256-bit vector loops by default, also where the CPU has AVX-512. The fused
elementwise loops the solvers are made of (the density-matrix right-hand side's shifted-slice
sums, the Chebyshev recurrence of the trajectories) run faster with 512-bit vectors; measured
on a 2-core Xeon with AVX-512, the paper's chain, local Lindblad N = 1 (warm calls):

- mesolve right-hand side: L = 6 82 -> 60 us, L = 8 0.96 -> 0.75 ms per evaluation;
  mesolve L = 6 68 -> 53 ms, L = 8 0.73 -> 0.63 s;
- mcsolve: L = 12 0.028 -> 0.023 s, L = 14 0.102 -> 0.092 s per trajectory.

Importing :mod:`jaxredfield` therefore appends ``--xla_cpu_prefer_vector_width=512`` to
``$XLA_FLAGS`` when all of these hold:

- the CPU reports ``avx512f`` (``/proc/cpuinfo``; other machines are left alone),
- ``$XLA_FLAGS`` does not set ``xla_cpu_prefer_vector_width`` already,
- ``$JAXREDFIELD_XLA_FLAGS`` is not ``0`` (the switch to turn this off),
- jaxlib is 0.10 or newer (where the flag was measured; XLA aborts on flags it does not know).

XLA reads ``$XLA_FLAGS`` once, when JAX creates its CPU backend (the first computation of
the process), so the flag takes effect only if :mod:`jaxredfield` is imported before any JAX
computation runs. It changes the order of floating-point operations inside a vector (results
differ at round-off), not the accuracy; other JAX code in the process (e.g. a peer library)
gets the same code generation.
"""

from __future__ import annotations

import os

FLAG = "--xla_cpu_prefer_vector_width=512"


def _cpu_has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return False


def _jaxlib_new_enough() -> bool:
    try:
        import jaxlib

        major, minor = (int(x) for x in jaxlib.__version__.split(".")[:2])
    except (ImportError, ValueError, AttributeError):
        return False
    return (major, minor) >= (0, 10)


def wanted(environ=os.environ) -> bool:
    """Whether :func:`apply` adds :data:`FLAG` (the conditions of the module docstring)."""
    if environ.get("JAXREDFIELD_XLA_FLAGS", "").strip().lower() in ("0", "false", "no", "off"):
        return False
    if "xla_cpu_prefer_vector_width" in environ.get("XLA_FLAGS", ""):
        return False
    return _cpu_has_avx512() and _jaxlib_new_enough()


def apply(environ=os.environ) -> bool:
    """Append :data:`FLAG` to ``$XLA_FLAGS`` if :func:`wanted`; return whether it did."""
    if not wanted(environ):
        return False
    environ["XLA_FLAGS"] = (environ.get("XLA_FLAGS", "") + " " + FLAG).strip()
    return True
