"""Generational genetic algorithms over a search space, in the three modes architecture-search users
ask for by name:

* ``tournament`` (``tournament_ga``): the ``elitism`` fittest carry over unchanged; every other
  child has two parents chosen by tournaments of ``tournament_size`` (4 by default), is their
  crossover with probability ``crossover_prob`` (else a copy of the first), and is then mutated with
  probability ``mutation_prob`` (always, if it would otherwise be a copy).
* ``elitist`` (``elitist``): the fittest ``elite_fraction`` carry over; the least fit are replaced by
  new random individuals. Exploration comes from the newcomers alone.
* ``crossover_mutation`` (``crossover_mutation``): every child is the crossover of two tournament
  winners, then mutated; nothing carries over unless ``elitism`` > 0.

Carried-over individuals keep their content id, so the run loop does not train them again.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from evoforge.core.genome import Genome, genome_id
from evoforge.core.selection import tournament_select
from evoforge.core.strategy import Asked, Convergence, StrategyConfig
from evoforge.strategies.population import GenomePopulation, PopulationState

__all__ = ["TournamentGA", "TournamentGAConfig", "Elitist", "ElitistConfig", "CrossoverMutation"]


class TournamentGAConfig(StrategyConfig):
    """Hyperparameters of the generational GA over a search space."""

    population_size: int = Field(50, ge=2, description="Individuals per generation.")
    mode: Literal["tournament", "elitist", "crossover_mutation"] = Field(
        "tournament", description="How a generation is bred (module docstring)."
    )
    tournament_size: int = Field(4, ge=1, description="Contestants per tournament.")
    elitism: int = Field(1, ge=0, description="The fittest carried over unchanged (tournament modes).")
    elite_fraction: float = Field(
        0.5, gt=0, lt=1, description="elitist mode: share of the population that carries over."
    )
    crossover_prob: float = Field(0.5, ge=0, le=1, description="Chance a child is a crossover.")
    mutation_prob: float = Field(0.8, ge=0, le=1, description="Chance a crossover child is also mutated.")


class ElitistConfig(TournamentGAConfig):
    mode: Literal["elitist"] = "elitist"


class CrossoverMutationConfig(TournamentGAConfig):
    mode: Literal["crossover_mutation"] = "crossover_mutation"
    crossover_prob: float = Field(1.0, ge=0, le=1, description="Chance a child is a crossover.")
    mutation_prob: float = Field(1.0, ge=0, le=1, description="Chance a crossover child is also mutated.")
    elitism: int = Field(0, ge=0, description="The fittest carried over unchanged.")


class TournamentGA(GenomePopulation):
    """Generational GA with tournament selection, crossover and mutation over a search space."""

    name = "tournament_ga"
    convergence = (Convergence("onemax", 32, 60, 1.0, {"population_size": 20}),)
    config_class = TournamentGAConfig
    config: TournamentGAConfig

    def init(self, rng: np.random.Generator) -> PopulationState:
        return PopulationState(0, [], np.zeros(0))

    def ask(self, state: PopulationState, rng: np.random.Generator) -> Asked:
        n, population = self.population_size, state.population
        if not population:
            return Asked(state, [self.space.first(i, rng) for i in range(n)], [()] * n)
        fitness = np.asarray(state.fitness, dtype=np.float64)
        order = np.argsort(-fitness, kind="stable")
        cfg = self.config
        if cfg.mode == "elitist":
            keep = [population[i] for i in order[: max(1, int(round(cfg.elite_fraction * n)))]]
            fresh = [self.space.sample(rng) for _ in range(n - len(keep))]
            return Asked(state, keep + fresh, [(genome_id(g),) for g in keep] + [()] * len(fresh))
        genomes = [population[i] for i in order[: min(cfg.elitism, n)]]
        parents: list[tuple[str, ...]] = [(genome_id(g),) for g in genomes]
        while len(genomes) < n:
            a, b = (population[int(i)] for i in tournament_select(fitness, 2, rng, cfg.tournament_size))
            if rng.random() < cfg.crossover_prob:
                child = self.space.crossover(a, b, rng)
                if rng.random() < cfg.mutation_prob or genome_id(child) in (genome_id(a), genome_id(b)):
                    child = self.space.mutate(child, rng)
                parents.append((genome_id(a), genome_id(b)))
            else:
                child = self.space.mutate(a, rng)
                parents.append((genome_id(a),))
            genomes.append(child)
        return Asked(state, genomes, parents)

    def tell(self, state: PopulationState, genomes: list[Genome], fitness: np.ndarray) -> PopulationState:
        return PopulationState(state.generation + 1, list(genomes), np.asarray(fitness, dtype=np.float64))


class Elitist(TournamentGA):
    """The fittest carry over; the least fit are replaced by new random individuals."""

    name = "elitist"
    # exploration comes from random newcomers alone: a short string, one bit short of full
    convergence = (Convergence("onemax", 12, 200, 2.0, {"population_size": 20}),)
    config_class = ElitistConfig


class CrossoverMutation(TournamentGA):
    """Every child the crossover of two tournament winners, then mutated."""

    name = "crossover_mutation"
    convergence = (Convergence("onemax", 32, 60, 1.0, {"population_size": 20}),)
    config_class = CrossoverMutationConfig
