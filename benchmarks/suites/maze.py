"""The deceptive mazes (Lehman & Stanley 2011): does novelty or quality diversity reach the goal where
a fitness-only search is led into the dead end? Every method of ``methods`` runs ``seeds`` times on
the maze at the same budget of ``evaluations`` (a run stops once a robot ends within 5 of the goal);
reported per method: in how many seeds the goal was reached, the evaluations it took (median over the
seeds that reached it), and the final distance of the best robot per seed.

    python benchmarks/harness.py maze --set maze=hard

Runs go ``processes`` at a time, each in its own process on one core; results are saved after every
run, so a stopped benchmark resumes where it was.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from common import single_core_env

BENCHMARKS = str(Path(__file__).resolve().parents[1])

_CHILD = """
import json, sys, tempfile, time
from pathlib import Path
import evoforge
from common import best_so_far
maze, strategy, seed, budget = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
population = strategy["population_size"]
config = evoforge.RunConfig.model_validate({
    "seed": seed, "generations": budget // population + 1, "strategy": strategy,
    "problem": {"kind": "maze", "maze": maze}, "test_episodes": 1, "checkpoint_interval": 1e9,
    "stop": {"fitness": -5.0, "evaluations": budget},
})
run_dir = Path(tempfile.mkdtemp()) / "r"
started = time.perf_counter()
result = evoforge.run(config, run_dir)
curve = best_so_far(run_dir)
first = next((k for k, _, best in curve if best > -5.0), None)
print(json.dumps({"reached": first is not None, "evaluations_to_goal": first, "evaluations": result.evaluations,
                  "best_distance": -result.best_fitness, "seconds": time.perf_counter() - started}))
"""


def run(settings: dict, save) -> dict:
    maze, budget = settings["maze"], int(settings["evaluations"])
    results = dict(save.previous or {})
    todo = [
        (m["name"], m["strategy"], seed)
        for m in _methods(settings)
        for seed in _seeds(settings)
        if f"{m['name']}/{seed}" not in results
    ]
    running: list[tuple[str, subprocess.Popen]] = []

    def launch() -> None:
        name, strategy, seed = todo.pop(0)
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, maze, json.dumps(strategy), str(seed), str(budget)],
            stdout=subprocess.PIPE,
            text=True,
            env=single_core_env(None),  # single-threaded BLAS, not pinned: the machine is shared
            cwd=BENCHMARKS,  # the child imports common
        )
        running.append((f"{name}/{seed}", proc))

    try:
        for _ in range(min(int(settings["processes"]), len(todo))):
            launch()
        while running:
            key, proc = running.pop(0)
            out = proc.communicate()[0]
            if proc.returncode != 0:
                raise RuntimeError(f"maze run {key} failed (exit {proc.returncode})")
            results[key] = json.loads(out.strip().splitlines()[-1])
            save(results)  # raises DeadlineError at --until
            if todo:
                launch()
    finally:  # a stop (--until, a failed run, Ctrl-C) leaves no run going on without the harness
        for _, proc in running:
            proc.kill()
            proc.wait()
    return results


def _seeds(settings: dict) -> range:
    first = int(settings.get("first_seed", 0))
    return range(first, first + int(settings["seeds"]))


def _methods(settings: dict) -> list[dict]:
    """The configured methods, or those of them ``only`` names."""
    only = settings.get("only") or []
    unknown = sorted(set(only) - {m["name"] for m in settings["methods"]})
    if unknown:
        raise ValueError(f"only: no method {', '.join(unknown)} in the configured methods")
    return [m for m in settings["methods"] if not only or m["name"] in only]


def table(results: dict, settings: dict) -> str:
    lines = [
        "| method | goal reached | evaluations to the goal (median of those reaching it) | best final distance per seed |",
        "|---|---|---|---|",
    ]
    for m in _methods(settings):
        runs = [results.get(f"{m['name']}/{s}") for s in _seeds(settings)]
        done = [r for r in runs if r is not None]
        reached = [r for r in done if r["reached"]]
        median = f"{statistics.median(r['evaluations_to_goal'] for r in reached):,.0f}" if reached else "-"
        distances = ", ".join(f"{r['best_distance']:.1f}" for r in done)
        lines.append(f"| {m['name']} | {len(reached)} / {len(done)} | {median} | {distances} |")
    return "\n".join(lines)


def deciding(settings: dict) -> dict:
    """The settings that decide a record: the methods it runs, not the rest of the catalogue (a method
    added to the config leaves the records measured before it as they are)."""
    return {**settings, "methods": _methods(settings)}
