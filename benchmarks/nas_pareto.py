"""The accuracy-against-size Pareto front on Fashion-MNIST (issue 5), and the smallest model above a
test accuracy.

    .venv/bin/python benchmarks/nas_pareto.py [--example examples/nas-pareto-fashion.yaml] \
        [--target 0.92] [--final-epochs 40] [--budget-minutes 60] [--reuse RUN_DIR]

Runs the example (NSGA-II, validation accuracy against parameters), writes its report with
``--above TARGET`` (the smallest front member whose *validation* accuracy reaches the target), then
trains front members from scratch with train-final, smallest first among those whose validation
accuracy is within 2 points of the target, until one reaches the target on the *test* split or the
budget runs out. The table lists every front member and the test accuracy of those trained.
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import tempfile
import time
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
    search_s = None
    if args.reuse is None:
        search_s = _timed(["run", str(args.example), "--out", str(run), "--quiet"])
    report = subprocess.run(
        [*EXE, "report", str(run), "--above", str(args.target)], capture_output=True, text=True, check=True
    )
    print(report.stdout, flush=True)
    hof = json.loads((run / "hall_of_fame.json").read_text())
    dataset = yaml.safe_load((run / "config.yaml").read_text())["problem"]["dataset"]["name"]
    front = sorted(hof["pareto_front"], key=lambda e: e["params"])
    trained: dict[str, dict] = {}
    deadline = time.perf_counter() + 60 * args.budget_minutes
    for entry in front:
        if entry["fitness"] < args.target - 0.02 or time.perf_counter() > deadline:
            continue
        arch = work / f"{entry['genome_id']}.json"
        arch.write_text(json.dumps(entry["genome"]))
        out = work / f"final-{entry['genome_id']}"
        seconds = _timed(
            ["train-final", "--arch", str(arch), "--dataset", dataset, "--epochs", str(args.final_epochs)]
            + ["--out", str(out)]
        )
        metrics = json.loads((out / "metrics.json").read_text())
        trained[entry["genome_id"]] = {"test": metrics["accuracy"], "seconds": seconds}
        print(entry["genome_id"], entry["params"], trained[entry["genome_id"]], flush=True)
        if metrics["accuracy"] >= args.target:
            break
    smallest = next((gid for gid, t in trained.items() if t["test"] >= args.target), None)
    today = datetime.date.today().isoformat()
    lines = [
        "## Pareto front on Fashion-MNIST: accuracy against parameters (issue 5)",
        "",
        f"Command: `.venv/bin/python benchmarks/nas_pareto.py --target {args.target} --final-epochs "
        f"{args.final_epochs} --budget-minutes {args.budget_minutes:g}` ({today}): `evoforge run "
        f"{args.example.relative_to(ROOT)}`"
        + (f" ({search_s:.0f} s)" if search_s is not None else "")
        + f", then train-final ({args.final_epochs} epochs, all 60,000 training images) of front members "
        f"smallest first, from those within 2 points of {args.target:.0%} validation accuracy, until one "
        f"reaches {args.target:.0%} test accuracy. Plot: the run's `report/pareto.png`.",
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
        ),
    ]
    publish("nas-pareto-fashion", lines, not args.no_write)


if __name__ == "__main__":
    main()
