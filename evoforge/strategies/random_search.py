"""Random search: every individual drawn afresh from the problem's initial
parameter distribution (optionally scaled), or from its search space for
architecture problems. The baseline every comparison needs (Such et al. 2017
report it against GA and ES on Atari; Real et al. 2019 against evolution in
architecture search)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from evoforge.core.genome import Genome
from evoforge.core.space import SearchSpace, VectorSpace  # noqa: F401  (VectorSpace: the doctest's)
from evoforge.core.strategy import Asked, Convergence, State, Strategy, StrategyConfig
from evoforge.strategies.population import PopulationState

__all__ = ["RandomSearch", "RandomSearchConfig"]


class RandomSearchConfig(StrategyConfig):
    """Hyperparameters of random search."""

    scale: float = Field(1.0, gt=0, description="Multiplier on the problem's initial parameters.")


class RandomSearch(Strategy):
    """Independent samples from the problem's prior; keeps nothing but a counter.

    >>> rs = RandomSearch(RandomSearchConfig(population_size=3), VectorSpace(2, lambda r: r.uniform(-1, 1, 2)))
    >>> len(rs.ask(rs.init(np.random.default_rng(0)), np.random.default_rng(1))[1])
    3
    """

    name = "random_search"
    convergence = (
        Convergence("sphere", 2, 50, 1e-2, {"population_size": 100}),
        Convergence("rosenbrock", 2, 50, 1.0, {"population_size": 100}),
        Convergence("onemax", 10, 50, 1.0, {"population_size": 20}),
    )
    config_class = RandomSearchConfig
    config: RandomSearchConfig
    requires = frozenset({"sample"})
    state_class = PopulationState  # only its generation count

    def __init__(self, config: RandomSearchConfig, space: SearchSpace):
        super().__init__(config, space)
        # the prior scaled: parameter vectors only (a scaled architecture means nothing)
        self._scaled = "vector" in space.offers
        if config.scale != 1.0 and not self._scaled:
            raise ValueError(f"random_search: scale applies to parameter vectors, not to {space.describes}s")

    def init(self, rng: np.random.Generator) -> State:
        return PopulationState()

    def ask(self, state: State, rng: np.random.Generator) -> Asked:
        n = self.population_size
        if not self._scaled:
            return Asked(state, [self.space.sample(rng) for _ in range(n)], [()] * n)
        genomes = [self.config.scale * self.space.sample(rng) for _ in range(n)]
        return Asked(state, genomes, [()] * n)

    def tell(self, state: State, genomes: list[Genome], fitness: np.ndarray) -> State:
        return PopulationState(state.generation + 1)
