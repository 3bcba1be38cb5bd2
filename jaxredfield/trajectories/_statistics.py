"""Statistics of a run, accumulated chunk by chunk on the host in float64: the mean and the sum
of squared deviations by Chan's pairwise (Welford) update, jump counts, kept trajectories and
final states, the count of negative weights (signed runs); the trace-error stop."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

#: the arrays of a :class:`Tally` (what a checkpoint stores besides ``done`` / ``complete``)
ARRAYS = ("mean", "m2", "njumps", "ex", "psi", "nneg")


@dataclasses.dataclass
class Tally:
    """``done`` trajectories so far (``complete`` once all ``ntraj``); ``mean`` and ``m2``
    (n_rows, n_t); ``njumps`` (done,); ``ex`` (done, n_rows, n_t) and ``psi`` (done, D) -- or
    (done, L, chi, d, chi), MPS tensors -- when kept (else empty); ``nneg`` (n_t,): trajectories with a negative weight."""

    done: int
    complete: bool
    mean: np.ndarray
    m2: np.ndarray
    njumps: np.ndarray
    ex: np.ndarray
    psi: np.ndarray
    nneg: np.ndarray

    @classmethod
    def empty(cls, n_rows, n_t, state_shape, cdtype, dtype) -> "Tally":
        """No trajectories yet; ``state_shape``: the shape of one kept final state."""
        return cls(0, False, np.zeros((n_rows, n_t), cdtype), np.zeros((n_rows, n_t)),
                   np.zeros((0,), np.int32), np.zeros((0, n_rows, n_t), cdtype),
                   np.zeros((0,) + tuple(state_shape), dtype),
                   np.zeros((n_t,)))

    def add(self, ex, nj, psi, ntraj, keep_trajectories, signed):
        """Accumulate a chunk: ``ex`` (m, n_rows, n_t), ``nj`` (m,), ``psi`` (m, D) or None."""
        m = ex.shape[0]
        self.njumps = np.concatenate([self.njumps, nj])
        if keep_trajectories:
            self.ex = np.concatenate([self.ex, ex])
        if psi is not None:
            self.psi = np.concatenate([self.psi, psi])
        done = self.done
        if signed:
            self.nneg = self.nneg + (ex[:, -1].real < 0).sum(axis=0)
        if ex.shape[1]:
            # Chan et al. pairwise update of mean and sum of squared deviations
            cm = ex.mean(axis=0)
            cm2 = (np.abs(ex - cm) ** 2).sum(axis=0)
            n = done + m
            delta = cm - self.mean
            self.mean = self.mean + delta * (m / n)
            self.m2 = self.m2 + cm2 + np.abs(delta) ** 2 * (done * m / n)
        self.done = done + m
        self.complete = self.done >= ntraj

    def stderr(self):
        """Standard error of the mean, sqrt(s^2 / n) with the unbiased sample variance s^2
        (for complex values s^2 = sum |x - mean|^2 / (n - 1)); NaN for one trajectory."""
        if self.done > 1:
            return np.sqrt(self.m2 / (self.done - 1) / self.done)
        return np.full(self.m2.shape, np.nan)

    def trace_error(self):
        """Largest standard error of the trace estimate E[mu] (signed runs: the last row)."""
        return float(np.sqrt(self.m2[-1] / (self.done - 1) / self.done).max())

    def signed_stats(self) -> dict:
        """trace_mean, trace_stderr, weight_rms = sqrt(E[mu^2]), negative_fraction (n_t,)."""
        done = self.done
        mu_mean = self.mean[-1].real
        var = self.m2[-1] / max(done - 1, 1)
        return dict(trace_mean=jnp.asarray(mu_mean), trace_stderr=jnp.asarray(self.stderr()[-1]),
                    weight_rms=jnp.asarray(np.sqrt(var * (done - 1) / done + mu_mean**2)),
                    negative_fraction=jnp.asarray(self.nneg / done))

    def check_trace_error(self, ntraj, tsave, limit):
        """Stop a signed run whose trace estimate E[mu] has a standard error above ``limit``
        (projected to ``ntraj`` trajectories while running, the actual one at the end)."""
        done = self.done
        if done < min(ntraj, 16):
            return
        s = np.sqrt(self.m2[-1] / (done - 1))
        err = s / np.sqrt(ntraj if done < ntraj else done)
        bad = np.nonzero(err > limit)[0]
        if bad.size:
            n = bad[0]
            need = int(np.ceil((s[n] / limit) ** 2))
            raise RuntimeError(
                f"signed trajectories: the variance of the estimator has exploded -- at t = "
                f"{float(tsave[n]):.4g} the standard error of the trace estimate (exactly 1 in "
                f"expectation) is {err[n]:.3g} with {ntraj} trajectories, above max_trace_error = "
                f"{limit} (sample rms weight {np.sqrt(s[n]**2 + 1):.3g}). "
                f"The averages would be noise. Use about {need} trajectories, a shorter time span, "
                "or a lambda that makes L_- smaller (jr.lam_loc, or tuned: jaxredfield.tuning); "
                f"{done} finished trajectories are kept in the checkpoint, if one was given."
            )
