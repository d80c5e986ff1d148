"""The conformance suite a run store must pass (:class:`evoforge.store.base.Store`): the SQLite
:class:`~evoforge.store.run_store.RunStore` today, any other tomorrow. ``create(path)`` and
``open(path)`` are the store's own constructors, given to each check.

* :func:`check_records`: what is recorded is looked up (before and after a commit, and from a new
  session), counted, and read back: genomes of every encoding, metrics, statistics, in order;
* :func:`check_lost_workers`: a candidate recorded as lost with its worker is visible in its own
  session and hidden from later ones (the loss may have been the infrastructure's);
* :func:`check_checkpoints`: checkpoints round-trip exactly, only the newest ``keep`` stay, a
  damaged newest one is passed over (and reported) for the one before;
* :func:`check_uncommitted_work_is_redone`: a session killed after a commit leaves a readable store
  that holds what was committed, and nothing half-written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.core.genome import SeedChain, genome_id
from evoforge.testing.toys import Bits

__all__ = ["check_records", "check_lost_workers", "check_checkpoints", "check_uncommitted_work_is_redone"]

Create = Callable[[Path], Any]
Open = Callable[[Path], Any]


def _row(idx: int, genome: Any, fitness: float, error: str | None = None, **metrics: float) -> dict[str, Any]:
    return {
        "idx": idx,
        "genome_id": genome_id(genome),
        "genome": genome,
        "parents": (),
        "fitness": fitness,
        "error": error,
        "metrics": dict(metrics),
        "wall_seconds": 0.01,
        "aux": {},
    }


GENOMES = [np.arange(4.0), SeedChain((5, 6), 0.1), Bits((1, 0, 1))]


def check_records(create: Create, open_: Open, folder: Path) -> None:
    store = create(folder / "run")
    rows = [_row(i, g, float(i), steps=10.0 * i) for i, g in enumerate(GENOMES)]
    failed = _row(3, np.ones(2), math.nan, error="ValueError: bad")
    store.record_evaluations(0, [*rows, failed])
    store.record_cached(0, [(4, rows[0]["genome_id"], (), 0.0)])
    store.record_generation(0, {"generation": 0, "best": 2.0})
    ids = [r["genome_id"] for r in rows]
    found = store.lookup([*ids, failed["genome_id"], "0123456789abcdef"])
    assert set(found) == {*ids, failed["genome_id"]}, "lookup before a commit"
    assert [found[i].fitness for i in ids] == [0.0, 1.0, 2.0]
    assert math.isnan(found[failed["genome_id"]].fitness) and found[failed["genome_id"]].error
    store.flush()
    assert store.counts() == {"evaluations": 4, "failed": 1}
    assert store.generation_stats() == [{"generation": 0, "best": 2.0}]
    for g in GENOMES:
        assert genome_id(store.genome_of(genome_id(g))) == genome_id(g), type(g).__name__
    assert [e[0] for e in store.evaluations()] == [*ids, failed["genome_id"]]
    assert store.evaluations()[1][2] == {"steps": 10.0}
    store.close()
    again = open_(folder / "run")
    found = again.lookup(ids)
    assert [found[i].fitness for i in ids] == [0.0, 1.0, 2.0], "lookup in a new session"
    assert again.generation_count() == 1
    again.close()


def check_lost_workers(create: Create, open_: Open, folder: Path) -> None:
    store = create(folder / "run")
    lost = _row(0, np.zeros(3), math.nan, error="worker lost: a worker process died")
    store.record_evaluations(0, [lost])
    assert lost["genome_id"] in store.lookup([lost["genome_id"]]), "visible in its own session"
    store.close()
    later = open_(folder / "run")
    assert later.lookup([lost["genome_id"]]) == {}, "a later session evaluates it again"
    later.close()


def check_checkpoints(create: Create, open_: Open, folder: Path) -> None:
    store = create(folder / "run")
    for gen in range(1, 5):
        store.save_checkpoint(gen, {"generation": gen, "x": np.arange(gen, dtype=np.float64)}, keep=2)
    tree = store.load_checkpoint()
    assert tree["generation"] == 4 and tree["x"].tolist() == [0.0, 1.0, 2.0, 3.0]
    kept = sorted(p.name for p in (folder / "run" / "checkpoints").iterdir())
    assert kept == ["gen_000003.npz", "gen_000004.npz"], kept
    (folder / "run" / "checkpoints" / "gen_000004.npz").write_bytes(b"torn")
    damaged: list[str] = []
    assert store.load_checkpoint(damaged)["generation"] == 3
    assert len(damaged) == 1 and "gen_000004.npz" in damaged[0]
    store.close()


def check_uncommitted_work_is_redone(create: Create, open_: Open, folder: Path) -> None:
    """A process that records, commits, records more and is then killed (``os._exit``: no close, no
    commit) leaves a readable store holding at least what it committed, and whatever else it holds
    whole (a store may commit more eagerly; the engine redoes what is missing)."""
    import os

    first, second = _row(0, np.zeros(2), 1.0), _row(0, np.ones(2), 2.0)
    child = os.fork()
    if child == 0:  # the run that is killed
        try:
            store = create(folder / "run")
            store.record_evaluations(0, [first])
            store.flush()
            store.record_evaluations(1, [second])
        finally:
            os._exit(0)
    os.waitpid(child, 0)
    again = open_(folder / "run")
    found = again.lookup([first["genome_id"], second["genome_id"]])
    assert first["genome_id"] in found and found[first["genome_id"]].fitness == 1.0
    assert again.counts() == {"evaluations": len(found), "failed": 0}
    if second["genome_id"] in found:
        assert found[second["genome_id"]].fitness == 2.0
    again.close()
