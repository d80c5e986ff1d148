"""Architecture search strategies against Optuna's TPE at equal budget (issue 5).

    .bench-venv/bin/python benchmarks/nas_strategies.py --example examples/nas-fashion.yaml \
        --seeds 3 --evaluations 150 --set problem.proxy_epochs=2 [--strategies ...]

evoforge's strategies (regularized evolution, tournament GA, CMA-ES over the space's continuous
encoding, random search) run as ``evoforge run`` processes with the example's backend, through
``nas_search.compare``. TPE runs here: Optuna's ``TPESampler`` (constant liar, as its docs advise for
parallel trials) proposes one value per gene of the same space (a categorical per discrete gene, a
log-float for the learning rate), the point is decoded by the space exactly as CMA-ES's points are,
and the same classification problem scores it, two candidates at a time in a process pool of the
example's worker count. Duplicates are told their cached score and do not count as evaluations, as in
evoforge's runs. Optuna lives in the bench venv only (``make bench-setup``).

Reported: best validation fitness after k evaluations and after t seconds (mean over seeds), as a
table in BENCHMARKS.md and a plot in ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import datetime
import math
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, publish  # noqa: E402
from nas_search import _best_at, _mean, _override, compare  # noqa: E402

EVOFORGE = ("regularized_evolution", "tournament_ga", "cma_es", "random_search")
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
    workers = int(raw.get("workers", 2))
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
                        x[k] = (trial.suggest_categorical(name, list(range(len(choices)))) + 0.5) / len(
                            choices
                        )
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


def _plot(results: dict[str, list[list]], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for name, curves in results.items():
        n = min(len(c) for c in curves)
        evals = np.arange(1, n + 1)
        axes[0].plot(evals, np.mean([[b for _, _, b in c[:n]] for c in curves], axis=0), label=name)
        horizon = max(c[-1][1] for c in curves)
        grid = np.linspace(0, horizon, 200)
        at = [[_best_at(c, seconds=t) for t in grid] for c in curves]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--example", type=Path, default=ROOT / "examples" / "nas-fashion.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--evaluations", type=int, default=150)
    parser.add_argument("--strategies", default=",".join((*EVOFORGE, "tpe")))
    parser.add_argument(
        "--set", action="append", default=[], dest="overrides", help="KEY=VALUE on the example"
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.example = args.example.resolve()
    names = args.strategies.split(",")
    work = Path(tempfile.mkdtemp(prefix=f"bench-strategies-{args.example.stem}-"))
    raw = yaml.safe_load(args.example.read_text())
    for assignment in args.overrides:
        _override(raw, assignment)
    curves: dict[str, list[list]] = {name: [] for name in names}
    ours = tuple(n for n in names if n != "tpe")
    for seed in range(args.seeds):  # seed by seed, every strategy, so a cut-short run is still a comparison
        if ours:
            runs = compare(
                args.example,
                [seed],
                args.evaluations,
                work,
                strategies=ours,
                overrides=tuple(args.overrides),
                final=False,
            )
            for name, rs in runs.items():
                curves[name] += [r["curve"] for r in rs]
        if "tpe" in names:
            curve = tpe(dict(raw, seed=seed), seed, args.evaluations)
            curves["tpe"].append(curve)
            print("tpe", seed, f"{curve[-1][1]:.0f}s", curve[-1], flush=True)
        _report(args, curves, seed + 1)  # rewritten after every seed: a cut-short run still reports


def _report(args, curves: dict[str, list[list]], seeds_done: int) -> None:
    marks = [args.evaluations // 4, args.evaluations // 2, 3 * args.evaluations // 4, args.evaluations]
    slowest = max(c[-1][1] for cs in curves.values() for c in cs)
    tmarks = [slowest / 8, slowest / 4, slowest / 2, slowest]
    name = args.example.stem
    plot = ROOT / "docs" / "figures" / f"nas_strategies_{name}.png"  # committed with BENCHMARKS.md
    _plot(curves, plot, f"{name}: best validation fitness, mean of {seeds_done} seeds")
    settings = "".join(f" --set {a}" for a in args.overrides)
    today = datetime.date.today().isoformat()
    lines = [
        f"## Architecture search strategies and Optuna TPE at equal budget: {name} (issue 5)",
        "",
        f"Command: `.bench-venv/bin/python benchmarks/nas_strategies.py --example "
        f"{args.example.relative_to(ROOT)} --seeds {args.seeds} --evaluations {args.evaluations}"
        f" --strategies {args.strategies}{settings}` ({today}). Best validation fitness so far, mean over "
        f"seeds 0..{seeds_done - 1}; plot: `{plot.relative_to(ROOT)}`.",
        "",
        "| strategy | "
        + " | ".join(f"after {m} evals" for m in marks)
        + " | "
        + " | ".join(f"after {t:.0f} s" for t in tmarks)
        + " | final best per seed |",
        "|---" * (len(marks) + len(tmarks) + 2) + "|",
    ]
    for strategy, cs in curves.items():
        by_eval = [_mean([_best_at(c, evals=m) for c in cs]) for m in marks]
        by_time = [_mean([_best_at(c, seconds=t) for c in cs]) for t in tmarks]
        finals = ", ".join(f"{c[-1][2]:.4f}" for c in cs)
        lines.append(f"| {strategy} | " + " | ".join(by_eval + by_time) + f" | {finals} |")
    spread = {s: statistics.mean(c[-1][2] for c in cs) for s, cs in curves.items()}
    lines += [
        "",
        "Final best, mean over seeds: " + ", ".join(f"{s} {v:.4f}" for s, v in spread.items()) + ".",
    ]
    if {"regularized_evolution", "random_search", "tpe"} <= spread.keys():
        re_, rs, tpe_ = (spread[k] for k in ("regularized_evolution", "random_search", "tpe"))
        met = re_ > rs and re_ > tpe_
        lines += [
            "",
            f"Goal (regularized evolution ahead of random search and TPE after {args.evaluations} evaluations, "
            f"mean of {seeds_done} seeds): {'met' if met else 'missed'} ({re_:.4f} vs {rs:.4f} and {tpe_:.4f}).",
        ]
    publish(f"nas-strategies-{name}", lines, not args.no_write)


if __name__ == "__main__":
    main()
