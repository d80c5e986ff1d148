"""Genetic algorithm of Such et al. 2017, "Deep Neuroevolution: Genetic Algorithms
Are a Competitive Alternative for Training Deep Neural Networks for Reinforcement
Learning" (arXiv:1712.06567), section 3.

Each generation keeps the ``elite_size`` fittest unchanged (elitism) and fills
the rest with mutants ``theta + sigma * eps`` of parents chosen by truncation
selection (uniformly among the ``truncation_size`` fittest) or by tournament.
There is no crossover, as in the paper.

With ``encoding="seed_chain"`` an individual is the list of seeds that produced
it (section 3.1): shipping and storing it costs a few bytes whatever the number
of weights; the workers rebuild the vector (and cache parents).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from evoforge.core.genome import Genome, SeedChain, genome_id
from evoforge.core.selection import elite_indices, tournament_select, truncation_select
from evoforge.core.space import VectorSpace  # noqa: F401  (the doctest's)
from evoforge.core.strategy import Asked, Convergence, Strategy, StrategyConfig
from evoforge.strategies.population import PopulationState

__all__ = ["GA", "GAConfig"]

_SEED_HIGH = 2**62


class GAConfig(StrategyConfig):
    """Hyperparameters of the Such et al. genetic algorithm."""

    sigma: float = Field(0.02, gt=0, description="Standard deviation of the Gaussian mutation.")
    elite_size: int = Field(1, ge=0, description="Fittest individuals copied unchanged each generation.")
    selection: Literal["truncation", "tournament"] = Field(
        "truncation", description="How parents are chosen for mutation."
    )
    truncation_size: int = Field(10, ge=1, description="Parents are drawn from this many fittest.")
    tournament_size: int = Field(4, ge=1, description="Entrants per tournament (selection=tournament).")
    encoding: Literal["vector", "seed_chain"] = Field(
        "vector", description="Store individuals as parameter vectors or as seed chains."
    )

    @model_validator(mode="after")
    def _check(self) -> GAConfig:
        if self.elite_size >= self.population_size:
            raise ValueError("elite_size must be smaller than population_size")
        return self


class GA(Strategy):
    """Truncation-selection GA with elitism and Gaussian mutation (Such et al. 2017).

    >>> ga = GA(GAConfig(population_size=8), VectorSpace(3, lambda r: r.normal(size=3)))
    >>> state, genomes, parents = ga.ask(ga.init(np.random.default_rng(0)), np.random.default_rng(1))
    >>> len(genomes)
    8
    """

    name = "ga"
    convergence = (
        Convergence("sphere", 10, 300, 1e-2, {"population_size": 100, "sigma": 0.05}),
        Convergence("rosenbrock", 2, 300, 1e-4, {"population_size": 100, "sigma": 0.05}),
        Convergence(
            "sphere", 10, 300, 1e-2, {"population_size": 100, "sigma": 0.05, "encoding": "seed_chain"}
        ),
    )
    config_class = GAConfig
    config: GAConfig
    requires = frozenset({"sample", "vector"})
    state_class = PopulationState

    def init(self, rng: np.random.Generator) -> PopulationState:
        return PopulationState()

    def _fresh(self, rng: np.random.Generator) -> Genome:
        if self.config.encoding == "seed_chain":
            return SeedChain((int(rng.integers(_SEED_HIGH)),), self.config.sigma)
        return self.space.sample(rng)

    def _mutate(self, parent: Genome, rng: np.random.Generator) -> Genome:
        if isinstance(parent, SeedChain):
            return parent.child(int(rng.integers(_SEED_HIGH)))
        return parent + self.config.sigma * rng.standard_normal(self.dim)

    def ask(self, state: PopulationState, rng: np.random.Generator) -> Asked:
        n = self.population_size
        if state.population is None:
            genomes = [self._fresh(rng) for _ in range(n)]
            return Asked(state.with_(population=genomes), genomes, [()] * n)
        population, fitness = state.population, np.asarray(state.fitness)
        elites = elite_indices(fitness, self.config.elite_size)
        n_children = n - len(elites)
        if self.config.selection == "truncation":
            chosen = truncation_select(fitness, n_children, rng, self.config.truncation_size)
        else:
            chosen = tournament_select(fitness, n_children, rng, self.config.tournament_size)
        ids = [genome_id(g) for g in population]
        genomes = [population[i] for i in elites] + [self._mutate(population[i], rng) for i in chosen]
        parents: list[tuple[str, ...]] = [(ids[i],) for i in elites] + [(ids[i],) for i in chosen]
        return Asked(state.with_(population=genomes), genomes, parents)

    def tell(self, state: PopulationState, genomes: list[Genome], fitness: np.ndarray) -> PopulationState:
        return PopulationState(state.generation + 1, list(genomes), np.asarray(fitness, dtype=np.float64))
