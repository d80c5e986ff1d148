"""Evaluate on a pool of local worker processes.

Workers are started with ``spawn`` (no inherited locks or threads) and given the
cores divided among them as BLAS / OpenMP (so torch) threads, at least one each
(OMP_NUM_THREADS and its kin, unless already set), so N workers use the cores
without oversubscription.
Each worker builds the problem once from its config and keeps it (and its
environments) between chunks. A worker that dies breaks the whole pool (that
is how :class:`concurrent.futures.ProcessPoolExecutor` works): the pool is
rebuilt and the lost chunks re-run, suspects one at a time (see :class:`Backend`).
Time limits are enforced inside the workers (see :class:`Job`), and a chunk deaf to
them (stuck in native code, where no signal reaches Python) is stopped at its hard
limit, counted from when a worker began it (a shared clock: a worker's start-up is not
charged to the candidate): a pool cannot stop one worker, so every worker is ended, the stuck chunk is
lost as stopped and the others are re-run. Work still in flight when a run ends is
stopped the same way, never waited for. A worker ends itself within half a second
of its run process being gone, however it went (SIGTERM, SIGKILL, a crash), so no
worker outlives its run and keeps the cores.
"""

from __future__ import annotations

import ast
import multiprocessing
import os
import pickle
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import FrameType
from typing import Any

from evoforge.backends.base import (
    Backend,
    ChunkResult,
    WorkerLostError,
    WorkerSetupError,
    _Task,
    default_workers,
    one_line,
    run_chunk,
)
from evoforge.core.environ import environment

__all__ = ["MainGuardError", "ProcessBackend", "check_main_guard"]

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: slots of the pool's clock, where a worker notes when it began each chunk (far more than can be in
#: flight: at most one chunk per worker)
_CLOCK_SLOTS = 4096
_CLOCK: Any = None  # in a worker: the clock of its pool


class MainGuardError(RuntimeError):
    """A script starts worker processes from its top level, where every worker would run it again."""


