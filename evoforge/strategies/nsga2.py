"""NSGA-II over a search space (Deb, Pratap, Agarwal & Meyarivan 2002, "A fast and elitist
multiobjective genetic algorithm: NSGA-II", IEEE TEC 6(2)).

The objectives are the problem's fitness and the metrics named in ``objectives`` (each minimised:
parameters, FLOPs, measured latency, ...), which the run loop passes to :meth:`NSGA2.tell` as the
columns of one matrix, all to maximise. Each generation makes ``population_size`` children by
binary tournaments on (front, crowding distance) (section III-C's crowded-comparison operator),
crossover and mutation; parents and children are then merged and the next population is filled
front by front, the last front cut by crowding distance (section III-C, main loop).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator

from evoforge.core.genome import Genome, genome_id
from evoforge.core.pareto import crowding_distance, non_dominated_sort, rank_and_crowding
from evoforge.core.strategy import Asked, Convergence, State, StrategyConfig
from evoforge.strategies.population import GenomePopulation, PopulationState

__all__ = ["NSGA2", "NSGA2Config"]


class NSGA2Config(StrategyConfig):
    """Hyperparameters of NSGA-II."""

    population_size: int = Field(40, ge=4, description="Parents kept and children made per generation (N).")
    objectives: tuple[str, ...] = Field(
        ("params",),
        min_length=1,
        description="Metrics the problem records, each minimised alongside the fitness (classification: "
        "params, flops, latency_ms, train_seconds).",
    )
    crossover_rate: float = Field(0.9, ge=0, le=1, description="Probability a child comes from crossover.")

    @field_validator("objectives")
    @classmethod
    def _distinct(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"objectives must be distinct, got {list(value)}")
        return value


class NSGA2(GenomePopulation):
    """Elitist multi-objective GA: non-dominated sorting plus crowding distance."""

    name = "nsga2"
    convergence = (Convergence("onemax", 20, 100, 1.0, {"population_size": 20, "objectives": ["size"]}),)
    config_class = NSGA2Config
    config: NSGA2Config
    #: this strategy's ``tell`` takes an (n, 1 + len(objectives)) matrix (see the run loop)
    multi_objective: ClassVar[bool] = True

    @property
    def metric_objectives(self) -> tuple[str, ...]:
        return self.config.objectives

    def init(self, rng: np.random.Generator) -> State:
        return PopulationState(0, [], np.zeros((0, 1 + len(self.config.objectives))))

    def _tournament(self, rank: np.ndarray, crowd: np.ndarray, rng: np.random.Generator) -> int:
        a, b = (int(i) for i in rng.choice(len(rank), size=2, replace=len(rank) < 2))
        if rank[a] != rank[b]:
            return a if rank[a] < rank[b] else b
        if crowd[a] != crowd[b]:
            return a if crowd[a] > crowd[b] else b
        return a

    def ask(self, state: State, rng: np.random.Generator) -> Asked:
        population = state.population
        n = self.population_size
        if not population:
            return Asked(state, [self.space.first(i, rng) for i in range(n)], [()] * n)
        rank, crowd = rank_and_crowding(state.fitness)
        children: list[Genome] = []
        parents: list[tuple[str, ...]] = []
        for _ in range(n):
            a = population[self._tournament(rank, crowd, rng)]
            if rng.random() < self.config.crossover_rate:
                b = population[self._tournament(rank, crowd, rng)]
                child = self.space.mutate(self.space.crossover(a, b, rng), rng)
                parents.append((genome_id(a), genome_id(b)))
            else:
                child = self.space.mutate(a, rng)
                parents.append((genome_id(a),))
            children.append(child)
        return Asked(state, children, parents)

    def tell(self, state: State, genomes: list[Genome], fitness: np.ndarray) -> State:
        scores = np.asarray(fitness, dtype=np.float64)
        width = 1 + len(self.config.objectives)
        if scores.ndim != 2 or scores.shape != (len(genomes), width):
            raise ValueError(
                f"NSGA-II needs an ({len(genomes)}, {width}) objective matrix, got {scores.shape}"
            )
        merged = list(state.population) + list(genomes)
        merged_scores = np.vstack([np.asarray(state.fitness).reshape(-1, width), scores])
        # One copy of each genome: a child identical to a parent would otherwise fill a front twice.
        first: dict[str, int] = {}
        for i, g in enumerate(merged):
            first.setdefault(genome_id(g), i)
        unique = np.array(sorted(first.values()))
        keep: list[int] = []
        for front in non_dominated_sort(merged_scores[unique]):
            members = unique[front]
            if len(keep) + len(members) <= self.population_size:
                keep.extend(int(i) for i in members)
                continue
            crowd = crowding_distance(merged_scores[members])
            order = np.argsort(-crowd, kind="stable")
            keep.extend(int(i) for i in members[order[: self.population_size - len(keep)]])
            break
        keep.sort()
        return PopulationState(state.generation + 1, [merged[i] for i in keep], merged_scores[keep])

    def report(self, state: State) -> dict:
        fronts = non_dominated_sort(state.fitness) if len(state.population) else []
        return {"front_size": int(len(fronts[0])) if fronts else 0}

    def state_from_tree(self, tree: dict) -> PopulationState:
        state = PopulationState.from_tree(tree)
        width = 1 + len(self.config.objectives)  # an empty matrix is saved as an empty list
        return state.with_(fitness=np.asarray(state.fitness, dtype=np.float64).reshape(-1, width))
