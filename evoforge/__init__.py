"""evoforge: neuroevolution toolkit.

Evolve neural-network weights, topologies, architectures and training rules (GA, OpenAI-ES,
CMA-ES, NEAT, regularized evolution, NSGA-II, ...) for Gymnasium policies or any problem, with a
run store that survives crashes.

>>> import evoforge
>>> cfg = evoforge.RunConfig(problem={"kind": "function", "name": "sphere", "dim": 3},
...                          strategy={"name": "open_es"}, generations=2)

The names below are imported when first used, so ``import evoforge`` costs next to nothing and a
run imports only what it runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "PipelineSearch",
    "RunConfig",
    "RunResult",
    "STRATEGIES",
    "Strategy",
    "StrategyConfig",
    "get_strategy",
    "load_model",
    "read_run",
    "resume",
    "run",
]

_WHERE = {
    "PipelineSearch": "evoforge.pipelines",
    "RunConfig": "evoforge.engine.config",
    "RunResult": "evoforge.engine.records",
    "read_run": "evoforge.engine.records",
    "resume": "evoforge.engine.loop",
    "run": "evoforge.engine.loop",
    "STRATEGIES": "evoforge.engine.registry",
    "get_strategy": "evoforge.engine.registry",
    "load_model": "evoforge.problems.trained_model",
    "Strategy": "evoforge.core.strategy",
    "StrategyConfig": "evoforge.core.strategy",
}

if TYPE_CHECKING:
    from evoforge.core.strategy import Strategy, StrategyConfig
    from evoforge.engine.config import RunConfig
    from evoforge.engine.loop import resume, run
    from evoforge.engine.records import RunResult, read_run
    from evoforge.engine.registry import STRATEGIES, get_strategy
    from evoforge.pipelines import PipelineSearch
    from evoforge.problems.trained_model import load_model


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'evoforge' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
