"""NEAT on double pole balancing against the paper (Stanley & Miikkulainen 2002, section 4.2, table 1):
with velocities (``task: dpv``, `examples/neat-double-pole.yaml`: 3,600 evaluations on average) and
without (``task: dpnv``, `examples/neat-double-pole-novel.yaml`: 33,184 evaluations on average, the
champion passing the 100,000-step test and the generalisation test).

Seeds 0..runs-1, each run stopping in the generation in which a network solves the task; runs are
split over ``processes`` processes and saved as they finish. "Evaluations" counts the networks
evaluated (an unchanged elite or a duplicate genome is not evaluated again); "generations x
population" counts every member of every generation, the paper's way of counting when nothing is
cached."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASKS = {
    "dpv": ("neat-double-pole.yaml", 3_600),
    "dpnv": ("neat-double-pole-novel.yaml", 33_184),
}

_CHILD = """
import json, sys, tempfile, yaml, evoforge
from pathlib import Path
from evoforge.store.run_store import RunStore
raw = yaml.safe_load(open(sys.argv[1]).read())
for seed in json.loads(sys.argv[2]):
    cfg = evoforge.RunConfig.model_validate(dict(raw, seed=seed))
    run_dir = tempfile.mkdtemp() + "/r"
    r = evoforge.run(cfg, run_dir)
    store = RunStore.open(Path(run_dir))
    solver = store.db.execute(
        "SELECT metrics FROM individuals WHERE cached = 0 AND metrics LIKE '%\\"solved\\": 1.0%' LIMIT 1"
    ).fetchone()
    store.close()
    print(json.dumps({"seed": seed, "evaluations": r.evaluations, "generations": r.generations,
                      "population": cfg.strategy.population_size, "solved": r.stopped_early,
                      "seconds": r.wall_seconds, "solver": json.loads(solver[0]) if solver else None}),
          flush=True)
"""


def run(settings: dict, save) -> dict:
    task, runs, processes = settings["task"], int(settings["runs"]), int(settings["processes"])
    example = ROOT / "examples" / TASKS[task][0]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(example), json.dumps(list(range(k, runs, processes)))],
            stdout=subprocess.PIPE,
            text=True,
        )
        for k in range(processes)
    ]
    results: dict = {"task": task, "runs_planned": runs, "runs": []}
    for p in procs:
        assert p.stdout is not None
        for line in p.stdout:
            if line.startswith("{"):
                results["runs"].append(json.loads(line))
                results["runs"].sort(key=lambda r: r["seed"])
                save(results)
        p.wait()
    return results


def table(results: dict, settings: dict) -> str:
    task, rows = results["task"], results["runs"]
    paper = TASKS[task][1]
    solved = [r for r in rows if r["solved"]]
    evals = [r["evaluations"] for r in solved] or [0]
    members = [r["generations"] * r["population"] for r in solved] or [0]
    lines = [
        "| | evoforge | paper (Stanley & Miikkulainen 2002, table 1) |",
        "|---|---|---|",
        f"| runs solved | {len(solved)} / {len(rows)} | all |",
        f"| mean evaluations (networks evaluated) | {statistics.mean(evals):,.0f} | {paper:,} |",
        f"| median / worst evaluations | {statistics.median(evals):,.0f} / {max(evals):,} | - |",
        f"| mean generations x population | {statistics.mean(members):,.0f} | - |",
        f"| median wall time per run | {statistics.median(r['seconds'] for r in rows):.1f} s | - |",
    ]
    if task == "dpnv":
        general = [r["solver"]["generalization"] for r in solved if r["solver"]]
        if general:
            lines.append(
                f"| generalisation score of the solvers (of 625; >= 200 required) | "
                f"mean {statistics.mean(general):.0f}, min {min(general):.0f} | 286 |"
            )
    met = len(solved) == len(rows) == results["runs_planned"] and statistics.mean(evals) <= paper
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
    return "\n".join(lines)
