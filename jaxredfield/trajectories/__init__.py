"""Quantum-trajectory unravelings of Lindblad-form master equations."""

from .mcsolve import MCSolveResult, mcsolve

__all__ = ["MCSolveResult", "mcsolve"]
