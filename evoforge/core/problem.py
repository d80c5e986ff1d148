"""What fitness means.

A problem turns a batch of parameter vectors into fitness values. It declares
once whether it maximises or minimises, knows nothing of parallelism, and is
built from its (picklable, typed) config in whatever process evaluates it.

A problem may also hand the backend *shared inputs* (large read-only arrays,
such as a dataset): a distributed backend puts them in its object store once
and every worker builds the problem from them instead of from its own disk.

A problem may carry a small *context* that changes between generations but is
fixed within one (for instance running observation statistics); the run loop
owns it, saves it with every checkpoint, and ships it with every evaluation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from evoforge.core.space import SearchSpace, VectorSpace

__all__ = [
    "Problem",
    "ProblemConfig",
    "EvalResult",
    "TestResult",
    "Context",
    "InputError",
    "Lineage",
    "digest",
]

Context = dict[str, Any]


class InputError(ValueError):
    """Input a problem cannot use (a dataset, a table), said in one line: the engine reports its
    message as it is, where other failures to build a problem are reported with their type."""


class ProblemConfig(BaseModel):
    """Base of every problem config; ``kind`` selects the problem class."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str


@dataclass
class EvalResult:
    """The outcome of evaluating one individual.

    ``fitness`` is NaN when the evaluation failed; ``error`` then says why.
    ``aux`` holds arrays the problem aggregates into its context.
    """

    fitness: float
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    aux: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class TestResult:
    """The reported result of a run: the best individual re-evaluated on fresh cases."""

    score: float
    scores: list[float]
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BehaviourMap:
    """The world a problem's first two behaviour descriptors live in, for drawing under them:
    ``walls`` as segments ``(x1, y1, x2, y2)``, named points (a start, a goal) and the box."""

    walls: tuple[tuple[float, float, float, float], ...] = ()
    points: dict[str, tuple[float, float]] = field(default_factory=dict)
    bounds: tuple[tuple[float, float], tuple[float, float]] | None = None


@dataclass(frozen=True)
class Lineage:
    """Where a problem that hands trained state from parents to children (weight inheritance) keeps it:
    ``folder`` holds one file per evaluated candidate, named by its content id; ``ids[i]`` is the i-th
    candidate's content id and ``parents[i]`` its parents' ids (none for an initial individual)."""

    folder: str
    ids: list[str]
    parents: list[tuple[str, ...]]


