"""Fitness shaping and failure handling.

evoforge strategies always *maximise*. The run loop converts a problem's
direction once, and replaces failed evaluations (NaN) with a value worse than
every finite one, so a failure can never become the best.
"""

from __future__ import annotations

import numpy as np

__all__ = ["centered_ranks", "nan_to_worst", "ranks"]


def ranks(fitness: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 by ascending fitness; NaN ranks lowest, ties broken by index.

    >>> ranks(np.array([0.5, np.nan, 2.0])).tolist()
    [1, 0, 2]
    """
    fitness = np.asarray(fitness, dtype=np.float64)
    keyed = np.where(np.isnan(fitness), -np.inf, fitness)
    order = np.lexsort((np.arange(len(keyed)), keyed))
    out = np.empty(len(keyed), dtype=np.int64)
    out[order] = np.arange(len(keyed))
    return out


def centered_ranks(fitness: np.ndarray) -> np.ndarray:
    """Ranks mapped linearly onto [-0.5, 0.5] (Salimans et al. 2017, section 2.2).

    Tied values share their average rank, so a flat batch gives a zero update
    instead of a direction made up by the tie-break order.

    >>> centered_ranks(np.array([3.0, 1.0, 2.0])).tolist()
    [0.5, -0.5, 0.0]
    >>> centered_ranks(np.array([1.0, 1.0])).tolist()
    [0.0, 0.0]
    """
    n = len(fitness)
    if n < 2:
        return np.zeros(n)
    fitness = np.asarray(fitness, dtype=np.float64)
    keyed = np.where(np.isnan(fitness), -np.inf, fitness)
    r = ranks(fitness).astype(np.float64)
    _, inverse, counts = np.unique(keyed, return_inverse=True, return_counts=True)
    if len(counts) < n:  # average the ranks within each group of ties
        sums = np.bincount(inverse, weights=r)
        r = (sums / counts)[inverse]
    return r / (n - 1) - 0.5


def nan_to_worst(fitness: np.ndarray) -> np.ndarray:
    """Replace non-finite values (for maximisation) with something below every finite value.

    +inf is kept (a genuinely unbounded fitness), NaN and -inf become worst.

    >>> nan_to_worst(np.array([1.0, np.nan, 3.0])).tolist()
    [1.0, -2.0, 3.0]
    """
    fitness = np.asarray(fitness, dtype=np.float64).copy()
    bad = np.isnan(fitness) | np.isneginf(fitness)
    if not bad.any():
        return fitness
    finite = fitness[np.isfinite(fitness)]
    if finite.size == 0:
        fitness[bad] = -1e300
        return fitness
    lo, hi = float(finite.min()), float(finite.max())
    fitness[bad] = lo - (hi - lo) - 1.0
    return fitness
