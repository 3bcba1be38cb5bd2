"""Steady states rho_ss with G(rho_ss) = 0, Tr rho_ss = 1.

The trace condition is folded in by a rank-one term: A(x) = G(x) + s Tr(x) I/D is
nonsingular when the kernel of G is one-dimensional, and A(rho_ss) = s I/D. ``dense`` builds
the D^2 x D^2 matrix of A and solves it directly (small D); ``iterative`` solves the same
system matrix-free with GMRES (lineax), so only a few density matrices are stored.
"""

from __future__ import annotations

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from .._checks import check_memory, is_concrete
from ..equations import MasterEquation

#: largest Hilbert-space dimension for which method="auto" uses the dense solve
DENSE_MAX_DIM = 64


def liouvillian_matrix(eq: MasterEquation, batch_size: int = 256, max_memory=None):
    """The D^2 x D^2 matrix of the generator in row-major vec convention
    (vec(rho)[i*D + j] = rho[i, j]); small systems only."""
    D = eq.dim
    check_memory(
        16.0 * 3 * D**4,
        f"the dense {D**2}x{D**2} Liouvillian",
        "Use steadystate(eq, method='iterative') (matrix-free GMRES) or mesolve.",
        max_memory,
    )
    return _liouvillian(eq, batch_size)


@eqx.filter_jit
def _liouvillian(eq, batch_size):
    D = eq.dim
    basis = jnp.eye(D * D, dtype=jnp.complex128)
    cols = jax.lax.map(lambda e: eq(e.reshape(D, D)).reshape(-1), basis, batch_size=batch_size)
    return cols.T


def steadystate(eq: MasterEquation, method: str = "auto", tol: float = 1e-12, rho0=None,
                maxiter: int = 20000, restart: int = 60, progress: bool = False,
                preconditioner: str | None = None, max_memory=None):
    """The steady state of ``eq`` as a (d^L, d^L) density matrix.

    **Arguments:**
    - `method`: ``"dense"`` (direct solve of the D^2 x D^2 Liouvillian; D <= ~90),
      ``"iterative"`` (matrix-free GMRES, memory O(restart * D^2)), or ``"auto"``
      (dense for D <= 64, else iterative).
    - `tol`: relative residual tolerance ||A rho - b|| / ||b|| of the iterative solve.
    - `rho0`: initial guess for the iterative solve (default: maximally mixed state).
    - `maxiter`, `restart`: GMRES iteration cap and Krylov dimension between restarts.
    - `progress`: print the GMRES residual after every block of iterations.
    - `preconditioner`: ``None`` (pure matrix-free GMRES) or ``"eigen"``: precondition with
      (-i[H, .] - sigma)^{-1}, applied in the eigenbasis of the Hamiltonian part of ``eq``
      (sigma = the summed strength of the dissipative terms). This diagonalizes the
      d^L x d^L Hamiltonian (memory 2 D^2, cost D^3 once and 4 D^3 per iteration) only to
      speed up the linear solve -- the equation itself needs no diagonalization. Measured at
      L = 8, local Redfield N = 4: 5 restarts of 60 instead of ~25, about 4x faster.

    **Returns:** rho_ss (Hermitian part, trace 1). Raises ``RuntimeError`` if GMRES does not
    converge within ``maxiter`` iterations. Differentiable (implicit differentiation).
    """
    if not isinstance(eq, MasterEquation):
        raise TypeError(f"`eq` must be a MasterEquation (e.g. local_redfield(system, 2)), got {type(eq).__name__}")
    if method not in ("auto", "dense", "iterative"):
        raise ValueError(f"`method` must be 'auto', 'dense' or 'iterative', got {method!r}")
    D = eq.dim
    if method == "auto":
        method = "dense" if D <= DENSE_MAX_DIM else "iterative"
    if method == "dense":
        M = liouvillian_matrix(eq, max_memory=max_memory)
        rho = _dense_solve(M)
    else:
        check_memory(16.0 * (restart + 8) * D**2, f"GMRES with restart={restart} at dimension {D}",
                     "Lower `restart`.", max_memory)
        if preconditioner not in (None, "eigen"):
            raise ValueError(f"`preconditioner` must be None or 'eigen', got {preconditioner!r}")
        prec = None
        if preconditioner == "eigen":
            check_memory(16.0 * 4 * D**2, f"the eigen-preconditioner at dimension {D}",
                         "Use preconditioner=None.", max_memory)
            prec = _eigen_preconditioner(eq)
        rho = _iterative_solve(eq, rho0, tol, maxiter, restart, progress, prec)
    rho = 0.5 * (rho + rho.conj().T)
    return rho / jnp.trace(rho)


