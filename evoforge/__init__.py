"""evoforge: neuroevolution toolkit.

Evolve neural-network weights (GA, OpenAI-ES, CMA-ES, random search) for
Gymnasium policies or any problem, with a run store that survives crashes.

>>> import evoforge
>>> cfg = evoforge.RunConfig(problem={"kind": "function", "name": "sphere", "dim": 3},
...                          strategy={"name": "open_es"}, generations=2)
"""

from evoforge.core.config import RunConfig
from evoforge.core.loop import RunResult, resume, run
from evoforge.core.strategy import STRATEGIES, Strategy, StrategyConfig, get_strategy

__version__ = "0.1.0"

__all__ = [
    "RunConfig",
    "RunResult",
    "STRATEGIES",
    "Strategy",
    "StrategyConfig",
    "get_strategy",
    "resume",
    "run",
]
