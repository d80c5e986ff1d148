"""Optimizer discovery against hand-designed optimizers on held-out tasks (issue 6).

    python benchmarks/harness.py optimizer_search [--set work=DIR] \
        [--set name=cap12 --set label="searches capped at 1.2" --set 'overrides=[problem.cap=1.2]']

Runs ``examples/optimizer-search.yaml`` with seeds 0..N-1 (each an ``evoforge run`` in a fresh
process; the search trains only the search tasks), then scores on the held-out tasks, which no
search saw: every search's best rule, Adam, AdamW, SGD with momentum and Lion, each with its
learning rate tuned per task on the same grid (half decades from 1e-5 to 1: the lowest mean final
validation loss over the test seeds). A score is the share of tuned Adam's log-loss progress
(``evoforge.problems.optimizer_search.normalised_score``; Adam is 1 by construction), averaged over
seeds, then over tasks, with the scoring's default cap (2) whatever cap the searches used, so studies
with different fitness settings are scored alike. Also listed: each evolved rule at its own learning
rate (relative to Adam's, as in the search: no tuning on the held-out tasks). With a ``work`` folder the study can span sessions:
searches finished in it are reused and a killed one resumes from its checkpoint. ``name`` names the
results file, so studies with different settings each keep their own.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from common import EVOFORGE, example

GRID = tuple(float(10**e) for e in np.arange(-5.0, 0.01, 0.5))
BASELINES = ("adam", "adamw", "sgd_momentum", "lion")


def _train(args: tuple) -> tuple:
    """One training run in a worker: (optimizer name, rule JSON or None, task, lr, seed) -> losses."""
    import torch

    from evoforge.optim import EvolvedOptimizer, known_rule
    from evoforge.problems.optimizer_tasks import run_task
    from evoforge.spaces.update_rule import UpdateRule

    torch.set_num_threads(1)
    name, rule_json, task, lr, seed, budget = args
    rule = UpdateRule.from_json(rule_json) if rule_json else None

    def make(params, steps):
        if name == "adam":
            return torch.optim.Adam(params, lr=lr)
        if name == "adamw":
            return torch.optim.AdamW(params, lr=lr)
        if name == "sgd_momentum":
            return torch.optim.SGD(params, lr=lr, momentum=0.9)
        if name == "lion":
            return EvolvedOptimizer(params, known_rule("lion"), lr=lr)  # = Lion's pseudo-code (tests)
        return EvolvedOptimizer(params, rule, lr=lr, total_steps=steps)

    run = run_task(task, make, seed, budget=budget)
    return name, task, lr, seed, run.initial, (run.final if run.diverged is None else math.inf)


def _tuned(runs: list) -> dict:
    """{(name, task): (lr, {seed: (initial, final)})} at each name's best rate per task: the lowest
    mean final loss over the seeds (a diverged run counts as infinite)."""
    losses: dict[tuple, dict] = {}
    for name, task, lr, seed, initial, final in runs:
        losses.setdefault((name, task), {}).setdefault(lr, {})[seed] = (initial, final)
    return {
        key: min(by_lr.items(), key=lambda item: statistics.mean(f for _, f in item[1].values()))
        for key, by_lr in losses.items()
    }


def _fresh_seeds(searches: list, problem: dict, workers: int, fresh: int = 3) -> dict:
    """Each search's best rule on its own search tasks, on the seeds the search trained and on
    ``fresh`` seeds it never saw, scored as the search scored it (Adam tuned on the same seeds over
    the search's grid, the rule at its relative rate, the search's cap): how much of the best fitness
    is the luck of being the best of thousands of noisy evaluations."""
    from evoforge.problems.optimizer_search import ADAM_DEFAULT_LR, normalised_score

    tasks, budget, cap, grid = (problem[k] for k in ("search_tasks", "budget", "cap", "lr_grid"))
    groups = {"searched": list(range(problem["seeds"]))}
    groups["fresh"] = list(range(len(groups["searched"]), len(groups["searched"]) + fresh))
    adam, runs = {}, {}
    with ProcessPoolExecutor(workers) as pool:
        for group, seeds in groups.items():
            jobs = [("adam", None, t, lr, s, budget) for t in tasks for lr in grid for s in seeds]
            for (_, task), tuned in _tuned(list(pool.map(_train, jobs, chunksize=4))).items():
                adam[(group, task)] = tuned
            jobs = [
                (
                    f"evolved-{x['seed']}",
                    x["rule"],
                    t,
                    x["rule"]["lr"] * adam[(group, t)][0] / ADAM_DEFAULT_LR,
                    s,
                    budget,
                )
                for x in searches
                for t in tasks
                for s in seeds
            ]
            runs.update({(r[0], r[1], r[3]): r for r in pool.map(_train, jobs)})

    def score(name: str, task: str, group: str) -> float:
        ref, seeds = adam[(group, task)][1], groups[group]
        return statistics.mean(
            normalised_score(ref[s][0], runs[(name, task, s)][5], ref[s][1], cap) for s in seeds
        )

    return {
        "seeds": groups,
        "cap": cap,
        "tasks": tasks,
        "scores": {
            str(x["seed"]): {
                label: [score(f"evolved-{x['seed']}", t, label) for t in tasks] for label in groups
            }
            for x in searches
        },
    }


def run(settings: dict, save) -> dict:
    path = example(settings["task"])
    work = (
        Path(settings["work"]) if settings.get("work") else Path(tempfile.mkdtemp(prefix="bench-optsearch-"))
    )
    work.mkdir(parents=True, exist_ok=True)
    workers = int(yaml.safe_load(path.read_text()).get("workers") or 2)
    searches = []
    for seed in range(int(settings["searches"])):
        out = work / f"search-{seed}"
        if (out / "meta.json").exists() and not (out / "result.json").exists():  # killed part way
            subprocess.run([*EVOFORGE, "resume", str(out), "--quiet"], check=True)
        elif not (out / "meta.json").exists():  # not started, or killed before its first record
            shutil.rmtree(out, ignore_errors=True)
            sets = [f"--set=seed={seed}", *(f"--set={o}" for o in settings["overrides"])]
            subprocess.run([*EVOFORGE, "run", str(path), "--out", str(out), "--quiet", *sets], check=True)
        result = json.loads((out / "result.json").read_text())
        rule = json.loads((out / "best_optimizer.json").read_text())
        cfg = yaml.safe_load((out / "config.yaml").read_text())
        searches.append({"seed": seed, "result": result, "rule": rule, "config": cfg})
        print(
            "search",
            seed,
            result["best_fitness"],
            result["test_score"],
            f"{result['wall_seconds']:.0f}s",
            flush=True,
        )
    problem = searches[0]["config"]["problem"]
    heldout, budget, seeds = problem["heldout_tasks"], problem["budget"], problem["test_seeds"]
    entrants = {name: None for name in BASELINES}
    entrants.update({f"evolved-{s['seed']}": s["rule"] for s in searches})
    jobs = [
        (name, rule, task, lr, seed, budget)
        for name, rule in entrants.items()
        for task in heldout
        for lr in GRID
        for seed in range(seeds)
    ]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        runs = list(pool.map(_train, jobs, chunksize=4))
    # each evolved rule at its own (relative) learning rate, as the search ran it
    from evoforge.problems.optimizer_search import ADAM_DEFAULT_LR, OptimizerSearchConfig, normalised_score

    tuned = _tuned(runs)
    own_jobs = []
    for s in searches:
        for task in heldout:
            lr = s["rule"]["lr"] * tuned[("adam", task)][0] / ADAM_DEFAULT_LR
            own_jobs += [(f"evolved-{s['seed']}", s["rule"], task, lr, seed, budget) for seed in range(seeds)]
    with ProcessPoolExecutor(workers) as pool:
        own = list(pool.map(_train, own_jobs))
    own_losses: dict[tuple, dict] = {}
    for name, task, _lr, seed, initial, final in own:
        own_losses.setdefault((name, task), {})[seed] = (initial, final)
    seconds = time.perf_counter() - started
    cap = OptimizerSearchConfig.model_fields["cap"].default

    def score(runs_by_seed: dict, task: str) -> float:
        adam = tuned[("adam", task)][1]
        return statistics.mean(
            normalised_score(adam[s][0], runs_by_seed[s][1], adam[s][1], cap) for s in range(seeds)
        )

    rows = []
    for name in entrants:
        per_task = [score(tuned[(name, t)][1], t) for t in heldout]
        rows.append(
            {"name": f"{name} (tuned lr)", "scores": per_task, "lrs": [tuned[(name, t)][0] for t in heldout]}
        )
    for s in searches:
        name = f"evolved-{s['seed']}"
        rows.append(
            {"name": f"{name} (its own lr)", "scores": [score(own_losses[(name, t)], t) for t in heldout]}
        )
    for row in rows:
        print(row["name"], [round(v, 4) for v in row["scores"]], flush=True)
    return {
        "searches": [{k: s[k] for k in ("seed", "result", "rule")} for s in searches],
        "heldout": {
            "tasks": heldout,
            "budget": budget,
            "seeds": seeds,
            "minutes": seconds / 60,
            "workers": workers,
        },
        "rows": rows,
        "fresh": _fresh_seeds(searches, problem, workers),
    }


def table(results: dict, settings: dict) -> str:
    from evoforge.spaces.update_rule import UpdateRule

    searches, held, rows = results["searches"], results["heldout"], results["rows"]
    heldout = held["tasks"]
    label = f": {settings['label']}" if settings.get("label") else ""
    lines = [
        f"Evolved rules against hand-designed optimizers on held-out tasks{label}: "
        f"`evoforge run examples/{settings['task']}.yaml`"
        + "".join(f" `--set {o}`" for o in settings["overrides"])
        + f" with seeds 0..{len(searches) - 1}, then every optimizer on the held-out tasks "
        f"({', '.join(heldout)}; budget {held['budget']}, {held['seeds']} seeds), its learning rate tuned per "
        f"task over {len(GRID)} half decades from 1e-5 to 1. Score: share of tuned Adam's log-loss progress "
        "(1 = Adam), mean over seeds, then over tasks.",
        "",
        "| search | best fitness (search tasks) | test score (held out, own lr) | evaluations | failed | search wall time |",
        "|---|---|---|---|---|---|",
        *[
            f"| seed {s['seed']} | {s['result']['best_fitness']:.4f} | {s['result']['test_score']:.4f} | "
            f"{s['result']['evaluations']} | {s['result']['failed']} | {s['result']['wall_seconds'] / 60:.1f} min |"
            for s in searches
        ],
        "",
        "| optimizer | " + " | ".join(heldout) + " | mean | tuned lr per task |",
        "|---" * (len(heldout) + 3) + "|",
        *[
            f"| {r['name']} | "
            + " | ".join(f"{v:.4f}" for v in r["scores"])
            + f" | **{statistics.mean(r['scores']):.4f}** | "
            + (", ".join(f"{lr:.0e}" for lr in r["lrs"]) if r.get("lrs") else "-")
            + " |"
            for r in rows
        ],
        "",
        f"Held-out scoring took {held['minutes']:.1f} minutes on {held['workers']} workers.",
        "",
    ]
    fresh = results["fresh"]
    tasks = fresh["tasks"]
    lines += [
        f"Each search's best rule on its search tasks, on the seeds the search trained ({fresh['seeds']['searched']}) "
        f"and on fresh seeds ({fresh['seeds']['fresh']}), scored as the search scored it (Adam tuned on the same "
        f"seeds, the rule at its relative rate, cap {fresh['cap']}):",
        "",
        "| search | seeds | " + " | ".join(tasks) + " | mean |",
        "|---" * (len(tasks) + 3) + "|",
    ]
    for seed, groups in fresh["scores"].items():
        for group, per_task in groups.items():
            lines.append(
                f"| seed {seed} | {group} | "
                + " | ".join(f"{v:.3f}" for v in per_task)
                + f" | **{statistics.mean(per_task):.3f}** |"
            )
    lines += ["", "The evolved rules:", ""]
    for s in searches:
        lines += [f"- seed {s['seed']}:", "```", UpdateRule.from_json(s["rule"]).math(), "```"]
    evolved = [
        statistics.mean(r["scores"]) for r in rows if r["name"].startswith("evolved") and "tuned" in r["name"]
    ]
    met = all(v >= 1.026 for v in evolved)
    lines += [
        "",
        "Goal (the best evolved rule of every search beats tuned Adam by at least 2.6%, i.e. a mean score of "
        f"1.026 or more on the held-out tasks): {'met' if met else '**missed**'} "
        f"({', '.join(f'{v:.4f}' for v in evolved)}).",
    ]
    return "\n".join(lines)
