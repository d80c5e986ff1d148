"""CMA-MAE of Fontaine & Nikolaidis 2023, "Covariance matrix adaptation MAP-annealing" (GECCO,
arXiv:2205.10752), Algorithm 1; with ``archive_learning_rate: 1`` it is CMA-ME's improvement emitter
(Fontaine et al. 2020) with the standard CMA-ES weights.

* ``emitters`` CMA-ES instances (through the ``cmaes`` package, as the ``cma_es`` strategy uses it),
  sharing the ``population_size`` solutions of a generation.
* An archive whose cells have a threshold t_e, starting at ``threshold_min``. A solution scores
  Delta = f - t_e of its cell; if Delta > 0 it becomes the cell's elite and the threshold moves
  toward it, ``t_e <- (1 - alpha) t_e + alpha f`` (alpha: ``archive_learning_rate``). Each emitter's
  CMA-ES is told its solutions ranked by Delta.
* An emitter none of whose solutions beat their thresholds restarts (pyribs' "no improvement" rule)
  from an elite drawn uniformly, at ``sigma``.
* With alpha < 1 an elite can give way to a worse solution above its threshold, so the elites
  reported (coverage, QD-score, best) come from a second archive that keeps the best ever per cell,
  as the paper's result archive.

Told behaviour descriptors by the run, like ``map_elites``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from cmaes import CMA
from pydantic import Field, model_validator

from evoforge.core.archive import Elites, insert
from evoforge.core.genome import Genome
from evoforge.core.shaping import nan_to_worst
from evoforge.core.space import SearchSpace, VectorSpace  # noqa: F401  (VectorSpace: the doctest's)
from evoforge.core.strategy import Asked, Convergence
from evoforge.strategies.qd import ArchiveConfig, ArchiveStrategy

__all__ = ["CMAMAE", "CMAMAEConfig"]

#: the settings of its conformance budget (an odd cell count puts the optimum in the middle of a cell)
_BUDGET = {
    "population_size": 24,
    "emitters": 2,
    "sigma": 0.5,
    "cells": [7, 7],
    "threshold_min": -10.0,
    "archive_learning_rate": 0.1,
}


class CMAMAEConfig(ArchiveConfig):
    """Hyperparameters of CMA-MAE (defaults after the paper's: alpha 0.01, emitters restarting on no
    improvement; fewer emitters for a few cores)."""

    population_size: int = Field(
        72,
        ge=4,
        description="Solutions per generation, split over the emitters (the first take any remainder).",
    )
    emitters: int | None = Field(
        None,
        ge=1,
        description="CMA-ES instances (None: 2, or 1 for a population under 8; the paper's 15 suit many cores).",
    )
    sigma: float = Field(0.5, gt=0, description="Each emitter's initial and restart step size.")
    archive_learning_rate: float = Field(
        0.01, gt=0, le=1, description="alpha: how fast thresholds follow the elites (1: CMA-ME)."
    )
    threshold_min: float = Field(
        0.0, description="Every cell's first threshold: set it at or below the worst fitness of interest."
    )

    @property
    def emitter_count(self) -> int:
        return self.emitters if self.emitters is not None else (2 if self.population_size >= 8 else 1)

    @model_validator(mode="after")
    def _check(self) -> CMAMAEConfig:
        if (
            self.population_size < 4 * self.emitter_count
        ):  # CMA-ES needs 4 samples (one parent: no rank-mu update)
            raise ValueError(
                f"population_size ({self.population_size}) gives fewer than 4 solutions to each of "
                f"{self.emitter_count} emitters"
            )
        return self


class _Live:
    """The emitters' optimizers (mutated by ask and tell) and the step they stand at."""

    __slots__ = ("optimizers", "steps")

    def __init__(self, optimizers: list[Any], steps: int = 0):
        self.optimizers, self.steps = optimizers, steps


@dataclass(frozen=True)
class CMAMAEState:
    """Thresholds and the annealed archive, the result archive (the best per cell), the CVT's centroids,
    the live emitters, which emitters restart at the next ask, the points of the last ask, the step."""

    live: _Live
    thresholds: np.ndarray
    archive: Elites
    best: Elites
    centroids: np.ndarray | None
    restart: np.ndarray  # (emitters,) bool
    asked: np.ndarray | None
    step: int


