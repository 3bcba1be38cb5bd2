"""Numerical precision: jaxredfield computes in float64 / complex128 by default.

JAX's 64-bit mode is a process-wide switch; importing :mod:`jaxredfield` turns it on
(accuracy of the Redfield expansion is the point of the library). Lower precision is an
explicit per-call option where a solver offers it (``dtype=jnp.complex64``).
"""

import jax

jax.config.update("jax_enable_x64", True)

#: default complex dtype of states and operators
COMPLEX = "complex128"
#: default real dtype
REAL = "float64"
