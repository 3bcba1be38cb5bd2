r"""Product states |phi_0> (x) |phi_1> (x) ... (x) |phi_{L-1}>: the paper's initial states
(|up...up>, |+>^L) kept as L local vectors -- a matrix product state of bond dimension 1 --
and made a dense d^L vector only where a state vector is asked for (``mcsolve``/``mesolve``
accept a :class:`ProductState` as ``psi0``; the Kronecker order is QuTiP's ``tensor()``,
site 0 leftmost, DESIGN.md)."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from ._checks import check_memory


class ProductState(eqx.Module):
    """L normalized local vectors (``vectors``, shape (L, d), site 0 first). Build one with
    :func:`product_state`; :meth:`dense` gives the d^L state vector."""

    vectors: jnp.ndarray

    @property
    def L(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def d(self) -> int:
        return int(self.vectors.shape[1])

    def dense(self, max_memory: float | None = None) -> jnp.ndarray:
        """The state vector (d^L,) in QuTiP's ``tensor()`` order (site 0 most significant);
        refused beyond ``max_memory`` bytes (default 8 GiB) with the size it would need."""
        check_memory(16.0 * self.d**self.L, f"the dense state vector of this product state (L = {self.L})",
                     "Keep it as a ProductState for a method that does not need the vector.", max_memory)
        psi = self.vectors[0]
        for v in self.vectors[1:]:
            psi = jnp.kron(psi, v)
        return psi

    def __repr__(self) -> str:
        return f"ProductState(L={self.L}, d={self.d})"


def product_state(model, states) -> ProductState:
    """The product state of ``model`` (a :class:`~jaxredfield.LatticeModel`) with local
    states ``states``: one local vector (a (d,) array) repeated on every site, or a list (or
    tuple) of L local states, site 0 first. An integer k stands for the basis vector e_k (spins:
    0 = |up>, 1 = |down>, DESIGN.md). Each local vector is normalized here; a zero or
    non-finite vector, a wrong length or a wrong count raises ``ValueError`` naming it.

    >>> import jaxredfield as jr, numpy as np
    >>> up = jr.product_state(jr.xxz_chain(4), 0)                     # |up up up up>
    >>> plus = jr.product_state(jr.xxz_chain(4), np.ones(2))          # |+>^4
    >>> neel = jr.product_state(jr.xxz_chain(4), [0, 1, 0, 1])
    """
    L, d = model.L, model.d

    def local(v, where):
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            if not 0 <= v < d:
                raise ValueError(f"`states`{where}: basis index {v} is outside 0...{d - 1} (local dimension d = {d})")
            return np.eye(d, dtype=complex)[int(v)]
        a = np.asarray(v, dtype=complex)
        if a.shape != (d,):
            raise ValueError(f"`states`{where}: a local state must have shape ({d},) (local dimension d = {d}), "
                             f"got {a.shape}")
        n = np.linalg.norm(a)
        if not np.all(np.isfinite(a)) or n == 0:
            raise ValueError(f"`states`{where}: the local vector must be finite and nonzero, got {a}")
        return a / n

    if isinstance(states, (list, tuple)):
        if len(states) != L:
            raise ValueError(f"`states`: a list holds one local state per site, L = {L}, got {len(states)} "
                             "(pass one local vector as an array to repeat it on every site)")
        vecs = [local(v, f"[{i}]") for i, v in enumerate(states)]
    else:
        vecs = [local(states, "")] * L
    return ProductState(jnp.asarray(np.stack(vecs)))


__all__ = ["ProductState", "product_state"]
