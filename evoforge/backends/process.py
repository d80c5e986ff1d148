"""Evaluate on a pool of local worker processes.

Workers are started with ``spawn`` (no inherited locks or threads) and pinned
to one BLAS thread each, so N workers use N cores without oversubscription.
Each worker builds the problem once from its config and keeps it (and its
environments) between chunks. A worker that dies takes only its chunk with
it: the pool is rebuilt and the chunk run again.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from evoforge.backends.base import Backend, ChunkResult, EvalJob, evaluate_chunk, split_chunks

__all__ = ["ProcessBackend"]

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ProcessBackend(Backend):
    """A pool of ``workers`` processes; each job is cut into ``chunks_per_worker * workers`` chunks.

    >>> with ProcessBackend(workers=2) as backend:
    ...     backend.workers
    2
    """

    name = "process"

    def __init__(self, workers: int = 2, chunks_per_worker: int = 1, max_restarts: int = 2):
        super().__init__(workers)
        self.chunks_per_worker = chunks_per_worker
        self.max_restarts = max_restarts
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            saved = {k: os.environ.get(k) for k in _THREAD_VARS}
            for k in _THREAD_VARS:
                os.environ.setdefault(k, "1")
            try:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
                )
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
        return self._pool

    def run(self, job: EvalJob) -> Iterator[ChunkResult]:
        pending = split_chunks(len(job.genomes), self.workers * self.chunks_per_worker)
        restarts = 0
        while pending:
            pool = self._get_pool()
            futures: dict[Future, list[int]] = {}
            for idx in pending:
                future = pool.submit(
                    evaluate_chunk,
                    job.problem,
                    job.context,
                    [job.genomes[i] for i in idx],
                    [job.seeds[i] for i in idx],
                    idx,
                )
                futures[future] = idx
            pending = []
            broken = False
            while futures:
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    idx = futures.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken = True
                        pending.append(idx)
            if broken:
                restarts += 1
                self.close()
                if restarts > self.max_restarts:
                    raise RuntimeError("worker processes keep dying; giving up")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
