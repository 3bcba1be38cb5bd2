"""Solvers: steady states and master-equation dynamics."""

from ..result import MESolveResult, SteadyStateResult
from ._mesolve import mesolve
from ._steadystate import liouvillian_matrix, steadystate

__all__ = ["MESolveResult", "SteadyStateResult", "mesolve", "liouvillian_matrix", "steadystate"]
