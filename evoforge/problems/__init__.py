"""Problems: what fitness means. Each kind is registered by name in
:data:`evoforge.engine.registry.PROBLEMS` (and imported only when used)."""
