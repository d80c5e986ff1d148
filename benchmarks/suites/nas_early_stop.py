"""Learning-curve early stopping: candidate-training time saved at equal result.

    python benchmarks/harness.py nas_early_stop --set task=nas-digits [--set seeds=3 --set evaluations=150]
    python benchmarks/harness.py nas_early_stop --set task=nas-digits --set 'rules=[max_gain, predictor]'

Each seed runs the example with ``stop: {evaluations: N}``: as it is, and with ``problem.early_stop``
on under each of ``rules`` (the largest-gain rule, the fitted predictor). The searches see the same candidates until the first stop changes a
fitness (stopped candidates score their partial metric), so the comparison is of whole searches:
summed candidate-training seconds (the ``train_seconds`` metric, per-epoch validation included) and
candidate-training epochs (which the machine's load does not change), wall time, how many candidates stopped and after how many epochs, and the best validation fitness and
winner reached.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import tempfile
from pathlib import Path

import yaml
from common import example, timed_cli

from evoforge.engine.config import apply_overrides


def _summary(run_dir: Path) -> dict:
    db = sqlite3.connect(run_dir / "evoforge.sqlite")
    try:
        rows = db.execute("SELECT fitness, metrics FROM individuals WHERE cached = 0").fetchall()
    finally:
        db.close()
    metrics = [json.loads(m) for _, m in rows]
    stopped = [m for m in metrics if m.get("early_stopped")]
    result = json.loads((run_dir / "result.json").read_text())
    return {
        "evaluations": len(rows),
        "train_s": sum(m.get("train_seconds", 0.0) for m in metrics),
        "epochs": sum(m.get("epochs_trained", 0.0) for m in metrics),  # the load-independent cost
        "wall_s": result["wall_seconds"],
        "stopped": len(stopped),
        "stopped_epochs": statistics.mean(m["epochs_trained"] for m in stopped) if stopped else 0.0,
        "best": result["best_fitness"],
        "winner": result["best_genome_id"],
    }


def run(settings: dict, save) -> dict:
    base = apply_overrides(yaml.safe_load(example(settings["task"]).read_text()), list(settings["overrides"]))
    work = Path(tempfile.mkdtemp(prefix=f"bench-early-{settings['task']}-"))
    rows = list((save.previous or {}).get("rows", []))
    modes = ["full", *settings["rules"]]
    for seed in range(len(rows) // len(modes), int(settings["seeds"])):
        for mode in modes:
            raw = dict(base, seed=seed, stop={"evaluations": int(settings["evaluations"])})
            problem = dict(raw["problem"])
            problem.pop("early_stop", None)
            if mode != "full":
                problem["early_stop"] = {
                    "k": int(settings["k"]),
                    "min_completed": int(settings["min_completed"]),
                    "rule": mode,
                }
            raw["problem"] = problem
            config, run_dir = work / f"{mode}-{seed}.yaml", work / f"{mode}-{seed}"
            config.write_text(yaml.safe_dump(raw))
            timed_cli(["run", str(config), "--out", str(run_dir), "--quiet"])
            rows.append({"seed": seed, "mode": mode, **_summary(run_dir)})
            print(rows[-1], flush=True)
        save({"rows": rows})
    return {"rows": rows}


def table(results: dict, settings: dict) -> str:
    rows = results["rows"]
    lines = [
        f"`examples/{settings['task']}.yaml`"
        + "".join(f", `{o}`" for o in settings["overrides"])
        + f" with `stop: {{evaluations: {settings['evaluations']}}}`, without and with `early_stop: "
        f"{{k: {settings['k']}, min_completed: {settings['min_completed']}, rule: RULE}}` for each rule "
        f"({', '.join(settings['rules'])}).",
        "",
        "| seed | mode | candidate training (s) | candidate epochs | wall (s) | stopped | mean epochs of stopped |"
        " best validation | winner |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['seed']} | {r['mode']} | {r['train_s']:.0f} | {r.get('epochs', float('nan')):.0f} | {r['wall_s']:.0f} | "
        f"{r['stopped']} | "
        f"{r['stopped_epochs']:.1f} | {r['best']:.4f} | {r['winner']} |"
        for r in rows
    ]
    full = [r for r in rows if r["mode"] == "full"]
    for rule in settings["rules"]:
        early = [r for r in rows if r["mode"] == rule]
        if not early:
            continue
        pairs = list(zip(full, early, strict=False))
        saved = 1 - sum(b["train_s"] for _, b in pairs) / sum(a["train_s"] for a, _ in pairs)
        epochs = [(a.get("epochs"), b.get("epochs")) for a, b in pairs]
        fewer = (
            f", candidate epochs saved {1 - sum(b for _, b in epochs) / sum(a for a, _ in epochs):.1%}"
            if all(a and b for a, b in epochs)
            else ""
        )
        same = sum(a["winner"] == b["winner"] for a, b in pairs)
        lines += [
            "",
            f"{rule}: candidate-training time saved {saved:.1%}{fewer} (summed over seeds); candidates stopped "
            f"{sum(b['stopped'] for _, b in pairs)} of {sum(b['evaluations'] for _, b in pairs)}; mean best "
            f"validation: full {statistics.mean(a['best'] for a, _ in pairs):.4f}, {rule} "
            f"{statistics.mean(b['best'] for _, b in pairs):.4f}; same winner in {same} of {len(pairs)} seeds.",
        ]
    return "\n".join(lines)
