"""Architecture search against its goal: an example exactly as a user runs it (its own stop rule),
then ``evoforge train-final`` on its winner; the wall time of both commands, as processes (start-up
included), and the test metrics of the trained winner.

    python benchmarks/harness.py nas_goal --set task=nas-digits [--set seeds=3]
"""

from __future__ import annotations

import json
import statistics

from common import ROOT, example, timed_cli


def run(settings: dict, save) -> dict:
    import tempfile
    from pathlib import Path

    work = Path(tempfile.mkdtemp(prefix=f"bench-goal-{settings['task']}-"))
    rows = list((save.previous or {}).get("rows", []))
    for seed in range(len(rows), int(settings["seeds"])):
        run_dir, final = work / f"goal-{seed}", work / f"goal-{seed}-final"
        search = timed_cli(
            ["run", str(example(settings["task"])), "--seed", str(seed), "--out", str(run_dir)] + ["--quiet"]
        )
        train = timed_cli(["train-final", str(run_dir), "--out", str(final)])
        metrics = json.loads((final / "metrics.json").read_text())
        result = json.loads((run_dir / "result.json").read_text())
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
        save({"rows": rows})
    return {"rows": rows}


def table(results: dict, settings: dict) -> str:
    rows = results["rows"]
    goal_acc, goal_s = float(settings["goal_accuracy"]), float(settings["goal_seconds"])
    totals = [r["search_s"] + r["final_s"] for r in rows]
    accs = [r["test_accuracy"] for r in rows]
    met = all(a >= goal_acc for a in accs) and all(t <= goal_s for t in totals)
    lines = [
        f"`evoforge run {example(settings['task']).relative_to(ROOT)}` as it is, then "
        "`evoforge train-final RUN_DIR` on its winner (the recipe's epochs), each a fresh process; times "
        "are the two commands' wall times, start-up included.",
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
        f"Goal (test accuracy >= {goal_acc:.1%} within {goal_s:.0f} s, every seed): "
        + ("met." if met else "**missed**.")
        + f" Median test accuracy {statistics.median(accs):.4f}, median total {statistics.median(totals):.0f} s.",
    ]
    return "\n".join(lines)
