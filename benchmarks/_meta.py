"""What the benchmark scripts share: the machine's description and the results writer.

``machine(**peers)`` is the metadata every result file carries (date, CPUs, platform, the
versions of Python, JAX and jaxredfield, memory, the 1-minute load when the run started, the
environment variables that change the timings, the CPU model); the peers' versions are passed
by the caller. ``write_results`` writes a run's JSON and its rendered Markdown side by side.
"""

from __future__ import annotations

import json
import os
import platform
import time

#: environment variables that change timings: BLAS/OpenMP threads (QuTiP's steadystate),
#: XLA's flags (jaxredfield sets one on AVX-512 CPUs), the compilation cache
TIMING_ENV = ("_NUM_THREADS", "XLA_FLAGS", "JAXREDFIELD_CACHE")


def machine(**peers) -> dict:
    """The run's machine and versions; ``peers`` adds the peers' versions (name=version).
    JAX is imported here, not at module level: bench_peers' QuTiP subprocesses stay JAX-free."""
    import jax
    import numpy as np

    import jaxredfield as jr

    info = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cpus": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(),
            "jax": jax.__version__, "backend": jax.default_backend(), "jaxredfield": jr.__version__,
            "numpy": np.__version__, **peers,
            "mem_GB": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1),
            "load_at_start": os.getloadavg()[0],
            "env": {k: v for k, v in os.environ.items() if k.endswith(TIMING_ENV)}}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return info


def write_results(json_path: str, md_path: str, data: dict, render) -> None:
    """``data`` as JSON at ``json_path`` and ``render(data)`` (Markdown) at ``md_path``."""
    with open(json_path, "w") as f:
        json.dump(data, f, indent=1)
    with open(md_path, "w") as f:
        f.write(render(data))
