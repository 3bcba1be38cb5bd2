"""Quantum-jump trajectories of the paper's chain on a cluster: one script for a laptop, a
workstation and a SLURM allocation.

- alone (``python examples/slurm/trajectories.py``): every core of the machine (helper
  processes, ``mcsolve(workers=None)``);
- under ``srun -n N`` (``job.sbatch`` beside this file): importing jaxredfield joins the N tasks
  with ``jax.distributed``; each task computes its share of the chunks on the cores SLURM gave
  it (``--cpus-per-task``), every task ends with the same result, task 0 writes the checkpoint
  and prints.

The checkpoint (``--checkpoint``) must be on a filesystem every node sees ($SCRATCH, not /tmp).
A job that dies (node failure, time limit: SIGTERM) leaves the last finished chunk in it;
submitting the same job again, with the same arguments, resumes from there and gives the result
of an uninterrupted run.

    python examples/slurm/trajectories.py --L 10 --ntraj 64 --checkpoint /tmp/traj.npz
"""

from __future__ import annotations

import argparse

import jaxredfield as jr  # first: joins the tasks of a SLURM step before JAX computes

import jax  # noqa: E402
import numpy as np  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--L", type=int, default=14)
    ap.add_argument("--ntraj", type=int, default=512)
    ap.add_argument("--tmax", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", help="file on a shared filesystem; rerun to resume")
    args = ap.parse_args(argv)
    model = jr.xxz_chain(args.L)  # eq. (5): J = h, Delta = 0.7, delta = -0.07h
    system = jr.boundary_driven(model, jr.OhmicBath(0.25, 2.2), jr.OhmicBath(0.25, 6.6))
    eq = jr.local_lindblad(system, 1)  # the paper's trajectories (Fig. 3(d), 4)
    e_ops = jr.magnetization(model)
    r = jr.mcsolve(eq, jr.product_state(model, 0), np.linspace(0.0, args.tmax, 11), args.ntraj,
                   jax.random.key(args.seed), e_ops=e_ops, checkpoint=args.checkpoint,
                   progress=jax.process_index() == 0)
    if jax.process_index() == 0:
        print(f"{jax.process_count()} task(s), {r.stats['workers']} worker(s) each; "
              f"<sigma^z_i>(t = {args.tmax:g}), {args.ntraj} trajectories:")
        for i, (m, s) in enumerate(zip(np.asarray(r.expect)[:, -1], np.asarray(r.expect_stderr)[:, -1])):
            print(f"  site {i:2d}: {m:+.4f} +- {s:.4f}")
    return r


if __name__ == "__main__":
    main()
