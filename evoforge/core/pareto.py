"""Pareto dominance for several objectives, all maximised: the fast non-dominated sort and the
crowding distance of NSGA-II (Deb, Pratap, Agarwal & Meyarivan 2002, "A fast and elitist
multiobjective genetic algorithm: NSGA-II", IEEE TEC 6(2), sections III-A and III-B).

Objective matrices are ``(n, m)``: one row per individual, one column per objective. Rows with a
NaN are dominated by every finite row (a failed candidate is worst in every objective).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "dominates",
    "non_dominated_sort",
    "crowding_distance",
    "pareto_front",
    "rank_and_crowding",
    "objective_matrix",
]


def _clean(objectives: np.ndarray) -> np.ndarray:
    f = np.asarray(objectives, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"objectives must be an (n, m) matrix, got shape {f.shape}")
    return np.where(np.isnan(f).any(axis=1, keepdims=True), -np.inf, f)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` is at least as good as ``b`` in every objective and better in one.

    >>> dominates(np.array([1.0, 2.0]), np.array([1.0, 1.0])), dominates(np.array([1.0, 2.0]), np.array([2.0, 1.0]))
    (True, False)
    """
    return bool(np.all(a >= b) and np.any(a > b))


def non_dominated_sort(objectives: np.ndarray) -> list[np.ndarray]:
    """Fronts of the rows, best first: front 0 is dominated by no row, front k only by rows of
    fronts before k. Each front lists row indices in increasing order.

    The dominance matrix is built in one vectorised comparison (O(m n^2) memory), then fronts are
    peeled by counting dominators, as in Deb et al.'s procedure.

    >>> [f.tolist() for f in non_dominated_sort(np.array([[1, 0], [0, 1], [0, 0], [-1, -1]]))]
    [[0, 1], [2], [3]]
    """
    f = _clean(objectives)
    n = len(f)
    if n == 0:
        return []
    ge = np.all(f[:, None, :] >= f[None, :, :], axis=2)
    gt = np.any(f[:, None, :] > f[None, :, :], axis=2)
    dom = ge & gt  # dom[i, j]: i dominates j
    count = dom.sum(axis=0)  # how many rows dominate each row
    fronts = []
    current = np.flatnonzero(count == 0)
    while current.size:
        fronts.append(current)
        count = count - dom[current].sum(axis=0)
        count[current] = -1  # placed
        current = np.flatnonzero(count == 0)
    return fronts


def crowding_distance(objectives: np.ndarray) -> np.ndarray:
    """Crowding distance of each row within its own set (one front): per objective, the rows sorted
    by it; the two extremes get infinity, the others the normalised gap between their neighbours,
    summed over objectives (section III-B).

    >>> crowding_distance(np.array([[0.0, 3.0], [1.0, 2.0], [3.0, 0.0]])).tolist()
    [inf, 2.0, inf]
    """
    f = _clean(objectives)
    n, m = f.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(f[:, k], kind="stable")
        column = f[order, k]
        distance[order[0]] = distance[order[-1]] = np.inf
        span = column[-1] - column[0]
        if not np.isfinite(span) or span <= 0:
            continue
        distance[order[1:-1]] += (column[2:] - column[:-2]) / span
    return distance


def rank_and_crowding(objectives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's front number (0 is best) and its crowding distance within that front."""
    f = _clean(objectives)
    rank = np.zeros(len(f), dtype=np.int64)
    crowd = np.zeros(len(f))
    for k, front in enumerate(non_dominated_sort(f)):
        rank[front] = k
        crowd[front] = crowding_distance(f[front])
    return rank, crowd


def pareto_front(objectives: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows (rows with a NaN never belong unless every row has one).

    >>> pareto_front(np.array([[0.9, -100.0], [0.8, -10.0], [0.7, -50.0]])).tolist()
    [0, 1]
    """
    fronts = non_dominated_sort(objectives)
    return fronts[0] if fronts else np.zeros(0, dtype=np.int64)


def objective_matrix(
    fitness: np.ndarray, metrics: list[dict], names: tuple[str, ...], sign: float = 1.0
) -> np.ndarray:
    """The ``(n, 1 + len(names))`` matrix, all maximised, of a fitness (``sign`` 1 to maximise, -1
    to minimise) and the named metrics (each minimised). A failed individual (non-finite fitness),
    or a missing or non-finite metric, gives NaN: worst.

    >>> objective_matrix(np.array([0.9, np.nan]), [{"params": 10}, {"params": 1}], ("params",)).tolist()
    [[0.9, -10.0], [nan, nan]]
    """
    raw = np.asarray(fitness, dtype=np.float64)
    out = np.full((len(raw), 1 + len(names)), np.nan)
    for i, (f, m) in enumerate(zip(raw, metrics, strict=True)):
        if not np.isfinite(f):
            continue
        out[i, 0] = sign * f
        for k, name in enumerate(names):
            value = float(m.get(name, np.nan))
            out[i, 1 + k] = -value if np.isfinite(value) else np.nan
    return out
