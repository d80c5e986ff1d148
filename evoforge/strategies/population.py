"""What the strategies that keep a population of genomes share: typed states whose population is a
list of genomes (any representation), saved and restored exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from evoforge.core.strategy import Strategy, TypedState

__all__ = ["GenomePopulation", "PopulationState", "AgingState", "SteadyState"]


def _empty() -> np.ndarray:
    return np.zeros(0)


@dataclass(frozen=True)
class PopulationState(TypedState):
    """A generation's population (None before the first) and its fitness, to maximise."""

    generation: int = 0
    population: list[Any] | None = None
    fitness: np.ndarray | None = None
    genome_fields: ClassVar[tuple[str, ...]] = ("population",)
    array_fields: ClassVar[dict[str, str]] = {"fitness": "float64"}


@dataclass(frozen=True)
class AgingState(TypedState):
    """An aging population in age order (oldest first) with its fitness, and the asks made."""

    asked: int = 0
    population: list[Any] = field(default_factory=list)
    fitness: np.ndarray = field(default_factory=_empty)
    genome_fields: ClassVar[tuple[str, ...]] = ("population",)
    array_fields: ClassVar[dict[str, str]] = {"fitness": "float64"}


@dataclass(frozen=True)
class SteadyState(AgingState):
    """As :class:`AgingState`, with each member's birth (the number of members told before it)."""

    members: int = 0
    birth: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    array_fields: ClassVar[dict[str, str]] = {"fitness": "float64", "birth": "int64"}


class GenomePopulation(Strategy):
    """Base of strategies over a search space's ``sample``, ``mutate`` and ``crossover`` whose state
    holds a population of genomes and their fitness."""

    requires = frozenset({"sample", "mutate", "crossover"})
    state_class: ClassVar[type | None] = PopulationState
