"""Evaluate in the calling process: the whole batch in one vectorised call."""

from __future__ import annotations

import itertools
from typing import Any

from evoforge.backends.base import Backend, ChunkResult, _Task, run_chunk

__all__ = ["SerialBackend"]


class SerialBackend(Backend):
    """One chunk at a time, in this process; a chunk runs when it is polled.

    >>> SerialBackend().workers
    1
    """

    name = "serial"

    def __init__(self) -> None:
        super().__init__(workers=1)
        self._handles = itertools.count()

    @classmethod
    def create(cls, workers: int = 1, address: str | None = None) -> SerialBackend:
        return cls()  # one worker, this process, whatever the config's worker count

    def _launch(self, task: _Task) -> Any:
        return next(self._handles)

    def _wait(self, handles: list[Any], timeout: float | None) -> list[Any]:
        return handles[:1]

    def _collect(self, handle: Any, task: _Task) -> ChunkResult:
        return run_chunk(*task.payload())
