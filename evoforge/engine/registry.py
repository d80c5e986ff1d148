"""The registries: every strategy, problem kind, search-space genome and backend by name.

Each entry is a ``"module:Class"`` path, imported the first time it is used, so that naming a
strategy costs nothing and a run imports only what it runs (no ``cmaes``, hence no ``scipy``, unless
CMA-ES is asked for; no ``torch`` unless a problem trains networks). Adding a strategy is one new
file under ``evoforge/strategies/`` plus one line in :data:`STRATEGIES`; the conformance suites in
:mod:`evoforge.testing` read these tables, so the new strategy is tested without editing a test.

>>> STRATEGIES["open_es"].__name__
'OpenES'
>>> "cma_es" in STRATEGIES.names()
True
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from evoforge.backends.base import Backend
from evoforge.core.genome import add_genome_finder
from evoforge.core.problem import Problem
from evoforge.core.space import SearchSpace
from evoforge.core.strategy import Strategy

__all__ = [
    "Registry",
    "STRATEGIES",
    "PROBLEMS",
    "BACKENDS",
    "GENOMES",
    "get_strategy",
    "get_problem",
    "register_strategy",
    "register_problem",
    "make_backend",
    "choose_space",
]

T = TypeVar("T")


class Registry(Mapping[str, Any], Generic[T]):
    """Names to classes, each imported from its ``"module:Class"`` path when first looked up.

    ``names()`` lists the names without importing anything; iterating over ``items()`` imports every
    entry (the conformance suites do that)."""

    def __init__(self, what: str, entries: dict[str, str], aliases: dict[str, str] | None = None):
        self.what = what
        self._paths = dict(entries)
        self._aliases = dict(aliases or {})
        self._loaded: dict[str, T] = {}

    def canonical(self, name: str) -> str:
        """The registered name ``name`` stands for: itself, with hyphens read as underscores, or
        what it is an alias of (``cmaes`` for ``cma_es``); unknown names come back as given."""
        key = name.strip().lower().replace("-", "_")
        key = self._aliases.get(key, key)
        return key if key in self._paths else name

    def names(self) -> list[str]:
        return sorted(self._paths)

    def register(self, name: str, target: T | str) -> None:
        """Add ``name``: a class, or a ``"module:Class"`` path to import when it is first used."""
        if name in self._paths:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        if isinstance(target, str):
            self._paths[name] = target
        else:
            self._paths[name] = f"{getattr(target, '__module__', '')}:{getattr(target, '__qualname__', name)}"
            self._loaded[name] = target

    def __getitem__(self, name: str) -> T:
        name = self.canonical(name)
        if name in self._loaded:
            return self._loaded[name]
        try:
            path = self._paths[name]
        except KeyError:
            raise KeyError(f"unknown {self.what} {name!r} (known: {', '.join(self.names())})") from None
        module, _, attr = path.partition(":")
        cls = getattr(importlib.import_module(module), attr)
        self._loaded[name] = cls
        return cls

    def __contains__(self, name: object) -> bool:
        return name in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._paths)


STRATEGIES: Registry[type[Strategy]] = Registry(
    "strategy",
    {
        "ars": "evoforge.strategies.ars:ARS",
        "cem_rl": "evoforge.strategies.cem_rl:CEMRL",
        "cma_es": "evoforge.strategies.cma_es:CMAES",
        "cma_mae": "evoforge.strategies.cma_mae:CMAMAE",
        "crossover_mutation": "evoforge.strategies.tournament_ga:CrossoverMutation",
        "elitist": "evoforge.strategies.tournament_ga:Elitist",
        "erl": "evoforge.strategies.erl:ERL",
        "ga": "evoforge.strategies.ga:GA",
        "map_elites": "evoforge.strategies.map_elites:MAPElites",
        "neat": "evoforge.strategies.neat:NEAT",
        "neat_reference": "evoforge.strategies.neat_reference:NEATReference",
        "ns_es": "evoforge.strategies.ns_es:NSES",
        "novelty_search": "evoforge.strategies.novelty_search:NoveltySearch",
        "nsga2": "evoforge.strategies.nsga2:NSGA2",
        "one_plus_one_es": "evoforge.strategies.one_plus_one_es:OnePlusOneES",
        "open_es": "evoforge.strategies.open_es:OpenES",
        "pgpe": "evoforge.strategies.pgpe:PGPE",
        "random_search": "evoforge.strategies.random_search:RandomSearch",
        "regularized_evolution": "evoforge.strategies.regularized_evolution:RegularizedEvolution",
        "sep_cma_es": "evoforge.strategies.cma_es:SepCMAES",
        "steady_ga": "evoforge.strategies.steady_state:SteadyStateGA",
        "tournament_ga": "evoforge.strategies.tournament_ga:TournamentGA",
    },
    # names users type for them (hyphens are read as underscores anyway)
    aliases={
        "aging": "regularized_evolution",
        "regevo": "regularized_evolution",
        "nsr_es": "ns_es",
        "nsra_es": "ns_es",
        "cmaes": "cma_es",
        "cma_me": "cma_mae",
        "nsga_ii": "nsga2",
        "ns": "novelty_search",
        "random": "random_search",
        "tournament": "tournament_ga",
    },
)

PROBLEMS: Registry[type[Problem]] = Registry(
    "problem kind",
    {
        "classification": "evoforge.problems.classification:ClassificationProblem",
        "double_pole": "evoforge.problems.double_pole:DoublePoleProblem",
        "function": "evoforge.problems.functions:FunctionProblem",
        "gan": "evoforge.problems.gan:GanProblem",
        "gym": "evoforge.problems.gym:GymProblem",
        "maze": "evoforge.problems.maze:MazeProblem",
        "optimizer_search": "evoforge.problems.optimizer_search:OptimizerSearchProblem",
        "tabular": "evoforge.problems.tabular:TabularProblem",
        "xor": "evoforge.problems.xor:XORProblem",
    },
)

BACKENDS: Registry[type[Backend]] = Registry(
    "backend",
    {
        "process": "evoforge.backends.process:ProcessBackend",
        "ray": "evoforge.backends.ray:RayBackend",
        "serial": "evoforge.backends.serial:SerialBackend",
    },
)

#: the module defining each structured genome encoding, imported to read a stored genome of it
GENOMES: dict[str, str] = {
    "cell": "evoforge.spaces.cell",
    "chain": "evoforge.spaces.chain",
    "gan": "evoforge.spaces.gan",
    "neat": "evoforge.spaces.neat",
    "pipeline": "evoforge.spaces.pipeline",
    "tree": "evoforge.spaces.tree",
    "update_rule": "evoforge.spaces.update_rule",
}


def _find_genome(encoding: str) -> None:
    if encoding in GENOMES:
        importlib.import_module(GENOMES[encoding])


add_genome_finder(_find_genome)


def choose_space(strategy: type[Strategy], problem: type[Problem]) -> type[SearchSpace]:
    """The first of ``problem``'s search spaces that offers everything ``strategy`` requires;
    ``ValueError`` saying what is missing otherwise. The one place strategies meet problems."""
    for space in problem.spaces:
        if strategy.requires <= space.offers:
            return space
    offered = " or ".join(f"{s.describes}s ({', '.join(sorted(s.offers))})" for s in problem.spaces)
    raise ValueError(
        f"strategy {strategy.name!r} needs a search space offering {', '.join(sorted(strategy.requires))}; "
        f"problem {problem.kind!r} evolves {offered}"
    )


def get_strategy(name: str) -> type[Strategy]:
    """The strategy class registered as ``name``; ``KeyError`` with the known names otherwise."""
    return STRATEGIES[name]


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator adding a strategy of your own under ``cls.name``."""
    STRATEGIES.register(cls.name, cls)
    return cls


