"""Asynchronous steady-state search (``asynchronous: true``, with a steady-state strategy): one
individual told at a time, every worker kept busy, the round's individuals in flight kept in the
checkpoint so a killed run retraces exactly what it asked. The generational loop (:mod:`evoforge.engine.loop`) calls :func:`async_round`
in place of a generation and wraps it up the same way.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from evoforge.core.genome import genome_id
from evoforge.core.rng import derive_rng
from evoforge.core.shaping import nan_to_worst

if TYPE_CHECKING:
    from evoforge.engine.records import GenerationStats
    from evoforge.engine.state import LoopState

__all__ = ["async_round"]


def async_round(loop: Any, s: LoopState, started: float) -> tuple[LoopState, GenerationStats]:
    """For the run loop ``loop`` (:class:`evoforge.engine.loop._Loop`, untyped here so that the two
    modules do not import each other): tell ``population_size`` individuals, one at a time, keeping
    every worker busy (fewer when ``stop.seconds`` passes during the round: the run then stops between
    two evaluations).

    ``in_flight`` holds the individuals asked for and not yet told, in the checkpoint too. After
    a crash they are first looked up in the store: those a killed run finished are told in the
    order it told them (the order they were recorded), which re-asks exactly the individuals it
    asked, so a resumed run retraces the killed one; the rest are evaluated again.
    """
    gen, seed = s.generation, loop.config.seed
    state, hof = s.strategy, s.hof
    in_flight: list[dict[str, Any]] = [dict(e) for e in s.in_flight]
    asked = s.asked
    submitted = loop._submitted  # ask number -> retries so far, for what the backend is running
    told_raw: list[float] = []
    fresh_results: list[Any] = []
    fresh_ids: list[str] = []
    cached = 0
    eval_seconds = 0.0
    by_number = {e["n"]: e for e in in_flight}
    # a time budget ends the round (and so the run) between two evaluations, not at its end
    deadline = loop._deadline(s, started)

    def tell(entry: dict[str, Any], result: Any, fresh: bool) -> None:
        nonlocal state, cached
        in_flight.remove(entry)
        by_number.pop(entry["n"])
        raw = float(result.fitness)
        state = loop.strategy.tell_one(
            state, entry["genome"], float(nan_to_worst(np.array([loop.sign * raw]))[0])
        )
        loop._hof_add(hof, entry["id"], entry["genome"], raw, gen, entry["context"])
        told_raw.append(raw)
        if fresh:
            fresh_results.append(result)
            fresh_ids.append(entry["id"])
        else:
            cached += 1
            loop.store.record_cached(gen, [(entry["n"], entry["id"], entry["parents"], raw)])

    while len(told_raw) < loop.population_size:
        if deadline is not None and told_raw and time.perf_counter() >= deadline:
            break  # what is still in flight is dropped with the backend's work
        # keep one individual per free worker asked for (steady state: never more in flight than slots)
        while len(in_flight) < max(1, loop.backend.slots):
            state, genome, parents = loop.strategy.ask_one(state, derive_rng(seed, "ask", asked))
            entry = {
                "n": asked,
                "id": genome_id(genome),
                "genome": genome,
                "parents": tuple(parents),
                "context": s.context,
            }
            in_flight.append(entry)
            by_number[asked] = entry
            asked += 1
        waiting = [e for e in in_flight if e["n"] not in submitted]
        known = loop.store.lookup([e["id"] for e in waiting])
        if known:
            # earliest recorded first: a duplicate of an old individual, or a killed run's work
            entry = min((e for e in waiting if e["id"] in known), key=lambda e: known[e["id"]].seq)
            stored = known[entry["id"]]
            tell(entry, stored, fresh=stored.idx == entry["n"] and stored.generation == gen)
            continue
        busy = {by_number[n]["id"] for n in submitted}
        for entry in waiting:
            if entry["id"] not in busy:  # an identical individual in flight: wait for its result
                loop.backend.submit(
                    loop._job(entry["context"], [entry["genome"]], [entry["id"]], [entry["parents"]]),
                    tag=entry["n"],
                )
                submitted[entry["n"]] = 0
                busy.add(entry["id"])
        # one finished evaluation per step: the round may fill up before the next is told
        if not loop._ready:
            # past the deadline, waiting ends there (the round has told someone: it can end)
            left = None if deadline is None or not told_raw else deadline - time.perf_counter()
            loop._ready.extend(loop.backend.poll(None if left is None else max(0.0, left)))
            if not loop._ready:
                continue  # the deadline passed while every worker was busy
        n, chunk = loop._ready.pop(0)
        entry, result = by_number[n], chunk.results[0]
        eval_seconds += chunk.wall_seconds
        loop._timed(chunk.wall_seconds, 1)
        if result.error is not None and submitted[n] < loop.config.evaluation.retries:
            submitted[n] += 1
            loop.backend.submit(
                loop._job(entry["context"], [entry["genome"]], [entry["id"]], [entry["parents"]]), tag=n
            )
            continue
        retried = submitted.pop(n)
        if retried:
            result.metrics = dict(result.metrics, attempts=retried + 1)
        row = loop._row(n, entry["id"], entry["genome"], entry["parents"], result, chunk.wall_seconds)
        loop.store.record_evaluations(gen, [row])
        loop.store.flush_if_due()
        tell(entry, result, fresh=True)
        loop.callback("chunk", {"generation": gen, "done": 1})
    return loop._wrap_up(
        s,
        state,
        np.asarray(told_raw),
        fresh_results,
        fresh_ids=fresh_ids,
        centre=None,
        cached=cached,
        eval_seconds=eval_seconds,
        started=started,
        in_flight=[{k: v for k, v in e.items()} for e in in_flight],
        asked=asked,
    )
