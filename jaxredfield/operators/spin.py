"""Single-site spin-1/2 operators. Basis (|up>, |down>): sigmaz = diag(1, -1),
sigmap = |up><down| (as in QuTiP). Boson operators: :mod:`.boson`."""

import numpy as np


def sigmax() -> np.ndarray:
    """Pauli x."""
    return np.array([[0, 1], [1, 0]], dtype=np.complex128)


def sigmay() -> np.ndarray:
    """Pauli y."""
    return np.array([[0, -1j], [1j, 0]], dtype=np.complex128)


def sigmaz() -> np.ndarray:
    """Pauli z = diag(1, -1) in the basis (|up>, |down>)."""
    return np.array([[1, 0], [0, -1]], dtype=np.complex128)


def sigmap() -> np.ndarray:
    """Raising operator |up><down| (raises sigma_z, as QuTiP's ``sigmap``)."""
    return np.array([[0, 1], [0, 0]], dtype=np.complex128)


def sigmam() -> np.ndarray:
    """Lowering operator |down><up|."""
    return np.array([[0, 0], [1, 0]], dtype=np.complex128)
