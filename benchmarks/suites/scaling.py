"""Scaling across workers, and what the ray backend costs per evaluation.

1. Speedup: an evaluation-bound workload (Pendulum-v1, an MLP policy with two hidden layers of 64,
   population 64, 8 episodes of 200 steps per candidate, OpenAI-ES) run for a few generations
   on the process and ray backends with 1 and 2 workers; the time of the generations after the
   first (start-up excluded: worker spawn, Ray start, problem build) is compared. Each setting runs
   in a fresh interpreter, the settings interleaved, ``--repeats`` times; medians are reported.
2. Scheduling overhead: 2,000 single-candidate tasks of a trivial problem (sphere, 10-D) through
   ``Backend.submit``/``poll`` with 1 worker, one at a time (round trip per evaluation) and all at
   once (throughput of the driver); the evaluation itself costs microseconds, so the time per task
   is the backend's overhead.
3. Payload: bytes pickled per task and per result for the workload above (vector genomes) and
   for seed-chain genomes, i.e. what crosses the network per evaluation on a cluster.
4. A projection of cluster throughput from (1)-(3), stated with its assumptions.

    python benchmarks/harness.py scaling [--set repeats=3] [--set generations=4]
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time

from common import HARNESS, median, run_child, single_core_env

WORKLOAD = {
    "seed": 0,
    "strategy": {"name": "open_es", "population_size": 64, "sigma": 0.1, "learning_rate": 0.03},
    "problem": {
        "kind": "gym",
        "env_id": "Pendulum-v1",
        "episodes": 8,
        "policy": {"hidden": [64, 64]},
    },
    "test_episodes": 1,
}


def child_speedup(backend: str, workers: int, generations: int) -> dict:
    import tempfile

    import evoforge
    from evoforge.engine.registry import make_backend

    cfg = evoforge.RunConfig(**WORKLOAD, generations=generations)
    marks: list[float] = []

    def callback(event, data):
        if event == "generation":
            marks.append(time.perf_counter())

    start = time.perf_counter()
    with make_backend(backend, workers) as b:
        result = evoforge.run(cfg, tempfile.mkdtemp() + "/r", backend=b, callback=callback)
    steady = (marks[-1] - marks[0]) / (len(marks) - 1)
    return {
        "seconds_per_generation": steady,
        "first_generation": marks[0] - start,
        "evaluations": result.evaluations,
        "best": result.best_fitness,
    }


def child_work(seconds: float) -> dict:
    """Evaluate half a generation of the workload in a loop for about ``seconds``: throughput of
    one core, with no backend involved."""
    import numpy as np

    from evoforge.engine.evaluation import build_problem
    from evoforge.problems.gym import GymConfig

    problem = build_problem(GymConfig(**WORKLOAD["problem"]))
    rng = np.random.default_rng(0)
    params = np.stack([problem.initial_params(rng) for _ in range(33)])
    seeds = np.arange(33, dtype=np.uint64)
    problem.evaluate(params, seeds, {})
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        problem.evaluate(params, seeds, {})
        done += 33
    return {"evals_per_second": done / (time.perf_counter() - start)}


def ceiling(seconds: float = 8.0) -> float:
    """What two cores give this machine right now: throughput of two concurrent single-core
    copies of the evaluation over one copy alone (2.0 on two free cores)."""

    def start():
        return subprocess.Popen(
            [sys.executable, str(HARNESS), "scaling", "--child", "work", str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
            env=single_core_env(None),
        )

    alone = json.loads(start().communicate()[0].strip().splitlines()[-1])["evals_per_second"]
    pair = [start(), start()]
    both = sum(json.loads(p.communicate()[0].strip().splitlines()[-1])["evals_per_second"] for p in pair)
    return both / alone


def child_overhead(backend: str, tasks: int) -> dict:
    import numpy as np

    if backend == "ray-stored":  # every argument through the object store, as for a large dataset
        import evoforge.backends.ray

        evoforge.backends.ray.INLINE_BYTES = 0
        backend = "ray"

    from evoforge.engine.evaluation import evaluation_job
    from evoforge.engine.registry import make_backend
    from evoforge.problems.functions import FunctionConfig

    problem = FunctionConfig(name="sphere", dim=10)
    rng = np.random.default_rng(0)
    genomes = [rng.normal(size=10) for _ in range(tasks)]
    job = evaluation_job(problem, {}, genomes, list(range(tasks)))
    out = {}
    with make_backend(backend, 1) as b:
        for warm in range(20):  # start workers, build the problem
            b.submit(job, [warm])
            b.poll()
        t = time.perf_counter()
        for i in range(tasks):
            b.submit(job, [i])
            b.poll()
        out["round_trip_ms"] = (time.perf_counter() - t) / tasks * 1e3
        t = time.perf_counter()
        for i in range(tasks):
            b.submit(job, [i])
        while b.pending():
            b.poll()
        out["pipelined_ms"] = (time.perf_counter() - t) / tasks * 1e3
    return out


def payloads() -> dict:
    import numpy as np

    from evoforge.backends.base import _Task
    from evoforge.core.genome import SeedChain
    from evoforge.core.problem import EvalResult
    from evoforge.engine.evaluation import evaluation_job
    from evoforge.problems.gym import GymConfig, GymProblem

    problem = GymProblem(GymConfig(**WORKLOAD["problem"]))
    dim = problem.dim
    vector = np.zeros(dim)
    chain = SeedChain(tuple(range(10**12, 10**12 + 20)), 0.02)
    result = EvalResult(-1234.5, {"env_steps": 1600.0, "episodes": 8.0})
    sizes = {"dim": dim}
    for name, genome in (("vector", vector), ("seed_chain_20", chain)):
        job = evaluation_job(problem.config, {}, [genome], [123456789])
        args = _Task(None, job, [0]).payload()
        sizes[f"task_{name}"] = len(pickle.dumps(args, protocol=5))
    sizes["result"] = len(pickle.dumps(result, protocol=5))
    sizes["config_once"] = len(pickle.dumps(problem.config, protocol=5))
    return sizes


def child(kind: str, *args: str) -> dict:
    """``speedup BACKEND WORKERS GENERATIONS``, ``work SECONDS`` or ``overhead BACKEND TASKS``."""
    if kind == "speedup":
        return child_speedup(args[0], int(args[1]), int(args[2]))
    if kind == "work":
        return child_work(float(args[0]))
    return child_overhead(args[0], int(args[1]))


SETTINGS = [("process", 1), ("process", 2), ("ray", 1), ("ray", 2), ("serial", 1)]


def run(settings: dict, save) -> dict:
    repeats, generations, tasks = (int(settings[k]) for k in ("repeats", "generations", "tasks"))
    results = save.previous or {"ceilings": [], "runs": {f"{b}/{w}": [] for b, w in SETTINGS}}
    for rep in range(len(results["ceilings"]), repeats):
        ceilings = ceiling()
        print(rep, "ceiling", ceilings, flush=True)
        for backend, workers in SETTINGS:
            r = run_child("scaling", ["speedup", backend, str(workers), str(generations)], core=None)
            results["runs"][f"{backend}/{workers}"].append(r)
            print(rep, backend, workers, r, flush=True)
        results["ceilings"].append(ceilings)
        save(results)
    results["overhead"] = {
        b: run_child("scaling", ["overhead", b, str(tasks)], core=None)
        for b in ("serial", "process", "ray", "ray-stored")
    }
    print(results["overhead"], flush=True)
    results["sizes"] = payloads()
    return results


def table(results: dict, settings: dict) -> str:
    runs, overhead, sizes = results["runs"], results["overhead"], results["sizes"]
    ceilings = results["ceilings"]
    per_gen = {s: median([r.get("seconds_per_generation") for r in rs]) for s, rs in runs.items()}
    first = {s: median([r.get("first_generation") for r in rs]) for s, rs in runs.items()}
    evals = WORKLOAD["strategy"]["population_size"] + 1  # the ES also evaluates its centre
    t_eval = per_gen["serial/1"] / evals
    lines = [
        f"2 cores, shared machine; medians of {settings['repeats']} fresh interpreters per setting, settings "
        "interleaved.",
        "",
        f"Workload: Pendulum-v1, MLP 3-64-64-1 ({sizes['dim']} weights), OpenAI-ES population 64 (+ centre), "
        "8 episodes x 200 steps per candidate: 102,400 environment steps per generation, one chunk per "
        "worker. Steady-state time per generation excludes the first generation (start-up: worker spawn, "
        "Ray start, environment build), shown separately.",
        "",
        "| backend | workers | s / generation | speedup 2 vs 1 (ratio of medians) | speedup 2 vs 1 (median "
        "of the ratios of back-to-back runs) | first generation (start-up incl.) s |",
        "|---|---|---|---|---|---|",
    ]
    for backend, workers in SETTINGS:
        key = f"{backend}/{workers}"
        speed = paired = ""
        if workers == 2:
            one = f"{backend}/1"
            speed = f"{per_gen[one] / per_gen[key]:.2f}x"
            ratios = [
                a.get("seconds_per_generation", float("nan")) / b.get("seconds_per_generation", float("nan"))
                for a, b in zip(runs[one], runs[key], strict=True)
            ]
            paired = f"{median(ratios):.2f}x ({', '.join(f'{r:.2f}' for r in ratios)})"
        lines.append(
            f"| {backend} | {workers} | {per_gen[key]:.3f} | {speed} | {paired} | {first[key]:.2f} |"
        )
    lines += [
        "",
        "What two cores give on this machine at the time: two concurrent single-core copies of the "
        "same evaluation (no backend) reach "
        f"{median(ceilings):.2f}x the throughput of one copy alone (median; per repeat: "
        f"{', '.join(f'{c:.2f}' for c in ceilings)}). A backend cannot beat this ceiling; "
        "speedup / ceiling is its own efficiency: "
        + ", ".join(
            f"{b} {per_gen[f'{b}/1'] / per_gen[f'{b}/2'] / median(ceilings):.0%}" for b in ("process", "ray")
        )
        + ".",
        "",
        f"Per-evaluation cost of this workload on one core: {t_eval * 1e3:.1f} ms.",
        "",
        f"Scheduling overhead per single-candidate task ({settings['tasks']} tasks of a 10-D sphere, whose "
        "evaluation costs microseconds, 1 worker). `ray-stored` passes the config and context through "
        "the object store instead of inside the task (what the ray backend does for arguments over "
        "64 KiB and always for shared inputs):",
        "",
        "| backend | round trip, one task at a time (ms) | pipelined, all submitted at once (ms / task) |",
        "|---|---|---|",
    ]
    for b, o in overhead.items():
        lines.append(
            f"| {b} | {o.get('round_trip_ms', float('nan')):.3f} | {o.get('pipelined_ms', float('nan')):.3f} |"
        )
    ray_pipe = overhead["ray"].get("pipelined_ms", float("nan"))
    lines += [
        "",
        "What crosses the network per task (pickled task arguments: problem config, context, genomes, "
        "seeds, indices, time limit) and per result, for one candidate:",
        "",
        f"- vector genome ({sizes['dim']} float64): {sizes['task_vector']:,} bytes; as a seed chain of 20 "
        f"links: {sizes['task_seed_chain_20']:,} bytes; result (fitness and metrics): {sizes['result']:,} "
        f"bytes. A chunk of k candidates costs about k times the genome part; the config "
        f"({sizes['config_once']:,} bytes) and context ride once per task.",
        "",
        "Projection to a 100-node cluster (not measured: there is no cluster here). Assumptions: each "
        f"evaluation costs {t_eval * 1e3:.1f} ms as measured; workers never wait on each other; the "
        f"driver is the only serial part and dispatches one task per {ray_pipe:.2f} ms (the pipelined Ray "
        "overhead above, measured with the driver sharing 2 cores with Ray's own processes and the worker, "
        "so a pessimistic figure for a dedicated head node); network latency adds once per generation, "
        "not per task, since tasks are pipelined. One chunk per worker per generation, so a generation "
        "costs max(chunk x evaluation, tasks x dispatch):",
        "",
        "| cores per node | workers | population | evaluations/s | share of what the cores could do |",
        "|---|---|---|---|---|",
    ]
    for cores in (2, 16, 64):
        workers = 100 * cores
        compute = workers / t_eval
        for pop in (1_000, 10_000, 100_000):
            tasks = min(pop, workers)
            chunk = -(-pop // tasks)
            gen_time = max(chunk * t_eval, tasks * ray_pipe / 1e3)
            rate = pop / gen_time
            lines.append(
                f"| {cores} | {workers:,} | {pop:,} | {rate:,.0f} | {min(1.0, rate / compute):.0%} |"
            )
    lines += [
        "",
        "Read: with evaluations this cheap (tens of ms), one driver keeps up to a few hundred workers "
        "busy; beyond that the population must grow (bigger chunks) or evaluations must cost more "
        "(architecture search: seconds to minutes each, where the dispatch cost vanishes).",
    ]
    return "\n".join(lines)
