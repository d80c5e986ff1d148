"""The architecture-search command a new user types, with the defaults of every flag it leaves
unset: ``evoforge nas COMMAND --seed S --output R`` then ``evoforge train-final R``, each a fresh
process, timed end to end (start-up included), on a quiet machine and with another process keeping
one core busy (a Python loop, started before and stopped after each seed's two commands).

    python benchmarks/harness.py nas_quick

With ``validation: true`` the data is the digits training split alone, cut 80/20 (seed 500) into an
npz whose "test" part is the 20%: what settings were chosen on, without reading the test split.
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import timed_cli


def _validation_npz(folder: Path) -> Path:
    import numpy as np

    from evoforge.data.datasets import DatasetSpec, load_dataset

    data = load_dataset(DatasetSpec(name="digits"))
    order = np.random.default_rng(500).permutation(len(data.y_train))
    cut = int(0.8 * len(order))
    path = folder / "digits-validation.npz"
    np.savez(path, x_train=data.x_train[order[:cut]], y_train=data.y_train[order[:cut]],
             x_test=data.x_train[order[cut:]], y_test=data.y_train[order[cut:]])  # fmt: skip
    return path


def run(settings: dict, save) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-nas-quick-"))
    command = shlex.split(settings["command"])
    if settings.get("validation"):
        at = command.index("--dataset")
        command[at : at + 2] = ["--dataset", "npz", "--data-path", str(_validation_npz(work))]
    results = dict(save.previous or {})
    for condition in settings["conditions"]:
        rows = list(results.get(condition, []))
        for seed in range(len(rows), int(settings["seeds"])):
            run_dir, final = work / f"{condition}-{seed}", work / f"{condition}-{seed}-final"
            load = None
            if condition == "busy":
                load = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                search = timed_cli(
                    ["nas", *command, "--seed", str(seed), "--output", str(run_dir), "--quiet"]
                )
                train = timed_cli(["train-final", str(run_dir), "--output", str(final),
                                   *shlex.split(settings["final"])])  # fmt: skip
            finally:
                if load is not None:
                    load.kill()
                    load.wait()
            metrics = json.loads((final / "metrics.json").read_text())
            result = json.loads((run_dir / "result.json").read_text())
            arch = json.loads((run_dir / "best_arch.json").read_text())
            rows.append({
                "seed": seed, "search_s": search, "final_s": train, "evaluations": result["evaluations"],
                "val": result["best_fitness"], "accuracy": metrics["accuracy"], "params": metrics["params"],
                "epochs": metrics["epochs"], "threads": metrics["threads"],
                "layers": [layer["type"] for layer in arch["layers"]],
            })  # fmt: skip
            print(condition, rows[-1], flush=True)
            results[condition] = rows
            save(results)
    return results


def table(results: dict, settings: dict) -> str:
    goal_acc, goal_s = float(settings["goal_accuracy"]), float(settings["goal_seconds"])
    what = (
        "validation accuracy (the 20% cut of the training split)"
        if settings.get("validation")
        else "test accuracy"
    )
    lines = [
        f"`evoforge nas {settings['command']} --seed S --output R`, then `evoforge train-final R "
        f"{settings['final']}`, fresh processes, wall time start-up included; {what}.",
        "",
        "| machine | seed | search (s) | train-final (s) | total (s) | evaluations | best proxy | accuracy | "
        "parameters | final epochs, threads | layers |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = []
    for condition in settings["conditions"]:
        rows = results.get(condition, [])
        for r in rows:
            lines.append(
                f"| {condition} | {r['seed']} | {r['search_s']:.0f} | {r['final_s']:.0f} | "
                f"{r['search_s'] + r['final_s']:.0f} | {r['evaluations']} | {r['val']:.4f} | {r['accuracy']:.4f} | "
                f"{r['params']:,} | {r['epochs']}, {r['threads']} | {' '.join(r['layers'])} |"
            )
        if rows:
            ok = all(r["accuracy"] >= goal_acc and r["search_s"] + r["final_s"] <= goal_s for r in rows)
            verdicts.append(
                f"{condition}: {'met' if ok else '**missed**'} (median accuracy "
                f"{statistics.median(r['accuracy'] for r in rows):.4f}, median total "
                f"{statistics.median(r['search_s'] + r['final_s'] for r in rows):.0f} s)"
            )
    lines += [
        "",
        f"Goal (accuracy >= {goal_acc:.1%} within {goal_s:.0f} s, every seed): " + "; ".join(verdicts) + ".",
    ]
    return "\n".join(lines)
