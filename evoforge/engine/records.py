"""What a run records and reports: its statistics per generation, its result, and the readers of a
run directory's config, result and hall of fame (one line naming the file if one is damaged)."""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from evoforge.core.genome import genome_encoding
from evoforge.core.hall_of_fame import HallOfFame
from evoforge.core.problem import Problem
from evoforge.core.strategy import Strategy
from evoforge.engine.config import RunConfig
from evoforge.store.run_store import RunStore, StoreError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RunFailedError",
    "GenerationStats",
    "RunResult",
    "RunRecord",
    "load_run_config",
    "read_result",
    "read_run",
    "run_status",
    "first_stop",
    "read_hall_of_fame",
    "check_memory",
    "check_objectives",
    "hof_summary",
    "versions",
]


class RunFailedError(RuntimeError):
    """A run that cannot report a result (every evaluation failed)."""


@dataclass
class GenerationStats:
    """Statistics of one generation (fitness in the problem's own direction)."""

    generation: int
    best: float
    mean: float
    median: float
    worst: float
    std: float
    best_ever: float
    best_ever_id: str | None
    centre: float | None
    evaluations: int
    cached: int
    failed: int
    env_steps: float
    eval_seconds: float
    wall_seconds: float
    strategy: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The statistics as a JSON-ready dict (``dataclasses.asdict`` without its deep copy)."""
        return {**self.__dict__, "strategy": dict(self.strategy)}


@dataclass
class RunResult:
    """The outcome of a finished run."""

    run_dir: str
    status: str
    best_fitness: float
    test_score: float
    test_scores: list[float]
    generations: int
    evaluations: int
    failed: int
    env_steps: float
    wall_seconds: float
    best_genome_id: str
    stopped_early: bool = False
    validation_score: float | None = None
    test_label: str = "test score"  # what test_score measures (Problem.test_label)
    #: the stop rule that ended the run early: fitness, solved, evaluations, env_steps or seconds (a wall-time
    #: budget: where it stopped depends on the machine's load, so the run is not reproducible)
    stopped_by: str = ""
    #: re-evaluations outside the search, counted apart from ``evaluations`` and ``env_steps``: the
    #: cases (episodes, for gym) run to validate hall-of-fame members and to test the reported one,
    #: and the environment steps of the test (problems that count steps)
    validation_cases: int = 0
    test_cases: int = 0
    test_env_steps: float = 0.0


def load_run_config(store: RunStore) -> RunConfig:
    """The run's resolved config; :class:`StoreError` naming config.yaml if it is not one."""
    from pydantic import ValidationError

    from evoforge.engine.config import format_validation_error

    path = store.path / "config.yaml"
    try:
        raw = yaml.safe_load(store.read_config_yaml())
        return RunConfig.model_validate(raw)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise StoreError(f"{path}: not readable YAML ({type(exc).__name__})") from None
    except ValidationError as exc:
        raise StoreError(f"{path}: not a valid config ({format_validation_error(exc)})") from None


def read_result(store: RunStore) -> RunResult | None:
    """The finished run's result.json (None before the run has finished); :class:`StoreError` naming
    the file if it is not what a run writes."""
    data = store.read_json("result.json")
    if data is None:
        return None
    try:
        return RunResult(**data)
    except TypeError:
        names = {f.name for f in fields(RunResult)}
        odd = sorted(set(data) ^ names)[0]
        raise StoreError(f"{store.path / 'result.json'}: not a run result ({odd!r})") from None


def read_hall_of_fame(store: RunStore) -> dict[str, Any]:
    """hall_of_fame.json (empty before the first checkpoint); :class:`StoreError` naming the file if
    its entries are not what a run writes."""
    path = store.path / "hall_of_fame.json"
    data = store.read_json("hall_of_fame.json", required=("entries",)) or {"entries": []}
    entries = data["entries"]
    keys = ("rank", "genome_id", "fitness", "generation")
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and all(k in e for k in keys) for e in entries
    ):
        raise StoreError(f"{path}: its entries are not hall-of-fame entries")
    return data


def run_status(store: RunStore, result: RunResult | None, failed: dict | None, started: bool) -> str:
    """finished, running (a process runs it now), failed (nothing to report), interrupted (stopped
    part-way: ``evoforge resume`` continues it) or not_started; from what the caller has read of the
    run (its result, failed.json, whether a generation is recorded), the lock asked here."""
    if result is not None:
        return "finished"
    if store.in_use():
        return "running"
    if failed is not None:
        return "failed"
    return "interrupted" if started else "not_started"


