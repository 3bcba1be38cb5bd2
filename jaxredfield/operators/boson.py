"""Single-site boson operators on the Fock cutoff {|0>, ..., |nmax>} (local dimension
d = nmax + 1), basis ordered by occupation as QuTiP's ``destroy(nmax + 1)``."""

import numpy as np


def _check_nmax(nmax) -> int:
    if isinstance(nmax, bool) or not isinstance(nmax, (int, np.integer)) or nmax < 1:
        raise ValueError(f"`nmax` (Fock cutoff) must be an integer >= 1, got {nmax!r}")
    return int(nmax)


def destroy(nmax: int) -> np.ndarray:
    """a |n> = sqrt(n) |n - 1> on {0..nmax} (a^dag a = n exactly; [a, a^dag] = 1 except in the
    last Fock state, the truncation)."""
    n = _check_nmax(nmax)
    return np.diag(np.sqrt(np.arange(1, n + 1)), k=1).astype(np.complex128)


def create(nmax: int) -> np.ndarray:
    """a^dag, the adjoint of :func:`destroy`."""
    return destroy(nmax).conj().T


def number(nmax: int) -> np.ndarray:
    """n = a^dag a = diag(0, 1, ..., nmax)."""
    return np.diag(np.arange(_check_nmax(nmax) + 1)).astype(np.complex128)
