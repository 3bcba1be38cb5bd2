"""Application layer: the ``jaxredfield`` command line (:mod:`.cli`), ``jaxredfield run`` config files
(:mod:`.runconfig`) and the paper's figure helpers (:mod:`.paper`). Built on the public API; the
physics core never imports this package."""
