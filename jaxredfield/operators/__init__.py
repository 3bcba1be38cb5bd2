"""Local operators and their matrix-free action on many-body states."""

from .boson import create, destroy, number
from .local import LocalOperator, apply_left, apply_right, embed, merge_terms
from .spin import sigmam, sigmap, sigmax, sigmay, sigmaz

__all__ = [
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
