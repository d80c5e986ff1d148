"""OpenAI-ES of Salimans et al. 2017, "Evolution Strategies as a Scalable
Alternative to Reinforcement Learning" (arXiv:1703.03864).

* Gaussian perturbations of the mean, sampled in antithetic pairs (mirrored
  sampling, section 2.2);
* centred-rank fitness shaping (section 2.2 and appendix);
* the gradient estimate of Algorithm 1, ``g = 1/(n sigma) sum_i F_i eps_i``,
  plus L2 weight decay, fed to Adam (or SGD with momentum) on the mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from evoforge.core.ascent import adam_step
from evoforge.core.genome import Genome
from evoforge.core.shaping import centered_ranks
from evoforge.core.space import VectorSpace  # noqa: F401  (the doctest's)
from evoforge.core.strategy import Asked, Convergence, Strategy, StrategyConfig, TypedState

__all__ = ["OpenES", "OpenESConfig"]


#: the settings of its conformance budgets (the defaults are tuned for neural networks)
_BUDGET = {"population_size": 50, "sigma": 0.1, "learning_rate": 0.05, "weight_decay": 0.0}


class OpenESConfig(StrategyConfig):
    """Hyperparameters of OpenAI-ES (defaults follow the paper's MuJoCo runs where it gives them)."""

    sigma: float = Field(0.02, gt=0, description="Standard deviation of the perturbations.")
    learning_rate: float = Field(0.01, gt=0, description="Step size of the optimizer on the mean.")
    weight_decay: float = Field(0.005, ge=0, description="L2 coefficient pulling the mean to zero.")
    optimizer: Literal["adam", "sgd"] = Field("adam", description="Optimizer on the mean.")
    momentum: float = Field(0.9, ge=0, lt=1, description="Momentum of the SGD optimizer.")
    beta1: float = Field(0.9, ge=0, lt=1, description="Adam first-moment decay.")
    beta2: float = Field(0.999, ge=0, lt=1, description="Adam second-moment decay.")
    epsilon: float = Field(1e-8, gt=0, description="Adam denominator floor.")
    antithetic: bool = Field(True, description="Sample perturbations in mirrored pairs.")
    fitness_shaping: Literal["centered_rank", "z_score", "none"] = Field(
        "centered_rank", description="Transformation of fitness before the gradient estimate."
    )

    @model_validator(mode="after")
    def _check(self) -> OpenESConfig:
        if self.antithetic and self.population_size % 2:
            raise ValueError("population_size must be even with antithetic sampling")
        return self


@dataclass(frozen=True)
class OpenESState(TypedState):
    """The mean, Adam's moments (or SGD's momentum in ``m``), the step count, and the noise of the
    last ask (until it is told)."""

    generation: int
    mean: np.ndarray
    m: np.ndarray
    v: np.ndarray
    noise: np.ndarray | None = None
    array_fields: ClassVar[dict[str, str]] = {
        "mean": "float64",
        "m": "float64",
        "v": "float64",
        "noise": "float64",
    }


class OpenES(Strategy):
    """OpenAI-ES with antithetic sampling, centred ranks, weight decay and Adam.

    >>> es = OpenES(OpenESConfig(population_size=4), VectorSpace(2, lambda r: np.zeros(2)))
    >>> state = es.init(np.random.default_rng(0))
    >>> state, genomes, _ = es.ask(state, np.random.default_rng(1))
    >>> np.allclose(genomes[0] + genomes[2], 0.0)  # mirrored pair around the zero mean
    True
    """

    name = "open_es"
    convergence = (
        Convergence("sphere", 10, 300, 1e-4, _BUDGET),
        Convergence("rosenbrock", 2, 500, 0.2, _BUDGET),
    )
    config_class = OpenESConfig
    config: OpenESConfig
    state_class = OpenESState

    def init(self, rng: np.random.Generator) -> OpenESState:
        mean = np.asarray(self.space.initial_point(rng), dtype=np.float64).copy()
        zeros = np.zeros(self.dim)
        return OpenESState(0, mean, zeros, zeros.copy())

    def ask(self, state: OpenESState, rng: np.random.Generator) -> Asked:
        n, c = self.population_size, self.config
        if c.antithetic:
            half = rng.standard_normal((n // 2, self.dim))
            noise = np.concatenate([half, -half])
        else:
            noise = rng.standard_normal((n, self.dim))
        genomes = [self.space.decode(x) for x in state.mean + c.sigma * noise]
        return Asked(state.with_(noise=noise), genomes, [()] * n)

    def _shape(self, fitness: np.ndarray) -> np.ndarray:
        if self.config.fitness_shaping == "centered_rank":
            return centered_ranks(fitness)
        if self.config.fitness_shaping == "z_score":
            std = fitness.std()
            return (fitness - fitness.mean()) / (std if std > 0 else 1.0)
        return fitness

    def tell(self, state: OpenESState, genomes: list[Genome], fitness: np.ndarray) -> OpenESState:
        c = self.config
        noise, mean = state.noise, state.mean
        if noise is None:
            raise ValueError("tell() called without a matching ask()")
        weights = self._shape(np.asarray(fitness, dtype=np.float64))
        # Algorithm 1 of the paper; weight decay as in its released code (gradient of -l2 * |theta|^2 / 2).
        grad = weights @ noise / (len(weights) * c.sigma) - c.weight_decay * mean
        t = state.generation + 1
        if c.optimizer == "adam":
            step, m, v = adam_step(grad, state.m, state.v, t, c.learning_rate, c.beta1, c.beta2, c.epsilon)
        else:
            m = c.momentum * state.m + (1 - c.momentum) * grad
            v = state.v
            step = c.learning_rate * m
        return OpenESState(t, mean + step, m, v)

    def mean(self, state: OpenESState) -> np.ndarray | None:
        return state.mean if self.space.decodes_to_itself else None
