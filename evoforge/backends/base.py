"""How evaluations run. Backends know nothing of algorithms.

A backend receives an :class:`EvalJob` (the problem's config, its context,
the genomes to evaluate and one seed per genome), cuts it into chunks, runs
:func:`evaluate_chunk` on them wherever it likes, and yields each chunk's
results as soon as they are ready. Because every individual's randomness comes
from its own seed and problems evaluate individuals independently, the results
are the same whatever the backend, the number of workers or the chunking.

Faults are contained here and in the backends, never passed up as exceptions:
a candidate that raises, returns NaN or overruns its time limit comes back as
an :class:`EvalResult` with an error; a backend that loses a worker re-runs
the lost chunk one candidate at a time and reports a candidate whose own
worker dies as failed. The run loop decides about retries.
"""

from __future__ import annotations

import math
import signal
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from evoforge.core.genome import Genome, SeedChainDecoder
from evoforge.problems.base import EvalResult, Problem, ProblemConfig, get_problem

__all__ = [
    "Backend",
    "EvalJob",
    "ChunkResult",
    "EvalTimeoutError",
    "evaluate_chunk",
    "build_problem",
    "split_chunks",
    "WorkerLostError",
    "BackendLostError",
]


@dataclass(frozen=True)
class EvalJob:
    """Everything a worker needs; all of it is plain data (configs, arrays, seed chains).

    ``timeout`` is the time limit per candidate in seconds (None: no limit); ``shared`` holds the
    problem's shared inputs for backends that ship them (see :meth:`Problem.shared_inputs`);
    ``chunk_size`` caps the candidates per chunk (None: one chunk per slot, the cheapest to ship;
    1 for costly candidates of uneven cost, so a free worker always takes the next one).
    """

    problem: ProblemConfig
    context: dict[str, Any]
    genomes: list[Genome]
    seeds: list[int]
    timeout: float | None = None
    shared: dict[str, np.ndarray] | None = None
    chunk_size: int | None = None


@dataclass
class ChunkResult:
    """Results for ``indices`` of the job, with the chunk's wall time."""

    indices: list[int]
    results: list[EvalResult]
    wall_seconds: float


_PROBLEM_CACHE: dict[str, tuple[Problem, SeedChainDecoder]] = {}


def build_problem(config: ProblemConfig, shared: dict[str, np.ndarray] | None = None) -> Problem:
    """Build (or reuse, within this process) the problem for ``config``."""
    return _cached(config, shared)[0]


def _cached(config: ProblemConfig, shared: dict[str, np.ndarray] | None) -> tuple[Problem, SeedChainDecoder]:
    key = config.model_dump_json()
    if key not in _PROBLEM_CACHE:
        problem = get_problem(config.kind)(config, shared=shared)
        _PROBLEM_CACHE.clear()  # one problem per worker process at a time
        _PROBLEM_CACHE[key] = (problem, SeedChainDecoder(problem.initial_params))
    return _PROBLEM_CACHE[key]


class EvalTimeoutError(Exception):
    """An evaluation ran past its time limit."""


