"""What several benchmark suites share: fresh-interpreter measurements pinned to a core, the
evoforge command line as a timed process, neat-python populations, and the best-so-far curves of
architecture-search runs. Suites import it as ``common`` (the harness puts ``benchmarks/`` on the
path)."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HARNESS = Path(__file__).resolve().with_name("harness.py")
CONFIGS = Path(__file__).resolve().with_name("configs")
EVOFORGE = [sys.executable, "-m", "evoforge.cli"]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def single_core_env(core: int | None = 0) -> dict[str, str]:
    """The environment of a child measured on one core: single-threaded BLAS and XLA; pinned to
    ``core`` (by the child, through ``pin_from_env``) unless it is None."""
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = "1"
    env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["JAX_PLATFORMS"] = "cpu"
    env["SDL_VIDEODRIVER"] = "dummy"
    if core is not None:
        env["EVOFORGE_BENCH_CORE"] = str(core)
    return env


def pin_from_env() -> None:
    core = os.environ.get("EVOFORGE_BENCH_CORE")
    if core is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(core)})


def run_child(suite: str, args: list[str], core: int | None = 0, timeout: float = 3600) -> dict:
    """``harness.py SUITE --child ARGS`` in a fresh interpreter; its last line of output is JSON.
    A child that fails answers ``{"error": its last line of stderr}``."""
    proc = subprocess.run(
        [sys.executable, str(HARNESS), suite, "--child", *args],
        capture_output=True,
        text=True,
        env=single_core_env(core),
        timeout=timeout,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(values: list[float | None]) -> float:
    """The median of the values that are not None (NaN when none is)."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else float("nan")


def neat_population(config_name: str, seed: int):
    """A seeded neat-python population from one of the configs in ``benchmarks/configs``."""
    import neat

    config = neat.Config(
        neat.DefaultGenome,
        neat.DefaultReproduction,
        neat.DefaultSpeciesSet,
        neat.DefaultStagnation,
        str(CONFIGS / config_name),
    )
    config.seed = seed
    return config, neat.Population(config)


def neat_python_return(env, net, episodes: int, fresh) -> float:
    """A neat-python network's mean return over ``episodes`` CartPole episodes, each reset with the next
    seed of the iterator ``fresh`` (never reused), the action the argmax of its outputs."""
    import numpy as np

    total = 0.0
    for _ in range(episodes):
        obs, _ = env.reset(seed=next(fresh))
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(np.argmax(net.activate(obs))))
            total += reward
            done = terminated or truncated
    return total / episodes


def timed_cli(args: list[str]) -> float:
    """Wall seconds of one ``evoforge ARGS`` process, start-up included (its output discarded)."""
    start = time.perf_counter()
    subprocess.run([*EVOFORGE, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def example(name: str) -> Path:
    """``examples/NAME.yaml``."""
    return ROOT / "examples" / f"{name}.yaml"


def evolved_gan(raw: dict, work: Path) -> tuple:
    """A GAN search run in ``work`` from the config ``raw`` (resumed there if a session stopped it):
    its result and the best GAN's genome as JSON (``best_gan.json`` without its id)."""
    import evoforge

    if (work / "config.yaml").is_file():
        result = evoforge.resume(work)
    else:
        result = evoforge.run(evoforge.RunConfig.model_validate(raw), work)
    data = json.loads((work / "best_gan.json").read_text())
    data.pop("genome_id")
    return result, data


def best_so_far(run_dir: Path) -> list[tuple[int, float, float]]:
    """(fresh evaluations so far, seconds since the run began, best fitness so far) after each fresh
    evaluation of a run, in the order its store committed them."""
    started = json.loads((run_dir / "meta.json").read_text())["created"]
    db = sqlite3.connect(run_dir / "evoforge.sqlite")
    try:
        rows = db.execute(
            "SELECT fitness, created FROM individuals WHERE cached = 0 ORDER BY created, generation, idx"
        ).fetchall()
    finally:
        db.close()
    best, out = -math.inf, []
    for k, (fitness, created) in enumerate(rows):
        if fitness is not None:
            best = max(best, fitness)
        out.append((k + 1, created - started, best))
    return out


def best_at(curve: list, *, evals: int | None = None, seconds: float | None = None) -> float:
    """The best fitness of a curve after ``evals`` evaluations or ``seconds`` (NaN before any)."""
    seen = [b for k, t, b in curve if (evals is None or k <= evals) and (seconds is None or t <= seconds)]
    return seen[-1] if seen else math.nan


def mean_cell(values: list[float]) -> str:
    """A table cell: the mean over seeds, "-" while some run has no finished evaluation yet."""
    return "-" if any(v != v for v in values) else f"{statistics.mean(values):.4f}"


def policy_actor(problem, context: dict, params):
    """The action function of one MLP policy of a gym problem (``params``, flat), its observations
    normalised as the run that found it normalised them (``context``)."""
    import numpy as np

    norm = problem._normaliser(context)
    layers = problem.policy.unflatten(np.asarray(params)[None])

    def act(obs):
        x = np.asarray(obs, np.float32).reshape(1, 1, -1)
        if norm is not None:
            x = np.clip((x - norm[0]) / norm[1], -5, 5)
        return problem.policy.act(layers, x)[0, 0]

    return act
