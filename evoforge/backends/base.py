"""How work runs. Backends know nothing of algorithms or problems: they run a function over items.

A backend receives a :class:`Job` (a module-level function, the arguments every chunk shares, the
items, and optionally large read-only inputs), cuts the items into chunks, runs
``fn(*common, chunk_items[, shared=...])`` on them wherever it likes (this process, a pool of
processes, a Ray cluster) and yields each chunk's results as soon as they are ready. The engine's
job is evaluating candidates (:func:`evoforge.engine.evaluation.evaluate_chunk`); a backend runs
any such function.

What a backend owns is the machinery every kind of worker needs: at most :attr:`Backend.slots`
chunks in flight, hard time limits (for backends that can stop a worker), and recovery from lost
workers: a lost chunk is run again once, then one item per chunk; an item lost on its own comes
back as ``job.on_lost(why)``, never as an exception.
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Backend",
    "Job",
    "ChunkResult",
    "run_chunk",
    "split_chunks",
    "WorkerLostError",
    "WorkerSetupError",
    "BackendLostError",
    "default_workers",
    "idle_cores",
]


@dataclass(frozen=True)
class Job:
    """Work for a backend: ``fn(*common, items[chunk])`` for chunks of ``items``, returning one
    result per item.

    ``fn`` is a module-level function (picklable by name); ``common`` holds the arguments every
    chunk shares; ``shared`` holds large read-only inputs a distributed backend puts in its object
    store once and passes as ``fn(..., shared=shared)`` (others leave the workers to find them);
    ``time_limit`` is the seconds one item may take (None: no limit), from which a backend that can
    stop a worker sets its hard limit; ``chunk_size`` caps the items per chunk (None: one chunk per
    slot, the cheapest to ship; 1 for costly items of uneven cost, so a free worker always takes the
    next one); ``on_lost(why)`` is the result of an item whose worker was lost twice; ``cut(fn, items)``,
    where given, turns ``fn`` and one chunk's items into that chunk's own (a population held as arrays
    ships each chunk its own rows, not the whole population).
    """

    fn: Callable[..., list[Any]]
    common: tuple[Any, ...]
    items: list[Any]
    time_limit: float | None = None
    shared: Any = None
    chunk_size: int | None = None
    on_lost: Callable[[str], Any] = lambda why: None
    cut: (
        Callable[[Callable[..., list[Any]], list[Any]], tuple[Callable[..., list[Any]], list[Any]]] | None
    ) = None

    def part(self, indices: list[int]) -> tuple[Callable[..., list[Any]], list[Any]]:
        """The function and the items of the chunk ``indices``."""
        items = [self.items[i] for i in indices]
        return (self.fn, items) if self.cut is None else self.cut(self.fn, items)


@dataclass
class ChunkResult:
    """Results for ``indices`` of the job's items, with the chunk's wall time."""

    indices: list[int]
    results: list[Any]
    wall_seconds: float


def default_workers() -> int:
    """One worker per core this process may use (its CPU affinity where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def idle_cores(seconds: float = 0.25) -> int:
    """How many of this process's cores are idle now: the idle share of the machine's CPU time over
    ``seconds`` (Linux ``/proc/stat``) times the core count, rounded, at least 1; the core count
    where the system does not tell. For a single training that should use what other work leaves."""
    cores = default_workers()

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return cores
    share = (idle1 - idle0) / max(1, total1 - total0)
    machine = os.cpu_count() or cores
    return max(1, min(cores, round(share * machine)))


def run_chunk(
    fn: Callable[..., list[Any]], common: tuple, items: list[Any], indices: list[int], shared: Any = None
) -> ChunkResult:
    """Run one chunk where it lands (every backend's workers call this): ``fn`` timed."""
    start = time.perf_counter()
    results = fn(*common, items) if shared is None else fn(*common, items, shared=shared)
    return ChunkResult(list(indices), list(results), time.perf_counter() - start)


def split_chunks(n: int, n_chunks: int) -> list[list[int]]:
    """Split ``range(n)`` into at most ``n_chunks`` contiguous, nearly equal chunks."""
    n_chunks = max(1, min(n_chunks, n))
    if n_chunks == 1:
        return [list(range(n))] if n else []
    bounds = np.linspace(0, n, n_chunks + 1).round().astype(int).tolist()
    return [list(range(a, b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


class BackendLostError(RuntimeError):
    """The backend itself is gone (a local Ray instance died, the cluster cannot be reached): an
    infrastructure failure, never a candidate's result. It ends the run; the work it lost is not
    recorded, so a resumed run evaluates it again."""


def one_line(exc: BaseException) -> str:
    """``exc`` as ``Type: first line of its message`` (its type alone when it has none)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class WorkerSetupError(RuntimeError):
    """A worker cannot load the work it is sent (the problem's module fails to import in a fresh
    process, an object of it cannot be unpickled there): a fault of the run's set-up, neither a
    candidate's result nor a lost worker. It ends the run; nothing of the work is recorded, so the
    run resumes once the problem loads."""


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
    job: Job
    indices: list[int]
    attempt: int = 0
    alone: bool = False
    started: float = 0.0

    def payload(self) -> tuple:
        """The arguments of :func:`run_chunk` for this chunk (``shared`` left to the backend)."""
        fn, items = self.job.part(self.indices)
        return (fn, self.job.common, items, self.indices)

    @property
    def hard_limit(self) -> float | None:
        """Seconds after which a backend that can stop a worker does, counted from when the chunk began to
        run (see :meth:`Backend._began`): the item limit for the batch as a whole, then for each item alone
        (as :func:`evoforge.engine.evaluation.evaluate_chunk` re-runs an overrunning batch of several), plus
        a grace period."""
        limit = self.job.time_limit
        if limit is None:
            return None
        n = len(self.indices)
        return limit * (n + 1 if n > 1 else 1) + max(1.0, limit)


class Backend(ABC):
    """Runs jobs; subclasses say how to launch, wait for, collect and stop one chunk.

    Callers either :meth:`run` a whole job (a generation: chunked for the workers, results
    yielded as chunks finish) or drive it asynchronously with :meth:`submit` and :meth:`poll`
    (steady-state search: one item submitted whenever a worker frees).

    The base class owns what is common to every backend: at most :attr:`slots` chunks in
    flight, hard time limits (for backends that can stop a worker), and recovery from lost
    workers: a lost chunk is run again once, then one item per chunk; an item lost
    on its own comes back as ``job.on_lost(why)``, never
    as an exception. Where one crash takes every worker down (a process pool), candidates
    under suspicion run alone, so a crashing item cannot take innocent ones with it.
    """

    name: str = "base"
    #: whether a worker's crash also loses the chunks of the other workers
    crash_is_shared: bool = False
    #: whether work runs in processes of its own, so that one that dies is a lost worker, not a crash
    #: of the caller
    isolated: bool = True
    #: whether a chunk that runs past its hard limit can be stopped
    can_stop: bool = False

    def __init__(self, workers: int | None = None, chunks_per_worker: int = 1):
        if chunks_per_worker < 1:
            raise ValueError("chunks_per_worker must be >= 1")
        self.workers = workers if workers is not None else default_workers()
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

    @classmethod
    def create(cls, workers: int | None = None, address: str | None = None) -> Backend:
        """The backend a run config asks for: ``workers``, and ``address`` for backends that join a
        cluster (the others ignore it). How the engine builds every registered backend."""
        return cls(workers=workers)

    def _stop(self, handle: Any) -> None:  # noqa: B027  (only backends with can_stop override it)
        """Stop a chunk at its hard limit (the result then raises :class:`WorkerLostError`)."""

    @property
    def slots(self) -> int:
        """How many chunks run at once."""
        return self.workers

    # -- the common machinery ---------------------------------------------------------------------
    def run(self, job: Job) -> Iterator[ChunkResult]:
        """Yield the results of every item of ``job``, chunk by chunk, in completion order."""
        if self.pending():
            raise RuntimeError("run() needs an idle backend; poll() the submitted work first")
        for indices in split_chunks(len(job.items), self._chunks(job)):
            self.submit(job, indices)
        while self.pending():
            for _, chunk in self.poll():
                yield chunk

    def _chunks(self, job: Job) -> int:
        """How many chunks a job is cut into: one per slot (times ``chunks_per_worker``), more if the
        job caps its chunk size."""
        chunks = self.slots * self.chunks_per_worker
        if job.chunk_size is not None:
            chunks = max(chunks, math.ceil(len(job.items) / job.chunk_size))
        return chunks

    def submit(self, job: Job, indices: list[int] | None = None, tag: Any = None) -> None:
        """Queue ``indices`` of ``job`` (default: all) as one chunk; :meth:`poll` returns it with ``tag``."""
        indices = list(range(len(job.items))) if indices is None else list(indices)
        if indices:
            self._waiting.append(_Task(tag, job, indices))
            self._fill()

    def pending(self) -> int:
        """Chunks submitted and not yet returned by :meth:`poll`."""
        return len(self._waiting) + len(self._running)

    def poll(self, timeout: float | None = None) -> list[tuple[Any, ChunkResult]]:
        """Wait until at least one chunk finishes, or ``timeout`` seconds have passed (then the list may
        be empty); return ``(tag, result)`` for every finished chunk."""
        out: list[tuple[Any, ChunkResult]] = []
        end = None if timeout is None else time.monotonic() + timeout
        while not out and self.pending():
            self._fill()
            handles = list(self._running)
            wait = self._until_next_limit()
            if end is not None:
                left = max(0.0, end - time.monotonic())
                wait = left if wait is None else min(wait, left)
            done = self._wait(handles, wait)
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
                    lost.extend((running, crashed) for running in self._running.values())
                    self._running.clear()
                    self._reset()
                for lost_task, why in lost:
                    out.extend(self._recover(lost_task, why))
            if end is not None and time.monotonic() >= end:
                break
        return out

    def _recover(self, task: _Task, exc: WorkerLostError) -> list[tuple[Any, ChunkResult]]:
        """Re-queue a lost chunk (whole once, then one item per chunk; a chunk stopped at its time
        limit goes straight to one item per chunk); a lone item lost again, or stopped, is
        returned as ``job.on_lost(why)``."""
        if len(task.indices) == 1 and (task.attempt >= 1 or exc.stopped):
            n = task.indices[0]
            result = task.job.on_lost(str(exc))
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

    def hold(self) -> int:
        """Start nothing more: drop the chunks submitted and not yet started (those running finish and
        are polled as usual, within their time limits). Returns how many chunks were dropped."""
        dropped = len(self._waiting)
        self._waiting.clear()
        return dropped

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
