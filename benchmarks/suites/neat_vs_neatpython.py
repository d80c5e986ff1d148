"""NEAT side by side with neat-python on XOR and on CartPole-v1: evaluations and wall time to solve,
medians over ``--runs`` seeds, each run in its own process pinned to one core, the two libraries
interleaved.

XOR: both stop in the first generation in which a network classifies all four patterns (every
output on the right side of 0.5). neat-python runs its own XOR example settings
(`benchmarks/configs/neat_xor.cfg`, its fitness 4 - sum of squared errors); evoforge runs
`examples/neat-xor.yaml` (the NEAT paper's settings).

CartPole-v1: fitness is the mean return over 5 episodes; a network with the maximum (500) is
validated on 20 fresh episodes and the run is solved when one also averages 500 there (the
protocol of `examples/neat-cartpole.yaml`, reproduced for neat-python, which runs
`benchmarks/configs/neat_cartpole.cfg`); the winner's mean over 10 fresh test episodes is reported.

"Individuals" counts every member of every generation up to the solving one (generations x
population; neat-python re-evaluates its elites, evoforge does not, so evoforge's real evaluation
count is lower and shown separately); wall time covers building the population and the whole run,
including evoforge's run store (its median share shown beside it, timed around the store's methods),
not the imports (evoforge's engine, strategy and problem modules are imported before its timer
starts, as ``import neat`` is before neat-python's).

    .bench-venv/bin/python benchmarks/harness.py neat_vs_neatpython --set task=xor [--set runs=30]
    .bench-venv/bin/python benchmarks/harness.py neat_vs_neatpython --set task=cartpole
"""

from __future__ import annotations

import tempfile
import time

from common import ROOT, median, neat_population, neat_python_return, pin_from_env, run_child

XOR_IN = [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]
XOR_OUT = [0.0, 1.0, 1.0, 0.0]
CARTPOLE = {"train": 5, "validate": 20, "test": 10, "max": 500.0}


class _SolvedError(Exception):
    pass


def run_neat_python(seed: int) -> dict:
    import neat

    start = time.perf_counter()
    config, pop = neat_population("neat_xor.cfg", seed)
    counted = {"generations": 0, "individuals": 0}

    def evaluate(genomes, config):
        counted["generations"] += 1
        counted["individuals"] += len(genomes)
        solved = False
        for _, g in genomes:
            net = neat.nn.FeedForwardNetwork.create(g, config)
            outs = [net.activate(x)[0] for x in XOR_IN]
            g.fitness = 4.0 - sum((o - t) ** 2 for o, t in zip(outs, XOR_OUT, strict=True))
            solved |= all(abs(o - t) < 0.5 for o, t in zip(outs, XOR_OUT, strict=True))
        if solved:
            raise _SolvedError

    try:
        pop.run(evaluate, 300)
        solved = False
    except _SolvedError:
        solved = True
    return dict(counted, solved=solved, seconds=time.perf_counter() - start)


def run_neat_python_cartpole(seed: int) -> dict:
    import gymnasium as gym
    import neat

    start = time.perf_counter()
    config, pop = neat_population("neat_cartpole.cfg", seed)
    config.no_fitness_termination = True  # solved only after validation, as for evoforge
    env = gym.make("CartPole-v1")
    counted = {"generations": 0, "individuals": 0}
    fresh = iter(range(seed * 10_000_000, (seed + 1) * 10_000_000))  # episode seeds, never reused

    def mean_return(net, episodes: int) -> float:
        return neat_python_return(env, net, episodes, fresh)

    def evaluate(genomes, config):
        counted["generations"] += 1
        counted["individuals"] += len(genomes)
        nets = {key: neat.nn.FeedForwardNetwork.create(g, config) for key, g in genomes}
        for key, g in genomes:
            g.fitness = mean_return(nets[key], CARTPOLE["train"])
        for key, g in sorted(genomes, key=lambda kg: -kg[1].fitness):
            if g.fitness < CARTPOLE["max"]:
                break
            if mean_return(nets[key], CARTPOLE["validate"]) >= CARTPOLE["max"]:
                counted["test_score"] = mean_return(nets[key], CARTPOLE["test"])
                raise _SolvedError

    try:
        pop.run(evaluate, 100)
        solved = False
    except _SolvedError:
        solved = True
    return dict(counted, solved=solved, seconds=time.perf_counter() - start)


#: the run store's methods a run calls, timed to report the store's share of evoforge's wall time
_STORE_CALLS = ("create", "lookup", "record_evaluations", "record_cached", "record_generation", "save_checkpoint",
                "flush", "flush_if_due", "write_json", "close")  # fmt: skip


