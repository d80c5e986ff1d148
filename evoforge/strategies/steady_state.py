"""Steady-state genetic algorithm, and its aging variant, regularized evolution
(Real et al. 2019, "Regularized Evolution for Image Classifier Architecture
Search", AAAI, section 2 and Algorithm 1).

The population is a queue of ``population_size`` evaluated individuals. One
step (``ask_one``): sample ``tournament_size`` members uniformly without
replacement, mutate the fittest of the sample (Gaussian mutation, or a seed
appended to a seed chain). One update (``tell_one``): add the evaluated child
and remove one member: the *oldest* (regularized, or aging, evolution: every
individual dies eventually, so a lucky evaluation cannot rule for ever) or the
*worst* (classic steady-state GA). The first ``population_size`` asks are
random individuals.

Because the state changes one individual at a time, the run loop can drive it
asynchronously (``asynchronous: true``): a new child is proposed whenever a
worker frees, so slow candidates never stall the others. Driven by the
generational loop, ``ask`` proposes ``population_size`` children of one state
and ``tell`` adds them in order; that mode reproduces exactly on any backend.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from evoforge.core.genome import Genome, SeedChain, genome_id
from evoforge.core.shaping import ranks
from evoforge.core.space import VectorSpace  # noqa: F401  (the doctest's)
from evoforge.core.strategy import Convergence, State, StepwiseGenerations, Strategy, StrategyConfig
from evoforge.strategies.population import SteadyState

__all__ = ["SteadyStateGA", "SteadyStateGAConfig"]

_SEED_HIGH = 2**62


#: the settings of its conformance budgets (the defaults are tuned for neural networks)
_BUDGET = {"population_size": 50, "sigma": 0.05, "tournament_size": 10}


class SteadyStateGAConfig(StrategyConfig):
    """Hyperparameters of the steady-state GA and regularized evolution."""

    sigma: float = Field(0.02, gt=0, description="Standard deviation of the Gaussian mutation.")
    tournament_size: int = Field(
        4, ge=1, description="Members sampled per step; the fittest of them is mutated (Real et al.'s S)."
    )
    replacement: Literal["oldest", "worst"] = Field(
        "oldest",
        description="Who leaves when a child joins: the oldest (regularized evolution) or the worst.",
    )
    encoding: Literal["vector", "seed_chain"] = Field(
        "vector", description="Store individuals as parameter vectors or as seed chains."
    )


class SteadyStateGA(StepwiseGenerations, Strategy):
    """Steady-state GA; with ``replacement="oldest"`` (the default) regularized evolution.

    >>> s = SteadyStateGA(SteadyStateGAConfig(population_size=4), VectorSpace(2, lambda r: r.normal(size=2)))
    >>> state = s.init(np.random.default_rng(0))
    >>> state, child, parents = s.ask_one(state, np.random.default_rng(1))
    >>> parents  # the first population_size asks are random
    ()
    >>> s.tell_one(state, child, 1.0).members
    1
    """

    name = "steady_ga"
    convergence = (
        Convergence("sphere", 10, 300, 1e-2, _BUDGET),
        Convergence("rosenbrock", 2, 300, 1e-4, _BUDGET),
    )
    config_class = SteadyStateGAConfig
    config: SteadyStateGAConfig
    requires = frozenset({"sample", "vector"})
    state_class = SteadyState

    def init(self, rng: np.random.Generator) -> State:
        # population, fitness and birth (ask number) in insertion order; "asked" counts asks
        return SteadyState()

    def _fresh(self, rng: np.random.Generator) -> Genome:
        if self.config.encoding == "seed_chain":
            return SeedChain((int(rng.integers(_SEED_HIGH)),), self.config.sigma)
        return self.space.sample(rng)

    def ask_one(self, state: State, rng: np.random.Generator) -> tuple[State, Genome, tuple[str, ...]]:
        """One child: random while the first population is being filled, else a tournament winner mutated."""
        state = state.with_(asked=state.asked + 1)
        population = state.population
        if state.asked <= self.population_size or not population:
            return state, self._fresh(rng), ()
        k = min(self.config.tournament_size, len(population))
        sample = rng.choice(len(population), size=k, replace=False)
        r = ranks(np.asarray(state.fitness))
        parent = population[int(sample[np.argmax(r[sample])])]
        if isinstance(parent, SeedChain):
            child: Genome = parent.child(int(rng.integers(_SEED_HIGH)))
        else:
            child = parent + self.config.sigma * rng.standard_normal(self.dim)
        return state, child, (genome_id(parent),)

    def tell_one(self, state: State, genome: Genome, fitness: float) -> State:
        """Add an evaluated child (fitness finite, to maximise) and remove the oldest or the worst."""
        population = list(state.population) + [genome]
        scores = np.append(np.asarray(state.fitness, dtype=np.float64), float(fitness))
        birth = np.append(np.asarray(state.birth, dtype=np.int64), state.members)
        if len(population) > self.population_size:
            if self.config.replacement == "oldest":
                gone = int(np.argmin(birth))
            else:
                gone = int(np.argmin(ranks(scores)))  # ties: the first, i.e. the oldest of the worst
            del population[gone]
            scores = np.delete(scores, gone)
            birth = np.delete(birth, gone)
        return state.with_(members=state.members + 1, population=population, fitness=scores, birth=birth)
