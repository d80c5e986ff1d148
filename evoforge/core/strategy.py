"""The strategy contract: ask/tell over an explicit, serialisable state.

A strategy object holds only hyperparameters (its typed config) and the search
space it draws genomes from (:mod:`evoforge.core.space`). Everything that changes
lives in the ``state`` value returned by :meth:`Strategy.init`, :meth:`ask`
and :meth:`tell`; state is a tree of dicts, lists and arrays that
:mod:`evoforge.core.state_io` saves and restores exactly. Randomness comes in
as an explicit generator, derived by the caller from (seed, generation, purpose).

Strategies always maximise. They never log or print.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evoforge.core.archive import Elites
from evoforge.core.genome import Genome, GenomeBatch, genome_from_tree, genome_to_tree
from evoforge.core.space import SearchSpace

__all__ = [
    "Strategy",
    "StrategyConfig",
    "Asked",
    "StepwiseGenerations",
    "Convergence",
    "TypedState",
]

#: a strategy's state: whatever value its ``init``, ``ask`` and ``tell`` pass along (a frozen
#: dataclass, or a tree of dicts and arrays) and its ``state_to_tree`` serialises
State = Any


class StrategyConfig(BaseModel):
    """Hyperparameters shared by every strategy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("", description="The registered name of the strategy (set by a run config).")
    population_size: int = Field(64, ge=2, description="Individuals asked for per generation.")


