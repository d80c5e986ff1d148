"""The (1+1)-ES with the one-fifth success rule (Rechenberg 1973, "Evolutionsstrategie"; the
step-size update in the form of Kern et al. 2004, "Learning probability distributions in continuous
evolutionary algorithms - a comparative review", Natural Computing 3, section 3.1).

One parent, one child a generation: ``y = x + sigma N(0, I)``; the child replaces the parent if it
is at least as fit ("plus" selection). The step size follows the success rate towards one fifth:
``sigma <- sigma exp(1/3)`` after a success, ``sigma exp(-1/12)`` after a failure, which leaves sigma
unchanged on average exactly when one child in five succeeds (1/5 * 1/3 = 4/5 * 1/12).

The smallest evolution strategy, and the example of how a strategy is added to evoforge: this one
file and one line in :data:`evoforge.engine.registry.STRATEGIES`; the conformance suite then tests
it with the budgets it states below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import Field

from evoforge.core.genome import Genome
from evoforge.core.space import VectorSpace  # noqa: F401  (the doctest's)
from evoforge.core.strategy import Asked, Convergence, Strategy, StrategyConfig

__all__ = ["OnePlusOneES", "OnePlusOneESConfig", "OnePlusOneState"]

_UP, _DOWN = math.exp(1 / 3), math.exp(-1 / 12)


class OnePlusOneESConfig(StrategyConfig):
    """Hyperparameters of the (1+1)-ES."""

    population_size: int = Field(1, ge=1, le=1, description="One child a generation (fixed).")
    sigma: float = Field(0.5, gt=0, description="Initial step size.")
    min_sigma: float = Field(1e-12, gt=0, description="The step size never falls below this.")


@dataclass(frozen=True)
class OnePlusOneState:
    """The parent (a point of the space's encoding), its fitness (None until the start point has been
    evaluated), the step size, and the child last asked for (until it is told)."""

    parent: np.ndarray
    fitness: float | None
    sigma: float
    child: np.ndarray | None = None


class OnePlusOneES(Strategy):
    """(1+1)-ES with the one-fifth success rule.

    >>> es = OnePlusOneES(OnePlusOneESConfig(sigma=1.0), VectorSpace(2, lambda r: np.zeros(2)))
    >>> state = es.init(np.random.default_rng(0))
    >>> state, (start,), _ = es.ask(state, np.random.default_rng(1))  # the start point comes first
    >>> state = es.tell(state, [start], np.array([-1.0]))
    >>> state, (child,), _ = es.ask(state, np.random.default_rng(2))
    >>> es.tell(state, [child], np.array([0.0])).sigma > 1.0  # a success widens the step
    True
    """

    name = "one_plus_one_es"
    config_class = OnePlusOneESConfig
    config: OnePlusOneESConfig
    requires = frozenset({"continuous"})
    # isotropic steps only: in Rosenbrock's curved valley the success rate falls, the step size with
    # it, and 2 of 20 seeds had not reached 0.1 after 3,000 generations (use CMA-ES there)
    convergence = (Convergence("sphere", 10, 1500, 1e-8, {"sigma": 1.0}),)

    def init(self, rng: np.random.Generator) -> OnePlusOneState:
        start = np.asarray(self.space.initial_point(rng), dtype=np.float64)
        return OnePlusOneState(start, None, self.config.sigma)

    def _clip(self, x: np.ndarray) -> np.ndarray:
        bounds = self.space.bounds
        return x if bounds is None else np.clip(x, *bounds)

    def ask(self, state: OnePlusOneState, rng: np.random.Generator) -> Asked:
        if state.fitness is None:  # the start point is evaluated first
            child = state.parent
        else:
            child = self._clip(state.parent + state.sigma * rng.standard_normal(self.dim))
        return Asked(replace(state, child=child), [self.space.decode(child)], [()])

    def tell(self, state: OnePlusOneState, genomes: list[Genome], fitness: np.ndarray) -> OnePlusOneState:
        if state.child is None:
            raise ValueError("tell() called without a matching ask()")
        f = float(np.asarray(fitness, dtype=np.float64).reshape(-1)[0])
        if state.fitness is None:
            return OnePlusOneState(state.parent, f, state.sigma)
        if f >= state.fitness:  # plus selection; ties move on (a plateau is crossed, not stuck on)
            return OnePlusOneState(state.child, f, state.sigma * _UP)
        return OnePlusOneState(state.parent, state.fitness, max(state.sigma * _DOWN, self.config.min_sigma))

    def mean(self, state: OnePlusOneState) -> np.ndarray | None:
        return None  # the parent was evaluated as a child already

    def report(self, state: OnePlusOneState) -> dict[str, Any]:
        return {"sigma": state.sigma}

    def state_to_tree(self, state: OnePlusOneState) -> dict[str, Any]:
        return {"parent": state.parent, "fitness": state.fitness, "sigma": state.sigma, "child": state.child}

    def state_from_tree(self, tree: dict[str, Any]) -> OnePlusOneState:
        fitness, child = tree["fitness"], tree["child"]
        return OnePlusOneState(
            np.asarray(tree["parent"], dtype=np.float64),
            None if fitness is None else float(fitness),
            float(tree["sigma"]),
            None if child is None else np.asarray(child, dtype=np.float64),
        )