#: the limits counted per generation, by their names in a progress line
_COUNTED = {"generations": "generations", "evaluations": "evaluation budget", "env_steps": "env-step budget"}


def first_stop(
    limits: dict[str, float | None], now: dict[str, float], then: dict[str, float]
) -> tuple[float, float | None, str]:
    """(the share of it used, the seconds left to it, its name) for the limit that will end a run
    first. ``limits``: the run's ``generations`` and its ``evaluations``, ``env_steps`` and ``seconds``
    stops (None: no such stop). ``now`` and ``then``: the counts of the same names (``seconds``: the
    run's wall seconds) at the last generation and where the rates are measured from. The first stop
    is the one with the least time left at those rates; while no rate can be told (no generation
    since ``then``) it is the one most used, and its seconds left are None."""
    gens = now["generations"] - then["generations"]
    per_gen = (now["seconds"] - then["seconds"]) / gens if gens > 0 else None
    stops: list[tuple[float | None, float, str]] = []
    for key, name in _COUNTED.items():
        total = limits.get(key)
        if total is None:
            continue
        rate = (now[key] - then[key]) / gens if gens > 0 else 0.0
        seconds = None
        if per_gen is not None and rate > 0:
            seconds = math.ceil(max(0.0, total - now[key]) / rate) * per_gen
        stops.append((seconds, min(1.0, now[key] / total) if total > 0 else 1.0, name))
    budget = limits.get("seconds")
    if budget is not None:
        stops.append((max(0.0, budget - now["seconds"]), min(1.0, now["seconds"] / budget), "time budget"))
    timed = [stop for stop in stops if stop[0] is not None]
    if timed:
        seconds, share, name = min(timed, key=lambda stop: (stop[0], -stop[1]))
        return share, seconds, name
    _, share, name = max(stops, key=lambda stop: stop[1])
    return share, None, name


@dataclass
class RunRecord:
    """A run directory read back for analysis (see :func:`read_run`)."""

    path: Path
    #: as :func:`run_status` gives it
    status: str
    config: RunConfig
    #: the result once the run has finished, else None
    result: RunResult | None
    #: one row per generation: best, mean, median, worst, std, best_ever, evaluations, cached, failed,
    #: env_steps, eval_seconds, wall_seconds (since the run began) and the strategy's own statistics
    generations: pd.DataFrame
    #: one row per individual of every generation: generation, idx, genome_id, parents (a list),
    #: cached (True: its fitness came from an earlier evaluation), fitness (NaN when it failed), error,
    #: wall_seconds (of its evaluation), created (a Unix time) and a column per metric it reported
    individuals: pd.DataFrame
    #: the hall of fame's entries, best first (rank, genome_id, fitness, generation, ...)
    hall_of_fame: list[dict[str, Any]]


def read_run(run_dir: str | Path) -> RunRecord:
    """A run directory as tables (pandas) for analysis and plots. The store is opened read-only, so a
    run can be read while it goes on (what it has committed so far). ``FileNotFoundError`` if it is
    no run directory, :class:`StoreError` naming the file if one is damaged.

    >>> import tempfile
    >>> from evoforge.engine.loop import run
    >>> folder = tempfile.mkdtemp() + "/r"
    >>> _ = run({"problem": {"kind": "function", "name": "sphere", "dim": 2},
    ...          "strategy": {"name": "cma_es"}, "generations": 3}, folder)
    >>> record = read_run(folder)
    >>> record.status, len(record.generations)
    ('finished', 3)
    """
    import pandas as pd

    store = RunStore.open(Path(run_dir), read_only=True)
    try:
        config = load_run_config(store)
        result = read_result(store)
        hall = read_hall_of_fame(store)["entries"]
        stats = store.generation_stats()
        failed = None if result else store.read_json("failed.json")
        status = run_status(store, result, failed, bool(stats))
        generations = pd.DataFrame(stats)
        rows = store.db.execute(
            "SELECT generation, idx, genome_id, parents, cached, fitness, error, wall_seconds, created, metrics "
            "FROM individuals ORDER BY generation, idx"
        ).fetchall()
    finally:
        store.close()
    base = [
        "generation",
        "idx",
        "genome_id",
        "parents",
        "cached",
        "fitness",
        "error",
        "wall_seconds",
        "created",
    ]
    records = []
    for *values, metrics in rows:
        row = dict(zip(base, values, strict=True))
        row.update(parents=json.loads(row["parents"]), cached=bool(row["cached"]))
        row["fitness"] = float("nan") if row["fitness"] is None else float(row["fitness"])
        for name, value in (json.loads(metrics) if metrics else {}).items():
            row[name if name not in base else f"metric_{name}"] = value
        records.append(row)
    individuals = pd.DataFrame(records, columns=None if records else base)
    return RunRecord(Path(run_dir), status, config, result, generations, individuals, hall)


