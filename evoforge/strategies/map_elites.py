"""MAP-Elites (Mouret & Clune 2015, "Illuminating search spaces by mapping elites", arXiv:1504.04909)
with the Iso+LineDD variation of Vassiliades & Mouret 2018 ("Discovering the elite hypervolume by
leveraging interspecies correlation", GECCO).

* An archive of elites over the behaviour-descriptor box ``descriptor_bounds``: a grid of ``cells``
  per dimension, or a CVT of ``cvt_cells`` cells (:mod:`evoforge.core.archive`).
* The first generation is drawn from the search space's starting distribution; afterwards each child is an elite chosen
  uniformly among the occupied cells, varied by Iso+LineDD, ``x_i + iso_sigma * N(0, I) + line_sigma *
  N(0, 1) * (x_j - x_i)`` with a second elite x_j (Vassiliades & Mouret, equation 1), or by Gaussian
  noise alone (``variation: gaussian``, the original algorithm).
* ``tell`` offers every child to the cell of its descriptor; it stays if the cell was empty or it is
  fitter than the cell's elite.

The run is told the descriptors the problem records (``problem.descriptor`` for gym). Reported per
generation: coverage, QD-score (sum of elite fitness minus ``qd_offset``) and the archive's best.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from evoforge.core.archive import Elites, insert
from evoforge.core.genome import Genome, genome_id
from evoforge.core.space import VectorSpace  # noqa: F401  (the doctest's)
from evoforge.core.strategy import Asked, Convergence, TypedState
from evoforge.strategies.qd import ArchiveConfig, ArchiveStrategy

__all__ = ["MAPElites", "MAPElitesConfig"]

#: the settings of its conformance budgets: the toy descriptors are the first two coordinates squashed
#: into (0, 1), so the archive is a map of where the search has been
_BUDGET = {"population_size": 32, "iso_sigma": 0.05, "line_sigma": 0.2, "cells": [8, 8]}


class MAPElitesConfig(ArchiveConfig):
    """Hyperparameters of MAP-Elites (defaults: Vassiliades & Mouret's Iso+LineDD sigmas)."""

    population_size: int = Field(64, ge=1, description="Children per generation.")
    variation: Literal["iso_line", "gaussian"] = Field(
        "iso_line", description="Iso+LineDD (two elites), or isotropic Gaussian noise on one elite."
    )
    iso_sigma: float = Field(0.01, ge=0, description="Standard deviation of the isotropic noise.")
    line_sigma: float = Field(0.2, ge=0, description="Standard deviation along the line to a second elite.")


@dataclass(frozen=True)
class MAPElitesState(TypedState):
    """The archive (elite parameters, fitness, descriptors), the CVT's centroids (None for a grid),
    the generation count, and the children of the last ask (until told)."""

    generation: int
    params: np.ndarray
    fitness: np.ndarray
    descriptors: np.ndarray
    centroids: np.ndarray | None = None
    children: np.ndarray | None = None
    array_fields: ClassVar[dict[str, str]] = {
        "params": "float64",
        "fitness": "float64",
        "descriptors": "float64",
        "centroids": "float64",
        "children": "float64",
    }

    @property
    def elites(self) -> Elites:
        return Elites(self.params, self.fitness, self.descriptors)


class MAPElites(ArchiveStrategy):
    """MAP-Elites over a grid or CVT archive.

    >>> me = MAPElites(MAPElitesConfig(population_size=4, cells=[2, 2]), VectorSpace(3, lambda r: r.uniform(size=3)))
    >>> state = me.init(np.random.default_rng(0))
    >>> state, genomes, _ = me.ask(state, np.random.default_rng(1))
    >>> told = np.column_stack([[1.0, 2.0, 3.0, 4.0], [[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.2, 0.2]]])
    >>> me.report(me.tell(state, genomes, told))["coverage"]  # three of four cells filled
    0.75
    """

    name = "map_elites"
    convergence = (Convergence("sphere", 4, 200, 1e-2, _BUDGET),)
    config_class = MAPElitesConfig
    config: MAPElitesConfig
    state_class = MAPElitesState

    def init(self, rng: np.random.Generator) -> MAPElitesState:
        empty, centroids = self.new_archive(rng)
        return MAPElitesState(0, empty.params, empty.fitness, empty.descriptors, centroids)

    def ask(self, state: MAPElitesState, rng: np.random.Generator) -> Asked:
        c, n = self.config, self.population_size
        occupied = np.flatnonzero(state.elites.occupied)
        if len(occupied) == 0:  # nothing to vary yet: draw from the search space
            children = np.stack(
                [np.asarray(self.space.initial_point(rng), dtype=np.float64) for _ in range(n)]
            )
            parents: list[tuple[str, ...]] = [()] * n
        else:
            first = occupied[rng.integers(len(occupied), size=n)]
            x = state.params[first]
            children = x + c.iso_sigma * rng.standard_normal(x.shape)
            if c.variation == "iso_line":
                second = occupied[rng.integers(len(occupied), size=n)]
                children = children + c.line_sigma * rng.standard_normal((n, 1)) * (state.params[second] - x)
            ids = {int(k): genome_id(self.space.decode(state.params[k])) for k in set(first.tolist())}
            parents = [(ids[int(k)],) for k in first]
        genomes = [self.space.decode(x) for x in children]
        return Asked(state.with_(children=children), genomes, parents)

    def tell(self, state: MAPElitesState, genomes: list[Genome], fitness: np.ndarray) -> MAPElitesState:
        if state.children is None:
            raise ValueError("tell() called without a matching ask()")
        fit, descriptors = self.split(fitness)
        cells = self.cells_of(descriptors, state.centroids)
        elites, _, _ = insert(state.elites, cells, state.children, fit, descriptors)
        return MAPElitesState(
            state.generation + 1, elites.params, elites.fitness, elites.descriptors, state.centroids
        )

    def elites(self, state: MAPElitesState) -> Elites:
        return state.elites

    def report(self, state: MAPElitesState) -> dict[str, float]:
        return self.archive_report(state.elites)
