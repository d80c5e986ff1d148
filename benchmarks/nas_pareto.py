"""The accuracy-against-size Pareto front on Fashion-MNIST (issue 5), and the smallest model above a
test accuracy.

    .venv/bin/python benchmarks/nas_pareto.py [--example examples/nas-pareto-fashion.yaml] \
        [--target 0.92] [--final-epochs 40] [--budget-minutes 60] [--reuse RUN_DIR]

Runs the example (NSGA-II, validation accuracy against parameters) and writes its report with
``--above TARGET``. A proxy's validation accuracy (a few epochs on a fifth of the data) says little
about the test accuracy after full training, so the smallest front member above the target is found
by training: a search over the front sorted by size, assuming that larger front members train to
higher accuracy. The first round trains the largest member and the one at two thirds, each later
round the members at one and two thirds of the remaining interval, side by side (train-final, one
thread each); a round keeps the part of the front that can still hold the smallest member above
the target; the search stops when the interval is empty or the next round would overrun the budget
(its time estimated from the proxy's training time, scaled by images and epochs).
The table lists every front member and the test accuracy of those trained.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, publish  # noqa: E402
from nas_search import EXE, _timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--example", type=Path, default=ROOT / "examples" / "nas-pareto-fashion.yaml")
    parser.add_argument("--target", type=float, default=0.92)
    parser.add_argument("--final-epochs", type=int, default=40)
    parser.add_argument("--budget-minutes", type=float, default=60)
    parser.add_argument("--reuse", type=Path, help="a finished run of the example")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.example = args.example.resolve()
    work = Path(tempfile.mkdtemp(prefix="bench-pareto-"))
    run = args.reuse or work / "run"
    if args.reuse is None:
        _timed(["run", str(args.example), "--out", str(run), "--quiet"])
    search = json.loads((run / "result.json").read_text())
    report = subprocess.run(
        [*EXE, "report", str(run), "--above", str(args.target)], capture_output=True, text=True, check=True
    )
    print(report.stdout, flush=True)
    hof = json.loads((run / "hall_of_fame.json").read_text())
    dataset = yaml.safe_load((run / "config.yaml").read_text())["problem"]["dataset"]["name"]
    front = sorted(hof["pareto_front"], key=lambda e: e["params"])
    trained: dict[str, dict] = {}
    deadline = time.perf_counter() + 60 * args.budget_minutes

    def train(entry: dict) -> dict:
        arch = work / f"{entry['genome_id']}.json"
        arch.write_text(json.dumps(entry["genome"]))
        out = work / f"final-{entry['genome_id']}"
        seconds = _timed(
            ["train-final", "--arch", str(arch), "--dataset", dataset, "--epochs", str(args.final_epochs)]
            + ["--threads", "1", "--out", str(out)]
        )
        metrics = json.loads((out / "metrics.json").read_text())
        print(entry["genome_id"], entry["params"], metrics["accuracy"], f"{seconds:.0f} s", flush=True)
        return {"test": metrics["accuracy"], "seconds": seconds}

    # a train-final takes about the proxy's training time scaled by images x epochs (both one thread,
    # two side by side), so rounds that would overrun the budget are not started
    problem = yaml.safe_load((run / "config.yaml").read_text())["problem"]
    scale = args.final_epochs / (
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
            passed = [k for k in picks if trained[front[k]["genome_id"]]["test"] >= args.target]
            if passed:
                hi = passed[0]
                lo = max([lo, *[k + 1 for k in picks if k < hi]])
            else:
                lo = picks[-1] + 1
    above = [e for e in front if trained.get(e["genome_id"], {}).get("test", 0.0) >= args.target]
    smallest = above[0]["genome_id"] if above else None
    today = datetime.date.today().isoformat()
    lines = [
        "## Pareto front on Fashion-MNIST: accuracy against parameters (issue 5)",
        "",
        f"Command: `.venv/bin/python benchmarks/nas_pareto.py --target {args.target} --final-epochs "
        f"{args.final_epochs} --budget-minutes {args.budget_minutes:g}` ({today}): `evoforge run "
        f"{args.example.relative_to(ROOT)}`"
        + f" ({search['wall_seconds']:.0f} s, {search['evaluations']} evaluations)"
        + f", then train-final ({args.final_epochs} epochs, all 60,000 training images, one thread each, "
        f"two side by side) of front members chosen by a search over the front sorted by size for the "
        f"smallest above {args.target:.0%} test accuracy (the first round trains the largest member and "
        "the one at two thirds, each later round the members at one and two thirds of the remaining "
        "interval; it assumes larger front members train to higher accuracy). "
        "Plot: `docs/figures/nas_pareto_fashion.png`, the run's `report/pareto.png`.",
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
        f"Smallest model above {args.target:.0%} test accuracy: "
        + (
            f"**{smallest}**, {next(e for e in front if e['genome_id'] == smallest)['params']:,.0f} parameters."
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
    if not args.no_write:
        figures = ROOT / "docs" / "figures"
        figures.mkdir(parents=True, exist_ok=True)
        shutil.copy(run / "report" / "pareto.png", figures / "nas_pareto_fashion.png")
    publish("nas-pareto-fashion", lines, not args.no_write)


if __name__ == "__main__":
    main()
