"""Matrix-product states for quantum-jump trajectories: a fixed-shape MPS (jit/vmap over
trajectories) and its second-order TEBD propagator under the non-Hermitian Hamiltonian
H_nh = H - (i/2) sum_k L_k^dagger L_k (Vidal, PRL 91, 147902 (2003); Schollwöck, Ann. Phys.
326, 96 (2011)). Building block of the MPS engines; of it only ``MatrixProductState`` (the
result type) is exported from the top level.
"""

from ._mps import MatrixProductState as MatrixProductState
from ._mps import apply_local as apply_local
from ._mps import bond_dims as bond_dims
from ._mps import bond_sizes as bond_sizes
from ._mps import by_size as by_size
from ._mps import used as used
from ._mps import canonicalize as canonicalize
from ._mps import expect_local as expect_local
from ._mps import expect_many as expect_many
from ._mps import from_product as from_product
from ._mps import norm2 as norm2
from ._mps import split as split
from ._mps import to_dense as to_dense
from ._tebd import TEBD as TEBD
from ._tebd import bond_terms as bond_terms
from ._tebd import damping_from_jumps as damping_from_jumps
