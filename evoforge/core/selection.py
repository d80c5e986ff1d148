"""Selection operators usable by any genetic algorithm.

All operators rank fitness with NaN as worst, so a failed individual is
never preferred to a finite one.
"""

from __future__ import annotations

import numpy as np

from evoforge.core.shaping import ranks

__all__ = ["elite_indices", "truncation_select", "tournament_select"]


def elite_indices(fitness: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` fittest, best first (ties: lower index first).

    >>> elite_indices(np.array([1.0, 5.0, np.nan, 3.0]), 2).tolist()
    [1, 3]
    """
    order = np.argsort(-ranks(fitness), kind="stable")
    return order[:k]


def truncation_select(
    fitness: np.ndarray, n: int, rng: np.random.Generator, truncation_size: int
) -> np.ndarray:
    """``n`` parents drawn uniformly from the ``truncation_size`` fittest (Such et al. 2017)."""
    if truncation_size < 1:
        raise ValueError("truncation_size must be >= 1")
    top = elite_indices(fitness, min(truncation_size, len(fitness)))
    return top[rng.integers(0, len(top), size=n)]


def tournament_select(
    fitness: np.ndarray, n: int, rng: np.random.Generator, tournament_size: int = 4
) -> np.ndarray:
    """``n`` parents, each the fittest of ``tournament_size`` drawn with replacement."""
    if tournament_size < 1:
        raise ValueError("tournament_size must be >= 1")
    r = ranks(fitness)
    entrants = rng.integers(0, len(fitness), size=(n, tournament_size))
    winners = np.argmax(r[entrants], axis=1)
    return entrants[np.arange(n), winners]
