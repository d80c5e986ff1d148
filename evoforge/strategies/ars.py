"""Augmented Random Search of Mania, Guy and Recht 2018, "Simple random search of static linear policies
is competitive for reinforcement learning" (arXiv:1803.07055), Algorithm 2.

* ``directions`` Gaussian directions delta_k, each evaluated at ``mean + noise * delta_k`` and
  ``mean - noise * delta_k`` (the population is the 2 x ``directions`` of them: the first half
  plus, the second half minus);
* only the ``top_directions`` best directions, ranked by ``max(r+, r-)``, enter the update (the "-t"
  variants, V1-t and V2-t; all of them by default: V1 and V2);
* the update ``mean += step_size / (b * sigma_R) * sum_k (r+_k - r-_k) delta_k`` (step 7), with
  sigma_R the standard deviation of the 2b returns used, so no learning rate has to fit the task's
  scale of returns.

V2 (the states normalised by their running mean and standard deviation) is the policy's business:
with the gym problem, set ``policy.obs_norm: true`` (and ``policy.hidden: []`` for the paper's linear
policies). The paper starts from the zero policy (``start: zeros``, the default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from evoforge.core.genome import Genome
from evoforge.core.space import VectorSpace  # noqa: F401  (the doctest's)
from evoforge.core.strategy import Asked, Convergence, Strategy, StrategyConfig, TypedState

__all__ = ["ARS", "ARSConfig"]

#: the settings of its conformance budgets (the space's own starting point: zero is sphere's optimum)
_BUDGET = {"population_size": 16, "step_size": 0.02, "noise": 0.02, "start": "space"}


class ARSConfig(StrategyConfig):
    """Hyperparameters of ARS (defaults: the paper's HalfCheetah settings, Table 9, with 16 directions)."""

    population_size: int = Field(32, ge=2, description="Evaluations per generation: two per direction.")
    step_size: float = Field(0.02, gt=0, description="alpha: the step size of the update.")
    noise: float = Field(0.03, gt=0, description="nu: the standard deviation of the exploration noise.")
    top_directions: int | None = Field(
        None, ge=1, description="b: the best directions used in an update (None: all, as in V1 and V2)."
    )
    start: Literal["zeros", "space"] = Field(
        "zeros",
        description="The first mean: the zero vector (the paper) or the search space's starting point.",
    )

    @model_validator(mode="after")
    def _check(self) -> ARSConfig:
        if self.population_size % 2:
            raise ValueError("population_size must be even: two evaluations (+ and -) per direction")
        if self.top_directions is not None and self.top_directions > self.population_size // 2:
            raise ValueError(
                f"top_directions ({self.top_directions}) is more than the {self.population_size // 2} "
                "directions a generation has (population_size / 2)"
            )
        return self


@dataclass(frozen=True)
class ARSState(TypedState):
    """The mean, the generation count, and the directions of the last ask (until told)."""

    generation: int
    mean: np.ndarray
    directions: np.ndarray | None = None
    array_fields: ClassVar[dict[str, str]] = {"mean": "float64", "directions": "float64"}


class ARS(Strategy):
    """Augmented Random Search (V1/V2, and their -t variants with ``top_directions``).

    >>> ars = ARS(ARSConfig(population_size=4), VectorSpace(2, lambda r: np.ones(2)))
    >>> state = ars.init(np.random.default_rng(0))
    >>> state, genomes, _ = ars.ask(state, np.random.default_rng(1))
    >>> np.allclose(genomes[0] + genomes[2], 0.0)  # the two ends of a direction, around the zero start
    True
    """

    name = "ars"
    convergence = (
        # the step's length is fixed (returns are divided by their spread), so the mean circles the
        # optimum at about step_size: a looser bar than for strategies whose steps shrink
        Convergence("sphere", 10, 300, 1e-3, _BUDGET),
        Convergence("rosenbrock", 2, 300, 0.2, _BUDGET),
    )
    config_class = ARSConfig
    config: ARSConfig
    state_class = ARSState

    @property
    def directions(self) -> int:
        return self.population_size // 2

    @property
    def top(self) -> int:
        return self.config.top_directions or self.directions

    def init(self, rng: np.random.Generator) -> ARSState:
        if self.config.start == "zeros":
            return ARSState(0, np.zeros(self.dim))
        return ARSState(0, np.asarray(self.space.initial_point(rng), dtype=np.float64).copy())

    def ask(self, state: ARSState, rng: np.random.Generator) -> Asked:
        delta = rng.standard_normal((self.directions, self.dim))  # step 4
        step = self.config.noise * delta
        points = np.concatenate([state.mean + step, state.mean - step])
        return Asked(
            state.with_(directions=delta), [self.space.decode(x) for x in points], [()] * len(points)
        )

    def tell(self, state: ARSState, genomes: list[Genome], fitness: np.ndarray) -> ARSState:
        delta = state.directions
        if delta is None:
            raise ValueError("tell() called without a matching ask()")
        fitness = np.asarray(fitness, dtype=np.float64)
        plus, minus = fitness[: self.directions], fitness[self.directions :]
        # step 6: the b directions with the highest max(r+, r-); a stable sort keeps ties in order
        best = np.argsort(-np.maximum(plus, minus), kind="stable")[: self.top]
        used = np.concatenate([plus[best], minus[best]])
        sigma = used.std()
        mean = state.mean
        if sigma > 0:  # all returns equal: no direction to follow
            mean = mean + self.config.step_size / (self.top * sigma) * (
                (plus[best] - minus[best]) @ delta[best]
            )
        return ARSState(state.generation + 1, mean)

    def report(self, state: ARSState) -> dict[str, float]:
        return {"mean_norm": float(np.linalg.norm(state.mean))}

    def mean(self, state: ARSState) -> np.ndarray | None:
        return state.mean if self.space.decodes_to_itself else None
