"""Local operators and their matrix-free action on many-body states."""

from .boson import create, destroy, number
from .gather import GatherOperator, apply_sum, fused_sum
from .local import LocalOperator, apply_left, apply_right, embed, merge_terms
from .spin import sigmam, sigmap, sigmax, sigmay, sigmaz

__all__ = [
    "GatherOperator",
    "apply_sum",
    "fused_sum",
    "create",
    "destroy",
    "number",
    "LocalOperator",
    "apply_left",
    "apply_right",
    "embed",
    "merge_terms",
    "sigmam",
    "sigmap",
    "sigmax",
    "sigmay",
    "sigmaz",
]
