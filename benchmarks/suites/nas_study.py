"""Architecture search at a fixed wall-time budget, arm against arm: the plain search, weight
inheritance, and population ensembles, each seed's search given the same seconds, then its winner
(and, with ``ensemble``, the hall of fame's top K) trained by ``train-final``.

    python benchmarks/harness.py nas_study --set validation=true     # choose settings: no test image
    python benchmarks/harness.py nas_study                            # the 3 seeds, test split once each

With ``validation: true`` the data is the training split alone, cut (``validation_cut``, seed 500)
into a "training" part and a held-out part scored in place of the test split: what settings are
chosen on. Every search runs in ``RESULTS/nas_study-NAME-runs/ARM-SEED`` and resumes there if a
session stopped it (its time budget counts the time already spent); a finished step is never run
again. Reported per arm and seed: the search's seconds and evaluations, the single winner's accuracy
and train-final seconds, the ensemble's accuracy and seconds, and whether the total fits ``budget``.
"""

from __future__ import annotations

import json
import shlex
import statistics
import subprocess
from pathlib import Path

import numpy as np
import yaml
from common import EVOFORGE, ROOT, example, timed_cli

from evoforge.engine.config import apply_overrides


def _validation_npz(folder: Path, dataset: str, cut: float) -> Path:
    from evoforge.data.datasets import DatasetSpec, load_dataset

    path = folder / f"{dataset}-validation.npz"
    if path.is_file():
        return path
    data = load_dataset(DatasetSpec(name=dataset))
    order = np.random.default_rng(500).permutation(len(data.y_train))
    keep = int((1 - cut) * len(order))
    # 8-bit images go back to bytes (the npz reader divides them by 255 again); other inputs stay as
    # they were scaled (float inputs are read as they are)
    raw = np.round(data.x_train * 255).astype(np.uint8) if data.divide_by == 255 else data.x_train
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, x_train=raw[order[:keep]], y_train=data.y_train[order[:keep]],
             x_test=raw[order[keep:]], y_test=data.y_train[order[keep:]])  # fmt: skip
    tmp.replace(path)
    return path


def _search_config(settings: dict, arm: dict, seed: int, data: Path | None, folder: Path) -> Path:
    raw = apply_overrides(
        yaml.safe_load(example(settings["task"]).read_text()),
        [*settings["overrides"], *arm.get("overrides", [])],
    )
    # the time budget alone stops the search: the same seconds for every arm
    raw.update(seed=seed, generations=1_000_000, stop={"seconds": float(settings["search_seconds"])})
    if data is not None:
        raw["problem"]["dataset"] = {"name": "npz", "path": str(data)}
    path = folder / f"{arm['name']}-{seed}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _search(config: Path, run_dir: Path) -> float:
    """Run (or resume) the search; its wall seconds as it records them (resumed parts summed)."""
    if (run_dir / "result.json").is_file():
        return json.loads((run_dir / "result.json").read_text())["wall_seconds"]
    if (run_dir / "config.yaml").is_file():
        subprocess.run([*EVOFORGE, "resume", str(run_dir), "--quiet"], check=True, cwd=ROOT)
    else:
        timed_cli(["run", str(config), "--out", str(run_dir), "--quiet"])
    return json.loads((run_dir / "result.json").read_text())["wall_seconds"]


def run(settings: dict, save) -> dict:
    out = Path(save.out)
    runs = out.with_name(out.stem + "-runs")
    runs.mkdir(parents=True, exist_ok=True)
    data = None
    if settings.get("validation"):
        data = _validation_npz(runs, settings["dataset"], float(settings["validation_cut"]))
    results = dict(save.previous or {})
    for arm in settings["arms"]:
        rows = results.setdefault(arm["name"], {})
        for seed in range(int(settings["seeds"])):
            row = rows.setdefault(str(seed), {})
            run_dir = runs / f"{arm['name']}-{seed}"
            if "search_s" not in row:
                config = _search_config(settings, arm, seed, data, runs)
                row["search_s"] = _search(config, run_dir)
                result = json.loads((run_dir / "result.json").read_text())
                row.update(evaluations=result["evaluations"], best_proxy=result["best_fitness"])
                save(results)
            final_flags = [*shlex.split(settings["final"]), *shlex.split(arm.get("final", ""))]
            if "single" not in row:
                seconds = timed_cli(
                    ["train-final", str(run_dir), "--out", str(run_dir) + "-final", *final_flags]
                )
                metrics = json.loads((Path(str(run_dir) + "-final") / "metrics.json").read_text())
                row["single"] = {
                    "accuracy": metrics["accuracy"],
                    "seconds": seconds,
                    "params": metrics["params"],
                }
                save(results)
            k = int(arm.get("ensemble", 0))
            if k > 1 and "ensemble" not in row:
                target = str(run_dir) + "-ensemble"
                seconds = timed_cli(
                    ["train-final", str(run_dir), "--ensemble", str(k), "--out", target, *final_flags]
                )
                metrics = json.loads((Path(target) / "metrics.json").read_text())
                row["ensemble"] = {"k": k, "accuracy": metrics["accuracy"], "seconds": seconds,
                                   "members": [m["accuracy"] for m in metrics["members"]]}  # fmt: skip
                save(results)
            print(arm["name"], seed, row, flush=True)
    return results


def table(results: dict, settings: dict) -> str:
    budget = float(settings["budget"])
    what = "held-out cut of the training split" if settings.get("validation") else "test split"
    lines = [
        f"`examples/{settings['task']}.yaml` with `stop: {{seconds: {settings['search_seconds']}}}`"
        + "".join(f", `{o}`" for o in settings["overrides"])
        + f", then `train-final {settings['final']}`; accuracy on the {what}; budget {budget:.0f} s per seed.",
        "",
        "| arm | seed | search (s) | evaluations | best proxy | single accuracy | train-final (s) | total, single (s) | "
        "ensemble | ensemble accuracy | ensemble (s) | total, ensemble (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in settings["arms"]:
        for seed, r in sorted(results.get(arm["name"], {}).items()):
            if "single" not in r:
                continue
            ens = r.get("ensemble")
            single_total = r["search_s"] + r["single"]["seconds"]

            def fits(total: float) -> str:
                return f"{total:.0f}" + ("" if total <= budget else " (**over**)")

            cells = (
                f"{ens['k']} | {ens['accuracy']:.4f} | {ens['seconds']:.0f} | {fits(r['search_s'] + ens['seconds'])}"
                if ens
                else "- | - | - | -"
            )
            lines.append(
                f"| {arm['name']} | {seed} | {r['search_s']:.0f} | {r['evaluations']} | {r['best_proxy']:.4f} | "
                f"{r['single']['accuracy']:.4f} | {r['single']['seconds']:.0f} | {fits(single_total)} | {cells} |"
            )
    lines.append("")
    for arm in settings["arms"]:
        rows = [r for r in results.get(arm["name"], {}).values() if "single" in r]
        if rows:
            single = statistics.mean(r["single"]["accuracy"] for r in rows)
            ens = [r["ensemble"]["accuracy"] for r in rows if "ensemble" in r]
            lines.append(
                f"- {arm['name']}: mean single accuracy {single:.4f}"
                + (f", mean ensemble accuracy {statistics.mean(ens):.4f}" if ens else "")
                + f" ({len(rows)} seeds)."
            )
    return "\n".join(lines)
