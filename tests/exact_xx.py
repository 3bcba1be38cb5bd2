r"""Exact non-equilibrium steady state of the XX chain with gain and loss on its sites -- the
reference for long chains (issue 26), independent of jaxredfield (NumPy/SciPy only).

    H = -J \sum_i (\sigma^x_i \sigma^x_{i+1} + \sigma^y_i \sigma^y_{i+1}) + \sum_i h_i \sigma^z_i,
    jumps \sqrt{g_i} \sigma^+_i (gain) and \sqrt{l_i} \sigma^-_i (loss), Lindblad form

(the standard local Lindblad equation of a boundary-driven chain at Delta = 0: gain and loss only
on the two end sites). With n_i = \sigma^+_i \sigma^-_i = |up><up| and the Jordan-Wigner fermions
\sigma^-_j = \prod_{k<j} (1 - 2 n_k) c_j, H = \sum_{ab} h_{ab} c^\dagger_a c_b is quadratic
(h_{i,i+1} = h_{i+1,i} = -2J, h_{ii} = 2 h_i, up to a constant) and the jumps are linear in
the fermions (the string of an end-site jump drops out of every quadratic observable). The
two-point function G_ij = <c^\dagger_i c_j> then obeys the closed linear equation

    dG/dt = i [h, G] - (1/2) {Gamma, G} + diag(g),   Gamma = diag(g + l),

so the steady state solves the continuous Lyapunov equation X G + G X^\dagger = -diag(g) with
X = i h - Gamma/2 (third quantization: T. Prosen, New J. Phys. 10, 043026 (2008); the
correlation-matrix form e.g. in Znidaric, PRE 83, 011108 (2011)). L x L instead of 4^L:
exact at L = 100-200.

Observables: <\sigma^z_i> = 2 G_ii - 1; <\sigma^+_i \sigma^-_{i+1}> = G_{i,i+1} (nearest
neighbours carry no string); the spin current j_i = -i <[H^{i,i+1}, \sigma^z_i]> =
8 J Im G_{i,i+1} (the definition of ``jr.spin_current``; positive: magnetization flows from i
to i + 1).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl


def steady_correlations(J: float, fields, gain, loss) -> np.ndarray:
    """G_ij = <c^dag_i c_j> of the steady state (module docstring) for exchange ``J``, the L
    site fields h_i and the L gain and loss rates (zeros where there is no jump)."""
    hz = np.asarray(fields, float)
    g, l = np.asarray(gain, float), np.asarray(loss, float)
    L = hz.shape[0]
    if g.shape != (L,) or l.shape != (L,):
        raise ValueError(f"`gain` and `loss` need one rate per site (L = {L})")
    h = np.diag(2.0 * hz) - 2.0 * J * (np.eye(L, k=1) + np.eye(L, k=-1))
    X = 1j * h - 0.5 * np.diag(g + l)
    G = sl.solve_continuous_lyapunov(X, -np.diag(g).astype(complex))
    return 0.5 * (G + G.conj().T)  # Hermitian up to round-off


def magnetization(G) -> np.ndarray:
    """<sigma^z_i> = 2 G_ii - 1."""
    return 2.0 * np.real(np.diag(G)) - 1.0


def spin_currents(G, J: float) -> np.ndarray:
    """j_i = 8 J Im G_{i,i+1} on the L - 1 bonds."""
    return 8.0 * J * np.imag(np.diag(G, k=1))
