"""What the dashboard shows, read from run directories without ever writing to them.

Each run directory is opened through the run store in read-only mode (SQLite refuses every write;
WAL lets it read while the run commits), once per request and closed again, so a dashboard never holds
a lock a running search waits on. Runs are addressed by their position in the list the dashboard was
started with, never by a path from the request: nothing outside those directories can be named.

>>> Catalog([]).runs()
[]
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.engine.records import first_stop, load_run_config, read_hall_of_fame, read_result, run_status
from evoforge.report.views import genome_view
from evoforge.store.run_store import RunStore, StoreError

__all__ = ["Catalog", "UnknownError"]

#: rows a page lists at most (failed candidates, lineage steps): pages stay fast on any run
LIMIT = 200
#: what a figure's name may be: a plain file name ending .png (no folder, nothing hidden)
_FIGURE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.png$")


class UnknownError(LookupError):
    """A run number or genome id the dashboard does not know (a 404, never a traceback)."""


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they go out as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class Catalog:
    """The run directories a dashboard watches, numbered in the order given."""

    def __init__(self, run_dirs: list[Path]):
        self.run_dirs = [Path(p) for p in run_dirs]

    @contextmanager
    def _store(self, run: int) -> Iterator[RunStore]:
        if not 0 <= run < len(self.run_dirs):
            raise UnknownError(f"no run {run}")
        store = RunStore.open(self.run_dirs[run], check=False, read_only=True)
        try:
            yield store
        finally:
            store.close()

    # -- the list of runs ------------------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        """One row per run: what it is, how far it has got, its best. A run directory that cannot be
        read is listed with the one-line reason."""
        return [self._row(k) for k in range(len(self.run_dirs))]

    def _row(self, run: int) -> dict[str, Any]:
        row: dict[str, Any] = {"run": run, "path": str(self.run_dirs[run]), "name": self.run_dirs[run].name}
        try:
            with self._store(run) as store:
                row.update(self._summary(store))
        except (FileNotFoundError, StoreError, sqlite3.Error) as exc:
            row.update(status="unreadable", error=str(exc).splitlines()[0])
        return _finite(row)

    def _summary(self, store: RunStore) -> dict[str, Any]:
        config = load_run_config(store)
        result = read_result(store)
        last = store.db.execute(
            "SELECT generation, stats FROM generations ORDER BY generation DESC LIMIT 1"
        ).fetchone()
        stats = json.loads(last[1]) if last else {}
        counts = store.counts()
        failed = None if result else store.read_json("failed.json")
        status = run_status(store, result, failed, last is not None)
        generations = last[0] + 1 if last else 0
        wall = result.wall_seconds if result else stats.get("wall_seconds", 0.0)
        best = result.best_fitness if result else stats.get("best_ever")
        now = {"generations": generations, "evaluations": counts["evaluations"],
               "env_steps": _env_steps(store, config), "seconds": wall}  # fmt: skip
        progress, left, stop = _progress(config, now, result is not None)
        return {
            "status": status,
            "strategy": config.strategy.name,
            "problem": config.problem.kind,
            "seed": config.seed,
            "best": best,
            "test_score": result.test_score if result else None,
            "generations": generations,
            "evaluations": counts["evaluations"],
            "failed": counts["failed"],
            "wall_seconds": wall,
            "progress": progress,
            "left_seconds": left,
            "first_stop": stop,
            "failure": failed.get("reason") if failed else None,
        }

    # -- one run ---------------------------------------------------------------------------------
    def run(self, run: int) -> dict[str, Any]:
        """The run's row, its resolved config (YAML text) and its hall of fame."""
        with self._store(run) as store:
            row = {"run": run, "path": str(self.run_dirs[run]), "name": self.run_dirs[run].name}
            row.update(self._summary(store))
            row["config"] = store.read_config_yaml()
            hof = read_hall_of_fame(store)
            row["hall_of_fame"] = hof["entries"]
            if "pareto_front" in hof:  # a multi-objective run: its non-dominated individuals
                row["pareto"] = {
                    "objectives": hof.get("objectives_minimised", []),
                    "front": hof["pareto_front"],
                }
            row["figures"] = self.figures(run)
            row["first_errors"] = store.first_errors()
        return _finite(row)

    def curve(self, run: int, since: int = 0) -> list[dict[str, Any]]:
        """Per-generation statistics from generation ``since`` on (a live page asks for what is new).
        A gym run with a ``reward_shift`` searches on its return less the shift a step: each generation
        also carries its best individual's own return (``best_return``), the number a user knows."""
        with self._store(run) as store:
            rows = store.db.execute(
                "SELECT stats FROM generations WHERE generation >= ? ORDER BY generation", (since,)
            ).fetchall()
            stats = [json.loads(r[0]) for r in rows]
            problem: Any = load_run_config(store).problem if stats else None
            if getattr(problem, "reward_shift", 0.0):
                best = store.generation_best_metrics(since)
                for s in stats:
                    s["best_return"] = best.get(s["generation"], {}).get("return")
        return _finite(stats)

    def behaviours(self, run: int, since: int = 0) -> dict[str, Any]:
        """Where the search looked, for a live chart: each evaluated individual's behaviour (its first
        two descriptors) and fitness, ``[x, y, fitness]`` in the order evaluated, from generation
        ``since`` through the last finished one (``next``: the generation to ask from next time, so no
        point comes twice); with ``since`` 0 also the problem's map (walls, named points, box; None
        where the descriptors are not positions) and the fitness's direction."""
        with self._store(run) as store:
            last = store.db.execute("SELECT MAX(generation) FROM generations").fetchone()[0]
            if last is None or last < since:
                fitness, descriptors = np.zeros(0), np.zeros((0, 2))
            else:
                fitness, descriptors = store.behaviours(since, last)
            config = load_run_config(store) if since == 0 else None
        found: dict[str, Any] = {
            "next": since if last is None else max(since, last + 1),
            "points": np.column_stack([descriptors, fitness]).tolist(),
        }
        if config is not None:
            from evoforge.engine.registry import get_problem

            problem = get_problem(config.problem.kind)
            world = problem.behaviour_map(config.problem)
            found["direction"] = problem.direction
            found["map"] = None if world is None else {
                "walls": [list(wall) for wall in world.walls],
                "points": {name: list(xy) for name, xy in world.points.items()},
                "bounds": None if world.bounds is None else [list(b) for b in world.bounds],
            }  # fmt: skip
        return _finite(found)

    def failures(self, run: int) -> list[dict[str, Any]]:
        """The failed candidates (exception, NaN, timeout), newest first, at most :data:`LIMIT`."""
        with self._store(run) as store:
            rows = store.db.execute(
                "SELECT generation, idx, genome_id, error, wall_seconds FROM individuals "
                "WHERE cached = 0 AND fitness IS NULL ORDER BY rowid DESC LIMIT ?",
                (LIMIT,),
            ).fetchall()
        keys = ("generation", "idx", "genome_id", "error", "wall_seconds")
        return _finite([dict(zip(keys, r, strict=True)) for r in rows])

    def genome(self, run: int, genome_id: str) -> dict[str, Any]:
        """One evaluated genome: where and how it scored, its metrics and parents, and the genome itself
        as its space writes it (JSON), or a description where it has no JSON form."""
        with self._store(run) as store:
            row = store.db.execute(
                "SELECT generation, idx, parents, fitness, error, metrics, wall_seconds FROM individuals "
                "WHERE genome_id = ? AND cached = 0 ORDER BY rowid LIMIT 1",
                (genome_id,),
            ).fetchone()
            if row is None:
                raise UnknownError(f"no genome {genome_id!r} in run {run}")
            genome = store.genome_of(genome_id)
        generation, idx, parents, fitness, error, metrics, seconds = row
        to_json = getattr(genome, "to_json", None)
        if to_json is not None:
            body: Any = to_json()
        else:  # a parameter vector: its size and a few numbers, not a million floats
            flat = [float(x) for x in getattr(genome, "ravel", lambda: [])()]
            body = {"parameters": len(flat), "first": flat[:8]}
        return _finite({
            "genome_id": genome_id, "generation": generation, "idx": idx, "parents": json.loads(parents),
            "fitness": fitness, "error": error, "metrics": json.loads(metrics) if metrics else {},
            "wall_seconds": seconds, "genome": body, "view": genome_view(genome),
        })  # fmt: skip

    def figures(self, run: int) -> list[str]:
        """The PNG figures ``evoforge report`` wrote into the run's ``report`` folder (GAN sample grids,
        species, Pareto fronts, ...), by name."""
        if not 0 <= run < len(self.run_dirs):
            raise UnknownError(f"no run {run}")
        folder = (self.run_dirs[run] / "report").resolve()
        if not folder.is_dir():
            return []
        return sorted(  # a link out of the run's report folder is not one of its figures
            p.name
            for p in folder.iterdir()
            if _FIGURE.match(p.name) and p.is_file() and p.resolve().is_relative_to(folder)
        )

    def figure(self, run: int, name: str) -> Path:
        """The file of figure ``name``: only a name :meth:`figures` lists (never a path from a request)."""
        if name not in self.figures(run):
            raise UnknownError(f"no figure {name!r} in run {run}")
        return (self.run_dirs[run] / "report" / name).resolve()

    def lineage(self, run: int, genome_id: str) -> list[dict[str, Any]]:
        """The ancestry of ``genome_id``: it, then its first parent, that one's first parent, and so on
        to the first generation (at most :data:`LIMIT` steps), each with its generation and fitness."""
        steps: list[dict[str, Any]] = []
        seen: set[str] = set()
        with self._store(run) as store:
            gid: str | None = genome_id
            while gid is not None and gid not in seen and len(steps) < LIMIT:
                seen.add(gid)
                row = store.db.execute(
                    "SELECT generation, parents, fitness FROM individuals WHERE genome_id = ? "
                    "ORDER BY rowid LIMIT 1",
                    (gid,),
                ).fetchone()
                if row is None:
                    if not steps:
                        raise UnknownError(f"no genome {genome_id!r} in run {run}")
                    break
                parents = json.loads(row[1])
                steps.append({"genome_id": gid, "generation": row[0], "fitness": row[2], "parents": parents})
                gid = parents[0] if parents else None
        return _finite(steps)


def _env_steps(store: RunStore, config: Any) -> float:
    """The environment steps a run has taken, where its config budgets them (else 0: not read)."""
    if not config.stop.env_steps:
        return 0.0
    row = store.db.execute("SELECT SUM(json_extract(stats, '$.env_steps')) FROM generations").fetchone()
    return float(row[0] or 0.0)


def _progress(config: Any, now: dict[str, float], finished: bool) -> tuple[float, float | None, str | None]:
    """(the share used, the seconds left, the name) of the limit the run will reach first, at its
    rates over the whole run (the same rule as the command line's progress line)."""
    limits = {"generations": config.generations, "evaluations": config.stop.evaluations,
              "env_steps": config.stop.env_steps, "seconds": config.stop.seconds}  # fmt: skip
    if finished:
        return 1.0, 0.0, None
    share, seconds, name = first_stop(limits, now, dict.fromkeys(now, 0.0))
    return float(share), seconds, name
