"""Solvers: steady states and master-equation dynamics."""

from .mesolve import MESolveResult, mesolve
from .steadystate import liouvillian_matrix, steadystate

__all__ = ["MESolveResult", "mesolve", "liouvillian_matrix", "steadystate"]
