"""Evaluate in the calling process: the whole batch in one vectorised call."""

from __future__ import annotations

from collections.abc import Iterator

from evoforge.backends.base import Backend, ChunkResult, EvalJob, evaluate_chunk

__all__ = ["SerialBackend"]


class SerialBackend(Backend):
    """One chunk, this process.

    >>> SerialBackend().workers
    1
    """

    name = "serial"

    def run(self, job: EvalJob) -> Iterator[ChunkResult]:
        if job.genomes:
            yield evaluate_chunk(
                job.problem, job.context, job.genomes, job.seeds, list(range(len(job.genomes)))
            )
