"""jaxredfield: local Redfield master equations for open quantum many-body systems, without
diagonalizing the many-body Hamiltonian (Schnell, "Global becomes local").

Importing the package enables JAX's float64 mode (see :mod:`jaxredfield._config`).
"""

from . import _config  # noqa: F401  (float64)
from .baths import AbstractBath as AbstractBath
from .baths import CallableBath as CallableBath
from .baths import DrudeLorentzBath as DrudeLorentzBath
from .baths import OhmicBath as OhmicBath
from .baths import derivatives as derivatives
from .equations import MasterEquation as MasterEquation
from .equations import adhoc_lindblad as adhoc_lindblad
from .equations import adhoc_redfield as adhoc_redfield
from .equations import lindblad as lindblad
from .equations import local_lindblad as local_lindblad
from .equations import local_redfield as local_redfield
from .equations import pseudo_lindblad as pseudo_lindblad
from .equations import redfield as redfield
from .equations import standard_local_lindblad as standard_local_lindblad
from .expansion import adhoc_u as adhoc_u
from .expansion import exact_u as exact_u
from .expansion import lam_loc as lam_loc
from .expansion import local_u as local_u
from .expansion import nested_commutators as nested_commutators
from .models import LatticeModel as LatticeModel
from .models import bose_hubbard_chain as bose_hubbard_chain
from .models import xxz_chain as xxz_chain
from .observables import bond_current as bond_current
from .observables import eigenstate_populations as eigenstate_populations
from .observables import expect as expect
from .observables import gibbs_state as gibbs_state
from .observables import magnetization as magnetization
from .observables import operator_on as operator_on
from .observables import spin_current as spin_current
from .observables import trace_distance as trace_distance
from .operators import LocalOperator as LocalOperator
from .operators import create as create
from .operators import destroy as destroy
from .operators import number as number
from .operators import sigmam as sigmam
from .operators import sigmap as sigmap
from .operators import sigmax as sigmax
from .operators import sigmay as sigmay
from .operators import sigmaz as sigmaz
from .solvers import MESolveResult as MESolveResult
from .solvers import liouvillian_matrix as liouvillian_matrix
from .solvers import mesolve as mesolve
from .solvers import steadystate as steadystate
from .system import Coupling as Coupling
from .system import OpenSystem as OpenSystem
from .system import boundary_driven as boundary_driven
from .system import particle_reservoir as particle_reservoir
from .trajectories import MCSolveResult as MCSolveResult
from .trajectories import mcsolve as mcsolve
from .tuning import LocalParams as LocalParams
from .tuning import TuneResult as TuneResult
from .tuning import local_lindblad_with as local_lindblad_with
from .tuning import local_redfield_with as local_redfield_with
from .tuning import local_thermal_state as local_thermal_state
from .tuning import negative_weight_loss as negative_weight_loss
from .tuning import steady_distance_loss as steady_distance_loss
from .tuning import tune as tune

__version__ = "0.1.0"
