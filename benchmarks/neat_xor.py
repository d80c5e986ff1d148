"""NEAT on XOR against the paper (Stanley & Miikkulainen 2002, section 4.1: 100 runs, no failure,
4,755 evaluations on average, worst 13,459): `examples/neat-xor.yaml` (the paper's settings,
with the compatibility threshold adapted toward 10 species),
seeds 0..N-1, each run stopping in the generation in which a network classifies all four
patterns. Runs are split over two processes.

    .venv/bin/python benchmarks/neat_xor.py [--runs 100] [--set strategy.KEY=VALUE ...]

With ``--set`` (a sweep) the table is printed, not written to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, replace_section  # noqa: E402

SCRIPT = Path(__file__).resolve()
EXAMPLE = ROOT / "examples" / "neat-xor.yaml"


def child(seeds: list[int], overrides: list[str]) -> None:
    import yaml

    import evoforge
    from evoforge.engine.config import apply_overrides

    raw = apply_overrides(yaml.safe_load(EXAMPLE.read_text()), overrides)
    for seed in seeds:
        cfg = evoforge.RunConfig.model_validate(dict(raw, seed=seed))
        r = evoforge.run(cfg, tempfile.mkdtemp() + "/r")
        row = {"seed": seed, "evaluations": r.evaluations, "generations": r.generations}
        print(json.dumps(dict(row, solved=r.stopped_early, seconds=r.wall_seconds)), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--child", nargs="*", type=int)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--set", action="append", default=[], help="config override key=value (a sweep)")
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.set)
        return
    halves = [list(range(0, args.runs, 2)), list(range(1, args.runs, 2))]
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), *(f"--set={o}" for o in args.set), "--child", *map(str, h)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for h in halves
    ]
    rows = [
        json.loads(line) for p in procs for line in p.communicate()[0].splitlines() if line.startswith("{")
    ]
    solved = [r for r in rows if r["solved"]]
    evals = [r["evaluations"] for r in solved]
    gens = [r["generations"] for r in solved]
    pop = 150
    text = "\n".join(
        [
            "## NEAT on XOR (issue 3)",
            "",
            f"Command: `.venv/bin/python benchmarks/neat_xor.py --runs {args.runs}` "
            f"({datetime.date.today().isoformat()}); `examples/neat-xor.yaml` (the paper's settings, "
            "population 150, compatibility threshold adapted toward 10 species), seeds 0.."
            f"{args.runs - 1}, stop in the generation a network classifies all four patterns (max 200).",
            "",
            "| | evoforge | paper (Stanley & Miikkulainen 2002) |",
            "|---|---|---|",
            f"| runs solved | {len(solved)} / {len(rows)} | 100 / 100 |",
            f"| mean evaluations (new individuals evaluated) | {statistics.mean(evals):,.0f} | 4,755 |",
            f"| median / worst evaluations | {statistics.median(evals):,.0f} / {max(evals):,} | - / 13,459 |",
            f"| mean generations (x {pop} = {statistics.mean(gens) * pop:,.0f} individuals) | "
            f"{statistics.mean(gens):.1f} | 32 |",
            f"| median wall time per run | {statistics.median(r['seconds'] for r in solved):.2f} s | - |",
            "",
            "Goal (mean <= 4,755 evaluations, no failure): "
            + ("met." if len(solved) == len(rows) and statistics.mean(evals) <= 4755 else "**missed**."),
        ]
    )
    print(text)
    if not args.no_write and not args.set:
        replace_section("neat-xor", text)


if __name__ == "__main__":
    main()