class TypedState:
    """Mixin of strategy states that are frozen dataclasses: :meth:`to_tree` and :meth:`from_tree`
    save and restore them exactly. Fields named in ``genome_fields`` hold a list of genomes (or
    None), those in ``array_fields`` a numpy array of the given dtype (or None); the rest are JSON
    values (numbers, strings, lists and dicts of them)."""

    genome_fields: ClassVar[tuple[str, ...]] = ()
    array_fields: ClassVar[dict[str, str]] = {}

    def with_(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def to_tree(self) -> dict[str, Any]:
        tree = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        for name in self.genome_fields:
            if tree[name] is not None:
                tree[name] = [genome_to_tree(g) for g in tree[name]]
        return tree

    @classmethod
    def from_tree(cls, tree: dict[str, Any]) -> Any:
        values = {f.name: tree[f.name] for f in dataclasses.fields(cls) if f.name in tree}  # type: ignore[arg-type]
        for name in cls.genome_fields:
            if values.get(name) is not None:
                values[name] = [genome_from_tree(g) for g in values[name]]
        for name, dtype in cls.array_fields.items():
            if values.get(name) is not None:
                values[name] = np.asarray(values[name], dtype=dtype)
        return cls(**values)


@dataclass(frozen=True)
class Convergence:
    """A budget a strategy promises to solve a conformance task within (see :mod:`evoforge.testing`):
    with hyperparameters ``settings``, the best ``loss`` of ``task`` (sphere, rosenbrock, onemax, xor)
    at ``dim`` falls below ``below`` within ``generations`` generations, for the seeds tried."""

    task: str
    dim: int
    generations: int
    below: float
    settings: dict[str, Any] = field(default_factory=dict)


class Asked(tuple):
    """``(state, genomes, parents)`` from :meth:`Strategy.ask`.

    ``parents[i]`` is a tuple of the content ids the i-th genome was made from
    (empty for individuals drawn from scratch or from a search distribution).
    ``genomes`` is a list, or a whole population held as arrays (a
    :class:`~evoforge.core.genome.GenomeBatch`; ``tell`` then gets the same batch).
    """

    def __new__(cls, state: State, genomes: list[Genome] | GenomeBatch, parents: list[tuple[str, ...]]):
        return super().__new__(cls, (state, genomes, parents))


class Strategy(ABC):
    """Base class of every search strategy.

    Example (any registered strategy works the same way)::

        strategy = STRATEGIES["open_es"](OpenESConfig(), VectorSpace(10, lambda r: r.normal(size=10)))
        state = strategy.init(np.random.default_rng(0))
        state, genomes, _ = strategy.ask(state, np.random.default_rng(1))
        state = strategy.tell(state, genomes, fitness)
    """

    name: ClassVar[str]
    config_class: ClassVar[type[StrategyConfig]]
    #: whether the strategy also offers ``ask_one``/``tell_one`` (one individual at a time), so the
    #: run loop can drive it asynchronously
    steady_state: ClassVar[bool] = False
    #: what the strategy needs of its search space (capabilities of :mod:`evoforge.core.space`)
    requires: ClassVar[frozenset[str]] = frozenset({"continuous"})
    #: the budgets it must meet in the conformance suite (each strategy states its own)
    convergence: ClassVar[tuple[Convergence, ...]] = ()
    #: whether ``tell`` is told behaviour descriptors (quality diversity, novelty): then its fitness
    #: argument is a matrix, the fitness in column 0 and the descriptor's numbers after it (NaN where
    #: a candidate failed or reported none); the length it expects is :meth:`descriptor_size`
    uses_descriptors: ClassVar[bool] = False

    def descriptor_size(self) -> int | None:
        """Numbers in the behaviour descriptors it is to be told (None: it takes none)."""
        return None

    #: whether it learns from the environment transitions of the candidates it asked for (an RL
    #: learner inside the strategy): the run then hands them to :meth:`observe` before each tell
    uses_transitions: ClassVar[bool] = False

    def observe(self, state: State, transitions: list[dict[str, np.ndarray] | None]) -> State:
        """Take in the transitions of the candidates just evaluated, in population order (None for a
        candidate not evaluated afresh: a cache hit); called before :meth:`tell`."""
        return state

    def __init__(self, config: StrategyConfig, space: SearchSpace):
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}")
        missing = self.requires - space.offers
        if missing:
            raise ValueError(
                f"strategy {self.name!r} needs a search space that offers {', '.join(sorted(missing))}; "
                f"{type(space).__name__} does not"
            )
        self.config = config
        self.space = space

    @property
    def dim(self) -> int:
        """Coordinates of the space's continuous encoding (the length of a parameter vector)."""
        return self.space.dim

    @property
    def population_size(self) -> int:
        return self.config.population_size

    @abstractmethod
    def init(self, rng: np.random.Generator) -> State:
        """The initial state."""

    @abstractmethod
    def ask(self, state: State, rng: np.random.Generator) -> Asked:
        """Propose a generation: ``Asked(state, genomes, parents)``."""

    @abstractmethod
    def tell(self, state: State, genomes: list[Genome], fitness: np.ndarray) -> State:
        """Update from the fitness (finite, to maximise) of the genomes just asked for."""

    #: the class of its state, if a :class:`TypedState` (then saved and restored without more code)
    state_class: ClassVar[type | None] = None

    def state_to_tree(self, state: State) -> Any:
        """State as a tree :func:`evoforge.core.state_io.save_state` can write."""
        return state.to_tree() if isinstance(state, TypedState) else state

    def state_from_tree(self, tree: Any) -> State:
        """Inverse of :meth:`state_to_tree`."""
        cls = self.state_class
        return cls.from_tree(tree) if cls is not None and issubclass(cls, TypedState) else tree

    def ask_one(self, state: State, rng: np.random.Generator) -> tuple[State, Genome, tuple[str, ...]]:
        """Propose one individual: ``(state, genome, parent ids)`` (steady-state strategies only)."""
        raise NotImplementedError(f"strategy {self.name!r} is generational; it has no ask_one")

    def tell_one(self, state: State, genome: Genome, fitness: float) -> State:
        """Update from one individual's fitness (finite, to maximise; steady-state strategies only)."""
        raise NotImplementedError(f"strategy {self.name!r} is generational; it has no tell_one")

    def report(self, state: State) -> dict[str, Any]:
        """Strategy-specific statistics recorded with each generation (JSON values; default none)."""
        return {}

    def mean(self, state: State) -> np.ndarray | None:
        """The centre of the search distribution, for strategies that have one."""
        return None

    def elites(self, state: State) -> Elites | None:
        """The archive of elites, for quality-diversity strategies (what reports draw)."""
        return None


class StepwiseGenerations(Strategy):
    """Mixin for steady-state strategies: a generation is ``population_size`` calls of ``ask_one`` on
    one state, and ``tell`` adds the evaluated individuals in order with ``tell_one``, so the
    generational loop reproduces exactly what the asynchronous one does on one worker."""

    steady_state = True

    def ask(self, state: State, rng: np.random.Generator) -> Asked:
        genomes, parents = [], []
        for _ in range(self.population_size):
            state, genome, from_ = self.ask_one(state, rng)
            genomes.append(genome)
            parents.append(from_)
        return Asked(state, genomes, parents)

    def tell(self, state: State, genomes: list[Genome], fitness: np.ndarray) -> State:
        for genome, f in zip(genomes, np.asarray(fitness, dtype=np.float64), strict=True):
            state = self.tell_one(state, genome, float(f))
        return state