class CMAMAE(ArchiveStrategy):
    """CMA-MAE (CMA-ME with ``archive_learning_rate: 1``).

    >>> s = CMAMAE(CMAMAEConfig(population_size=8, emitters=2, cells=[2, 2]), VectorSpace(3, lambda r: np.zeros(3)))
    >>> state = s.init(np.random.default_rng(0))
    >>> state, genomes, _ = s.ask(state, np.random.default_rng(1))
    >>> told = np.column_stack([np.arange(8.0), np.tile([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.2, 0.2]], (2, 1))])
    >>> s.report(s.tell(state, genomes, told))["coverage"]  # three of the four cells filled
    0.75
    """

    name = "cma_mae"
    convergence = (Convergence("sphere", 4, 200, 1e-2, _BUDGET),)
    config_class = CMAMAEConfig
    config: CMAMAEConfig

    def __init__(self, config: CMAMAEConfig, space: SearchSpace):
        super().__init__(config, space)
        share, extra = divmod(config.population_size, config.emitter_count)
        self.batches = [share + (k < extra) for k in range(config.emitter_count)]
        self.starts = np.concatenate([[0], np.cumsum(self.batches)])
        self._lower: tuple[np.ndarray, np.ndarray] | None = None

    def _optimizer(self, mean: np.ndarray, size: int) -> CMA:
        bounds = self.space.bounds
        return CMA(
            mean=np.asarray(mean, dtype=np.float64),
            sigma=self.config.sigma,
            population_size=size,
            seed=0,  # reseeded before every ask
            **({"bounds": np.tile(bounds, (self.dim, 1))} if bounds is not None else {}),
        )

    def init(self, rng: np.random.Generator) -> CMAMAEState:
        empty, centroids = self.new_archive(rng)
        start = np.asarray(self.space.initial_point(rng), dtype=np.float64)
        optimizers = [self._optimizer(start, size) for size in self.batches]
        thresholds = np.full(len(empty.fitness), self.config.threshold_min)
        restart = np.zeros(self.config.emitter_count, dtype=bool)
        return CMAMAEState(_Live(optimizers), thresholds, empty, empty, centroids, restart, None, 0)

    def _advance(self, state: CMAMAEState) -> list[Any]:
        if state.step != state.live.steps:
            raise ValueError(f"{self.name}: this state was already asked from or told; use the latest state")
        state.live.steps += 1
        return state.live.optimizers

    def ask(self, state: CMAMAEState, rng: np.random.Generator) -> Asked:
        optimizers = self._advance(state)
        occupied = np.flatnonzero(state.archive.occupied)
        for k in np.flatnonzero(state.restart):  # restart at an elite drawn uniformly
            if len(occupied):
                optimizers[k] = self._optimizer(
                    state.archive.params[occupied[rng.integers(len(occupied))]], self.batches[k]
                )
        points: list[np.ndarray] = []
        for optimizer, size in zip(optimizers, self.batches, strict=True):
            optimizer.reseed_rng(int(rng.integers(2**32)))
            points.extend(optimizer.ask() for _ in range(size))
        asked = np.stack(points)
        genomes = [self.space.decode(x) for x in asked]
        restart = np.zeros_like(state.restart)
        new = CMAMAEState(
            state.live,
            state.thresholds,
            state.archive,
            state.best,
            state.centroids,
            restart,
            asked,
            state.live.steps,
        )
        return Asked(new, genomes, [()] * len(genomes))

    def tell(self, state: CMAMAEState, genomes: list[Genome], fitness: np.ndarray) -> CMAMAEState:
        if state.asked is None:
            raise ValueError("tell() called without a matching ask()")
        f, descriptors = self.split(fitness)
        optimizers = self._advance(state)
        alpha = self.config.archive_learning_rate
        cells = self.cells_of(descriptors, state.centroids)
        thresholds = state.thresholds.copy()
        params, fit, desc = (
            state.archive.params.copy(),
            state.archive.fitness.copy(),
            state.archive.descriptors.copy(),
        )
        delta = np.full(len(f), np.nan)
        for i, cell in enumerate(cells):  # Algorithm 1, lines 9-14, in order
            if cell < 0:
                continue  # a failed candidate: worst
            delta[i] = f[i] - thresholds[cell]
            if delta[i] > 0:
                params[cell], fit[cell], desc[cell] = state.asked[i], f[i], descriptors[i]
                thresholds[cell] = (1 - alpha) * thresholds[cell] + alpha * f[i]
        best, _, _ = insert(state.best, cells, state.asked, f, descriptors)
        restart = np.zeros(len(optimizers), dtype=bool)
        ranked = nan_to_worst(delta)
        for k, optimizer in enumerate(optimizers):
            part = slice(self.starts[k], self.starts[k + 1])
            optimizer.tell([(x, -float(d)) for x, d in zip(state.asked[part], ranked[part], strict=True)])
            self._symmetric(optimizer)
            restart[k] = not np.any(delta[part] > 0) or optimizer.should_stop()
        archive = Elites(params, fit, desc)
        return CMAMAEState(
            state.live, thresholds, archive, best, state.centroids, restart, None, state.live.steps
        )

    def _symmetric(self, optimizer: CMA) -> None:
        """C mirrored as its serialised form mirrors it, so a restored state continues exactly."""
        c = optimizer._C
        if self._lower is None:
            self._lower = np.tril_indices(c.shape[0], -1)
        c[self._lower] = c.T[self._lower]

    def state_to_tree(self, state: CMAMAEState) -> dict[str, Any]:
        return {
            "optimizers": [o.__getstate__() for o in state.live.optimizers],
            "thresholds": state.thresholds,
            "archive": [state.archive.params, state.archive.fitness, state.archive.descriptors],
            "best": [state.best.params, state.best.fitness, state.best.descriptors],
            "centroids": state.centroids,
            "restart": state.restart,
            "asked": state.asked,
            "step": state.step,
        }

    def state_from_tree(self, tree: dict[str, Any]) -> CMAMAEState:
        optimizers = []
        for saved in tree["optimizers"]:
            optimizer: Any = object.__new__(CMA)
            optimizer.__setstate__(dict(saved))
            optimizers.append(optimizer)
        step = int(tree["step"])
        archive, best = (
            Elites(*(np.asarray(a, dtype=np.float64) for a in tree[k])) for k in ("archive", "best")
        )
        centroids = tree.get("centroids")
        asked = tree.get("asked")
        return CMAMAEState(
            _Live(optimizers, step), np.asarray(tree["thresholds"], dtype=np.float64), archive, best,
            None if centroids is None else np.asarray(centroids, dtype=np.float64),
            np.asarray(tree["restart"], dtype=bool), None if asked is None else np.asarray(asked, dtype=np.float64), step,
        )  # fmt: skip

    def elites(self, state: CMAMAEState) -> Elites:
        return state.best  # the result archive: the best ever per cell

    def report(self, state: CMAMAEState) -> dict[str, float]:
        return {**self.archive_report(state.best), "restarts": int(state.restart.sum())}
