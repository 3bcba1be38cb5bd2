"""jaxredfield: local Redfield master equations for open quantum many-body systems, without
diagonalizing the many-body Hamiltonian (Schnell, "Global becomes local").

The public API, in the order data flows: local operators -> lattice model + baths -> open
system -> jump operators (expansion) -> master equation -> solver (method object) -> result;
observables and tuning on top. The command line, run configs and the paper's figure helpers
are the application layer :mod:`jaxredfield.app`, which the core never imports.

Importing the package enables JAX's float64 mode (see :mod:`jaxredfield._config`). The
persistent XLA compilation cache stays off unless asked for (:func:`enable_compilation_cache`,
``JAXREDFIELD_CACHE=1``; see :mod:`jaxredfield._cache`); the CLI and examples turn it on.
On CPUs with AVX-512 the import also asks XLA for 512-bit vector code (10-25 % faster solvers;
``JAXREDFIELD_XLA_FLAGS=0`` turns it off; see :mod:`jaxredfield._xla`). Inside a multi-task
SLURM step (``srun -n N``) the import joins the tasks with ``jax.distributed``
(``JAXREDFIELD_DISTRIBUTED=0`` turns it off; see :mod:`jaxredfield._slurm`).
"""

from . import _xla  # noqa: E402

_xla.apply()  # 512-bit vector code on AVX-512 CPUs, before JAX creates its backend
from . import _slurm  # noqa: E402

_slurm.initialize()  # the tasks of a multi-task srun step join (jax.distributed), before JAX computes
from . import _config  # noqa: F401, E402  (float64)

# operators
from .operators import LocalOperator as LocalOperator
from .operators import create as create
from .operators import destroy as destroy
from .operators import number as number
from .operators import sigmam as sigmam
from .operators import sigmap as sigmap
from .operators import sigmax as sigmax
from .operators import sigmay as sigmay
from .operators import sigmaz as sigmaz

# models and baths
from .models import LatticeModel as LatticeModel
from .models import bose_hubbard_chain as bose_hubbard_chain
from .models import xxz_chain as xxz_chain
from .baths import AbstractBath as AbstractBath
from .baths import CallableBath as CallableBath
from .baths import DrudeLorentzBath as DrudeLorentzBath
from .baths import OhmicBath as OhmicBath
from .baths import derivatives as derivatives

# open system
from .system import Coupling as Coupling
from .system import OpenSystem as OpenSystem
from .system import boundary_driven as boundary_driven
from .system import particle_reservoir as particle_reservoir

# jump operators
from .expansion import adhoc_u as adhoc_u
from .expansion import exact_u as exact_u
from .expansion import lam_loc as lam_loc
from .expansion import local_u as local_u
from .expansion import nested_commutators as nested_commutators

# master equations
from .equations import MasterEquation as MasterEquation
from .equations import adhoc_lindblad as adhoc_lindblad
from .equations import adhoc_redfield as adhoc_redfield
from .equations import lindblad as lindblad
from .equations import local_lindblad as local_lindblad
from .equations import local_redfield as local_redfield
from .equations import pseudo_lindblad as pseudo_lindblad
from .equations import redfield as redfield
from .equations import standard_local_lindblad as standard_local_lindblad

# solvers, their method objects and results
from .method import Chebyshev as Chebyshev
from .method import Diffrax as Diffrax
from .method import Direct as Direct
from .method import GMRES as GMRES
from .method import MPS as MPS
from .result import MCSolveResult as MCSolveResult
from .result import MESolveResult as MESolveResult
from .result import Result as Result
from .result import SteadyStateResult as SteadyStateResult
from .result import TuneResult as TuneResult
from .solvers import liouvillian_matrix as liouvillian_matrix
from .solvers import mesolve as mesolve
from .solvers import steadystate as steadystate
from .mps._truncation import TruncationWarning as TruncationWarning
from .mps import MatrixProductState as MatrixProductState
from .trajectories import mcsolve as mcsolve
from ._progress import set_progress as set_progress
from ._cache import enable_compilation_cache as enable_compilation_cache
from ._files import FileInUseError as FileInUseError
from .sweep import sweep as sweep
from ._files import SaveError as SaveError

# states
from .states import ProductState as ProductState
from .states import product_state as product_state

# observables
from .observables import bond_current as bond_current
from .observables import eigenstate_populations as eigenstate_populations
from .observables import expect as expect
from .observables import gibbs_state as gibbs_state
from .observables import magnetization as magnetization
from .observables import operator_on as operator_on
from .observables import spin_current as spin_current
from .observables import trace_distance as trace_distance

# tuning
from .tuning import LocalParams as LocalParams
from .tuning import local_thermal_state as local_thermal_state
from .tuning import negative_weight_loss as negative_weight_loss
from .tuning import steady_distance_loss as steady_distance_loss
from .tuning import tune as tune

from . import _cache as _cache_module  # noqa: E402

_cache_module._enable_on_import()  # off unless JAXREDFIELD_CACHE=1

__version__ = "0.1.0"

__all__ = [
    # operators
    "LocalOperator", "create", "destroy", "number", "sigmam", "sigmap", "sigmax", "sigmay", "sigmaz",
    # models and baths
    "LatticeModel", "bose_hubbard_chain", "xxz_chain",
    "AbstractBath", "CallableBath", "DrudeLorentzBath", "OhmicBath", "derivatives",
    # open system
    "Coupling", "OpenSystem", "boundary_driven", "particle_reservoir",
    # jump operators
    "adhoc_u", "exact_u", "lam_loc", "local_u", "nested_commutators",
    # master equations
    "MasterEquation", "adhoc_lindblad", "adhoc_redfield", "lindblad", "local_lindblad",
    "local_redfield", "pseudo_lindblad", "redfield", "standard_local_lindblad",
    # solvers, their method objects and results
    "Chebyshev", "Diffrax", "Direct", "GMRES", "MPS", "Result",
    "MESolveResult", "SteadyStateResult", "liouvillian_matrix", "mesolve", "steadystate",
    "MCSolveResult", "mcsolve", "set_progress", "enable_compilation_cache",
    # MPS results (final states, long-chain steady states) and their truncation warning
    "MatrixProductState", "TruncationWarning",
    # every core: parameter sweeps (mcsolve's workers: its `workers` argument)
    "sweep",
    # files a run owns (checkpoints, output folders)
    "FileInUseError", "SaveError",
    # states
    "ProductState", "product_state",
    # observables
    "bond_current", "eigenstate_populations", "expect", "gibbs_state", "magnetization",
    "operator_on", "spin_current", "trace_distance",
    # tuning
    "LocalParams", "TuneResult", "local_thermal_state", "negative_weight_loss",
    "steady_distance_loss", "tune",
]
