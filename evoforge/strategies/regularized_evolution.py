"""Regularized (aging) evolution over a search space (Real et al. 2019, "Regularized Evolution for
Image Classifier Architecture Search", AAAI, Algorithm 1).

The population is a queue of the ``population_size`` most recently evaluated architectures. The
first ``population_size`` individuals come from the space's ``first`` (random, or its known
starting points first, such as a pipeline space's untuned defaults); after that, each child is a mutant of the fittest
of ``sample_size`` members drawn uniformly without replacement, and joining it pushes the *oldest*
member out, whatever its fitness: an architecture survives only by having fit descendants, so one
lucky proxy score cannot rule for ever (section 2).

It is steady-state: the run loop can drive it asynchronously (``asynchronous: true``), proposing a
child whenever a worker frees; generational mode proposes ``population_size`` children of one state
and reproduces exactly on any backend. The vector-genome variant is ``steady_ga``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from evoforge.core.genome import Genome, genome_id
from evoforge.core.strategy import Convergence, State, StepwiseGenerations, StrategyConfig
from evoforge.strategies.population import AgingState, GenomePopulation

__all__ = ["RegularizedEvolution", "RegularizedEvolutionConfig"]


class RegularizedEvolutionConfig(StrategyConfig):
    """Hyperparameters of regularized evolution (the paper's P and S)."""

    population_size: int = Field(50, ge=2, description="Members of the aging population (P).")
    sample_size: int = Field(
        10, ge=1, description="Members sampled per step; the fittest of them is mutated (S)."
    )


class RegularizedEvolution(StepwiseGenerations, GenomePopulation):
    """Aging evolution: tournament of ``sample_size``, mutate the winner, the oldest dies."""

    name = "regularized_evolution"
    convergence = (Convergence("onemax", 20, 100, 1.0, {"population_size": 20, "sample_size": 5}),)
    config_class = RegularizedEvolutionConfig
    config: RegularizedEvolutionConfig
    requires = frozenset({"sample", "mutate"})
    state_class = AgingState

    def init(self, rng: np.random.Generator) -> State:
        # members in age order (oldest first); "asked" counts asks
        return AgingState()

    def ask_one(self, state: State, rng: np.random.Generator) -> tuple[State, Genome, tuple[str, ...]]:
        state = state.with_(asked=state.asked + 1)
        population = state.population
        if state.asked <= self.population_size or not population:
            return state, self.space.first(state.asked - 1, rng), ()
        k = min(self.config.sample_size, len(population))
        sample = rng.choice(len(population), size=k, replace=False)
        fitness = np.asarray(state.fitness)
        parent = population[int(sample[np.argmax(fitness[sample])])]  # ties: the first drawn
        return state, self.space.mutate(parent, rng), (genome_id(parent),)

    def tell_one(self, state: State, genome: Genome, fitness: float) -> State:
        population = list(state.population) + [genome]
        scores = np.append(np.asarray(state.fitness, dtype=np.float64), float(fitness))
        if len(population) > self.population_size:  # the oldest leaves
            population, scores = population[1:], scores[1:]
        return state.with_(population=population, fitness=scores)
