"""Evaluate in the calling process: the whole batch in one vectorised call."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from evoforge.backends.base import Backend, ChunkResult, Job, _Task, run_chunk, split_chunks

__all__ = ["SerialBackend"]


class SerialBackend(Backend):
    """One chunk at a time, in this process; a chunk runs when it is polled.

    >>> SerialBackend().workers
    1
    """

    name = "serial"
    isolated = False

    def __init__(self) -> None:
        super().__init__(workers=1)
        self._handles = itertools.count()
        self._not_started = 0  # chunks of the running job not yet run (what hold() drops)

    @classmethod
    def create(cls, workers: int | None = None, address: str | None = None) -> SerialBackend:
        return cls()  # one worker, this process, whatever the config's worker count

    def run(self, job: Job) -> Iterator[ChunkResult]:
        """Run the job's chunks here, one after another (nothing to wait for, no worker to lose: the
        queue machinery of :class:`Backend` is skipped)."""
        if self.pending():
            raise RuntimeError("run() needs an idle backend; poll() the submitted work first")
        chunks = split_chunks(len(job.items), self._chunks(job))
        self._not_started = len(chunks)
        for indices in chunks:
            if not self._not_started:  # held
                break
            self._not_started -= 1
            fn, items = job.part(indices)
            yield run_chunk(fn, job.common, items, indices)
        self._not_started = 0

    def hold(self) -> int:
        dropped, self._not_started = self._not_started, 0
        return dropped + super().hold()

    def _launch(self, task: _Task) -> Any:
        return next(self._handles)

    def _wait(self, handles: list[Any], timeout: float | None) -> list[Any]:
        return handles[:1]

    def _collect(self, handle: Any, task: _Task) -> ChunkResult:
        return run_chunk(*task.payload())
