"""Shared helpers for the benchmark scripts: pinning, subprocess isolation, BENCHMARKS.md updates."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")


def single_core_env(core: int | None = 0) -> dict[str, str]:
    env = dict(os.environ)
    for var in THREAD_VARS[:3]:
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


def run_child(script: Path, args: list[str], core: int | None = 0, timeout: float = 3600) -> dict:
    """Run ``script --child ARGS`` in a fresh interpreter; it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, str(script), "--child", *args],
        capture_output=True,
        text=True,
        env=single_core_env(core),
        timeout=timeout,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1][:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def replace_section(marker: str, text: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    """Replace the block between ``<!-- marker -->`` and ``<!-- /marker -->`` in BENCHMARKS.md."""
    content = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"<!-- {marker} -->\n{text.rstrip()}\n<!-- /{marker} -->"
    pattern = re.compile(rf"<!-- {re.escape(marker)} -->.*?<!-- /{re.escape(marker)} -->", re.S)
    content = (
        pattern.sub(lambda _: block, content)
        if pattern.search(content)
        else content.rstrip() + "\n\n" + block + "\n"
    )
    path.write_text(content)


def neat_population(config_name: str, seed: int):
    """A seeded neat-python population from one of the configs in benchmarks/."""
    import neat

    config = neat.Config(
        neat.DefaultGenome,
        neat.DefaultReproduction,
        neat.DefaultSpeciesSet,
        neat.DefaultStagnation,
        str(Path(__file__).with_name(config_name)),
    )
    config.seed = seed
    return config, neat.Population(config)


def publish(marker: str, lines: list[str], write: bool = True) -> None:
    """Print a benchmark's section and, unless ``write`` is False, put it in BENCHMARKS.md."""
    text = "\n".join(lines)
    print(text)
    if write:
        replace_section(marker, text)
