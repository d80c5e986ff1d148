"""Architecture-search strategies at equal budget, Optuna's TPE among them.

    python benchmarks/harness.py nas_strategies --set task=nas-digits [--set final=true]
    .bench-venv/bin/python benchmarks/harness.py nas_strategies --set task=nas-fashion \
        --set evaluations=100 --set 'overrides=[problem.proxy_epochs=1, problem.proxy_fraction=0.05]'

Every evoforge strategy runs the example's settings with ``stop.evaluations`` instead of its own
stop rule, as an ``evoforge run`` process with the example's backend, seeds 0..seeds-1; with
``final`` each winner is trained by ``evoforge train-final`` and its test accuracy reported. TPE
runs here: Optuna's ``TPESampler`` (constant liar, as its docs advise for parallel trials) proposes
one value per gene of the same space (a categorical per discrete gene, a log-float for the learning
rate), the point is decoded by the space exactly as CMA-ES's points are, and the same
classification problem scores it, two candidates at a time in a process pool of the example's worker
count. Duplicates are told their cached score and do not count as evaluations, as in evoforge's runs.
Optuna lives in the bench venv only (``make bench-setup``).

Reported: best validation fitness after k evaluations and after t seconds (mean over seeds), and a
plot beside the results file.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from common import best_at, best_so_far, example, mean_cell, timed_cli

from evoforge.engine.config import apply_overrides

_PROBLEM = None


def _init_worker(problem_raw: dict) -> None:
    global _PROBLEM
    from evoforge.problems.classification import ClassificationConfig, ClassificationProblem

    _PROBLEM = ClassificationProblem(ClassificationConfig(**problem_raw))


def _evaluate(genome_json: dict, seed: int) -> float:
    from evoforge.spaces import architecture_from_json

    genome = architecture_from_json(genome_json)
    result = _PROBLEM.evaluate([genome], np.array([seed]), _PROBLEM.initial_context())[0]
    return result.fitness


def tpe(raw: dict, seed: int, evaluations: int) -> list[tuple[int, float, float]]:
    """One TPE search; the curve (fresh evaluations, seconds, best so far)."""
    import optuna

    from evoforge.core.genome import genome_id
    from evoforge.core.rng import derive_seed
    from evoforge.problems.classification import ClassificationConfig, ClassificationProblem

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = ClassificationProblem(ClassificationConfig(**raw["problem"]))
    space = problem.search_space
    genes = space._genes()
    lo, hi = space.config.lr_range
    sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    workers = int(raw.get("workers") or 2)
    seen: dict[str, float] = {}
    curve, best, fresh = [], -math.inf, 0
    start = time.perf_counter()
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(raw["problem"],)) as pool:
        while fresh < evaluations:
            trials, genomes = [], []
            for _ in range(min(workers, evaluations - fresh)):
                trial = study.ask()
                x = np.empty(len(genes))
                for k, (name, choices) in enumerate(genes):
                    if not choices:
                        lr = trial.suggest_float(name, lo, hi, log=True)
                        x[k] = (math.log(lr) - math.log(lo)) / (math.log(hi) - math.log(lo))
                    else:
                        pick = trial.suggest_categorical(name, list(range(len(choices))))
                        x[k] = (pick + 0.5) / len(choices)
                trials.append(trial)
                genomes.append(space.decode(x))
            ids = [genome_id(g) for g in genomes]
            todo = {gid: g for gid, g in zip(ids, genomes, strict=True) if gid not in seen}
            futures = {
                gid: pool.submit(_evaluate, g.to_json(), derive_seed(raw["seed"], "eval", int(gid, 16)))
                for gid, g in todo.items()
            }
            for gid, future in futures.items():
                value = future.result()
                seen[gid] = value if math.isfinite(value) else -1.0
                fresh += 1
                best = max(best, seen[gid])
                curve.append((fresh, time.perf_counter() - start, best))
            for trial, gid in zip(trials, ids, strict=True):
                study.tell(trial, seen[gid])
    return curve


def _evoforge(raw: dict, strategy: str, seed: int, evaluations: int, work: Path, final: bool) -> dict:
    """One ``evoforge run`` of the example with ``strategy``; its curve, run-loop time and the
    winner's test accuracy after train-final (with ``final``)."""
    raw = dict(raw, seed=seed, stop={"evaluations": evaluations})
    raw["strategy"] = {"name": strategy, "population_size": raw["strategy"]["population_size"]}
    run_dir, trained = work / f"{strategy}-{seed}", work / f"{strategy}-{seed}-final"
    config = work / f"{strategy}-{seed}.yaml"
    config.write_text(yaml.safe_dump(raw))
    timed_cli(["run", str(config), "--out", str(run_dir), "--quiet"])
    test = None
    if final:
        timed_cli(["train-final", str(run_dir), "--out", str(trained)])
        test = json.loads((trained / "metrics.json").read_text())["accuracy"]
    search = json.loads((run_dir / "result.json").read_text())["wall_seconds"]  # the run loop's time
    return {"curve": best_so_far(run_dir), "search_s": search, "test_accuracy": test}


