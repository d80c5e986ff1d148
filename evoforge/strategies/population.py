"""What the strategies that keep a population of genomes share: the state's population saved as
genomes (any representation) and restored exactly."""

from __future__ import annotations

import numpy as np

from evoforge.core.genome import genome_from_tree, genome_to_tree
from evoforge.core.strategy import State, Strategy

__all__ = ["GenomePopulation"]


class GenomePopulation(Strategy):
    """Base of strategies over a search space's ``sample``, ``mutate`` and ``crossover`` whose state
    holds ``population`` (genomes) and ``fitness`` (their scores)."""

    requires = frozenset({"sample", "mutate", "crossover"})

    def state_to_tree(self, state: State) -> State:
        return dict(state, population=[genome_to_tree(g) for g in state["population"]])

    def state_from_tree(self, tree: State) -> State:
        return dict(
            tree,
            population=[genome_from_tree(g) for g in tree["population"]],
            fitness=np.asarray(tree["fitness"], dtype=np.float64),
        )
