"""The accuracy-against-size Pareto front on Fashion-MNIST (issue 5), and the smallest model above a
test accuracy.

    python benchmarks/harness.py nas_pareto [--set target=0.92] [--set reuse=RUN_DIR]

Runs the example (NSGA-II, validation accuracy against parameters) and writes its report with
``--above TARGET``. A proxy's validation accuracy (a few epochs on a fifth of the data) says little
about the test accuracy after full training, so the smallest front member above the target is found
by training: a search over the front sorted by size, assuming that larger front members train to
higher accuracy. The first round trains the largest member and the one at two thirds, each later
round the members at one and two thirds of the remaining interval, side by side (train-final, one
thread each); a round keeps the part of the front that can still hold the smallest member above
the target; the search stops when the interval is empty or the next round would overrun the budget
(its time estimated from the proxy's training time, scaled by images and epochs).
The table lists every front member and the test accuracy of those trained; the front's plot is
copied beside the results file.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from common import EVOFORGE, example, timed_cli


def run(settings: dict, save) -> dict:
    target, final_epochs = float(settings["target"]), int(settings["final_epochs"])
    work = Path(tempfile.mkdtemp(prefix="bench-pareto-"))
    run = Path(settings["reuse"]) if settings.get("reuse") else work / "run"
    if not settings.get("reuse"):
        timed_cli(["run", str(example(settings["task"])), "--out", str(run), "--quiet"])
    search = json.loads((run / "result.json").read_text())
    report = subprocess.run(
        [*EVOFORGE, "report", str(run), "--above", str(target)], capture_output=True, text=True, check=True
    )
    print(report.stdout, flush=True)
    hof = json.loads((run / "hall_of_fame.json").read_text())
    dataset = yaml.safe_load((run / "config.yaml").read_text())["problem"]["dataset"]["name"]
    front = sorted(hof["pareto_front"], key=lambda e: e["params"])
    trained: dict[str, dict] = {}
    deadline = time.perf_counter() + 60 * float(settings["budget_minutes"])

    def train(entry: dict) -> dict:
        arch = work / f"{entry['genome_id']}.json"
        arch.write_text(json.dumps(entry["genome"]))
        out = work / f"final-{entry['genome_id']}"
        seconds = timed_cli(
            ["train-final", "--arch", str(arch), "--dataset", dataset, "--epochs", str(final_epochs)]
            + ["--threads", "1", "--out", str(out)]
        )
        metrics = json.loads((out / "metrics.json").read_text())
        print(entry["genome_id"], entry["params"], metrics["accuracy"], f"{seconds:.0f} s", flush=True)
        return {"test": metrics["accuracy"], "seconds": seconds}

    # a train-final takes about the proxy's training time scaled by images x epochs (both one thread,
    # two side by side), so rounds that would overrun the budget are not started
    problem = yaml.safe_load((run / "config.yaml").read_text())["problem"]
    scale = final_epochs / (
        problem["proxy_epochs"] * problem["proxy_fraction"] * (1 - problem["validation_fraction"])
    )
    db = sqlite3.connect(run / "evoforge.sqlite")
    proxy_s = dict(
        db.execute(
            "SELECT genome_id, json_extract(metrics, '$.train_seconds') FROM individuals WHERE cached = 0"
        )
    )
    db.close()
    estimate = {e["genome_id"]: scale * float(proxy_s.get(e["genome_id"]) or 0.0) for e in front}
    lo, hi = 0, len(front)  # the smallest member above the target is in front[lo:hi] (or none is)
    with ThreadPoolExecutor(2) as pool:
        while lo < hi:
            if not trained:  # first the largest member: if it misses, no smaller one is tried
                picks = sorted({lo + 2 * (hi - lo) // 3, hi - 1})
            else:
                picks = sorted({lo + (hi - lo) // 3, lo + 2 * (hi - lo) // 3})
            expected = max(estimate[front[k]["genome_id"]] for k in picks)
            if time.perf_counter() + expected > deadline:
                print(f"next round ({expected:.0f} s expected) would overrun the budget", flush=True)
                break
            started = time.perf_counter()
            for k, result in zip(picks, pool.map(lambda k: train(front[k]), picks), strict=True):
                trained[front[k]["genome_id"]] = result
            print(f"round: {time.perf_counter() - started:.0f} s, expected {expected:.0f} s", flush=True)
            passed = [k for k in picks if trained[front[k]["genome_id"]]["test"] >= target]
            if passed:
                hi = passed[0]
                lo = max([lo, *[k + 1 for k in picks if k < hi]])
            else:
                lo = picks[-1] + 1
    shutil.copy(run / "report" / "pareto.png", save.out.with_suffix(".png"))
    return {
        "search": {k: search[k] for k in ("wall_seconds", "evaluations")},
        "front": [{k: e[k] for k in ("genome_id", "params", "fitness")} for e in front],
        "trained": trained,
        "untried": [lo, hi],
    }


def table(results: dict, settings: dict) -> str:
    target, front, trained = float(settings["target"]), results["front"], results["trained"]
    lo, hi = results["untried"]
    above = [e for e in front if trained.get(e["genome_id"], {}).get("test", 0.0) >= target]
    smallest = above[0] if above else None
    lines = [
        f"`evoforge run examples/{settings['task']}.yaml` ({results['search']['wall_seconds']:.0f} s, "
        f"{results['search']['evaluations']} evaluations), then train-final ({settings['final_epochs']} "
        "epochs, all training images, one thread each, two side by side) of front members chosen by a "
        f"search over the front sorted by size for the smallest above {target:.0%} test accuracy (the first "
        "round trains the largest member and the one at two thirds, each later round the members at one and "
        "two thirds of the remaining interval; it assumes larger front members train to higher accuracy).",
        "",
        "| genome | parameters | validation accuracy (proxy) | test accuracy after train-final | train-final (s) |",
        "|---|---|---|---|---|",
    ]
    for e in front:
        t = trained.get(e["genome_id"])
        lines.append(
            f"| {e['genome_id']} | {e['params']:,.0f} | {e['fitness']:.4f} | "
            + (f"{t['test']:.4f} | {t['seconds']:.0f} |" if t else "- | - |")
        )
    lines += [
        "",
        f"Smallest model above {target:.0%} test accuracy: "
        + (
            f"**{smallest['genome_id']}**, {smallest['params']:,.0f} parameters."
            if smallest
            else "**none found** within the budget."
        )
        + (
            f" Search left unfinished: {hi - lo} members between {front[lo]['params']:,.0f} and "
            f"{front[hi - 1]['params']:,.0f} parameters untried when the budget ran out."
            if lo < hi
            else ""
        ),
    ]
    return "\n".join(lines)
