"""Search strategies, one module per algorithm, each registered by name in
:data:`evoforge.engine.registry.STRATEGIES` (and imported only when used)."""
