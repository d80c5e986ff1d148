"""How evaluations run. Backends know nothing of algorithms.

A backend receives an :class:`EvalJob` (the problem's config, its context,
the genomes to evaluate and one seed per genome), cuts it into chunks, runs
:func:`evaluate_chunk` on them wherever it likes, and yields each chunk's
results as soon as they are ready. Because every individual's randomness comes
from its own seed and problems evaluate individuals independently, the results
are the same whatever the backend, the number of workers or the chunking.
"""

from __future__ import annotations

import math
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from evoforge.core.genome import Genome, SeedChainDecoder
from evoforge.problems.base import PROBLEMS, EvalResult, Problem, ProblemConfig

__all__ = ["Backend", "EvalJob", "ChunkResult", "evaluate_chunk", "build_problem", "split_chunks"]


@dataclass(frozen=True)
class EvalJob:
    """Everything a worker needs; all of it is plain data (configs, arrays, seed chains)."""

    problem: ProblemConfig
    context: dict[str, Any]
    genomes: list[Genome]
    seeds: list[int]


@dataclass
class ChunkResult:
    """Results for ``indices`` of the job, with the chunk's wall time."""

    indices: list[int]
    results: list[EvalResult]
    wall_seconds: float


_PROBLEM_CACHE: dict[str, tuple[Problem, SeedChainDecoder]] = {}


def build_problem(config: ProblemConfig) -> Problem:
    """Build (or reuse, within this process) the problem for ``config``."""
    return _cached(config)[0]


def _cached(config: ProblemConfig) -> tuple[Problem, SeedChainDecoder]:
    key = config.model_dump_json()
    if key not in _PROBLEM_CACHE:
        import evoforge.problems  # noqa: F401  (fills the registry)

        problem = PROBLEMS[config.kind](config)
        _PROBLEM_CACHE.clear()  # one problem per worker process at a time
        _PROBLEM_CACHE[key] = (problem, SeedChainDecoder(problem.initial_params))
    return _PROBLEM_CACHE[key]


def _failure(exc: BaseException) -> EvalResult:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
    return EvalResult(math.nan, {}, f"{type(exc).__name__}: {exc}{where}")


def evaluate_chunk(
    problem_config: ProblemConfig,
    context: dict,
    genomes: list[Genome],
    seeds: list[int],
    indices: list[int],
) -> ChunkResult:
    """Evaluate one chunk. A batch that raises is retried one individual at a time,
    so one failing candidate is recorded as failed and the others still count."""
    start = time.perf_counter()
    problem, decode = _cached(problem_config)
    try:
        params = np.stack([decode(g) for g in genomes])
        results = problem.evaluate(params, np.asarray(seeds, dtype=np.uint64), context)
    except Exception:  # noqa: BLE001  (isolate the failing candidate below)
        results = []
        for genome, seed in zip(genomes, seeds, strict=True):
            try:
                params = decode(genome)[None, :]
                results.extend(problem.evaluate(params, np.asarray([seed], dtype=np.uint64), context))
            except Exception as exc:  # noqa: BLE001  (a failing candidate is data, not a crash)
                results.append(_failure(exc))
    for r in results:
        if r.error is None and not math.isfinite(r.fitness):
            r.error, r.fitness = "non-finite fitness", math.nan
    return ChunkResult(list(indices), results, time.perf_counter() - start)


def split_chunks(n: int, n_chunks: int) -> list[list[int]]:
    """Split ``range(n)`` into at most ``n_chunks`` contiguous, nearly equal chunks."""
    n_chunks = max(1, min(n_chunks, n))
    bounds = np.linspace(0, n, n_chunks + 1).round().astype(int)
    return [list(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


class Backend(ABC):
    """Runs evaluation jobs; subclasses decide where."""

    name: str = "base"

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers

    @abstractmethod
    def run(self, job: EvalJob) -> Iterator[ChunkResult]:
        """Yield the results of every individual of ``job``, chunk by chunk, in completion order."""

    def close(self) -> None:  # noqa: B027  (optional hook: most backends hold nothing)
        """Release workers."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
