"""Learning-curve early stopping (issue 5): candidate-training time saved at equal result.

    .venv/bin/python benchmarks/nas_early_stop.py --example examples/nas-digits.yaml --seeds 3 \
        --evaluations 200 [--k 10] [--min-completed 20] [--set KEY=VALUE ...]

Each seed runs the example twice with ``stop: {evaluations: N}``: as it is, and with
``problem.early_stop`` on. The searches see the same candidates until the first stop changes a
fitness (stopped candidates score their partial metric), so the comparison is of whole searches:
summed candidate-training seconds (the ``train_seconds`` metric, per-epoch validation included), wall
time, how many candidates stopped and after how many epochs, and the best validation fitness and
winner reached.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, publish  # noqa: E402
from nas_search import _override, _timed, _write_config  # noqa: E402


def _summary(run: Path) -> dict:
    db = sqlite3.connect(run / "evoforge.sqlite")
    rows = db.execute("SELECT fitness, metrics FROM individuals WHERE cached = 0").fetchall()
    db.close()
    metrics = [json.loads(m) for _, m in rows]
    stopped = [m for m in metrics if m.get("early_stopped")]
    result = json.loads((run / "result.json").read_text())
    return {
        "evaluations": len(rows),
        "train_s": sum(m.get("train_seconds", 0.0) for m in metrics),
        "wall_s": result["wall_seconds"],
        "stopped": len(stopped),
        "stopped_epochs": statistics.mean(m["epochs_trained"] for m in stopped) if stopped else 0.0,
        "best": result["best_fitness"],
        "winner": result["best_genome_id"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--example", type=Path, default=ROOT / "examples" / "nas-digits.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--min-completed", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    args.example = args.example.resolve()
    work = Path(tempfile.mkdtemp(prefix=f"bench-early-{args.example.stem}-"))
    base = yaml.safe_load(args.example.read_text())
    for assignment in args.overrides:
        _override(base, assignment)
    rows = []
    for seed in range(args.seeds):
        for mode in ("full", "early"):
            raw = dict(base, seed=seed, stop={"evaluations": args.evaluations})
            problem = dict(raw["problem"])
            problem.pop("early_stop", None)
            if mode == "early":
                problem["early_stop"] = {"k": args.k, "min_completed": args.min_completed}
            raw["problem"] = problem
            run = work / f"{mode}-{seed}"
            _timed(
                ["run", str(_write_config(raw, work / f"{mode}-{seed}.yaml")), "--out", str(run), "--quiet"]
            )
            rows.append({"seed": seed, "mode": mode, **_summary(run)})
            print(rows[-1], flush=True)
    today = datetime.date.today().isoformat()
    settings = "".join(f" --set {a}" for a in args.overrides)
    lines = [
        f"## Learning-curve early stopping: {args.example.stem} (issue 5)",
        "",
        f"Command: `.venv/bin/python benchmarks/nas_early_stop.py --example {args.example.relative_to(ROOT)} "
        f"--seeds {args.seeds} --evaluations {args.evaluations} --k {args.k} --min-completed "
        f"{args.min_completed}{settings}` ({today}). Each seed: the example with `stop: {{evaluations: "
        f"{args.evaluations}}}`, without and with `early_stop`.",
        "",
        "| seed | mode | candidate training (s) | wall (s) | stopped | mean epochs of stopped | best validation |"
        " winner |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['seed']} | {r['mode']} | {r['train_s']:.0f} | {r['wall_s']:.0f} | {r['stopped']} | "
        f"{r['stopped_epochs']:.1f} | {r['best']:.4f} | {r['winner']} |"
        for r in rows
    ]
    full = [r for r in rows if r["mode"] == "full"]
    early = [r for r in rows if r["mode"] == "early"]
    saved = 1 - sum(r["train_s"] for r in early) / sum(r["train_s"] for r in full)
    same = sum(a["winner"] == b["winner"] for a, b in zip(full, early, strict=True))
    lines += [
        "",
        f"Candidate-training time saved: {saved:.1%} (summed over seeds). Mean best validation: full "
        f"{statistics.mean(r['best'] for r in full):.4f}, early stopping "
        f"{statistics.mean(r['best'] for r in early):.4f}; same winner in {same} of {len(full)} seeds.",
    ]
    publish(f"nas-early-stop-{args.example.stem}", lines, not args.no_write)


if __name__ == "__main__":
    main()
