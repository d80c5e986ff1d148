"""What fitness means.

A problem turns a batch of parameter vectors into fitness values. It declares
once whether it maximises or minimises, knows nothing of parallelism, and is
built from its (picklable, typed) config in whatever process evaluates it.

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

__all__ = ["Problem", "ProblemConfig", "EvalResult", "TestResult", "PROBLEMS", "register_problem"]

Context = dict[str, Any]


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


class Problem(ABC):
    """Base class of every problem."""

    kind: ClassVar[str]
    config_class: ClassVar[type[ProblemConfig]]
    direction: ClassVar[Literal["maximize", "minimize"]] = "maximize"

    def __init__(self, config: ProblemConfig):
        self.config = config

    @property
    @abstractmethod
    def dim(self) -> int:
        """Number of parameters of one individual."""

    @abstractmethod
    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        """A draw from the prior over parameters (used by initialisation and random search)."""

    @abstractmethod
    def evaluate(self, params: np.ndarray, seeds: np.ndarray, context: Context) -> list[EvalResult]:
        """Evaluate ``params`` (batch, dim); ``seeds[i]`` drives all randomness of individual i."""

    def test(self, params: np.ndarray, seed: int, cases: int, context: Context) -> TestResult:
        """Re-evaluate one individual on ``cases`` fresh cases (default: one evaluation)."""
        result = self.evaluate(params[None, :], np.array([seed]), context)[0]
        return TestResult(result.fitness, [result.fitness], result.metrics)

    def initial_context(self) -> Context:
        return {}

    def update_context(self, context: Context, aux: list[dict[str, np.ndarray]]) -> Context:
        """The context for the next generation, from this generation's auxiliary outputs."""
        return context

    def better(self, a: float, b: float) -> bool:
        """Whether raw fitness ``a`` is strictly better than ``b`` in this problem's direction."""
        return a > b if self.direction == "maximize" else a < b


PROBLEMS: dict[str, type[Problem]] = {}


def register_problem(cls: type[Problem]) -> type[Problem]:
    if cls.kind in PROBLEMS:
        raise ValueError(f"problem kind {cls.kind!r} is registered twice")
    PROBLEMS[cls.kind] = cls
    return cls
