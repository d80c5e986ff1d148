"""CMA-ES (Hansen 2016, "The CMA Evolution Strategy: A Tutorial") and separable
CMA-ES (Ros & Hansen 2008), both through the ``cmaes`` package.

Over parameter vectors, or over a search space's continuous encoding: the distribution then lives
in the box [0, 1]^d of :meth:`ChainSpace.decode` (the package keeps samples inside the bounds), each
sample is decoded to an architecture, and the sample itself is kept in the state to be told.

evoforge does not reimplement CMA-ES: the package's optimizer object is rebuilt
from the explicit state for every ask/tell (its own ``__getstate__`` form), and
its random generator is reseeded from the caller's derived generator, so a
state saved after any generation resumes exactly.
"""

from __future__ import annotations

import copy

import numpy as np
from cmaes import CMA, SepCMA
from pydantic import Field

from evoforge.core.genome import Genome
from evoforge.core.strategy import Asked, State, Strategy, StrategyConfig

__all__ = ["CMAES", "CMAESConfig", "SepCMAES"]


class CMAESConfig(StrategyConfig):
    """Hyperparameters of (separable) CMA-ES; the rest are the package's defaults from the tutorial."""

    population_size: int | None = Field(  # type: ignore[assignment]
        None, ge=2, description="Lambda; None means the tutorial's default 4 + floor(3 ln n)."
    )
    sigma: float = Field(0.5, gt=0, description="Initial step size sigma_0.")
    lr_adapt: bool = Field(False, description="Learning-rate adaptation (Nomura et al. 2023); CMA-ES only.")


class _CMABase(Strategy):
    config_class = CMAESConfig
    config: CMAESConfig
    _optimizer_class: type
    genome_kinds = ("vector", "architecture")

    def __init__(self, config: CMAESConfig, dim: int, init_params, space=None):
        self.space = space
        if space is not None:  # the centre of the encoding box, every choice equally likely
            dim = space.encoding_dim
            init_params = lambda rng: np.full(space.encoding_dim, 0.5)  # noqa: E731
        super().__init__(config, dim, init_params)

    @property
    def population_size(self) -> int:
        if self.config.population_size is not None:
            return self.config.population_size
        return 4 + int(np.floor(3 * np.log(self.dim)))

    def _kwargs(self) -> dict:
        return {}

    def init(self, rng: np.random.Generator) -> State:
        mean = np.asarray(self.init_params(rng), dtype=np.float64)
        optimizer = self._optimizer_class(
            mean=mean,
            sigma=self.config.sigma,
            population_size=self.population_size,
            seed=0,
            **self._kwargs(),
            **({"bounds": np.tile([0.0, 1.0], (self.dim, 1))} if self.space is not None else {}),
        )
        return {"optimizer": optimizer.__getstate__(), "asked": None}

    def _restore(self, state: State):
        optimizer = self._optimizer_class.__new__(self._optimizer_class)
        optimizer.__setstate__(copy.deepcopy(state["optimizer"]))
        return optimizer

    def ask(self, state: State, rng: np.random.Generator) -> Asked:
        optimizer = self._restore(state)
        optimizer.reseed_rng(int(rng.integers(2**32)))
        points = [optimizer.ask() for _ in range(self.population_size)]
        genomes = points if self.space is None else [self.space.decode(x) for x in points]
        return Asked(dict(state, asked=np.stack(points)), genomes, [()] * len(genomes))

    def tell(self, state: State, genomes: list[Genome], fitness: np.ndarray) -> State:
        optimizer = self._restore(state)
        points = genomes if self.space is None else list(state["asked"])
        # cmaes minimises; evoforge strategies maximise.
        optimizer.tell([(np.asarray(x), -float(f)) for x, f in zip(points, fitness, strict=True)])
        return {"optimizer": optimizer.__getstate__(), "asked": None}

    def mean(self, state: State) -> np.ndarray | None:
        # over a space, the centre is not evaluated: one more training run per generation
        return None if self.space is not None else np.asarray(state["optimizer"]["_mean"])

    def sigma(self, state: State) -> float:
        return float(state["optimizer"]["_sigma"])


class CMAES(_CMABase):
    """Full-covariance CMA-ES from ``cmaes.CMA``.

    >>> cma = CMAES(CMAESConfig(), dim=3, init_params=lambda r: np.ones(3))
    >>> cma.population_size
    7
    """

    name = "cma_es"
    _optimizer_class = CMA

    def _kwargs(self) -> dict:
        return {"lr_adapt": self.config.lr_adapt}


class SepCMAES(_CMABase):
    """Separable (diagonal) CMA-ES from ``cmaes.SepCMA``: linear cost in the dimension."""

    name = "sep_cma_es"
    _optimizer_class = SepCMA
