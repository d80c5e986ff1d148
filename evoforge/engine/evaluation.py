"""Evaluating candidates: what a backend runs, in whatever process, for one chunk of a generation.

The engine hands a backend a :class:`~evoforge.backends.base.Job` whose function is
:func:`evaluate_chunk`; the backend knows nothing of problems. Because every candidate's randomness
comes from its own seed and problems evaluate candidates independently, the results are the same
whatever the backend, the number of workers or the chunking.

Faults are contained here, never passed up as exceptions: a candidate that raises, returns NaN or
overruns its time limit comes back as an :class:`EvalResult` with an error. A candidate whose worker
is lost comes back from the backend as :func:`lost`. The loop decides about retries.
"""

from __future__ import annotations

import functools
import math
import signal
import threading
import traceback
from typing import Any

import numpy as np

from evoforge.backends.base import Job
from evoforge.core.genome import Genome, GenomeBatch, SeedChainDecoder
from evoforge.core.problem import EvalResult, Lineage, Problem, ProblemConfig
from evoforge.engine.registry import get_problem

__all__ = ["EvalTimeoutError", "build_problem", "evaluate_chunk", "evaluation_job", "lost"]

#: the problem this process last built: (the config object last asked for, its JSON, the problem and
#: its seed-chain decoder, the stamps of the files its config named then); one problem per process
_CACHE: list[Any] = [None, None, None, None]


def build_problem(
    config: ProblemConfig, shared: dict[str, np.ndarray] | None = None, fresh_files: bool = False
) -> Problem:
    """Build (or reuse, within this process) the problem for ``config``. ``fresh_files``: reuse it
    only if the files its config names are as they were when it was built (a run's start: a table
    edited since the last run with the same config is read again, not served from memory; a worker
    in the middle of a run keeps the data it has)."""
    if fresh_files and _CACHE[2] is not None and _CACHE[3] != _file_stamps(config.model_dump(mode="json")):
        _CACHE[:] = [None, None, None, None]
    return _cached(config, shared)[0]


def _file_stamps(tree: Any) -> list[tuple[str, int, int]]:
    """(path, modification time, size) of every string in a config that names an existing file or
    folder (a folder's time changes as files come and go, not as one is rewritten in place)."""
    import os

    if isinstance(tree, dict):
        return [stamp for value in tree.values() for stamp in _file_stamps(value)]
    if isinstance(tree, list):
        return [stamp for value in tree for stamp in _file_stamps(value)]
    if isinstance(tree, str) and tree and len(tree) < 4096:
        try:
            found = os.stat(tree)
        except (OSError, ValueError):
            return []
        return [(tree, found.st_mtime_ns, found.st_size)]
    return []


def _cached(config: ProblemConfig, shared: dict[str, np.ndarray] | None) -> tuple[Problem, SeedChainDecoder]:
    if config is not _CACHE[0]:  # the same config object again (every chunk of a serial run): no key to make
        key = config.model_dump_json()
        if key != _CACHE[1]:
            stamps = _file_stamps(config.model_dump(mode="json"))  # taken before the files are read
            problem = get_problem(config.kind)(config, shared=shared)
            _CACHE[2], _CACHE[3] = (problem, SeedChainDecoder(problem.initial_params)), stamps
        _CACHE[0], _CACHE[1] = config, key
    return _CACHE[2]


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
        if self.armed and self.seconds is not None:
            self._previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)


class ProblemContractError(TypeError):
    """A problem's evaluate returned something other than one EvalResult per candidate."""


def _failure(exc: BaseException) -> EvalResult:
    if isinstance(exc, ProblemContractError):  # the problem's fault: where the engine noticed says nothing
        return EvalResult(math.nan, {}, f"{type(exc).__name__}: {exc}")
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {last[0].filename}:{last[0].lineno}" if last else ""
    return EvalResult(math.nan, {}, f"{type(exc).__name__}: {exc}{where}")


def lost(why: str) -> EvalResult:
    """The result of a candidate whose worker was lost (``error`` starts with ``worker lost``)."""
    return EvalResult(math.nan, {}, f"worker lost: {why}")


