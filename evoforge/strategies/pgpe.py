"""PGPE, Policy Gradients with Parameter-based Exploration (Sehnke et al. 2010, "Parameter-exploring
policy gradients", Neural Networks 23(4)), with the ClipUp optimizer of Toklu et al. 2020 (arXiv:
2008.02387), as EvoTorch and pgpelib run it.

* A diagonal Gaussian over parameters, centre mu and standard deviations sigma. Symmetric sampling
  (Sehnke et al., section 2.3): each pair is ``mu + eps`` and ``mu - eps`` with eps ~ N(0, sigma^2); the
  first half of the population is the plus side, the second half the minus side.
* Fitness shaped into centred ranks (Toklu et al., section 4), then the gradients of section 2.3:
  ``grad_mu = mean_k eps_k (f+_k - f-_k) / 2`` and ``grad_sigma = mean_k ((f+_k + f-_k) / 2 - b)
  (eps_k^2 - sigma^2) / sigma``, with the baseline b the mean shaped fitness.
* The centre moves by ClipUp (or Adam); sigma by plain ascent at ``stdev_learning_rate``, each
  coordinate changed by at most ``stdev_max_change`` of its value per generation (pgpelib's bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from evoforge.core.ascent import adam_step, clipup_step
from evoforge.core.genome import Genome
from evoforge.core.shaping import centered_ranks
from evoforge.core.space import VectorSpace  # noqa: F401  (the doctest's)
from evoforge.core.strategy import Asked, Convergence, Strategy, StrategyConfig, TypedState

__all__ = ["PGPE", "PGPEConfig"]

#: the settings of its conformance budgets
_BUDGET = {"population_size": 20, "center_learning_rate": 0.02, "max_speed": 0.04, "stdev_init": 0.3}


class PGPEConfig(StrategyConfig):
    """Hyperparameters of PGPE with ClipUp (defaults follow Toklu et al.'s recommendations: momentum
    0.9, the step size half the maximum speed, sigma's learning rate 0.1 and maximum change 0.2)."""

    population_size: int = Field(100, ge=2, description="Evaluations per generation (pairs: even).")
    center_learning_rate: float = Field(
        0.075, gt=0, description="ClipUp's step size (or Adam's learning rate) on the centre."
    )
    max_speed: float | None = Field(
        None, gt=0, description="ClipUp's largest step of the centre (None: twice center_learning_rate)."
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="ClipUp's momentum.")
    optimizer: Literal["clipup", "adam"] = Field("clipup", description="The optimizer of the centre.")
    stdev_init: float = Field(0.1, gt=0, description="The first standard deviation of every parameter.")
    radius_init: float | None = Field(
        None,
        gt=0,
        description="If set, the first standard deviations instead have this Euclidean length together "
        "(each radius_init / sqrt(dim)), the form Toklu et al. tune.",
    )
    stdev_learning_rate: float = Field(0.1, ge=0, description="Step size of sigma's update (0: fixed sigma).")
    stdev_max_change: float = Field(
        0.2, gt=0, lt=1, description="Largest relative change of a standard deviation per generation."
    )
    stdev_min: float = Field(1e-8, gt=0, description="Floor of every standard deviation.")

    @model_validator(mode="after")
    def _check(self) -> PGPEConfig:
        if self.population_size % 2:
            raise ValueError("population_size must be even: PGPE samples in symmetric pairs")
        return self


@dataclass(frozen=True)
class PGPEState(TypedState):
    """Centre, standard deviations, the optimizer's moments (ClipUp's velocity in ``m``), the step
    count, and the perturbations of the last ask (until told)."""

    generation: int
    mean: np.ndarray
    stdev: np.ndarray
    m: np.ndarray
    v: np.ndarray
    noise: np.ndarray | None = None
    array_fields: ClassVar[dict[str, str]] = {
        "mean": "float64",
        "stdev": "float64",
        "m": "float64",
        "v": "float64",
        "noise": "float64",
    }


class PGPE(Strategy):
    """PGPE with symmetric sampling, centred ranks, adaptive sigma and ClipUp.

    >>> pgpe = PGPE(PGPEConfig(population_size=4), VectorSpace(3, lambda r: np.ones(3)))
    >>> state = pgpe.init(np.random.default_rng(0))
    >>> state, genomes, _ = pgpe.ask(state, np.random.default_rng(1))
    >>> np.allclose(genomes[0] + genomes[2], 2.0)  # a symmetric pair around the centre (1, 1, 1)
    True
    """

    name = "pgpe"
    convergence = (
        # ClipUp's steps have a fixed length until momentum and the speed limit act: looser than Adam's
        Convergence("sphere", 10, 300, 1e-3, _BUDGET),
        Convergence("rosenbrock", 2, 300, 0.1, _BUDGET),
    )
    config_class = PGPEConfig
    config: PGPEConfig
    state_class = PGPEState

    @property
    def pairs(self) -> int:
        return self.population_size // 2

    def init(self, rng: np.random.Generator) -> PGPEState:
        c = self.config
        mean = np.asarray(self.space.initial_point(rng), dtype=np.float64).copy()
        sd = c.radius_init / np.sqrt(self.dim) if c.radius_init is not None else c.stdev_init
        zeros = np.zeros(self.dim)
        return PGPEState(0, mean, np.full(self.dim, sd), zeros, zeros.copy())

    def ask(self, state: PGPEState, rng: np.random.Generator) -> Asked:
        eps = rng.standard_normal((self.pairs, self.dim)) * state.stdev
        points = np.concatenate([state.mean + eps, state.mean - eps])
        return Asked(state.with_(noise=eps), [self.space.decode(x) for x in points], [()] * len(points))

    def tell(self, state: PGPEState, genomes: list[Genome], fitness: np.ndarray) -> PGPEState:
        c, eps = self.config, state.noise
        if eps is None:
            raise ValueError("tell() called without a matching ask()")
        shaped = centered_ranks(np.asarray(fitness, dtype=np.float64))
        plus, minus = shaped[: self.pairs], shaped[self.pairs :]
        sd = state.stdev
        grad_mean = (plus - minus) / 2 @ eps / self.pairs
        baseline = shaped.mean()
        grad_sd = ((plus + minus) / 2 - baseline) @ ((eps * eps - sd * sd) / sd) / self.pairs
        t = state.generation + 1
        if c.optimizer == "clipup":
            max_speed = c.max_speed if c.max_speed is not None else 2 * c.center_learning_rate
            m = clipup_step(grad_mean, state.m, c.center_learning_rate, max_speed, c.momentum)
            step, v = m, state.v
        else:
            step, m, v = adam_step(grad_mean, state.m, state.v, t, c.center_learning_rate)
        new_sd = np.clip(
            sd + c.stdev_learning_rate * grad_sd, sd * (1 - c.stdev_max_change), sd * (1 + c.stdev_max_change)
        )
        return PGPEState(t, state.mean + step, np.maximum(new_sd, c.stdev_min), m, v)

    def report(self, state: PGPEState) -> dict[str, float]:
        return {"stdev_mean": float(state.stdev.mean()), "speed": float(np.linalg.norm(state.m))}

    def mean(self, state: PGPEState) -> np.ndarray | None:
        return state.mean if self.space.decodes_to_itself else None