def register_problem(cls: type[Problem]) -> type[Problem]:
    """Class decorator adding a problem kind of your own under ``cls.kind``."""
    PROBLEMS.register(cls.kind, cls)
    return cls


def get_problem(kind: str) -> type[Problem]:
    """The problem class for ``kind``: a registered name, or ``"package.module:ClassName"`` for a
    user's own :class:`Problem` subclass (importable wherever evaluations run).

    >>> get_problem("function").__name__
    'FunctionProblem'
    >>> get_problem("evoforge.problems.functions:FunctionProblem").kind
    'function'
    """
    if kind in PROBLEMS:
        return PROBLEMS[kind]
    if ":" not in kind:
        raise KeyError(
            f"unknown problem kind {kind!r} (known: {', '.join(PROBLEMS.names())}, or module:Class)"
        )
    module_name, _, attr = kind.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise KeyError(f"problem kind {kind!r} cannot be imported: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Problem)):
        raise KeyError(f"problem kind {kind!r} is not a Problem subclass")
    return cls


def make_backend(name: str, workers: int | None = None, address: str | None = None) -> Backend:
    """The backend registered as ``name`` (``serial``, ``process``, ``ray``), built for ``workers``
    (``address`` joins a Ray cluster)."""
    return BACKENDS[name].create(workers=workers, address=address)
