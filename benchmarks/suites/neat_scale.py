"""NEAT at a population of 10,000, side by side with neat-python: seconds per generation and memory.

Each library runs in its own process pinned to one core, for ``generations`` + 1 generations without
a stopping rule, on the task of ``neat_vs_neatpython`` (XOR: the four patterns; CartPole-v1: the mean
return over 5 episodes) with that suite's settings and the population raised to ``population``.
A generation's time is the time between the starts of two consecutive evaluations (neat-python) or
between two consecutive generation records (evoforge): one whole cycle of evaluation, speciation
and reproduction, evoforge's run store included; the first generation (start-up, the initial
population) is not counted. Memory: the process's peak resident size, and that peak less the
resident size after the imports (what the run itself holds).

    .bench-venv/bin/python benchmarks/harness.py neat_scale --set task=xor
    .bench-venv/bin/python benchmarks/harness.py neat_scale --set task=cartpole
"""

from __future__ import annotations

import resource
import tempfile
import time

from common import ROOT, median, neat_population, neat_python_return, pin_from_env, run_child

XOR_IN = [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]
XOR_OUT = [0.0, 1.0, 1.0, 0.0]
EXAMPLES = {"xor": "neat-xor.yaml", "cartpole": "neat-cartpole.yaml"}
NEAT_PYTHON = {"xor": "neat_xor.cfg", "cartpole": "neat_cartpole.cfg"}
LIBRARIES = ("neat-python 2.0.0", "evoforge")


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_neat_python(task: str, population: int, generations: int, seed: int) -> dict:
    import gymnasium as gym
    import neat

    base = _rss_mib()
    config, _ = neat_population(NEAT_PYTHON[task], seed)
    config.pop_size = population
    config.no_fitness_termination = True
    pop = neat.Population(config)
    env = gym.make("CartPole-v1") if task == "cartpole" else None
    fresh = iter(range(10**9))
    starts: list[float] = []

    def xor(genomes, config):
        starts.append(time.perf_counter())
        for _, g in genomes:
            net = neat.nn.FeedForwardNetwork.create(g, config)
            g.fitness = 4.0 - sum((net.activate(x)[0] - t) ** 2 for x, t in zip(XOR_IN, XOR_OUT, strict=True))

    def cartpole(genomes, config):
        starts.append(time.perf_counter())
        for _, g in genomes:
            g.fitness = neat_python_return(env, neat.nn.FeedForwardNetwork.create(g, config), 5, fresh)

    pop.run(xor if task == "xor" else cartpole, generations + 2)  # the last start closes the last cycle
    return {"per_generation": [b - a for a, b in zip(starts[1:-1], starts[2:], strict=True)],
            "rss_base_mib": base, "rss_peak_mib": _peak_mib()}  # fmt: skip


def run_evoforge(task: str, population: int, generations: int, seed: int) -> dict:
    import yaml

    import evoforge
    from evoforge.engine import loop  # noqa: F401  (the modules a run imports, before the timer)
    from evoforge.engine.registry import get_problem, get_strategy

    raw = yaml.safe_load((ROOT / "examples" / EXAMPLES[task]).read_text())
    raw.update(seed=seed, generations=generations + 1, stop={}, validation_episodes=0, test_episodes=1)
    raw["strategy"]["population_size"] = population
    cfg = evoforge.RunConfig.model_validate(raw)
    get_strategy(cfg.strategy.name), get_problem(cfg.problem.kind)
    if task == "cartpole":
        import gymnasium  # noqa: F401  (as neat-python's side imports it)
    base = _rss_mib()
    ends: list[float] = []
    evoforge.run(cfg, tempfile.mkdtemp() + "/r",
                 callback=lambda event, data: ends.append(time.perf_counter()) if event == "generation" else None)  # fmt: skip
    return {"per_generation": [b - a for a, b in zip(ends[:-1], ends[1:], strict=True)],
            "rss_base_mib": base, "rss_peak_mib": _peak_mib()}  # fmt: skip


def child(task: str, lib: str, population: str, generations: str, seed: str) -> dict:
    pin_from_env()
    fn = run_neat_python if lib.startswith("neat-python") else run_evoforge
    return fn(task, int(population), int(generations), int(seed))


def run(settings: dict, save) -> dict:
    rows = dict((save.previous or {}).get("rows") or {})
    for lib in LIBRARIES:
        if lib not in rows:
            args = [
                settings["task"],
                lib,
                str(settings["population"]),
                str(settings["generations"]),
                str(settings["seed"]),
            ]
            rows[lib] = run_child("neat_scale", args, core=0, timeout=6 * 3600)
            print(lib, rows[lib], flush=True)
            save({"rows": rows})
    return {"rows": rows}


def table(results: dict, settings: dict) -> str:
    task = {"xor": "XOR", "cartpole": "CartPole-v1"}[settings["task"]]
    lines = [
        f"{task}, population {settings['population']:,}: seconds per generation (median of "
        f"{settings['generations']} after the first) and memory, each library in its own process on one core.",
        "",
        "| library | s / generation | peak resident (MiB) | of which the run (MiB) |",
        "|---|---|---|---|",
    ]
    per = {}
    for lib, r in results["rows"].items():
        if "error" in r:
            lines.append(f"| {lib} | failed: {r['error']} | | |")
            continue
        per[lib] = median(r["per_generation"])
        lines.append(
            f"| {lib} | {per[lib]:.3f} | {r['rss_peak_mib']:,.0f} | {r['rss_peak_mib'] - r['rss_base_mib']:,.0f} |"
        )
    if len(per) == 2:
        lines += [
            "",
            f"Time per generation, neat-python / evoforge: {per[LIBRARIES[0]] / per[LIBRARIES[1]]:.1f}x.",
        ]
    return "\n".join(lines)
