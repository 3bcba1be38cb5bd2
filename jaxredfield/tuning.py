r"""Gradient-based tuning (optax) of the free parameters of the local equations: lambda of
the pseudo-Lindblad split L_+- = (u +- lambda v)/sqrt(2 lambda) (SM E, H) per coupling, and
the expansion energies eps_kq of eq. (4) per coupling.

Parameters are stored *relative to the paper's choices*, so that values tuned on a small
chain transfer to a longer one (whose end-site fields h_i differ):

    lambda_n = lambda_loc,n * exp(log_lam[n]),        eps_kq,n = E_k^loc - E_q^loc + d_eps[n][k, q]

(:class:`LocalParams`; ``LocalParams.paper(system)``, all zeros, is the paper's equation,
identical to :func:`~jaxredfield.local_lindblad`). ``log_lam`` is real: it scales lambda_loc,
which is complex for a complex W (Drude bath, SM E/I), keeping its phase; for real baths
lambda is real and positive.

Losses (each a function ``params -> scalar``, differentiable):

- :func:`steady_distance_loss` -- the paper's trace distance ||rho_ss - rho_ss^Redfield||_1 of
  the steady state of the local Lindblad (or local Redfield) equation to exact Redfield;
  needs the exact solution, so small chains only (refused above ``max_dim``).
- :func:`negative_weight_loss` -- no exact solution needed: the weight sum_n Tr(L_-,n^dag
  L_-,n rho_loc) of the dropped jump operators in the local thermal state rho_loc (product of
  site Gibbs states of H^loc at the coupling's bath temperature), the quantity SM H's lambda
  choice minimizes at N = 0. For fixed u it is minimal at lambda^2 = <u^dag u>/<v^dag v>.
  Measured on the paper's chain (T = 2.2h, N = 1): that minimum lies at ~1.35 lambda_loc and
  *raises* the steady-state error (L = 4: 0.057 -> 0.082) and the variance of signed
  trajectories (benchmarks/results/signed.md): a cheap loss, but no proxy for either.

:func:`tune` runs optax (Adam by default) on a loss and returns the history. Everything is
deterministic: the same inputs give the same result.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .equations import MasterEquation, local_lindblad, local_redfield
from .expansion import lam_loc, local_components
from .observables import trace_distance
from .operators import embed
from ._progress import bar
from .method import Direct
from .result import TuneResult
from .solvers import steadystate


class LocalParams(eqx.Module):
    """Free parameters of the local equations, relative to the paper's (module docstring):
    ``log_lam`` (n_couplings,) and ``d_eps`` (n_couplings, d, d)."""

    log_lam: jnp.ndarray
    d_eps: jnp.ndarray

    @classmethod
    def paper(cls, system) -> "LocalParams":
        """lambda = lambda_loc and eps_kq = the local transition energies (all offsets 0)."""
        nc, d = len(system.couplings), system.model.d
        return cls(jnp.zeros(nc), jnp.zeros((nc, d, d)))

    def check(self, system) -> "LocalParams":
        nc, d = len(system.couplings), system.model.d
        if self.log_lam.shape != (nc,) or self.d_eps.shape != (nc, d, d):
            raise ValueError(
                f"`params` has shapes log_lam {self.log_lam.shape}, d_eps {self.d_eps.shape}; this "
                f"system needs ({nc},) and ({nc}, {d}, {d}) (one entry per coupling): "
                "couplings must correspond one to one to transfer parameters between chains"
            )
        return self

    def lam(self, system):
        """lambda per coupling: lambda_loc * exp(log_lam), real and > 0 when every bath's W is
        real (``bath.is_real``), else complex with Re lambda > 0 (lambda_loc's phase kept, so
        that the all-zero parameters are exactly the paper's local Lindblad equation)."""
        base = jnp.stack([jnp.asarray(x) for x in lam_loc(system)])
        if all(c.bath.is_real for c in system.couplings):
            base = jnp.real(base)  # lambda_loc is real here: keep a real dtype for optax
        return base * jnp.exp(self.log_lam)

    def energies(self, system):
        """eps_kq per coupling: local transition energies plus the offsets."""
        out = []
        for n, c in enumerate(system.couplings):
            _, eps = local_components(system.model, c.site, c.transformed)
            out.append(eps + self.d_eps[n])
        return out


def local_lindblad_with(system, order: int, params: LocalParams) -> MasterEquation:
    """The local Lindblad equation (L_+ only) with tuned lambda and eps_kq."""
    params.check(system)
    return local_lindblad(system, order, lam=list(params.lam(system)), energies=params.energies(system))


def local_redfield_with(system, order: int, params: LocalParams) -> MasterEquation:
    """The local Redfield equation with tuned eps_kq (lambda does not enter it)."""
    params.check(system)
    return local_redfield(system, order, energies=params.energies(system))


def steady_distance_loss(system, order: int, equation: str = "local_lindblad", max_dim: int = 64,
                         reference=None):
    """``params -> ||rho_ss(params) - rho_ss^exact||_1``: trace distance of the steady state
    of ``equation`` ("local_lindblad" or "local_redfield", order ``order``) to exact Redfield.
    The exact steady state is computed once (or pass ``reference``). Refuses d^L > ``max_dim``
    (dense steady states; the exact solution needs the full eigenbasis): use
    :func:`negative_weight_loss` for large chains, or tune on a small one and transfer."""
    from .equations import redfield

    D = system.model.d ** system.model.L
    if D > max_dim:
        raise ValueError(
            f"steady_distance_loss needs the exact Redfield steady state, dimension {D} > "
            f"max_dim={max_dim} (L={system.model.L}): tune on a chain of L <= "
            f"{int(np.log(max_dim) / np.log(system.model.d))} sites and transfer the parameters "
            "(LocalParams are relative to the paper's), or use negative_weight_loss, which "
            "needs no exact solution"
        )
    builders = {"local_lindblad": local_lindblad_with, "local_redfield": local_redfield_with}
    if equation not in builders:
        raise ValueError(f"`equation` must be 'local_lindblad' or 'local_redfield', got {equation!r}")
    ref = steadystate(redfield(system), method=Direct()) if reference is None else jnp.asarray(reference)
    build = builders[equation]

    def loss(params):
        return trace_distance(steadystate(build(system, order, params), method=Direct()), ref)

    return loss


def local_thermal_state(model, sites, T):
    """Product of the site Gibbs states exp(-H^loc_i/T)/Z_i on ``sites`` (SM H)."""
    rho = jnp.ones((1, 1))
    for i in sites:
        E, U = jnp.linalg.eigh(model.local_hamiltonian(i))
        p = jnp.exp(-(E - E[0]) / T)
        rho = jnp.kron(rho, (U * (p / jnp.sum(p))) @ U.conj().T)
    return rho


def negative_weight_loss(system, order: int):
    """``params -> sum_n Tr(L_-,n^dag L_-,n rho_loc,n)``, the weight of the jump operators
    the local Lindblad equation drops, in the local thermal state of each coupling's cluster
    at its bath temperature (module docstring). Needs no exact solution: any chain length."""
    for n, c in enumerate(system.couplings):
        if c.bath.temperature is None:
            raise ValueError(f"coupling {n}: its bath has no temperature, so the local thermal state is undefined")

    def loss(params):
        params.check(system)
        eq = local_redfield(system, order, energies=params.energies(system))
        lams = params.lam(system)
        total = 0.0
        for n, ((u, v), c) in enumerate(zip(eq.redfield_terms, system.couplings)):
            V = embed(v.matrix, v.sites, u.sites, eq.d)
            M = u.matrix - lams[n] * V  # L_- = (u - lam v)/sqrt(2 Re lam) (SM E)
            rho = local_thermal_state(system.model, u.sites, c.bath.temperature)
            total = total + jnp.real(jnp.trace(M.conj().T @ M @ rho)) / (2 * jnp.real(lams[n]))
        return total

    return loss


def tune(loss, params: LocalParams, *, steps: int = 50, learning_rate: float = 0.05, optimizer=None,
         train=("log_lam", "d_eps"), progress: bool | None = None) -> TuneResult:
    """Minimize ``loss(params)`` with optax (``optimizer``, default Adam(``learning_rate``)),
    updating only the fields named in ``train``; returns the best parameters seen and the
    loss history. Deterministic (no random numbers). ``progress``: a tqdm bar on stderr over
    the optimizer steps with the current loss (None: the global switch
    :func:`~jaxredfield.set_progress`)."""
    if not isinstance(params, LocalParams):
        raise TypeError(f"`params` must be LocalParams (e.g. LocalParams.paper(system)), got {type(params).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"`steps` must be a positive integer, got {steps!r}")
    bad = set(train) - {"log_lam", "d_eps"}
    if bad or not train:
        raise ValueError(f"`train` must name fields of LocalParams ('log_lam', 'd_eps'), got {train!r}")
    opt = optimizer if optimizer is not None else optax.adam(learning_rate)
    mask = LocalParams(jnp.full(params.log_lam.shape, "log_lam" in train, dtype=float),
                       jnp.full(params.d_eps.shape, "d_eps" in train, dtype=float))
    value_and_grad = eqx.filter_jit(jax.value_and_grad(loss))  # compiled once, then fast steps
    state = opt.init(params)
    losses, hist = [], []
    best = (np.inf, params)
    with bar(steps + 1, "tune", "step", progress) as pbar:
        for k in range(steps + 1):
            try:
                val, g = value_and_grad(params)
            except eqx.EquinoxRuntimeError as err:  # a run-time check inside the loss (e.g. W
                # not finite at energies moved out of range by the previous step)
                raise FloatingPointError(
                    f"tune: the loss failed at step {k} ({err}); lower `learning_rate`"
                ) from err
            val = float(val)
            if not np.isfinite(val):
                raise FloatingPointError(f"tune: the loss became {val} at step {k}; lower `learning_rate`")
            losses.append(val)
            hist.append(params)
            if val < best[0]:
                best = (val, params)
            pbar.update(1)
            pbar.set_postfix_str(f"loss {val:.6g}")
            if k == steps:
                break
            g = jax.tree_util.tree_map(lambda a, m: a * m, g, mask)
            updates, state = opt.update(g, state, params)
            params = optax.apply_updates(params, updates)
    history = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *hist)
    return TuneResult(best[1], np.asarray(losses), history)


__all__ = ["LocalParams", "local_lindblad_with", "local_redfield_with", "steady_distance_loss",
           "negative_weight_loss", "local_thermal_state", "tune"]
