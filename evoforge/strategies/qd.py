"""What the quality-diversity strategies (``map_elites``, ``cma_mae``) share: the archive's settings
(:class:`ArchiveConfig`) and, from them, the archive's cells, descriptor size and per-generation
report (:class:`ArchiveStrategy`)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from evoforge.core.archive import Elites, cvt_centroids, grid_cells, nearest_cells
from evoforge.core.strategy import Strategy, StrategyConfig

__all__ = ["ArchiveConfig", "ArchiveStrategy"]


class ArchiveConfig(StrategyConfig):
    """The archive of a quality-diversity strategy: its box over the behaviour descriptors, grid or
    CVT cells, and the offset of its QD-score."""

    descriptor_bounds: list[tuple[float, float]] = Field(
        [(0.0, 1.0), (0.0, 1.0)],
        description="(low, high) of each descriptor number: the archive's box (a descriptor outside it "
        "counts in the edge cell).",
    )
    archive: Literal["grid", "cvt"] = Field(
        "grid", description="Grid cells, or a centroidal Voronoi tessellation."
    )
    cells: list[int] = Field([32, 32], description="Grid archives: cells along each descriptor dimension.")
    cvt_cells: int = Field(1000, ge=2, description="CVT archives: the number of cells (centroids).")
    qd_offset: float = Field(
        0.0,
        description="Subtracted from every elite's fitness in the QD-score (set it below the worst fitness).",
    )

    @field_validator("descriptor_bounds")
    @classmethod
    def _ordered(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if not value:
            raise ValueError("descriptor_bounds needs one (low, high) per descriptor number")
        for low, high in value:
            if not low < high:
                raise ValueError(f"descriptor bounds ({low}, {high}): low must be below high")
        return value

    @model_validator(mode="after")
    def _grid(self) -> ArchiveConfig:
        if self.archive == "grid":
            if len(self.cells) != len(self.descriptor_bounds):
                raise ValueError(
                    f"cells has {len(self.cells)} entries for {len(self.descriptor_bounds)} descriptor bounds"
                )
            if min(self.cells) < 1:
                raise ValueError("every dimension needs at least one cell")
        return self


class ArchiveStrategy(Strategy):
    """Base of the strategies over an archive configured by an :class:`ArchiveConfig`."""

    uses_descriptors = True
    config: ArchiveConfig

    def descriptor_size(self) -> int:
        return len(self.config.descriptor_bounds)

    @property
    def box(self) -> tuple[np.ndarray, np.ndarray]:
        bounds = np.asarray(self.config.descriptor_bounds, dtype=np.float64)
        return bounds[:, 0], bounds[:, 1]

    def new_archive(self, rng: np.random.Generator) -> tuple[Elites, np.ndarray | None]:
        """An empty archive and, for a CVT, its centroids (drawn with ``rng``)."""
        c = self.config
        centroids = cvt_centroids(*self.box, c.cvt_cells, rng) if c.archive == "cvt" else None
        cells = int(np.prod(c.cells)) if c.archive == "grid" else c.cvt_cells
        return Elites.empty(cells, self.dim, self.descriptor_size()), centroids

    def cells_of(self, descriptors: np.ndarray, centroids: np.ndarray | None) -> np.ndarray:
        """The cell of each descriptor (-1 for a failed one)."""
        if centroids is not None:
            return nearest_cells(descriptors, centroids)
        return grid_cells(descriptors, *self.box, np.asarray(self.config.cells))

    def split(self, fitness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The fitness and descriptors of what the run tells, checked for the descriptors' length."""
        told = np.asarray(fitness, dtype=np.float64)
        if told.ndim != 2 or told.shape[1] != 1 + self.descriptor_size():
            raise ValueError(
                f"{self.name} is told fitness plus {self.descriptor_size()} descriptor numbers per candidate"
            )
        return told[:, 0], told[:, 1:]

    def archive_report(self, elites: Elites) -> dict[str, float]:
        """Coverage, QD-score, the best elite's fitness and the number of elites."""
        return {
            "coverage": elites.coverage,
            "qd_score": elites.qd_score(self.config.qd_offset),
            "archive_best": float(elites.fitness.max()) if elites.occupied.any() else float("nan"),
            "elites": int(elites.occupied.sum()),
        }
