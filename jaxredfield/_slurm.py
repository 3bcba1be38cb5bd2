"""Clusters: a SLURM step with several tasks joins them with ``jax.distributed`` at import
(issue 25, item 4), so ``srun -n N python script.py`` and ``srun -n N jaxredfield run ...``
need no extra code.

The condition is a step of ``srun`` (``SLURM_STEP_NUM_TASKS`` > 1 with ``SLURM_JOB_ID``,
``SLURM_PROCID``, ``SLURM_LOCALID`` and ``SLURM_STEP_NODELIST`` set): a batch script's own
step (``sbatch`` running python directly) has no ``SLURM_STEP_NUM_TASKS`` and stays one process.
The coordinator is the step's first node, at the port JAX's SLURM detection derives from the job
id. ``JAXREDFIELD_DISTRIBUTED=0`` turns it off; a process that already initialized
``jax.distributed`` itself is left as it is. It must run before JAX's first computation (as
the import of jaxredfield does); otherwise a warning says what to do.
"""

from __future__ import annotations

import os
import warnings

NEEDED = ("SLURM_JOB_ID", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_STEP_NODELIST", "SLURM_STEP_NUM_TASKS")


def step_tasks(environ=os.environ) -> int:
    """Tasks of the SLURM step this process is one of (1 outside a multi-task srun step)."""
    if environ.get("JAXREDFIELD_DISTRIBUTED", "").strip().lower() in ("0", "false", "no", "off"):
        return 1
    if not all(k in environ for k in NEEDED):
        return 1
    try:
        return max(1, int(environ["SLURM_STEP_NUM_TASKS"]))
    except ValueError:
        return 1


def initialize(environ=os.environ) -> bool:
    """``jax.distributed.initialize`` for a multi-task SLURM step; True when it joined."""
    n = step_tasks(environ)
    if n < 2:
        return False
    import jax
    from jax._src.clusters.slurm_cluster import SlurmCluster

    if jax.distributed.is_initialized():  # the user initialized it already
        return False
    try:
        jax.distributed.initialize(
            coordinator_address=SlurmCluster.get_coordinator_address(None, None),
            num_processes=n, process_id=int(environ["SLURM_PROCID"]),
            local_device_ids=None)
    except RuntimeError as err:
        warnings.warn(
            f"jaxredfield: this is task {environ['SLURM_PROCID']} of a {n}-task SLURM step, but "
            f"jax.distributed could not be initialized ({err}); import jaxredfield before any JAX "
            "computation, or call jax.distributed.initialize() yourself first. Each task now runs "
            "on its own (JAXREDFIELD_DISTRIBUTED=0 silences this).", RuntimeWarning, stacklevel=2)
        return False
    return True
