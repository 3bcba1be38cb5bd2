"""The benchmarks' one harness: what every script shares, so that each benchmark file says only
what it measures.

- **metadata**: :func:`machine` (date, CPUs and model, platform, versions of Python, JAX, NumPy
  and jaxredfield, memory, the load when the run started, the environment variables that change
  timings; the peers' versions passed by the caller) and :func:`describe` (its one-line form
  for a results page);
- **results**: :func:`write_results` writes a run's JSON and its rendered Markdown side by side;
- **timing**: :func:`timed` (one call) and :func:`first_warm` (a first call that compiles, then
  the median of warm calls);
- **the paper's problem as the peers get it**: :func:`problem` (the boundary-driven XXZ chain of
  eq. 5, ohmic baths, |up...up>, sigma^z on every site), :data:`TS`; :func:`sparse` and
  :func:`pieces` hand our own operators to QuTiP / dynamiqs / scipy as CSR matrices, so that
  only the engine differs;
- **data between processes**: :func:`save_data` / :func:`load_data` (arrays and sparse matrices
  in an ``.npz``, the structure as JSON: loading runs no code), for peers run in their own
  processes.

JAX and jaxredfield are imported inside the functions that need them: QuTiP's subprocesses
(``bench_peers.py --child``) import this module and stay JAX-free.
"""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np

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


def describe(m: dict) -> str:
    """The one-line description of :func:`machine`'s dict for a results page (a key missing
    from an older run's file reads "?")."""
    g = lambda k: m.get(k, "?")  # noqa: E731
    load = m.get("load_at_start")
    return (f"{g('date')}, {g('cpus')} CPUs ({g('cpu')}), {g('platform')}, JAX {g('jax')} "
            f"({g('backend')}), jaxredfield {g('jaxredfield')}, load at start "
            + (f"{load:.2f}" if isinstance(load, (int, float)) else "?"))


# ---------------------------------------------------------------- timing
def timed(fn, *args):
    """(seconds, result) of one call ``fn(*args)``."""
    t = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t, out


def first_warm(run, n=1, **extra):
    """run(seed): a first call (JIT compilation), then timed warm calls (per trajectory: / n):
    the median of up to 7 calls within ~1 s of warm time (one call when a call takes longer;
    a single call of 50 ms varies by 10 % on this machine)."""
    first, _ = timed(run, 0)
    warm, out = timed(run, 1)
    times = [warm]
    while len(times) < 7 and sum(times) < 1.0:
        times.append(timed(run, 1 + len(times))[0])
    return {"first_s": first, "time": float(np.median(times)) / n, "warm_calls": len(times), "_data": out, **extra}


# ---------------------------------------------------------------- the paper's problem for every code
GAMMA, TEMP = 0.25, 2.2
TS = np.linspace(0.0, 5.0, 11)


def problem(L, equation="lindblad", order=1):
    """Problem P: ``jr.xxz_chain(L)`` (eq. 5 defaults J = 1, Delta = 0.7, h = 1, delta = -0.07),
    ohmic baths gamma = 0.25, T = 2.2 on both ends, local Lindblad (or local Redfield) of
    ``order``; |up...up> (basis index 0) and sigma^z on every site. Returns (eq, psi0, e_ops)."""
    import jaxredfield as jr

    model = jr.xxz_chain(L)
    system = jr.boundary_driven(model, jr.OhmicBath(GAMMA, TEMP), jr.OhmicBath(GAMMA, TEMP))
    eq = (jr.local_lindblad if equation == "lindblad" else jr.local_redfield)(system, order)
    psi0 = np.zeros(2**L, complex)
    psi0[0] = 1.0  # |up...up>
    return eq, psi0, [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)]


def driven_chain(jr, L):
    """The paper's chain with T_r = 3 T_l (J = 1, Delta = 0.7, h = 1, delta = -0.07; ohmic gamma
    = 0.25, T_l = 2.2, T_r = 6.6), the standard local Lindblad equation, |up...up> as a
    product state, sigma^z on every site: (eq, psi0, e_ops). ``jr``: the package to build it
    with -- a child process of a before/after benchmark imports another revision's."""
    model = jr.xxz_chain(L, J=1.0, Delta=0.7, h=1.0, delta=-0.07)
    system = jr.boundary_driven(model, jr.OhmicBath(GAMMA, TEMP), jr.OhmicBath(GAMMA, 3 * TEMP))
    return (jr.standard_local_lindblad(system), jr.product_state(model, 0),
            [jr.operator_on(jr.sigmaz(), i, model) for i in range(L)])


def sparse(op):
    """scipy CSR of a LocalOperator on contiguous sites (the full 2^L x 2^L matrix)."""
    import scipy.sparse as sp

    i0, k = min(op.sites), len(op.sites)
    assert tuple(op.sites) == tuple(range(i0, i0 + k))
    m = sp.csr_matrix(np.asarray(op.matrix))
    left = sp.identity(op.d**i0, format="csr", dtype=complex)
    right = sp.identity(op.d ** (op.L - i0 - k), format="csr", dtype=complex)
    return sp.kron(sp.kron(left, m, format="csr"), right, format="csr")


def pieces(eq, psi0=None, e_ops=()):
    """Our equation's operators as scipy CSR matrices (what the peers get): H, the jumps, the
    negative jumps, the Redfield (u, v) pairs, the e_ops."""
    return {"L": eq.L, "psi0": psi0, "H": sum(sparse(h) for h in eq.hamiltonian),
            "jumps": [sparse(c) for c in eq.jumps], "neg": [sparse(m) for m in eq.negative_jumps],
            "uv": [(sparse(u), sparse(v)) for u, v in eq.redfield_terms], "e_ops": [sparse(o) for o in e_ops]}


# ---------------------------------------------------------------- data between processes
def save_data(path, obj):
    """A nest of dicts, lists, tuples, numbers, strings, None, arrays and scipy sparse matrices
    in a data-only file: arrays in an ``np.savez`` archive, the structure as JSON beside them
    (read back with ``allow_pickle=False``: loading runs no code)."""
    import scipy.sparse as sp

    arrays = {}

    def enc(x):
        if isinstance(x, dict):
            return {"d": {k: enc(v) for k, v in x.items()}}
        if isinstance(x, (list, tuple)):
            return {"l" if isinstance(x, list) else "t": [enc(v) for v in x]}
        if sp.issparse(x):
            m, k = x.tocsr(), len(arrays)
            arrays.update({f"{k}d": m.data, f"{k}i": m.indices, f"{k}p": m.indptr})
            return {"csr": k, "shape": list(m.shape)}
        if isinstance(x, np.ndarray):
            k = len(arrays)
            arrays[f"{k}a"] = x
            return {"a": k}
        if isinstance(x, (np.integer, np.floating)):
            return {"v": x.item()}
        return {"v": x}

    spec = enc(obj)
    np.savez(path, __spec__=np.array(json.dumps(spec)), **arrays)


def load_data(path):
    """The inverse of :func:`save_data`."""
    import scipy.sparse as sp

    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}

    def dec(x):
        if "d" in x:
            return {k: dec(v) for k, v in x["d"].items()}
        if "l" in x or "t" in x:
            items = [dec(v) for v in x.get("l", x.get("t"))]
            return items if "l" in x else tuple(items)
        if "csr" in x:
            k = x["csr"]
            return sp.csr_matrix((arrays[f"{k}d"], arrays[f"{k}i"], arrays[f"{k}p"]), shape=tuple(x["shape"]))
        if "a" in x:
            return arrays[f"{x['a']}a"]
        return x["v"]

    return dec(json.loads(str(arrays.pop("__spec__"))))
