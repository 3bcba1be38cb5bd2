"""Quantum-trajectory unravelings of Lindblad and pseudo-Lindblad master equations.

Public: :func:`mcsolve` and :class:`MCSolveResult`; the Chebyshev propagator lives in
:mod:`.chebyshev`. The modules with a leading underscore are internals (one concern each,
listed in :mod:`._mcsolve`)."""

from ._mcsolve import MCSolveResult, mcsolve

__all__ = ["MCSolveResult", "mcsolve"]