class Problem(ABC):
    """Base class of every problem."""

    kind: ClassVar[str]
    config_class: ClassVar[type[ProblemConfig]]
    direction: ClassVar[Literal["maximize", "minimize"]] = "maximize"
    #: the classes of search space its candidates can come from, in order of preference: the engine
    #: builds a strategy on the first whose capabilities cover what the strategy requires
    spaces: ClassVar[tuple[type[SearchSpace], ...]] = (VectorSpace,)
    #: most candidates a backend puts in one chunk (None: one chunk per worker, for problems that
    #: evaluate a batch together; 1 for costly candidates of uneven cost, such as training runs)
    candidates_per_chunk: ClassVar[int | None] = None
    #: a small config of this kind, for the conformance suite and as an example (fields of config_class)
    example: ClassVar[dict[str, Any]] = {}
    #: whether :meth:`evaluate` also takes a slice of a :class:`~evoforge.core.genome.GenomeBatch`
    #: (a population held as arrays) for ``params``; if not, the engine builds the genomes for it
    accepts_batches: ClassVar[bool] = False
    #: whether evaluations ignore their seeds (the engine then derives none)
    deterministic: ClassVar[bool] = False
    #: metrics every evaluation records, which multi-objective strategies may minimise
    recorded_metrics: ClassVar[tuple[str, ...]] = ()
    #: numbers in the behaviour descriptor each evaluation records as metrics ``descriptor_0`` ...
    #: (quality-diversity and novelty strategies are told them; 0: the problem records none)
    descriptor_size: int = 0

    def __init__(self, config: ProblemConfig, shared: dict[str, np.ndarray] | None = None):
        self.config = config

    @classmethod
    def behaviour_map(cls, config: ProblemConfig) -> BehaviourMap | None:
        """Where the descriptors ``descriptor_0`` and ``descriptor_1`` are positions: the map they
        lie on (reports draw the behaviours found over it); None where there is none to draw."""
        return None

    @property
    def test_label(self) -> str:
        """What :meth:`test` measures, as results name it: "test score" only where it is measured on
        cases (episodes, samples, splits, tasks) the search never saw."""
        if self.deterministic:
            return "final score (a deterministic task: the search's own cases)"
        return "test score"

    def space_for(self, space_class: type[SearchSpace]) -> SearchSpace:
        """This problem's search space of class ``space_class`` (one of :attr:`spaces`): by default
        parameter vectors of :attr:`dim` drawn by :meth:`initial_params`."""
        if space_class is VectorSpace:
            return VectorSpace(self.dim, self.initial_params)
        raise ValueError(f"problem {self.kind!r} has no {space_class.__name__}")

    def data_digest(self) -> str | None:
        """A digest of the data the problem was built from (tables, images, labels; see
        :func:`digest`), or None for problems that read none. A run records it when it starts and a
        resume refuses data that changed since, which would quietly make the resumed run another."""
        return None

    def shared_inputs(self) -> dict[str, np.ndarray]:
        """Large read-only inputs every worker needs (default: none). A worker's problem is built as
        ``cls(config, shared=driver_problem.shared_inputs())`` where the backend can ship them."""
        return {}

    @property
    def network_io(self) -> tuple[int, int]:
        """(inputs, outputs) of the networks this problem evaluates (problems accepting "network")."""
        raise NotImplementedError(f"problem {self.kind!r} does not evaluate networks")

    @property
    @abstractmethod
    def dim(self) -> int:
        """Number of parameters of one individual."""

    @abstractmethod
    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        """A draw from the prior over parameters (used by initialisation and random search)."""

    def batch(self, genomes: list[Any]) -> Any:
        """What :meth:`evaluate` receives for a list of decoded genomes: by default the parameter
        vectors stacked into one (batch, dim) array; problems over structured genomes (networks,
        architectures) override it."""
        return np.stack(genomes)

    @abstractmethod
    def evaluate(self, params: Any, seeds: np.ndarray, context: Context) -> list[EvalResult]:
        """Evaluate ``params`` (batch, dim); ``seeds[i]`` drives all randomness of individual i."""

    @property
    def inherits(self) -> bool:
        """Whether this problem, as configured, starts candidates from their parents' trained state:
        the engine then evaluates them with :meth:`evaluate_lineage` and a folder in the run directory."""
        return False

    @property
    def records_transitions(self) -> bool:
        """Whether, as configured, evaluations save each candidate's environment transitions for
        strategies that learn from them (:attr:`Strategy.uses_transitions`): the engine then evaluates
        with :meth:`evaluate_lineage`, whose folder takes one :func:`save_transitions` file per candidate."""
        return False

    def evaluate_lineage(
        self, params: Any, seeds: np.ndarray, context: Context, lineage: Lineage
    ) -> list[EvalResult]:
        """:meth:`evaluate`, for a problem that :attr:`inherits`: it may read each candidate's parents'
        state from ``lineage.folder`` and save its own there (by default the lineage is ignored)."""
        return self.evaluate(params, seeds, context)

    def test(self, params: Any, seed: int, cases: int, context: Context) -> TestResult:
        """Re-evaluate one individual on ``cases`` fresh cases (default: one evaluation)."""
        result = self.evaluate(params[None, :], np.array([seed]), context)[0]
        return TestResult(result.fitness, [result.fitness], result.metrics)

    def validate(self, params: Any, seed: int, cases: int, context: Context) -> TestResult:
        """Re-evaluate one individual on ``cases`` fresh validation cases, never the test's (default:
        :meth:`test` with the validation seed, for problems whose cases are drawn from a seed; a problem
        with a held-out test split overrides it)."""
        return self.test(params, seed, cases, context)

    def validate_all(
        self, params: list[Any], seed: int, cases: int, contexts: list[Context]
    ) -> list[TestResult]:
        """:meth:`validate` for each of several individuals (with its own context), all on the same
        cases. A problem that can run them together overrides it; each result must equal what
        :meth:`validate` returns for that individual alone."""
        return [self.validate(p, seed, cases, c) for p, c in zip(params, contexts, strict=True)]

    def initial_context(self) -> Context:
        return {}

    def update_context(self, context: Context, aux: list[dict[str, np.ndarray]]) -> Context:
        """The context for the next generation, from this generation's auxiliary outputs."""
        return context

    def better(self, a: float, b: float) -> bool:
        """Whether raw fitness ``a`` is strictly better than ``b`` in this problem's direction."""
        return a > b if self.direction == "maximize" else a < b


#: the arrays of a candidate's transitions, one row per environment step, in the order they happened
TRANSITION_FIELDS = ("obs", "action", "reward", "next_obs", "terminated")


def save_transitions(folder: str, genome_id: str, transitions: dict[str, np.ndarray]) -> None:
    """Write one candidate's transitions as ``folder/<genome_id>.npz``, atomically (a reader never sees
    half a file: written under a temporary name, then renamed)."""
    import os

    path = os.path.join(folder, f"{genome_id}.npz")
    tmp = os.path.join(folder, f".{genome_id}.tmp{os.getpid()}")
    arrays: dict[str, Any] = {k: np.asarray(transitions[k]) for k in TRANSITION_FIELDS}
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def load_transitions(folder: str, genome_id: str) -> dict[str, np.ndarray] | None:
    """The transitions :func:`save_transitions` wrote for ``genome_id`` (None if there are none)."""
    import os

    path = os.path.join(folder, f"{genome_id}.npz")
    if not os.path.exists(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in TRANSITION_FIELDS}


def digest(*parts: Any) -> str:
    """sha256 of arrays (their dtype, shape and bytes; object arrays as their JSON text) and of
    JSON-able values, in order: what :meth:`Problem.data_digest` returns.

    >>> digest(np.arange(3), ["a", "b"]) == digest(np.arange(3), ["a", "b"]) != digest(np.arange(4), ["a", "b"])
    True
    """
    import hashlib
    import json

    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray) and part.dtype != object:
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).data)
        else:
            value = part.tolist() if isinstance(part, np.ndarray) else part
            h.update(json.dumps(value, default=str).encode())
    return h.hexdigest()
