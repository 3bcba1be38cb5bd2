"""Devices: the trajectory axis of a chunk split over all devices (a 1-d ``Mesh`` and
``NamedSharding``; jit propagates it), and results gathered to every process (multi-host)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def batch_sharding():
    """NamedSharding of the trajectory (batch) axis over all devices, or None for one."""
    devs = jax.devices()
    if len(devs) == 1:
        return None
    mesh = jax.sharding.Mesh(np.asarray(devs), ("traj",))
    return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("traj"))


def chunk_size(batch_size: int, ntraj: int, sharding) -> int:
    """Trajectories per chunk: ``min(batch_size, ntraj)`` rounded up to a multiple of the
    device count."""
    ndev = 1 if sharding is None else len(jax.devices())
    B = min(batch_size, ntraj)
    return -(-B // ndev) * ndev


def default_batch_size(D: int) -> int:
    """Lanes (trajectories in flight) when ``batch_size`` is not given, per backend and state
    dimension D. CPU: one lane at every L. Measured (2 cores, problem P of
    ``benchmarks/bench_peers.py``, s per trajectory for batch 1 / 2 / 4 / 8 / 16): L = 8:
    0.0028 / - / 0.0037 / - / 0.0053; L = 10: 0.0092 / 0.0115 / 0.018 / 0.025 / 0.021;
    L = 12: 0.029 / 0.038 / 0.053 / 0.061 / -; L = 6: equal within 7 % up to 64 (a vmapped
    lane pays for the other lanes' root-finding and save branches, and XLA already runs one
    lane's loops on both cores). Accelerators: a batch is what fills the device, 2^24 / D
    lanes (about 2^24 amplitudes in flight; L = 19: 32), at most 1024."""
    if jax.default_backend() == "cpu":
        return 1
    return max(1, min(1024, 2**24 // D))


def chunk_indices(start: int, B: int, sharding):
    """Trajectory indices start, ..., start + B - 1 (int32), placed on the devices."""
    idx_np = np.arange(start, start + B, dtype=np.int32)
    if sharding is None:
        return jnp.asarray(idx_np)
    return jax.make_array_from_callback(idx_np.shape, sharding, lambda i: idx_np[i])


def to_host(x):
    """A NumPy copy of ``x``; a global array of several processes is gathered first."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        x = multihost_utils.process_allgather(x, tiled=True)
    return np.asarray(x)