def check_memory(population_size: int, dim: int) -> None:
    """``ValueError`` if a population of ``population_size`` individuals of ``dim`` parameters needs
    more memory than this machine has available (an estimate: two copies of the population, at
    least a kilobyte per individual for structured genomes), before anything is allocated."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return  # no way to tell on this platform
    needed = 2 * population_size * (8 * max(dim, 0) + 1024)
    if needed > available:
        raise ValueError(
            f"strategy.population_size {population_size:,} with {dim:,} parameters each needs about "
            f"{needed / 2**30:,.0f} GiB of memory; this machine has {available / 2**30:,.1f} GiB available"
        )


def versions() -> dict[str, str]:
    """The versions of Python and the packages a run depends on (recorded in meta.json)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("evoforge", "numpy", "gymnasium", "cmaes", "pydantic", "ray"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def check_objectives(config: RunConfig, problem: Problem) -> tuple[str, ...]:
    """The metrics a multi-objective strategy minimises besides the fitness (none for the others);
    ``ValueError`` naming the first one ``problem`` does not record."""
    names = tuple(getattr(config.strategy, "objectives", ()))
    for name in names:
        if name not in problem.recorded_metrics:
            known = ", ".join(problem.recorded_metrics) or "none"
            raise ValueError(
                f"objective {name!r} is not a metric problem {problem.kind!r} records (it records: {known})"
            )
    return names


def check_descriptors(strategy: Strategy, problem: Problem) -> None:
    """``ValueError``, one line, if ``strategy`` is told behaviour descriptors that ``problem`` does
    not record, or of another length than it expects."""
    if not strategy.uses_descriptors:
        return
    size, expected = problem.descriptor_size, strategy.descriptor_size()
    if size == 0:
        raise ValueError(
            f"strategy {strategy.name!r} needs behaviour descriptors, and problem {problem.kind!r} records "
            "none as configured (the gym problem: set problem.descriptor)"
        )
    if expected is not None and expected != size:
        raise ValueError(
            f"strategy {strategy.name!r} expects descriptors of {expected} numbers (its bounds), and "
            f"problem {problem.kind!r} records {size}"
        )


def check_transitions(strategy: Strategy, problem: Problem) -> None:
    """``ValueError``, one line, if ``strategy`` learns from transitions ``problem`` does not record."""
    if strategy.uses_transitions and not problem.records_transitions:
        raise ValueError(
            f"strategy {strategy.name!r} learns from environment transitions, and problem {problem.kind!r} "
            "records none as configured (the gym problem: set problem.transitions: true)"
        )


def descriptor_columns(fitness: np.ndarray, metrics: list[dict], size: int) -> np.ndarray:
    """The ``(n, size)`` behaviour descriptors recorded in ``metrics`` (``descriptor_k``), NaN for a
    failed candidate (non-finite fitness) or a missing or non-finite number.

    >>> descriptor_columns(np.array([1.0, np.nan]), [{"descriptor_0": 0.5}, {"descriptor_0": 2.0}], 1).tolist()
    [[0.5], [nan]]
    """
    out = np.full((len(metrics), size), np.nan)
    for i, (f, m) in enumerate(zip(np.asarray(fitness, dtype=np.float64), metrics, strict=True)):
        if np.isfinite(f):
            out[i] = [float(m.get(f"descriptor_{k}", np.nan)) for k in range(size)]
    out[~np.isfinite(out)] = np.nan
    return out


def hof_summary(hof: HallOfFame, pareto: dict[str, Any] | None = None, whole: bool = False) -> dict[str, Any]:
    """hall_of_fame.json: the members in rank order, with whole genomes if ``whole`` (genomes users
    take away: the search space names an export file), and a multi-objective run's Pareto front."""
    return {
        **(pareto or {}),
        "size": hof.size,
        "entries": [
            {
                "rank": k + 1,
                "genome_id": e.genome_id,
                "fitness": e.fitness,
                "generation": e.generation,
                "encoding": genome_encoding(e.genome),
                # genomes users take away (architectures) are listed whole
                **({"genome": e.genome.to_json()} if whole else {}),
            }
            for k, e in enumerate(hof)
        ],
    }