def run(settings: dict, save) -> dict:
    raw = apply_overrides(yaml.safe_load(example(settings["task"]).read_text()), list(settings["overrides"]))
    evaluations, final = int(settings["evaluations"]), bool(settings["final"])
    work = Path(tempfile.mkdtemp(prefix=f"bench-strategies-{settings['task']}-"))
    runs: dict[str, list[dict]] = (save.previous or {}).get("runs") or {s: [] for s in settings["strategies"]}
    # seed by seed, every strategy: a run cut short is still a comparison
    for seed in range(min(len(rs) for rs in runs.values()), int(settings["seeds"])):
        for strategy in settings["strategies"]:
            if strategy == "tpe":
                started = time.perf_counter()
                curve = tpe(dict(raw, seed=seed), seed, evaluations)
                row = {"curve": curve, "search_s": time.perf_counter() - started, "test_accuracy": None}
            else:
                row = _evoforge(raw, strategy, seed, evaluations, work, final)
            runs[strategy].append(dict(row, seed=seed))
            print(
                strategy, seed, f"{row['search_s']:.0f}s", row["curve"][-1], row["test_accuracy"], flush=True
            )
        save({"runs": runs})
        _plot(
            runs,
            save.out.with_suffix(".png"),
            f"{settings['task']}: best validation fitness, mean of {seed + 1} seeds",
        )
    return {"runs": runs}


def _plot(runs: dict[str, list[dict]], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, rows in runs.items():
        curves = [r["curve"] for r in rows]
        n = min(len(c) for c in curves)
        evals = np.arange(1, n + 1)
        axes[0].plot(evals, np.mean([[b for _, _, b in c[:n]] for c in curves], axis=0), label=name)
        grid = np.linspace(0, max(c[-1][1] for c in curves), 200)
        at = [[best_at(c, seconds=t) for t in grid] for c in curves]
        axes[1].plot(grid, np.nanmean(np.where(np.isinf(at), np.nan, at), axis=0), label=name)
    axes[0].set_xlabel("evaluations")
    axes[1].set_xlabel("wall time (s)")
    axes[0].set_ylabel("best validation fitness (mean over seeds)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def table(results: dict, settings: dict) -> str:
    runs = results["runs"]
    n = int(settings["evaluations"])
    marks = [n // 4, n // 2, 3 * n // 4, n]
    # up to the longest run; a run that ended earlier keeps its final best
    slowest = max(r["curve"][-1][1] for rows in runs.values() for r in rows)
    tmarks = [slowest / 8, slowest / 4, slowest / 2, slowest]
    final = bool(settings["final"])
    lines = [
        f"The settings of `examples/{settings['task']}.yaml`"
        + "".join(f", `{o}`" for o in settings["overrides"])
        + f", with `stop: {{evaluations: {n}}}`; best validation fitness so far, mean over seeds"
        + ("; then train-final's test accuracy of each run's winner." if final else "."),
        "",
        "| strategy | "
        + " | ".join(f"after {m} evals" for m in marks)
        + " | "
        + " | ".join(f"after {t:.0f} s" for t in tmarks)
        + " | search time (s) | final best per seed |"
        + (" test accuracy per seed |" if final else ""),
        "|---" * (len(marks) + len(tmarks) + 3 + final) + "|",
    ]
    for strategy, rows in runs.items():
        by_eval = [mean_cell([best_at(r["curve"], evals=m) for r in rows]) for m in marks]
        by_time = [mean_cell([best_at(r["curve"], seconds=t) for r in rows]) for t in tmarks]
        finals = ", ".join(f"{r['curve'][-1][2]:.4f}" for r in rows)
        tests = ", ".join("-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}" for r in rows)
        lines.append(
            f"| {strategy} | "
            + " | ".join(by_eval + by_time)
            + f" | {statistics.mean(r['search_s'] for r in rows):.0f} | {finals} |"
            + (f" {tests} |" if final else "")
        )
    means = {s: statistics.mean(r["curve"][-1][2] for r in rows) for s, rows in runs.items()}
    lines += ["", "Final best, mean over seeds: " + ", ".join(f"{s} {v:.4f}" for s, v in means.items()) + "."]
    if {"regularized_evolution", "random_search", "tpe"} <= means.keys():
        re_, rs, tpe_ = (means[k] for k in ("regularized_evolution", "random_search", "tpe"))
        met = re_ > rs and re_ > tpe_
        lines += [
            "",
            f"Goal (regularized evolution ahead of random search and TPE after {n} evaluations): "
            f"{'met' if met else '**missed**'} ({re_:.4f} vs {rs:.4f} and {tpe_:.4f}).",
        ]
    return "\n".join(lines)
