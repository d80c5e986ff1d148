"""CMA-ES (Hansen 2016, "The CMA Evolution Strategy: A Tutorial") and separable
CMA-ES (Ros & Hansen 2008), both through the ``cmaes`` package.

Over parameter vectors, or over a search space's continuous encoding: the distribution then lives
in the box [0, 1]^d of the space's ``decode`` (the package keeps samples inside the bounds), each
sample is decoded to an architecture, and the sample itself is kept in the state to be told.

evoforge does not reimplement CMA-ES. The package's optimizer object lives in the state between
ask and tell (rebuilding it from a serialised form every call cost 3.5x the raw loop at 10-D); it
is serialised (its own ``__getstate__`` form) only when a checkpoint is written. Its random
generator is reseeded from the caller's derived generator before every ask, so a state restored
from any checkpoint resumes exactly. Because ask and tell advance that one object, a state value
can be used once: asking from a state that was already asked from raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from cmaes import CMA, SepCMA
from pydantic import Field

from evoforge.core.genome import Genome
from evoforge.core.space import SearchSpace, VectorSpace  # noqa: F401  (VectorSpace: the doctest's)
from evoforge.core.strategy import Asked, Convergence, Strategy, StrategyConfig

__all__ = ["CMAES", "CMAESConfig", "CMAState", "SepCMAES"]


class CMAESConfig(StrategyConfig):
    """Hyperparameters of (separable) CMA-ES; the rest are the package's defaults from the tutorial."""

    population_size: int | None = Field(  # type: ignore[assignment]
        None, ge=2, description="Lambda; None means the tutorial's default 4 + floor(3 ln n)."
    )
    sigma: float = Field(0.5, gt=0, description="Initial step size sigma_0.")
    lr_adapt: bool = Field(False, description="Learning-rate adaptation (Nomura et al. 2023); CMA-ES only.")


class _Live:
    """The package's optimizer and how many asks and tells it has seen (to catch a stale state)."""

    __slots__ = ("optimizer", "steps")

    def __init__(self, optimizer: Any, steps: int = 0):
        self.optimizer, self.steps = optimizer, steps


@dataclass(frozen=True)
class CMAState:
    """The state of (separable) CMA-ES: the live optimizer, the points of the last ask (until they
    are told) and the step this state stands at."""

    live: _Live
    asked: list[np.ndarray] | None
    step: int

    @property
    def mean(self) -> np.ndarray:
        return np.array(self.live.optimizer._mean)  # a copy: the live optimizer moves on

    @property
    def sigma(self) -> float:
        return float(self.live.optimizer._sigma)


class _CMABase(Strategy):
    config_class = CMAESConfig
    config: CMAESConfig
    _optimizer_class: type
    requires = frozenset({"continuous"})

    def __init__(self, config: CMAESConfig, space: SearchSpace):
        super().__init__(config, space)
        lam = config.population_size
        self._lambda = lam if lam is not None else 4 + int(np.floor(3 * np.log(self.dim)))
        self._identity = space.decodes_to_itself

    @property
    def population_size(self) -> int:
        """Lambda: the config's, or the tutorial's default ``4 + floor(3 ln n)``."""
        return self._lambda

    def _kwargs(self) -> dict:
        return {}

    def init(self, rng: np.random.Generator) -> CMAState:
        mean = np.asarray(self.space.initial_point(rng), dtype=np.float64)
        bounds = self.space.bounds
        optimizer = self._optimizer_class(
            mean=mean,
            sigma=self.config.sigma,
            population_size=self.population_size,
            seed=0,
            **self._kwargs(),
            **({"bounds": np.tile(bounds, (self.dim, 1))} if bounds is not None else {}),
        )
        return CMAState(_Live(optimizer), None, 0)

    def _advance(self, state: CMAState) -> Any:
        if state.step != state.live.steps:
            raise ValueError(
                f"{self.name}: this state was already asked from or told (step {state.step}, the "
                f"optimizer is at {state.live.steps}); use the state the last ask or tell returned"
            )
        state.live.steps += 1
        return state.live.optimizer

    def ask(self, state: CMAState, rng: np.random.Generator) -> Asked:
        optimizer = self._advance(state)
        optimizer.reseed_rng(int(rng.integers(2**32)))
        points = [optimizer.ask() for _ in range(self._lambda)]
        genomes = points if self._identity else [self.space.decode(x) for x in points]
        return Asked(CMAState(state.live, points, state.live.steps), genomes, [()] * len(genomes))

    def tell(self, state: CMAState, genomes: list[Genome], fitness: np.ndarray) -> CMAState:
        if state.asked is None:
            raise ValueError("tell() called without a matching ask()")
        optimizer = self._advance(state)
        # cmaes minimises; evoforge strategies maximise.
        optimizer.tell([(x, -float(f)) for x, f in zip(state.asked, fitness, strict=True)])
        self._normalise(optimizer)
        return CMAState(state.live, None, state.live.steps)

    def _normalise(self, optimizer: Any) -> None:
        """Bring the optimizer to the form its serialised state has, so a state restored from a
        checkpoint continues exactly as the live one (nothing to do for a diagonal covariance)."""

    def state_to_tree(self, state: CMAState) -> dict[str, Any]:
        asked = None if state.asked is None else np.stack(state.asked)
        return {"optimizer": state.live.optimizer.__getstate__(), "asked": asked, "step": state.step}

    def state_from_tree(self, tree: dict[str, Any]) -> CMAState:
        optimizer: Any = object.__new__(self._optimizer_class)
        optimizer.__setstate__(dict(tree["optimizer"]))  # reseeded before every ask
        step = int(tree.get("step", 0))
        asked = tree.get("asked")
        return CMAState(_Live(optimizer, step), None if asked is None else list(np.asarray(asked)), step)

    def mean(self, state: CMAState) -> np.ndarray | None:
        # over a space, the centre is not evaluated: one more training run per generation
        return state.mean if self._identity else None

    def sigma(self, state: CMAState) -> float:
        return state.sigma


class CMAES(_CMABase):
    """Full-covariance CMA-ES from ``cmaes.CMA``.

    >>> cma = CMAES(CMAESConfig(), VectorSpace(3, lambda r: np.ones(3)))
    >>> cma.population_size
    7
    """

    name = "cma_es"
    convergence = (
        Convergence("sphere", 10, 200, 1e-8),
        Convergence("rosenbrock", 5, 500, 1e-6),
    )
    _optimizer_class = CMA
    _lower: tuple[np.ndarray, np.ndarray] | None = None  # the indices below C's diagonal, once known

    def _kwargs(self) -> dict:
        return {"lr_adapt": self.config.lr_adapt}

    def _normalise(self, optimizer: Any) -> None:
        # The package's serialised form keeps the upper triangle of C and mirrors it (and its
        # eigendecomposition leaves C = B D^2 B^T symmetric only up to rounding): mirror it here too.
        c = optimizer._C
        if self._lower is None:
            self._lower = np.tril_indices(c.shape[0], -1)
        c[self._lower] = c.T[self._lower]


class SepCMAES(_CMABase):
    """Separable (diagonal) CMA-ES from ``cmaes.SepCMA``: linear cost in the dimension."""

    name = "sep_cma_es"
    # a diagonal covariance cannot follow Rosenbrock's curved valley: slow, as expected
    convergence = (
        Convergence("sphere", 10, 200, 1e-8),
        Convergence("rosenbrock", 2, 300, 0.5),
    )
    _optimizer_class = SepCMA