def check_main_guard() -> None:
    """Raise :class:`MainGuardError` if this call comes from a script's top-level code outside an
    ``if __name__ == "__main__":`` block. ``spawn`` starts each worker by running the main script again
    (as ``__mp_main__``); a run started at its top level would be started again in every worker
    (Python stops that with a bootstrapping error in each, so every candidate failed as a lost
    worker). Mirrors what spawn re-runs: a script file, or a module run with ``-m`` other than a
    package's ``__main__``; not ``python -c``, an interactive session or a notebook."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if main is None or not path:
        return
    if name is not None and (name == "__main__" or name.endswith(".__main__")):
        return
    if name is None and os.path.splitext(os.path.basename(path))[0] == "ipython":
        return
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and not (frame.f_globals is vars(main) and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:  # not called from the script's top-level code (a function it guards, a thread)
        return
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return
    line = frame.f_lineno
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and _is_main_test(node.test)
            and node.lineno <= line <= (node.end_lineno or 0)
        ):
            return
    raise MainGuardError(
        f"{path}, line {line}: worker processes run this script again as they start, and would start "
        'this run again in each: put the code that starts it under if __name__ == "__main__":, or use '
        "backend='serial'"
    )


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"``, either way round."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    values = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]


class ProcessBackend(Backend):
    """A pool of ``workers`` processes; each job is cut into ``chunks_per_worker * workers`` chunks.

    >>> with ProcessBackend(workers=2) as backend:
    ...     backend.workers
    2
    """

    name = "process"
    crash_is_shared = True
    can_stop = True

    def __init__(self, workers: int | None = None, chunks_per_worker: int = 1):
        check_main_guard()  # before anything is made: a script's unguarded top level would rerun
        super().__init__(workers, chunks_per_worker)
        self._pool: ProcessPoolExecutor | None = None
        self._stopped: dict[Future, float] = {}  # chunks stopped at their hard limit: the limit
        # when each chunk began in its worker (time.time; 0: not yet), shared with the pool's workers
        self._clock: Any = None
        self._slot_of: dict[Future, int] = {}
        self._next_slot = 0

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is not None and getattr(self._pool, "_broken", False):
            self.close()  # its workers were ended (work discarded, or a chunk stopped): a fresh pool
        if self._pool is None:
            share = str(max(1, default_workers() // self.workers))  # cores per worker, never more
            context = multiprocessing.get_context("spawn")
            self._clock = context.RawArray("d", _CLOCK_SLOTS)
            self._slot_of.clear()
            with environment(dict.fromkeys(_THREAD_VARS, share), keep_set=True):
                self._pool = ProcessPoolExecutor(
                    max_workers=self.workers,
                    mp_context=context,
                    initializer=_start_worker,
                    initargs=(os.getpid(), self._clock),
                )
        return self._pool

    def _launch(self, task: _Task) -> Future:
        try:
            work = pickle.dumps(task.payload(), protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise WorkerSetupError(
                f"the work cannot be sent to a worker process ({type(exc).__name__}: {exc})"
            ) from None
        try:
            pool = self._get_pool()
            slot, self._next_slot = self._next_slot % _CLOCK_SLOTS, self._next_slot + 1
            self._clock[slot] = 0.0
            future = pool.submit(_timed_chunk, slot, work)
            self._slot_of[future] = slot
            return future
        except (BrokenProcessPool, OSError) as exc:
            # A worker died and the pool closed its queues before it says it is broken (a race in
            # concurrent.futures): the chunk is lost with the others, and recovered like them.
            lost: Future = Future()
            lost.set_exception(BrokenProcessPool(f"the pool broke while starting a chunk ({exc})"))
            return lost

    def _wait(self, handles: list[Any], timeout: float | None) -> list[Any]:
        done, _ = wait(handles, timeout=timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def _began(self, handles: list[Any]) -> dict[Any, float]:
        """When a worker began each chunk (a chunk still waiting for its worker, which a busy machine
        or a rebuilt pool can take seconds to start, is left out): a hard limit counts from then."""
        offset = time.monotonic() - time.time()
        began: dict[Any, float] = {}
        for handle in handles:
            slot = self._slot_of.get(handle)
            if slot is None or self._clock is None:  # a chunk lost before it was submitted
                began[handle] = self._running[handle].started
            elif self._clock[slot] > 0:
                began[handle] = self._clock[slot] + offset
        return began

    def _collect(self, handle: Future, task: _Task) -> ChunkResult:
        self._slot_of.pop(handle, None)
        limit = self._stopped.pop(handle, None)
        try:
            result = handle.result()
        except BrokenProcessPool:
            if limit is not None:
                raise WorkerLostError(
                    f"stopped at its hard time limit of {limit:g} s", stopped=True
                ) from None
            raise WorkerLostError("a worker process died") from None
        if isinstance(result, _Unloadable):
            raise WorkerSetupError(f"a worker process cannot load the run's work ({result.why})")
        return result

    def _stop(self, handle: Any) -> None:
        if handle.done():
            return
        task = self._running.get(handle)
        self._stopped[handle] = task.hard_limit if task is not None and task.hard_limit else 0.0
        self._end_workers()

    def _end_workers(self) -> None:
        """Kill every worker of the pool; the pool then reports itself broken, and every chunk in it
        ends with :class:`BrokenProcessPool`."""
        if self._pool is not None:
            processes = getattr(self._pool, "_processes", None) or {}
            for process in list(processes.values()):
                if process.is_alive():
                    process.kill()

    def _reset(self) -> None:
        self.close()

    def close(self) -> None:
        """Release the workers: stop what still runs (its results would be dropped), then shut down."""
        if self._pool is not None:
            if any(not f.done() for f in self._running):
                self._end_workers()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._stopped.clear()
        self._slot_of.clear()


def _start_worker(parent: int, clock: Any) -> None:
    """Worker initializer: keep the pool's clock, and end with the run (:func:`_exit_with_parent`)."""
    global _CLOCK
    _CLOCK = clock
    _exit_with_parent(parent)


class _Unloadable:
    """What a worker sends back for work it cannot load: why, as one line."""

    def __init__(self, why: str):
        self.why = why


def _timed_chunk(slot: int, work: bytes) -> ChunkResult | _Unloadable:
    """:func:`run_chunk` of the pickled ``work``, after noting in the pool's clock when this worker
    began it. The work is unpickled here and not by the pool, so a worker that cannot load it (a user's
    module that fails to import in a fresh process) says why instead of dying: a pool whose workers
    died on every chunk recorded each candidate as a lost worker, each death's traceback on stderr."""
    _CLOCK[slot] = time.time()
    try:
        args = pickle.loads(work)
    except Exception as exc:
        return _Unloadable(one_line(exc))
    return run_chunk(*args)


def _exit_with_parent(parent: int) -> None:
    """Worker initializer: a daemon thread ends the worker once ``parent`` (the run) is gone. A
    killed run's pipes stay readable for queued work, so a worker would otherwise go on training."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="evoforge-parent-watch", daemon=True).start()
