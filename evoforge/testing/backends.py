"""The conformance suite every registered backend must pass.

A backend runs a function over items and knows nothing else; what it promises:

* :func:`check_results`: every item's result comes back once, whatever the chunking, through
  :meth:`Backend.run` and through :meth:`Backend.submit`/:meth:`Backend.poll` (each with its tag);
* :func:`check_lost_worker`: for a backend whose workers are separate processes
  (``Backend.isolated``), an item that kills its worker comes back as ``job.on_lost(why)`` and the
  others as usual;
* :func:`check_hard_limit`: for a backend that can stop a worker (``Backend.can_stop``), an item
  stuck past its hard time limit is stopped and comes back as lost, the others as usual.
"""

from __future__ import annotations

import os
import time
from typing import Any

from evoforge.backends.base import Backend, Job
from evoforge.engine.registry import BACKENDS, make_backend

__all__ = ["backend_names", "check_results", "check_lost_worker", "check_hard_limit", "square", "crash_on"]


def backend_names() -> list[str]:
    return BACKENDS.names()


def square(offset: int, items: list[int]) -> list[int]:
    """The job function of the checks: ``item ** 2 + offset`` (module-level, so any backend ships it)."""
    return [x * x + offset for x in items]


def crash_on(bad: int, items: list[int]) -> list[int]:
    """Kills the worker process that meets ``bad``; squares the rest."""
    if bad in items:
        os._exit(13)
    return [x * x for x in items]


def stuck_on(bad: int, items: list[int]) -> list[int]:
    """Never returns (in native-looking busy time) for ``bad``; squares the rest."""
    if bad in items:
        while True:
            time.sleep(0.01)
    return [x * x for x in items]


def _lost(why: str) -> Any:
    return ("lost", why)


def _collect(backend: Backend, job: Job) -> dict[int, Any]:
    got: dict[int, Any] = {}
    for chunk in backend.run(job):
        for i, result in zip(chunk.indices, chunk.results, strict=True):
            assert i not in got, f"item {i} came back twice"
            got[i] = result
    return got


def check_results(name: str, workers: int = 2) -> None:
    """Results of every item exactly once, in any chunking, by run and by submit/poll."""
    with make_backend(name, workers) as backend:
        items = list(range(23))
        for chunk_size in (None, 1, 5):
            job = Job(square, (7,), items, chunk_size=chunk_size, on_lost=_lost)
            assert _collect(backend, job) == {i: i * i + 7 for i in items}, (name, chunk_size)
        job = Job(square, (1,), items, on_lost=_lost)
        for tag in range(4):
            backend.submit(job, [tag * 2, tag * 2 + 1], tag=tag)
        seen: dict[Any, list[int]] = {}
        while backend.pending():
            for tag, chunk in backend.poll():
                seen[tag] = chunk.results
        assert seen == {t: [(2 * t) ** 2 + 1, (2 * t + 1) ** 2 + 1] for t in range(4)}, name


def check_lost_worker(name: str, workers: int = 2) -> None:
    """An item that kills its worker is lost alone; the others come back as usual."""
    with make_backend(name, workers) as backend:
        if not backend.isolated:
            return  # its work runs in this process: a crash there is the run's own
        items = list(range(10))
        got = _collect(backend, Job(crash_on, (4,), items, on_lost=_lost))
        assert got[4][0] == "lost", got[4]
        assert {i: r for i, r in got.items() if i != 4} == {i: i * i for i in items if i != 4}, name


def check_hard_limit(name: str, workers: int = 2) -> None:
    """An item stuck past its hard time limit is stopped and lost alone."""
    with make_backend(name, workers) as backend:
        if not backend.can_stop:
            return  # the time limit is the job function's own (a signal in its process)
        items = list(range(6))
        start = time.monotonic()
        got = _collect(backend, Job(stuck_on, (2,), items, time_limit=0.5, on_lost=_lost))
        assert got[2][0] == "lost" and "hard time limit" in got[2][1], got[2]
        assert {i: r for i, r in got.items() if i != 2} == {i: i * i for i in items if i != 2}, name
        assert time.monotonic() - start < 30, "the stuck item was not stopped in time"
