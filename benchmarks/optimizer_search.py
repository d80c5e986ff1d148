"""Optimizer discovery against hand-designed optimizers on held-out tasks (issue 6).

    .venv/bin/python benchmarks/optimizer_search.py --searches 3 [--work DIR] [--set problem.cap=1.2 ...]
        [--key optimizer-search-cap12 --label "searches capped at 1.2"]

Runs ``examples/optimizer-search.yaml`` with seeds 0..N-1 (each an ``evoforge run`` in a fresh
process; the search trains only the search tasks), then scores on the held-out tasks, which no
search saw: every search's best rule, Adam, AdamW, SGD with momentum and Lion, each with its
learning rate tuned per task on the same grid (half decades from 1e-5 to 1: the lowest mean final
validation loss over the test seeds). A score is the share of tuned Adam's log-loss progress
(``evoforge.problems.optimizer_search.normalised_score``; Adam is 1 by construction), averaged over
seeds, then over tasks, with the scoring's default cap (2) whatever cap the searches used, so studies
with different fitness settings are scored alike. Also listed: each evolved rule at its own learning
rate (relative to Adam's, as in the search: no tuning on the held-out tasks). With ``--work DIR`` the study can span sessions:
searches finished in DIR are reused and a killed one resumes from its checkpoint. ``--key`` names the
BENCHMARKS.md section, so studies with different settings each keep their own.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, publish  # noqa: E402

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


def _fresh_seeds(searches: list, problem: dict, workers: int, fresh: int = 3) -> list[str]:
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

    lines = [
        f"Each search's best rule on its search tasks, on the seeds the search trained ({groups['searched']}) "
        f"and on {fresh} fresh seeds ({groups['fresh']}), scored "
        f"as the search scored it (Adam tuned on the same seeds, the rule at its relative rate, cap {cap}):",
        "",
        "| search | seeds | " + " | ".join(tasks) + " | mean |",
        "|---" * (len(tasks) + 3) + "|",
    ]
    for x in searches:
        name = f"evolved-{x['seed']}"
        for label in groups:
            per_task = [score(name, t, label) for t in tasks]
            lines.append(
                f"| seed {x['seed']} | {label} | "
                + " | ".join(f"{v:.3f}" for v in per_task)
                + f" | **{statistics.mean(per_task):.3f}** |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--example", type=Path, default=ROOT / "examples" / "optimizer-search.yaml")
    parser.add_argument("--searches", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument(
        "--work", type=Path, help="work folder; searches already finished in it are not run again"
    )
    parser.add_argument("--key", default="optimizer-search", help="BENCHMARKS.md section to write")
    parser.add_argument("--label", default="", help="what sets this study apart, for its heading")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.example = args.example.resolve()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-optsearch-"))
    work.mkdir(parents=True, exist_ok=True)
    raw = yaml.safe_load(args.example.read_text())
    exe = [sys.executable, "-m", "evoforge.cli"]
    searches = []
    for seed in range(args.searches):
        out = work / f"search-{seed}"
        if (out / "meta.json").exists() and not (out / "result.json").exists():  # killed part way
            subprocess.run([*exe, "resume", str(out), "--quiet"], check=True)
        elif not (out / "meta.json").exists():  # not started, or killed before its first record
            shutil.rmtree(out, ignore_errors=True)
            sets = [f"--set=seed={seed}", *(f"--set={o}" for o in args.overrides)]
            subprocess.run([*exe, "run", str(args.example), "--out", str(out), "--quiet", *sets], check=True)
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
    with ProcessPoolExecutor(int(raw.get("workers", 2))) as pool:
        runs = list(pool.map(_train, jobs, chunksize=4))
    # each evolved rule at its own (relative) learning rate, as the search ran it
    from evoforge.problems.optimizer_search import ADAM_DEFAULT_LR, OptimizerSearchConfig, normalised_score

    tuned = _tuned(runs)
    own_jobs = []
    for s in searches:
        for task in heldout:
            adam_lr = tuned[("adam", task)][0]
            lr = s["rule"]["lr"] * adam_lr / ADAM_DEFAULT_LR
            own_jobs += [(f"evolved-{s['seed']}", s["rule"], task, lr, seed, budget) for seed in range(seeds)]
    with ProcessPoolExecutor(int(raw.get("workers", 2))) as pool:
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
        lrs = [tuned[(name, t)][0] for t in heldout]
        rows.append((f"{name} (tuned lr)", per_task, statistics.mean(per_task), lrs))
    for s in searches:
        name = f"evolved-{s['seed']}"
        per_task = [score(own_losses[(name, t)], t) for t in heldout]
        rows.append((f"{name} (its own lr)", per_task, statistics.mean(per_task), None))
    for row in rows:
        print(row[0], [round(v, 4) for v in row[1]], round(row[2], 4), flush=True)
    from evoforge.spaces.update_rule import UpdateRule

    overrides = "".join(f" --set {o}" for o in args.overrides)
    if args.key != "optimizer-search":
        overrides += f" --key {args.key}" + (f' --label "{args.label}"' if args.label else "")
    today = datetime.date.today().isoformat()
    evolved = [r[2] for r in rows if r[0].startswith("evolved") and "tuned" in r[0]]
    label = f": {args.label}" if args.label else ""
    lines = [
        f"## Optimizer discovery: evolved rules against hand-designed optimizers on held-out tasks{label} (issue 6)",
        "",
        f"Command: `.venv/bin/python benchmarks/optimizer_search.py --searches {args.searches}{overrides}` "
        f"({today}): `evoforge run {args.example.relative_to(ROOT)}` with seeds 0..{args.searches - 1}, then "
        f"every optimizer on the held-out tasks ({', '.join(heldout)}; budget {budget}, {seeds} seeds), "
        f"its learning rate tuned per task over {len(GRID)} half decades from 1e-5 to 1. Score: share of "
        "tuned Adam's log-loss progress (1 = Adam), mean over seeds, then over tasks.",
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
            f"| {name} | "
            + " | ".join(f"{v:.4f}" for v in per_task)
            + f" | **{mean:.4f}** | "
            + (", ".join(f"{lr:.0e}" for lr in lrs) if lrs else "-")
            + " |"
            for name, per_task, mean, lrs in rows
        ],
        "",
        f"Held-out scoring took {seconds / 60:.1f} minutes on {int(raw.get('workers', 2))} workers.",
        "",
        *_fresh_seeds(searches, problem, int(raw.get("workers", 2))),
        "",
        "The evolved rules:",
        "",
    ]
    for s in searches:
        lines += [f"- seed {s['seed']}:", "```", UpdateRule.from_json(s["rule"]).math(), "```"]
    met = all(v >= 1.026 for v in evolved)
    lines += [
        "",
        f"Goal (the best evolved rule of every search beats tuned Adam by at least 2.6%, i.e. a mean score of "
        f"1.026 or more on the held-out tasks): {'met' if met else 'missed'} "
        f"({', '.join(f'{v:.4f}' for v in evolved)}).",
    ]
    publish(args.key, lines, not args.no_write)


if __name__ == "__main__":
    main()