def _time_store(spent: list[float]) -> None:
    """Wrap the run store's methods so that ``spent[0]`` accumulates the seconds spent in them."""
    import functools

    from evoforge.store.run_store import RunStore

    def timed(method):
        @functools.wraps(method)
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - t

        return wrapper

    if getattr(RunStore, "_timed_for_benchmark", False):
        return
    RunStore._timed_for_benchmark = True  # type: ignore[attr-defined]
    for name in _STORE_CALLS:
        method = RunStore.__dict__[name]
        if isinstance(method, classmethod):
            setattr(RunStore, name, classmethod(timed(method.__func__)))
        else:
            setattr(RunStore, name, timed(method))


def run_evoforge(example: str, seed: int) -> dict:
    import yaml

    import evoforge
    from evoforge.engine import loop  # noqa: F401  (every module a run imports, before the timer starts:
    from evoforge.engine.registry import get_problem, get_strategy  # neat-python's are imported before too)

    raw = yaml.safe_load((ROOT / "examples" / example).read_text())
    cfg = evoforge.RunConfig.model_validate(dict(raw, seed=seed))
    get_strategy(cfg.strategy.name), get_problem(cfg.problem.kind)
    spent = [0.0]
    _time_store(spent)
    start = time.perf_counter()
    result = evoforge.run(cfg, tempfile.mkdtemp() + "/r")
    return {
        "generations": result.generations,
        "individuals": result.generations * cfg.strategy.population_size,
        "evaluations": result.evaluations,
        "solved": result.stopped_early,
        "test_score": result.test_score,
        "seconds": time.perf_counter() - start,
        "store_seconds": spent[0],
    }


TASKS = {
    "xor": {
        "neat-python 2.0.0": run_neat_python,
        "evoforge": lambda seed: run_evoforge("neat-xor.yaml", seed),
    },
    "cartpole": {
        "neat-python 2.0.0": run_neat_python_cartpole,
        "evoforge": lambda seed: run_evoforge("neat-cartpole.yaml", seed),
    },
}
TITLES = {"xor": "XOR", "cartpole": "CartPole-v1"}


def child(task: str, lib: str, seed: str) -> dict:
    pin_from_env()
    return TASKS[task][lib](int(seed))


def run(settings: dict, save) -> dict:
    task, runs = settings["task"], int(settings["runs"])
    rows: dict[str, list[dict]] = (save.previous or {}).get("rows") or {lib: [] for lib in TASKS[task]}
    for seed in range(min(len(r) for r in rows.values()), runs):
        for lib in TASKS[task]:
            rows[lib].append(run_child("neat_vs_neatpython", [task, lib, str(seed)], core=seed % 2))
            print(lib, seed, rows[lib][-1], flush=True)
        save({"rows": rows})
    return {"rows": rows}


def table(results: dict, settings: dict) -> str:
    lines = [
        f"{TITLES[settings['task']]}: each run a fresh process pinned to one core, the two libraries interleaved; solved criterion "
        "and counting as in the suite's docstring. Medians over the solved runs.",
        "",
        "| library | solved | generations | individuals (generations x population) | evaluations "
        "(no re-evaluation) | wall time to solve (s) |",
        "|---|---|---|---|---|---|",
    ]
    med = {}
    for lib, rs in results["rows"].items():
        ok = [r for r in rs if r.get("solved")]
        med[lib] = {
            k: median([r.get(k, r["individuals"] if k == "evaluations" else None) for r in ok])
            for k in ("generations", "individuals", "evaluations", "seconds")
        }
        store = [r["store_seconds"] for r in ok if "store_seconds" in r]
        of_which = f" (run store {median(store):.2f})" if store else ""
        lines.append(
            f"| {lib} | {len(ok)} / {len(rs)} | {med[lib]['generations']:.0f} | "
            f"{med[lib]['individuals']:,.0f} | {med[lib]['evaluations']:,.0f} | {med[lib]['seconds']:.2f}{of_which} |"
        )
    ratio = med["neat-python 2.0.0"]["seconds"] / med["evoforge"]["seconds"]
    fewer = med["evoforge"]["individuals"] <= med["neat-python 2.0.0"]["individuals"]
    lines += [
        "",
        f"Wall time, neat-python / evoforge: {ratio:.2f}x (goal: >= 10x, with no more evaluations: "
        f"{'no more' if fewer else 'more'} individuals): "
        + ("met." if ratio >= 10 and fewer else "**missed**."),
    ]
    return "\n".join(lines)
