"""ERL, evolutionary reinforcement learning (Khadka & Tumer 2018, "Evolution-guided policy gradient in
reinforcement learning", NeurIPS, arXiv:1805.07917), Algorithm 1, with TD3 as the learner (the
authors used DDPG; TD3 is its successor, as in CEM-RL's comparison).

* A genetic algorithm over ``population_size - 1`` actors: the ``elites`` fittest survive unchanged,
  the rest are children of tournament winners (``tournament`` entrants) by uniform crossover, each
  weight then mutated with probability ``mutation_rate`` by Gaussian noise of ``mutation_sigma`` times
  its magnitude (the paper's mutation, without its super-mutations and resets).
* Every episode of every actor fills the learner's replay buffer; the learner's own actor, trained
  each generation for as many gradient steps as the last generation took environment steps, is the
  population's last member, evaluated beside the others.
* Every ``sync_period`` generations the learner's actor replaces the weakest member of the population
  (section 3, "synchronisation"), which is how gradient information enters the evolving population.

Everything lives in the state as values (population, learner actor and target with its Adam moments,
replay buffer, critic) and resumes exactly from a checkpoint. The gym problem must record transitions
(``problem.transitions: true``) without observation normalisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, model_validator

from evoforge.core.genome import Genome
from evoforge.core.strategy import Asked, Convergence
from evoforge.strategies import td3

__all__ = ["ERL", "ERLConfig"]

_BUDGET = {"population_size": 20, "elites": 4, "mutation_rate": 0.5, "mutation_sigma": 0.3}


class ERLConfig(td3.LearnerConfig):
    """Hyperparameters of ERL (defaults: the paper's MuJoCo settings, Table 1, with TD3's learner)."""

    population_size: int = Field(11, ge=3, description="The evolving actors plus the learner's actor.")
    elites: int = Field(2, ge=1, description="Actors kept unchanged each generation.")
    tournament: int = Field(3, ge=1, description="Entrants of each selection tournament.")
    mutation_rate: float = Field(0.1, ge=0, le=1, description="Chance that a weight is mutated.")
    mutation_sigma: float = Field(
        0.1, gt=0, description="Mutation noise, as a multiple of the weight's magnitude."
    )
    sync_period: int = Field(
        10, ge=1, description="omega: generations between copies of the learner into the population."
    )

    @model_validator(mode="after")
    def _check(self) -> ERLConfig:
        if self.elites >= self.population_size - 1:
            raise ValueError(
                f"elites ({self.elites}) must be fewer than the {self.population_size - 1} evolving actors"
            )
        return self


class ERL(td3.HybridStrategy):
    """ERL: a GA population and a TD3 learner sharing one replay buffer.

    Without transitions (an empty buffer) the learner's actor stays as drawn and the rest is the GA,
    which its conformance budget checks.
    """

    name = "erl"
    convergence = (Convergence("sphere", 4, 300, 1e-2, _BUDGET),)
    config_class = ERLConfig
    config: ERLConfig

    def init(self, rng: np.random.Generator) -> dict[str, Any]:
        draws = np.stack(
            [np.asarray(self.space.initial_point(rng), dtype=np.float64) for _ in range(self.population_size)]
        )
        state: dict[str, Any] = {
            "generation": 0,
            "population": draws[:-1],
            "learner": draws[-1],
            "learner_target": draws[-1].copy(),
            # the learner's Adam goes on across generations, as the paper's DDPG agent's does
            "learner_adam_m": [],
            "learner_adam_v": [],
            "learner_adam_step": 0,
        }
        if self.policy is not None:
            state.update(td3.new_learner(self.policy, self.config, rng))
        return state

    def ask(self, state: dict[str, Any], rng: np.random.Generator) -> Asked:
        c = self.config
        if "fitness" in state:  # the last generation told: its offspring
            state = {**state, "population": self._offspring(state["population"], state["fitness"], rng)}
            del state["fitness"]
        if td3.ready(state, c):  # the learner's actor trained on the last generation's experience
            steps = td3.actor_steps(state, c)
            moments = {  # a checkpoint from before the moments were kept starts them afresh
                "m": state.get("learner_adam_m", []),
                "v": state.get("learner_adam_v", []),
                "step": state.get("learner_adam_step", 0),
            }
            (actor,), (target,), state, (moments,) = td3.train_actors(
                state,
                [state["learner"]],
                steps,
                steps,
                rng,
                c,
                self.policy,
                [state["learner_target"]],
                [moments],
            )
            state = {
                **state,
                "learner": actor,
                "learner_target": target,
                "learner_adam_m": moments["m"],
                "learner_adam_v": moments["v"],
                "learner_adam_step": moments["step"],
            }
        members = np.concatenate([state["population"], state["learner"][None]])
        genomes = [self.space.decode(x) for x in members]
        return Asked(state, genomes, [()] * len(genomes))

    def tell(self, state: dict[str, Any], genomes: list[Genome], fitness: np.ndarray) -> dict[str, Any]:
        population = state["population"].copy()
        f = np.asarray(fitness, dtype=np.float64)
        f, learner = f[:-1].copy(), float(f[-1])
        generation = state["generation"] + 1
        if generation % self.config.sync_period == 0:  # the learner replaces the weakest (section 3)
            weakest = int(np.argmin(f))
            population[weakest], f[weakest] = state["learner"], learner
        return {**state, "generation": generation, "population": population, "fitness": f}

    def _offspring(self, population: np.ndarray, fitness: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Elites kept; the rest children of tournament winners, crossed uniformly and mutated."""
        c = self.config
        children = [population[k] for k in np.argsort(-fitness, kind="stable")[: c.elites]]
        while len(children) < len(population):
            a, b = (population[self._tournament(fitness, rng)] for _ in range(2))
            child = np.where(rng.random(a.shape) < 0.5, a, b)
            hit = rng.random(child.shape) < c.mutation_rate
            children.append(child + hit * rng.standard_normal(child.shape) * c.mutation_sigma * np.abs(child))
        return np.stack(children)

    def _tournament(self, fitness: np.ndarray, rng: np.random.Generator) -> int:
        entrants = rng.integers(len(fitness), size=self.config.tournament)
        return int(entrants[np.argmax(fitness[entrants])])

    def report(self, state: dict[str, Any]) -> dict[str, float]:
        return {"buffer": float(state.get("size", 0))}
