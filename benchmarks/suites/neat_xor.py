"""NEAT on XOR against the paper (Stanley & Miikkulainen 2002, section 4.1: 100 runs, no failure,
4,755 evaluations on average, worst 13,459): `examples/neat-xor.yaml` (the paper's settings, with
the compatibility threshold adapted toward 10 species), seeds 0..runs-1, each run stopping in the
generation in which a network classifies all four patterns. Runs are split over ``processes``
processes; ``overrides`` (``strategy.KEY=VALUE``) make a sweep, run on the seeds from ``first_seed``
(1000 and up: settings are chosen there, and seeds 0..99 score the chosen ones once)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "neat-xor.yaml"

_CHILD = """
import json, sys, tempfile, yaml, evoforge
from evoforge.engine.config import apply_overrides
raw = apply_overrides(yaml.safe_load(open(sys.argv[1]).read()), json.loads(sys.argv[2]))
for seed in json.loads(sys.argv[3]):
    r = evoforge.run(evoforge.RunConfig.model_validate(dict(raw, seed=seed)), tempfile.mkdtemp() + "/r")
    print(json.dumps({"seed": seed, "evaluations": r.evaluations, "generations": r.generations,
                      "solved": r.stopped_early, "seconds": r.wall_seconds}), flush=True)
"""


def run(settings: dict, save) -> dict:
    runs, processes = int(settings["runs"]), int(settings["processes"])
    overrides = list(settings.get("overrides") or [])
    first = int(settings.get("first_seed", 0))
    shares = [list(range(first + k, first + runs, processes)) for k in range(processes)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(EXAMPLE), json.dumps(overrides), json.dumps(share)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for share in shares
    ]
    rows = [
        json.loads(line) for p in procs for line in p.communicate()[0].splitlines() if line.startswith("{")
    ]
    return {"runs": sorted(rows, key=lambda r: r["seed"]), "population": 150}


def table(results: dict, settings: dict) -> str:
    rows = results["runs"]
    solved = [r for r in rows if r["solved"]]
    evals = [r["evaluations"] for r in solved]
    gens = [r["generations"] for r in solved]
    pop = results["population"]
    met = len(solved) == len(rows) and statistics.mean(evals) <= 4755
    return "\n".join(
        [
            "| | evoforge | paper (Stanley & Miikkulainen 2002) |",
            "|---|---|---|",
            f"| runs solved | {len(solved)} / {len(rows)} | 100 / 100 |",
            f"| mean evaluations (new individuals evaluated) | {statistics.mean(evals):,.0f} | 4,755 |",
            f"| median / worst evaluations | {statistics.median(evals):,.0f} / {max(evals):,} | - / 13,459 |",
            f"| mean generations (x {pop} = {statistics.mean(gens) * pop:,.0f} individuals) | "
            f"{statistics.mean(gens):.1f} | 32 |",
            f"| median wall time per run | {statistics.median(r['seconds'] for r in solved):.2f} s | - |",
            "",
            "Goal (mean <= 4,755 evaluations, no failure): " + ("met." if met else "**missed**."),
        ]
    )