def evaluate_chunk(
    problem_config: ProblemConfig,
    context: dict,
    timeout: float | None,
    items: list[tuple],
    shared: dict[str, np.ndarray] | None = None,
    states: str | None = None,
    batch: GenomeBatch | None = None,
) -> list[EvalResult]:
    """Evaluate one chunk of ``(genome, seed)`` items (``(genome, seed, id, parents)`` where the problem
    inherits trained state, kept in the folder ``states``). ``timeout`` is each candidate's own limit,
    whatever chunk it rides in: the batch as a whole gets one candidate's limit, and a batch that
    overruns it (or raises) is re-run one candidate at a time, each with the limit, so only the
    candidates that overrun alone fail (and the same ones on every backend, however the work is
    chunked). With ``batch``, an item's genome is its row in the batch: a problem that accepts
    batches gets the chunk's rows as one slice of it."""
    problem, decode = _cached(problem_config, shared)

    def genomes(part: list[tuple]) -> Any:
        if batch is None:
            return problem.batch([decode(item[0]) for item in part])
        rows = batch.take(np.array([item[0] for item in part], np.int64))
        return rows if problem.accepts_batches else problem.batch([rows.genome(k) for k in range(len(part))])

    def run(part: list[tuple]) -> list[EvalResult]:
        params = genomes(part)
        seeds = np.asarray([item[1] for item in part], dtype=np.uint64)
        if states is None:
            return _one_each(problem.evaluate(params, seeds, context), len(part), problem)
        lineage = Lineage(states, [item[2] for item in part], [tuple(item[3]) for item in part])
        return _one_each(problem.evaluate_lineage(params, seeds, context, lineage), len(part), problem)

    try:
        with _Deadline(timeout):
            results = run(items)
    except Exception as exc:  # noqa: BLE001  (isolate the failing candidate below)
        if len(items) == 1:  # nothing to isolate: running it again would only spend its limit twice
            return [_failure(exc)]
        results = []
        for item in items:
            try:
                with _Deadline(timeout):
                    results.extend(run([item]))
            except Exception as exc:  # noqa: BLE001  (a failing candidate is data, not a crash)
                results.append(_failure(exc))
    for r in results:
        if r.error is None and not math.isfinite(r.fitness):
            r.error, r.fitness = "non-finite fitness", math.nan
    return results


def _one_each(results: Any, n: int, problem: Problem) -> list[EvalResult]:
    """``results`` as a list, if they are one :class:`EvalResult` per candidate; otherwise a
    :class:`ProblemContractError` naming the problem and what it returned (a candidate's failure, as
    any raising evaluation: a problem breaking the contract ended the run in a traceback deep in the
    engine)."""
    if (
        isinstance(results, (list, tuple))
        and len(results) == n
        and all(isinstance(r, EvalResult) for r in results)
    ):
        return list(results)
    if isinstance(results, (list, tuple)):
        kinds = sorted({type(r).__name__ for r in results})
        got = f"a {type(results).__name__} of {len(results)} ({', '.join(kinds) or 'nothing'}) for {n} candidates"
    else:
        got = type(results).__name__
    raise ProblemContractError(
        f"{type(problem).__name__}.evaluate returned {got}, not a list of one EvalResult per candidate"
    )


def evaluation_job(
    problem: ProblemConfig,
    context: dict[str, Any],
    genomes: list[Genome],
    seeds: list[int],
    timeout: float | None = None,
    shared: dict[str, np.ndarray] | None = None,
    chunk_size: int | None = None,
    lineage: Lineage | None = None,
    batch: GenomeBatch | None = None,
) -> Job:
    """The backend job evaluating ``genomes`` (``seeds[i]`` drives all randomness of the i-th; with
    ``lineage``, the problem inherits trained state through its folder; with ``batch``, the genomes
    are row numbers of it, and each chunk carries its own rows of the batch)."""
    fn: Any = evaluate_chunk
    if lineage is None:
        items: list[tuple] = list(zip(genomes, seeds, strict=True))
    else:
        fn = functools.partial(fn, states=lineage.folder)
        items = list(zip(genomes, seeds, lineage.ids, lineage.parents, strict=True))
    return Job(
        fn,
        (problem, context, timeout),
        items,
        time_limit=timeout,
        shared=shared,
        chunk_size=chunk_size,
        on_lost=lost,
        cut=None if batch is None else functools.partial(_cut_batch, batch),
    )


def _cut_batch(batch: GenomeBatch, fn: Any, items: list[tuple]) -> tuple[Any, list[tuple]]:
    """One chunk's rows of ``batch`` bound to ``fn``, its items renumbered to those rows."""
    rows = batch.take(np.array([item[0] for item in items], np.int64))
    return functools.partial(fn, batch=rows), [(k, *item[1:]) for k, item in enumerate(items)]