class _Deadline:
    """Raise :class:`EvalTimeoutError` in this thread after ``seconds`` (SIGALRM; a no-op off the main thread
    or without a limit, where only a backend's hard limit applies)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.armed = (
            seconds is not None
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )

    def _fire(self, signum: int, frame: object) -> None:
        raise EvalTimeoutError(f"ran past its time limit of {self.seconds:g} s")

    def __enter__(self) -> _Deadline:
        if self.armed:
            self._previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)


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
    timeout: float | None = None,
    shared: dict[str, np.ndarray] | None = None,
) -> ChunkResult:
    """Evaluate one chunk. ``timeout`` is each candidate's own limit, whatever chunk it rides in: the
    batch as a whole gets one candidate's limit, and a batch that overruns it (or raises) is re-run
    one candidate at a time, each with the limit, so only the candidates that overrun alone fail
    (and the same ones on every backend, however the work is chunked)."""
    start = time.perf_counter()
    problem, decode = _cached(problem_config, shared)
    try:
        with _Deadline(timeout):
            params = problem.batch([decode(g) for g in genomes])
            results = problem.evaluate(params, np.asarray(seeds, dtype=np.uint64), context)
    except Exception:  # noqa: BLE001  (isolate the failing candidate below)
        results = []
        for genome, seed in zip(genomes, seeds, strict=True):
            try:
                with _Deadline(timeout):
                    params = problem.batch([decode(genome)])
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


class BackendLostError(RuntimeError):
    """The backend itself is gone (a local Ray instance died, the cluster cannot be reached): an
    infrastructure failure, never a candidate's result. It ends the run; the work it lost is not
    recorded, so a resumed run evaluates it again."""


class WorkerLostError(Exception):
    """The worker running a chunk died, its node was lost, or (``stopped``) it was stopped at its hard
    time limit."""

    def __init__(self, why: str, stopped: bool = False):
        super().__init__(why)
        self.stopped = stopped


@dataclass
class _Task:
    """One chunk of one job in flight (or waiting for a slot)."""

    tag: Any
    job: EvalJob
    indices: list[int]
    attempt: int = 0
    alone: bool = False
    started: float = 0.0

    def payload(self) -> tuple:
        """The arguments of :func:`evaluate_chunk` for this chunk (``shared`` left to the backend)."""
        job = self.job
        return (
            job.problem,
            job.context,
            [job.genomes[i] for i in self.indices],
            [job.seeds[i] for i in self.indices],
            self.indices,
            job.timeout,
        )

    @property
    def hard_limit(self) -> float | None:
        """Seconds after which a backend that can stop a worker does, counted from when the chunk began to
        run (see :meth:`Backend._began`): the soft limit for the batch, then for each candidate alone
        (see :func:`evaluate_chunk`), plus a grace period."""
        if self.job.timeout is None:
            return None
        return self.job.timeout * (len(self.indices) + 1) + max(1.0, self.job.timeout)


class Backend(ABC):
    """Runs evaluation jobs; subclasses say how to launch, wait for, collect and stop one chunk.

    Callers either :meth:`run` a whole job (a generation: chunked for the workers, results
    yielded as chunks finish) or drive it asynchronously with :meth:`submit` and :meth:`poll`
    (steady-state search: one candidate submitted whenever a worker frees).

    The base class owns what is common to every backend: at most :attr:`slots` chunks in
    flight, hard time limits (for backends that can stop a worker), and recovery from lost
    workers: a lost chunk is run again once, then one candidate per chunk; a candidate lost
    on its own comes back as a failed result (``error`` starts with ``worker lost``), never
    as an exception. Where one crash takes every worker down (a process pool), candidates
    under suspicion run alone, so a crashing candidate cannot take innocent ones with it.
    """

    name: str = "base"
    #: whether a worker's crash also loses the chunks of the other workers
    crash_is_shared: bool = False
    #: whether a chunk that runs past its hard limit can be stopped
    can_stop: bool = False

    def __init__(self, workers: int = 1, chunks_per_worker: int = 1):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if chunks_per_worker < 1:
            raise ValueError("chunks_per_worker must be >= 1")
        self.workers = workers
        self.chunks_per_worker = chunks_per_worker
        self._waiting: deque[_Task] = deque()
        self._running: dict[Any, _Task] = {}

    # -- what a backend implements ---------------------------------------------------------------
    @abstractmethod
    def _launch(self, task: _Task) -> Any:
        """Start ``task`` on a worker; return a handle."""

    @abstractmethod
    def _wait(self, handles: list[Any], timeout: float | None) -> list[Any]:
        """The handles (of ``handles``) that finished, waiting at most ``timeout`` seconds for one."""

    @abstractmethod
    def _collect(self, handle: Any, task: _Task) -> ChunkResult:
        """The finished chunk's result; raises :class:`WorkerLostError` if its worker was lost."""

    def _stop(self, handle: Any) -> None:  # noqa: B027  (only backends with can_stop override it)
        """Stop a chunk at its hard limit (the result then raises :class:`WorkerLostError`)."""

    @property
    def slots(self) -> int:
        """How many chunks run at once."""
        return self.workers

    # -- the common machinery ---------------------------------------------------------------------
    def run(self, job: EvalJob) -> Iterator[ChunkResult]:
        """Yield the results of every individual of ``job``, chunk by chunk, in completion order."""
        if self.pending():
            raise RuntimeError("run() needs an idle backend; poll() the submitted work first")
        chunks = self.slots * self.chunks_per_worker
        if job.chunk_size is not None:
            chunks = max(chunks, math.ceil(len(job.genomes) / job.chunk_size))
        for indices in split_chunks(len(job.genomes), chunks):
            self.submit(job, indices)
        while self.pending():
            for _, chunk in self.poll():
                yield chunk

    def submit(self, job: EvalJob, indices: list[int] | None = None, tag: Any = None) -> None:
        """Queue ``indices`` of ``job`` (default: all) as one chunk; :meth:`poll` returns it with ``tag``."""
        indices = list(range(len(job.genomes))) if indices is None else list(indices)
        if indices:
            self._waiting.append(_Task(tag, job, indices))
            self._fill()

    def pending(self) -> int:
        """Chunks submitted and not yet returned by :meth:`poll`."""
        return len(self._waiting) + len(self._running)

    def poll(self) -> list[tuple[Any, ChunkResult]]:
        """Wait until at least one chunk finishes; return ``(tag, result)`` for every finished chunk."""
        out: list[tuple[Any, ChunkResult]] = []
        while not out and self.pending():
            self._fill()
            handles = list(self._running)
            done = self._wait(handles, self._until_next_limit())
            lost: list[tuple[_Task, WorkerLostError]] = []
            for handle in done:
                task = self._running.pop(handle)
                try:
                    out.append((task.tag, self._collect(handle, task)))
                except WorkerLostError as exc:
                    lost.append((task, exc))
            if self.can_stop:
                now = time.monotonic()
                overdue = [h for h, t in self._running.items() if self._past_limit(t, t.started, now)]
                began = self._began(overdue) if overdue else {}
                for handle in overdue:
                    if self._past_limit(self._running[handle], began.get(handle), now):
                        self._stop(handle)
            if lost:
                if self.crash_is_shared:
                    # the other chunks went down with the crashed worker; they are re-run too
                    crashed = WorkerLostError("lost with a crashed worker")
                    lost.extend((task, crashed) for task in self._running.values())
                    self._running.clear()
                    self._reset()
                for task, exc in lost:
                    out.extend(self._recover(task, exc))
        return out

    def _recover(self, task: _Task, exc: WorkerLostError) -> list[tuple[Any, ChunkResult]]:
        """Re-queue a lost chunk (whole once, then one candidate per chunk; a chunk stopped at its time
        limit goes straight to one candidate per chunk); a lone candidate lost again, or stopped, is
        returned as failed."""
        if len(task.indices) == 1 and (task.attempt >= 1 or exc.stopped):
            n = task.indices[0]
            result = EvalResult(math.nan, {}, f"worker lost: {exc}")
            return [(task.tag, ChunkResult([n], [result], 0.0))]
        if task.attempt == 0 and not exc.stopped:
            self._waiting.appendleft(_Task(task.tag, task.job, task.indices, 1, task.alone))
        else:
            for n in reversed(task.indices):
                self._waiting.appendleft(
                    _Task(task.tag, task.job, [n], task.attempt + 1, self.crash_is_shared)
                )
        return []

    def _fill(self) -> None:
        """Launch waiting chunks while slots are free; a chunk that must run alone waits for an empty
        backend, and nothing starts beside it."""
        while self._waiting and len(self._running) < self.slots:
            if any(t.alone for t in self._running.values()):
                return
            task = self._waiting[0]
            if task.alone and self._running:
                return
            self._waiting.popleft()
            task.started = time.monotonic()
            self._running[self._launch(task)] = task

    @staticmethod
    def _past_limit(task: _Task, began: float | None, now: float) -> bool:
        return task.hard_limit is not None and began is not None and now - began > task.hard_limit

    def _began(self, handles: list[Any]) -> dict[Any, float]:
        """When each of ``handles`` began to run (``time.monotonic``), for hard limits; a chunk not yet
        running is left out. By default its launch; backends that queue work (Ray, where a chunk may
        wait for a worker process to start) say when it really began."""
        return {h: self._running[h].started for h in handles}

    def _until_next_limit(self) -> float | None:
        if not self.can_stop:
            return None
        now = time.monotonic()
        left = [t.started + t.hard_limit - now for t in self._running.values() if t.hard_limit is not None]
        # a chunk whose limit counts from a later start is looked at again at least twice a second
        return min(max(0.0, min(left)) + 0.05, 0.5) if left else None

    def discard(self) -> None:
        """Forget every chunk submitted and not yet polled (their results, if any, are dropped)."""
        for handle in list(self._running):
            if self.can_stop:
                self._stop(handle)
        self._waiting.clear()
        self._running.clear()

    def _reset(self) -> None:  # noqa: B027  (only backends with shared crashes override it)
        """Rebuild the workers after a shared crash."""

    def close(self) -> None:  # noqa: B027  (optional hook: most backends hold nothing)
        """Release workers."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