@jax.jit
def _dense_solve(M):
    D = int(round(M.shape[0] ** 0.5))
    tr = jnp.eye(D, dtype=M.dtype).reshape(-1)
    s = jnp.max(jnp.abs(M))
    A = M + (s / D) * jnp.outer(tr, tr)
    x = jnp.linalg.solve(A, (s / D) * tr)
    return x.reshape(D, D)


def _dissipation_strength(eq):
    """sigma: summed spectral norms ||u|| ||v|| of the Redfield terms and ||L||^2 of the jumps."""
    norm = lambda m: jnp.linalg.norm(m, 2)
    sigma = sum(norm(u.matrix) * norm(v.matrix) for u, v in eq.redfield_terms)
    sigma = sigma + sum(norm(L.matrix) ** 2 for L in eq.jumps + eq.negative_jumps)
    return jnp.maximum(sigma, 1e-3)


@eqx.filter_jit
def _eigen_preconditioner(eq):
    H = eq.hamiltonian_matrix()
    E, V = jnp.linalg.eigh(0.5 * (H + H.conj().T))
    denom = -1j * (E[:, None] - E[None, :]) - _dissipation_strength(eq)
    return V, denom


def _iterative_solve(eq, rho0, tol, maxiter, restart, progress, prec=None):
    D = eq.dim
    rho = jnp.eye(D, dtype=jnp.complex128) / D if rho0 is None else jnp.asarray(rho0, dtype=jnp.complex128)
    traced = not all(is_concrete(x) for x in jax.tree_util.tree_leaves((eq, rho0)))
    if not progress or traced:  # (no residual printing inside a trace)
        rho, ok, _ = _gmres(eq, rho, tol, maxiter, restart, prec)
    else:  # blocks of iterations, warm-started, with the residual printed in between
        block, done, ok = 10 * restart, 0, False
        t0 = time.perf_counter()
        while done < maxiter and not ok:
            rho, ok, res = _gmres(eq, rho, tol, min(block, maxiter - done), restart, prec)
            done += block
            print(f"steadystate GMRES: <= {done} iterations, residual {float(res):.2e} "
                  f"(tol {tol:.0e}), {time.perf_counter() - t0:.0f} s", flush=True)
    msg = (f"GMRES did not reach tol={tol} within maxiter={maxiter}; raise `maxiter` or "
           "`restart`, or pass a better `rho0` (e.g. a short mesolve result)")
    if not is_concrete(ok):  # under jit: a runtime check (equinox.EquinoxRuntimeError)
        return eqx.error_if(rho, jnp.logical_not(ok), msg)
    if not bool(ok):
        raise RuntimeError(msg)
    return rho


@eqx.filter_jit
def _gmres(eq, rho0, tol, maxiter, restart, prec=None):
    D = eq.dim
    eye = jnp.eye(D, dtype=jnp.complex128)
    # scale of the rank-one trace term: a typical dissipative rate of G
    s = jnp.abs(jnp.trace(eq(eye / D) @ eye)) + 1.0

    def A(x):
        return eq(x) + (s / D) * jnp.trace(x) * eye

    op = lx.FunctionLinearOperator(A, jax.eval_shape(lambda: rho0))
    b = (s / D) * eye
    solver = lx.GMRES(rtol=tol, atol=tol * 1e-3, restart=restart, max_steps=maxiter,
                      stagnation_iters=maxiter)
    options = {"y0": rho0}
    if prec is not None:
        V, denom = prec

        def P(x):
            return V @ ((V.conj().T @ x @ V) / denom) @ V.conj().T

        options["preconditioner"] = lx.FunctionLinearOperator(P, jax.eval_shape(lambda: rho0))
    sol = lx.linear_solve(op, b, solver, options=options, throw=False)
    res = jnp.linalg.norm(A(sol.value) - b) / jnp.linalg.norm(b)
    return sol.value, sol.result == lx.RESULTS.successful, res
