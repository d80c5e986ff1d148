"""Archives of elites for quality-diversity search: one cell per region of the behaviour-descriptor
space, each holding the fittest solution found there.

* Grid archives (Mouret & Clune 2015, "Illuminating search spaces by mapping elites"): a box split into
  ``cells[k]`` equal intervals along descriptor dimension k; a descriptor outside the box counts in the
  edge cell (as pyribs does).
* CVT archives (Vassiliades et al. 2018, "Using centroidal Voronoi tessellations to scale up the
  multidimensional archive of phenotypic elites algorithm"): ``n`` centroids from k-means over points
  drawn uniformly in the box; a descriptor belongs to the cell of its nearest centroid.

The archive is a value (arrays in a strategy's state, saved and restored exactly by its checkpoint):
:func:`insert` returns new arrays and leaves its inputs alone. Why not pyribs' archives: they are
mutable objects saved by pickle, which a run directory may not hold (BENCHMARKS.md, "What is hand-written").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Elites", "grid_cells", "cvt_centroids", "nearest_cells", "insert"]


@dataclass(frozen=True)
class Elites:
    """The archive's contents: per cell the elite's parameters, fitness (``-inf``: empty) and
    descriptor.

    >>> e = Elites.empty(cells=3, dim=2, descriptor_size=1)
    >>> e.occupied.tolist(), e.coverage
    ([False, False, False], 0.0)
    """

    params: np.ndarray  # (cells, dim)
    fitness: np.ndarray  # (cells,)
    descriptors: np.ndarray  # (cells, descriptor_size)

    @classmethod
    def empty(cls, cells: int, dim: int, descriptor_size: int) -> Elites:
        return cls(np.zeros((cells, dim)), np.full(cells, -np.inf), np.full((cells, descriptor_size), np.nan))

    @property
    def occupied(self) -> np.ndarray:
        return np.isfinite(self.fitness)

    @property
    def coverage(self) -> float:
        """The share of cells holding an elite."""
        return float(self.occupied.mean()) if len(self.fitness) else 0.0

    def qd_score(self, offset: float) -> float:
        """Sum over occupied cells of ``fitness - offset`` (Pugh et al. 2016), the offset making every
        elite count positively when it is below the worst fitness possible."""
        return float(np.sum(self.fitness[self.occupied] - offset))


def grid_cells(
    descriptors: np.ndarray, lower: np.ndarray, upper: np.ndarray, cells: np.ndarray
) -> np.ndarray:
    """The flat grid cell of each descriptor (row-major over the dimensions), -1 for one with a NaN.

    >>> grid_cells(np.array([[0.1, 0.9], [5.0, -1.0], [np.nan, 0.0]]), np.zeros(2), np.ones(2), np.array([2, 4])).tolist()
    [3, 4, -1]
    """
    d = np.asarray(descriptors, dtype=np.float64)
    valid = np.asarray(np.isfinite(d).all(axis=1))
    scaled = (np.where(valid[:, None], d, lower) - lower) / (upper - lower)
    index = np.clip(np.floor(scaled * cells).astype(np.int64), 0, cells - 1)
    flat = np.ravel_multi_index(tuple(index.T), tuple(cells))
    return np.where(valid, flat, -1)


def cvt_centroids(
    lower: np.ndarray, upper: np.ndarray, n: int, rng: np.random.Generator, samples: int = 20_000
) -> np.ndarray:
    """``n`` centroids of a CVT of the box: k-means (scikit-learn, one initialisation seeded from
    ``rng``) over ``samples`` uniform points, as Vassiliades et al. build them."""
    from sklearn.cluster import KMeans

    points = rng.uniform(lower, upper, size=(max(samples, n), len(lower)))
    seed = int(rng.integers(2**31 - 1))
    return KMeans(n_clusters=n, n_init=1, max_iter=100, random_state=seed).fit(points).cluster_centers_


def nearest_cells(descriptors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """The index of each descriptor's nearest centroid, -1 for one with a NaN.

    >>> nearest_cells(np.array([[0.9, 0.8], [np.nan, 0.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])).tolist()
    [1, -1]
    """
    d = np.asarray(descriptors, dtype=np.float64)
    valid = np.asarray(np.isfinite(d).all(axis=1))
    filled = np.where(valid[:, None], d, 0.0)
    distance = ((filled[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return np.where(valid, distance.argmin(axis=1), -1)


def insert(
    elites: Elites, cells: np.ndarray, params: np.ndarray, fitness: np.ndarray, descriptors: np.ndarray
) -> tuple[Elites, np.ndarray, np.ndarray]:
    """``(elites, status, improvement)`` after offering each candidate to its cell, in order.

    ``status`` is 2 where a candidate filled an empty cell, 1 where it beat the cell's elite, 0 where
    it was not kept (a failed candidate: cell -1 or non-finite fitness); ``improvement`` is its
    fitness minus the elite's it replaced (its fitness, for a new cell), the quantities CMA-ME ranks by.

    >>> e = Elites.empty(2, 1, 1)
    >>> e, status, _ = insert(e, np.array([0, 0, 1]), np.array([[1.0], [2.0], [3.0]]), np.array([1.0, 0.5, 2.0]), np.zeros((3, 1)))
    >>> status.tolist(), e.fitness.tolist()
    ([2, 0, 2], [1.0, 2.0])
    """
    out_params, out_fit, out_desc = elites.params.copy(), elites.fitness.copy(), elites.descriptors.copy()
    status = np.zeros(len(cells), dtype=np.int64)
    improvement = np.zeros(len(cells))
    for i, cell in enumerate(np.asarray(cells)):
        f = float(fitness[i])
        if cell < 0 or not np.isfinite(f) or f <= out_fit[cell]:
            continue
        status[i] = 2 if not np.isfinite(out_fit[cell]) else 1
        improvement[i] = f if status[i] == 2 else f - out_fit[cell]
        out_params[cell], out_fit[cell], out_desc[cell] = params[i], f, descriptors[i]
    return Elites(out_params, out_fit, out_desc), status, improvement
