"""Architecture search (issue 4): the example run plus train-final against the issue's goal, and
regularized evolution, tournament GA and random search side by side at the same evaluation budget.

    .venv/bin/python benchmarks/nas_search.py --example examples/nas-digits.yaml --seeds 3 [--part goal|compare|both]

``goal``: the example exactly as a user runs it (its own stop rule), then ``evoforge train-final``
on its winner; wall time of both commands, as processes, and the test metrics.
``compare``: the example's settings with ``stop.evaluations`` set to ``--evaluations`` (no time stop),
once per strategy and seed; best validation fitness after k evaluations and after t seconds, and
the test accuracy of each winner after train-final. Every run is a fresh process using the
example's backend (2 workers on this machine).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, replace_section  # noqa: E402

EXE = [sys.executable, "-m", "evoforge.cli"]
STRATEGIES = ("regularized_evolution", "tournament_ga", "random_search")


def _timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([*EXE, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _curve(run_dir: Path) -> list[tuple[int, float, float]]:
    """(evaluations so far, seconds since the run started, best fitness so far) after each fresh
    evaluation, in the order the run store committed them."""
    started = json.loads((run_dir / "meta.json").read_text())["created"]
    db = sqlite3.connect(run_dir / "evoforge.sqlite")
    rows = db.execute(
        "SELECT fitness, created FROM individuals WHERE cached = 0 ORDER BY created, generation, idx"
    )
    best, out = float("-inf"), []
    for k, (fitness, created) in enumerate(rows.fetchall()):
        if fitness is not None:
            best = max(best, fitness)
        out.append((k + 1, created - started, best))
    db.close()
    return out


def _write_config(raw: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def goal(example: Path, seeds: int, work: Path) -> list[dict]:
    rows = []
    for seed in range(seeds):
        run, final = work / f"goal-{seed}", work / f"goal-{seed}-final"
        search = _timed(["run", str(example), "--seed", str(seed), "--out", str(run), "--quiet"])
        train = _timed(["train-final", str(run), "--out", str(final)])
        metrics = json.loads((final / "metrics.json").read_text())
        result = json.loads((run / "result.json").read_text())
        rows.append(
            {
                "seed": seed,
                "search_s": search,
                "final_s": train,
                "evaluations": result["evaluations"],
                "val": result["best_fitness"],
                "test_accuracy": metrics["accuracy"],
                "f1": metrics["f1"],
                "params": metrics["params"],
            }
        )
        print("goal", rows[-1], flush=True)
    return rows


def _override(raw: dict, assignment: str) -> None:
    """Apply one ``dotted.key=value`` (value read as YAML) to a config mapping."""
    key, _, value = assignment.partition("=")
    *path, last = key.split(".")
    node = raw
    for part in path:
        node = node.setdefault(part, {})
    node[last] = yaml.safe_load(value)


def compare(
    example: Path,
    seeds: int | list[int],
    evaluations: int,
    work: Path,
    *,
    strategies: tuple[str, ...] = STRATEGIES,
    overrides: tuple[str, ...] = (),
    final: bool = True,
    reuse: bool = False,
) -> dict[str, list[dict]]:
    """Run (or, with ``reuse``, read back from ``work``) every strategy and seed; train-final on each
    winner unless ``final`` is False."""
    base = yaml.safe_load(example.read_text())
    for assignment in overrides:
        _override(base, assignment)
    out: dict[str, list[dict]] = {s: [] for s in strategies}
    for seed in range(seeds) if isinstance(seeds, int) else seeds:
        for strategy in strategies:
            raw = dict(base, seed=seed, stop={"evaluations": evaluations})
            raw["strategy"] = {"name": strategy, "population_size": base["strategy"]["population_size"]}
            run, trained = work / f"{strategy}-{seed}", work / f"{strategy}-{seed}-final"
            if not reuse:
                cfg = _write_config(raw, work / f"{strategy}-{seed}.yaml")
                _timed(["run", str(cfg), "--out", str(run), "--quiet"])
                if final:
                    _timed(["train-final", str(run), "--out", str(trained)])
            search = json.loads((run / "result.json").read_text())["wall_seconds"]  # the run loop's time
            test = json.loads((trained / "metrics.json").read_text())["accuracy"] if final else None
            out[strategy].append(
                {"seed": seed, "search_s": search, "curve": _curve(run), "test_accuracy": test}
            )
            print(strategy, seed, f"{search:.0f}s", out[strategy][-1]["curve"][-1], test, flush=True)
    return out


def _best_at(
    curve: list[tuple[int, float, float]], *, evals: int | None = None, seconds: float | None = None
):
    seen = [b for k, t, b in curve if (evals is None or k <= evals) and (seconds is None or t <= seconds)]
    return seen[-1] if seen else float("nan")


def _mean(values: list[float]) -> str:
    """Mean over seeds; "-" while some run has no finished evaluation yet."""
    return "-" if any(v != v for v in values) else f"{statistics.mean(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--example", type=Path, default=ROOT / "examples" / "nas-digits.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--evaluations", type=int, default=240)
    parser.add_argument("--part", choices=("goal", "compare", "both"), default="both")
    parser.add_argument("--goal-accuracy", type=float, default=0.99)
    parser.add_argument("--goal-seconds", type=float, default=300)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--reuse", type=Path, help="compare: tabulate the runs already in this folder")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="compare: comma-separated names")
    parser.add_argument(
        "--set", action="append", default=[], dest="overrides", help="compare: KEY=VALUE on the example"
    )
    parser.add_argument("--no-final", action="store_true", help="compare: skip train-final of the winners")
    args = parser.parse_args()
    args.example = args.example.resolve()
    name = args.example.stem
    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    today = datetime.date.today().isoformat()
    if args.part in ("goal", "both"):
        rows = goal(args.example, args.seeds, work)
        totals = [r["search_s"] + r["final_s"] for r in rows]
        accs = [r["test_accuracy"] for r in rows]
        met = all(a >= args.goal_accuracy for a in accs) and all(t <= args.goal_seconds for t in totals)
        lines = [
            f"## Architecture search: `{args.example.relative_to(ROOT)}` plus train-final (issue 4)",
            "",
            f"Command: `.venv/bin/python benchmarks/nas_search.py --example {args.example.relative_to(ROOT)} "
            f"--seeds {args.seeds} --part goal --goal-accuracy {args.goal_accuracy} --goal-seconds "
            f"{args.goal_seconds:g}` ({today}); `evoforge run` of the example as it is, then "
            "`evoforge train-final RUN_DIR` on its best_arch.json (the recipe's epochs), each a fresh process; "
            "times are the two commands' wall times, start-up included.",
            "",
            "| seed | search (s) | train-final (s) | total (s) | evaluations | best validation | test accuracy | "
            "test macro F1 | parameters |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['seed']} | {r['search_s']:.0f} | {r['final_s']:.0f} | {r['search_s'] + r['final_s']:.0f} | "
            f"{r['evaluations']} | {r['val']:.4f} | {r['test_accuracy']:.4f} | {r['f1']:.4f} | {r['params']:,} |"
            for r in rows
        ]
        lines += [
            "",
            f"Goal (test accuracy >= {args.goal_accuracy:.1%} within {args.goal_seconds:.0f} s, every seed): "
            + ("met." if met else "**missed**.")
            + f" Median test accuracy {statistics.median(accs):.4f}, median total {statistics.median(totals):.0f} s.",
        ]
        text = "\n".join(lines)
        print(text)
        if not args.no_write:
            replace_section(f"nas-goal-{name}", text)
    if args.part in ("compare", "both"):
        res = compare(
            args.example,
            args.seeds,
            args.evaluations,
            args.reuse or work,
            strategies=tuple(args.strategies.split(",")),
            overrides=tuple(args.overrides),
            final=not args.no_final,
            reuse=args.reuse is not None,
        )
        settings = "".join(f" --set {a}" for a in args.overrides) + (" --no-final" if args.no_final else "")
        if args.strategies != ",".join(STRATEGIES):
            settings += f" --strategies {args.strategies}"
        marks = [args.evaluations // 4, args.evaluations // 2, 3 * args.evaluations // 4, args.evaluations]
        # up to the longest run; a run that ended earlier keeps its final best
        slowest = max(r["curve"][-1][1] for rs in res.values() for r in rs)
        tmarks = [slowest / 8, slowest / 4, slowest / 2, slowest]
        lines = [
            f"## Architecture search strategies at equal budget: {name} (issue 4)",
            "",
            f"Command: `.venv/bin/python benchmarks/nas_search.py --example {args.example.relative_to(ROOT)} "
            f"--seeds {args.seeds} --evaluations {args.evaluations} --part compare{settings}` ({today}); the "
            f"example's settings with `stop: {{evaluations: {args.evaluations}}}` instead of its time stop, seeds "
            f"0..{args.seeds - 1}. Best validation fitness so far, mean over seeds"
            + ("." if args.no_final else "; then train-final's test accuracy of each run's winner."),
            "",
            "| strategy | "
            + " | ".join(f"after {m} evals" for m in marks)
            + " | "
            + " | ".join(f"after {t:.0f} s" for t in tmarks)
            + " | search time (s, run loop) | test accuracy (per seed) |",
            "|---" * (len(marks) + len(tmarks) + 3) + "|",
        ]
        for strategy, rs in res.items():
            by_eval = [_mean([_best_at(r["curve"], evals=m) for r in rs]) for m in marks]
            by_time = [_mean([_best_at(r["curve"], seconds=t) for r in rs]) for t in tmarks]
            lines.append(
                f"| {strategy} | "
                + " | ".join(by_eval + by_time)
                + f" | {statistics.mean(r['search_s'] for r in rs):.0f} | "
                + ", ".join("-" if r["test_accuracy"] is None else f"{r['test_accuracy']:.4f}" for r in rs)
                + " |"
            )
        text = "\n".join(lines)
        print(text)
        if not args.no_write:
            replace_section(f"nas-compare-{name}", text)


if __name__ == "__main__":
    main()
