"""The engine's own cost, side by side with the library it wraps (issue 19's goals).

* ``cma_es`` ask/tell against the raw ``cmaes`` loop (``CMA.ask`` per solution, ``CMA.tell``), on
  the sphere at each dimension: evoforge's strategy given the generator the engine derives once per
  generation, and the same with that derivation counted;
* ``evoforge.run`` (CMA-ES, sphere, the SQLite run store, the default checkpoint interval) per
  generation, against the same raw loop: the run's CPU time at two lengths, differenced, so start-up
  and the final test are left out for both;
* CPU time of a fresh interpreter running ``import evoforge`` and ``evoforge --help``, beside
  ``python -c pass``.

Every time is CPU time (``time.process_time``, or the child's rusage), the best of ``repeats``
runs; the machine is shared, so ratios, measured in one run, are what carry over.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def _raw_cmaes(dim: int, generations: int) -> None:
    from cmaes import CMA

    optimizer = CMA(mean=np.full(dim, 3.0), sigma=0.5, seed=0)
    for _ in range(generations):
        solutions = [optimizer.ask() for _ in range(optimizer.population_size)]
        optimizer.tell([(x, float(x @ x)) for x in solutions])


def _evoforge_cma(dim: int, generations: int, rngs: list | None) -> None:
    from evoforge.core.rng import derive_rng
    from evoforge.core.space import VectorSpace
    from evoforge.strategies.cma_es import CMAES, CMAESConfig

    strategy = CMAES(CMAESConfig(), VectorSpace(dim, lambda rng: np.full(dim, 3.0)))
    state = strategy.init(derive_rng(0, "init"))
    for g in range(generations):
        rng = rngs[g] if rngs is not None else derive_rng(0, g, "ask")
        state, genomes, _ = strategy.ask(state, rng)
        state = strategy.tell(state, genomes, np.array([-float(x @ x) for x in genomes]))


def _run(dim: int, generations: int) -> None:
    import evoforge

    config = evoforge.RunConfig(
        problem={"kind": "function", "name": "sphere", "dim": dim},
        strategy={"name": "cma_es"},
        generations=generations,
    )
    with tempfile.TemporaryDirectory() as folder:
        evoforge.run(config, f"{folder}/run")


def _child_cpu(args: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, *args], check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return best


def run(settings: dict, save) -> dict:
    from evoforge.core.rng import derive_rng

    repeats = int(settings["repeats"])
    results: dict = {"cma_ask_tell": [], "run_per_generation": [], "startup": {}}
    for dim, generations in settings["cma_dims"].items():
        dim, generations = int(dim), int(generations)
        rngs = [derive_rng(0, g, "ask") for g in range(generations)]
        raw = _best(lambda d=dim, g=generations: _raw_cmaes(d, g), repeats)
        given = _best(lambda d=dim, g=generations, r=rngs: _evoforge_cma(d, g, r), repeats)
        derived = _best(lambda d=dim, g=generations: _evoforge_cma(d, g, None), repeats)
        results["cma_ask_tell"].append(
            {
                "dim": dim,
                "generations": generations,
                "raw_us": raw / generations * 1e6,
                "evoforge_us": given / generations * 1e6,
                "evoforge_with_rng_us": derived / generations * 1e6,
                "ratio": given / raw,
                "ratio_with_rng": derived / raw,
            }
        )
        save(results)
    dim = int(settings["run_dim"])
    short, long = (int(g) for g in settings["run_generations"])
    _run(dim, 5)  # imports and first-use costs, outside the timing
    t_short = _best(lambda: _run(dim, short), repeats)
    t_long = _best(lambda: _run(dim, long), repeats)
    raw = _best(lambda: _raw_cmaes(dim, long - short), repeats) / (long - short)
    per = (t_long - t_short) / (long - short)
    results["run_per_generation"].append(
        {
            "dim": dim,
            "generations": [short, long],
            "raw_us": raw * 1e6,
            "evoforge_us": per * 1e6,
            "ratio": per / raw,
        }
    )
    save(results)
    child = int(settings["startup_repeats"])
    results["startup"] = {
        "python -c pass": _child_cpu(["-c", "pass"], child),
        "import evoforge": _child_cpu(["-c", "import evoforge"], child),
        "evoforge --help": _child_cpu(["-m", "evoforge.cli", "--help"], child),
    }
    return results


def table(results: dict, settings: dict) -> str:
    lines = [
        "| measure | raw cmaes | evoforge | ratio | goal |",
        "|---|---|---|---|---|",
    ]
    for r in results["cma_ask_tell"]:
        lines.append(
            f"| cma_es ask/tell, {r['dim']}-D (per generation) | {r['raw_us']:.0f} us | "
            f"{r['evoforge_us']:.0f} us ({r['evoforge_with_rng_us']:.0f} us with the generator's derivation) | "
            f"{r['ratio']:.2f}x ({r['ratio_with_rng']:.2f}x) | <= 1.2x |"
        )
    for r in results["run_per_generation"]:
        lines.append(
            f"| evoforge.run, CMA-ES on the {r['dim']}-D sphere, SQLite store (per generation) | "
            f"{r['raw_us']:.0f} us | {r['evoforge_us']:.0f} us | {r['ratio']:.2f}x | <= 2x |"
        )
    lines += ["", "| start-up (CPU of a fresh interpreter) | seconds | goal |", "|---|---|---|"]
    for name, seconds in results["startup"].items():
        goal = "" if name == "python -c pass" else "<= 0.25 s"
        lines.append(f"| `{name}` | {seconds:.3f} | {goal} |")
    return "\n".join(lines)
