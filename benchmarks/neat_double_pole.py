"""NEAT on double pole balancing against the paper (Stanley & Miikkulainen 2002, section 4.2, table 1):
with velocities (DPV, `examples/neat-double-pole.yaml`: 3,600 evaluations on average) and without
(DPNV, `examples/neat-double-pole-novel.yaml`: 33,184 evaluations on average, the champion passing
the 100,000-step test and the generalisation test).

Seeds 0..N-1, each run stopping in the generation in which a network solves the task; runs are
split over two processes. "Evaluations" counts the networks evaluated (an unchanged elite or a
duplicate genome is not evaluated again); "generations x population" counts every member of every
generation, the paper's way of counting when nothing is cached.

    .venv/bin/python benchmarks/neat_double_pole.py --task dpv [--runs 20]
    .venv/bin/python benchmarks/neat_double_pole.py --task dpnv [--runs 20]
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, publish  # noqa: E402

SCRIPT = Path(__file__).resolve()
TASKS = {
    "dpv": ("neat-double-pole.yaml", 3_600, "with velocities (DPV)"),
    "dpnv": ("neat-double-pole-novel.yaml", 33_184, "without velocities (DPNV)"),
}


def child(task: str, seeds: list[int], deadline: float) -> None:
    import time

    import yaml

    import evoforge
    from evoforge.store.run_store import RunStore

    raw = yaml.safe_load((ROOT / "examples" / TASKS[task][0]).read_text())
    for seed in seeds:
        if time.time() > deadline:  # the time budget is spent: later seeds are not started
            return
        cfg = evoforge.RunConfig.model_validate(dict(raw, seed=seed))
        run_dir = tempfile.mkdtemp() + "/r"
        r = evoforge.run(cfg, run_dir)
        store = RunStore.open(Path(run_dir))
        solver = store.db.execute(
            "SELECT metrics FROM individuals WHERE cached = 0 AND metrics LIKE '%\"solved\": 1.0%' LIMIT 1"
        ).fetchone()
        store.close()
        row = {
            "seed": seed,
            "evaluations": r.evaluations,
            "generations": r.generations,
            "population": cfg.strategy.population_size,
            "solved": r.stopped_early,
            "seconds": r.wall_seconds,
            "solver": json.loads(solver[0]) if solver else None,
        }
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--child", nargs="*", type=int)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--minutes", type=float, default=None, help="start no run after this many minutes (reported)"
    )
    parser.add_argument("--deadline", type=float, default=float("inf"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.task, args.child, args.deadline)
        return
    example, paper, title = TASKS[args.task]
    halves = [list(range(0, args.runs, 2)), list(range(1, args.runs, 2))]
    deadline = time.time() + 60 * args.minutes if args.minutes else float("inf")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(SCRIPT),
                "--task",
                args.task,
                f"--deadline={deadline}",
                "--child",
                *map(str, h),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for h in halves
    ]
    rows = [
        json.loads(line) for p in procs for line in p.communicate()[0].splitlines() if line.startswith("{")
    ]
    rows.sort(key=lambda r: r["seed"])
    solved = [r for r in rows if r["solved"]]
    evals = [r["evaluations"] for r in solved] or [0]
    members = [r["generations"] * r["population"] for r in solved] or [0]
    lines = [
        f"## NEAT on double pole balancing {title} (issue 3)",
        "",
        f"Command: `.venv/bin/python benchmarks/neat_double_pole.py --task {args.task} --runs {args.runs}` "
        f"({datetime.date.today().isoformat()}); `examples/{example}`, seeds 0..{args.runs - 1}, each run "
        "stopping in the generation in which a network solves the task; two runs at a time on 2 cores.",
        "",
        "| | evoforge | paper (Stanley & Miikkulainen 2002, table 1) |",
        "|---|---|---|",
        f"| runs solved | {len(solved)} / {len(rows)}"
        + (
            f" (of {args.runs} planned; the {args.minutes:.0f}-minute budget ran out)"
            if len(rows) < args.runs
            else ""
        )
        + " | all |",
        f"| mean evaluations (networks evaluated) | {statistics.mean(evals):,.0f} | {paper:,} |",
        f"| median / worst evaluations | {statistics.median(evals):,.0f} / {max(evals):,} | - |",
        f"| mean generations x population | {statistics.mean(members):,.0f} | - |",
        f"| median wall time per run | {statistics.median(r['seconds'] for r in rows):.1f} s | - |",
    ]
    if args.task == "dpnv":
        general = [r["solver"]["generalization"] for r in solved if r["solver"]]
        if general:
            lines.append(
                f"| generalisation score of the solvers (of 625; >= 200 required) | "
                f"mean {statistics.mean(general):.0f}, min {min(general):.0f} | 286 |"
            )
    met = len(solved) == len(rows) == args.runs and statistics.mean(evals) <= paper
    lines += [
        "",
        f"Goal (every run solved, mean <= {paper:,} evaluations): " + ("met." if met else "**missed**."),
    ]
    lines += [
        "",
        "Per run (seed: evaluations, generations, seconds): "
        + "; ".join(
            f"{r['seed']}: {r['evaluations']:,}, {r['generations']}, {r['seconds']:.0f}"
            + ("" if r["solved"] else " (not solved)")
            for r in rows
        ),
    ]
    publish(f"neat-{args.task}", lines, not args.no_write)


if __name__ == "__main__":
    main()
