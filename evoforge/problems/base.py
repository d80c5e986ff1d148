"""Bases of problems whose individuals are not parameter vectors: networks a strategy builds (NEAT),
and genomes of a search space (architectures, update rules)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from evoforge.core.problem import Context, Problem, TestResult
from evoforge.core.space import SearchSpace
from evoforge.spaces.neat import NetworkSpace

__all__ = ["NetworkProblem", "SpaceProblem", "torch_threads"]


def torch_threads(configured: int | None) -> int:
    """The torch CPU threads a problem's training runs on: ``configured`` if set; in a worker the share
    of the cores its backend gave it (``OMP_NUM_THREADS``); elsewhere one. Fixed, never read from the
    machine's load or left at whatever the process last set, since results change in their last digits
    with the thread count; and one thread never stalls on a core other work keeps busy (torch's one per
    core can, 100x)."""
    import os

    if configured is not None:
        return configured
    if "OMP_NUM_THREADS" in os.environ:
        import torch

        return torch.get_num_threads()
    return 1


class NetworkProblem(Problem):
    """Base of problems whose individuals are networks built by the strategy (NEAT): there is no
    parameter vector, and the report's test is one more evaluation (deterministic tasks)."""

    spaces: ClassVar[tuple[type[SearchSpace], ...]] = (NetworkSpace,)

    def space_for(self, space_class: type[SearchSpace]) -> SearchSpace:
        return NetworkSpace(*self.network_io)

    @property
    def dim(self) -> int:
        return 0

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError(f"{self.kind} evaluates networks, which strategies build themselves")

    def batch(self, genomes: list[Any]) -> list[Any]:
        return list(genomes)

    def test(self, params: Any, seed: int, cases: int, context: Context) -> TestResult:
        result = self.evaluate([params], np.array([seed]), context)[0]
        return TestResult(result.fitness, [result.fitness], result.metrics)


class SpaceProblem(Problem):
    """Base of problems whose individuals come from a search space the strategy samples and varies
    (architectures, update rules): no parameter vector; the problem's ``search_space`` is its one
    space (its class is the problem's ``spaces``)."""

    search_space: SearchSpace

    def space_for(self, space_class: type[SearchSpace]) -> SearchSpace:
        return self.search_space

    @property
    def dim(self) -> int:
        return 0

    def initial_params(self, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError(f"{self.kind} evolves genomes of a search space, which strategies sample")

    def batch(self, genomes: list[Any]) -> list[Any]:
        return list(genomes)
