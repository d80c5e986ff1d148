"""Architecture search at equal wall time, arm against arm: the plain search, weight inheritance,
and a population ensemble. Every arm has the same ``budget`` for its search plus its final training;
an arm's ``search_seconds`` is the budget less the time its final training is expected to take, so
an ensemble of K members gets a shorter search than an arm that trains its winner alone. With
``final_in_budget`` the final training is given what the search left (``train-final --seconds``: the
budget less the search's seconds and ``final_overhead`` for start-up, loading, scoring and saving),
so every arm keeps to its budget whatever its winner's size; its ``final`` flags' ``--epochs`` is
then the most epochs. After the
search, ``train-final`` trains the winner (``single``, on by default) and, with ``ensemble: K``, the
hall of fame's top K side by side, their probabilities averaged.

    python benchmarks/harness.py nas_study                    # the held-out cut of the training split
    python benchmarks/harness.py nas_study --set validation=false --set name=test   # the test split

With ``validation: true`` (the default) the data is the training split alone, cut (``validation_cut``,
seed 500) into a "training" part and a held-out part scored in place of the test split; no search
sees the held-out part, so the arms' gains measured on it are unbiased, and the test split stays
unseen for the runs that settings chosen here lead to. Seeds run one after another, every arm of a
seed before the next seed, so a study stopped part-way leaves complete comparisons. Every search
runs in ``RESULTS/nas_study-NAME-runs/ARM-SEED`` and resumes there if a session stopped it (its time
budget counts the time already spent); a finished step is never run again. Reported per arm and seed:
the search's seconds and evaluations, the single winner's accuracy and train-final seconds, the
ensemble's accuracy and seconds, and each total against ``budget``.
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

from evoforge.backends.base import default_workers
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
    # the time budget alone stops the search: the budget less the arm's expected final training
    seconds = float(arm.get("search_seconds", settings["search_seconds"]))
    raw.update(seed=seed, generations=1_000_000, stop={"seconds": seconds})
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
    both = [a["name"] for a in settings["arms"] if a.get("single", True) and int(a.get("ensemble", 0)) > 1]
    if settings.get("final_in_budget") and both:
        raise SystemExit(f"nas_study: with final_in_budget an arm trains one final model, not two: {both}")
    for seed in range(int(settings["seeds"])):
        for arm in settings["arms"]:
            row = results.setdefault(arm["name"], {}).setdefault(str(seed), {})
            if not row:  # the harness's --until: an arm is begun only if its budget fits before it
                save.expect(float(settings["budget"]))
            _run_arm(settings, arm, seed, row, runs, data, lambda: save(results))
            print(arm["name"], seed, row, flush=True)
    return results


def _run_arm(settings: dict, arm: dict, seed: int, row: dict, runs: Path, data: Path | None, save) -> None:
    """One arm of one seed: its search, then its winner and (with ``ensemble``) its top K trained;
    every finished step recorded in ``row`` (and saved) and never run again."""
    run_dir = runs / f"{arm['name']}-{seed}"
    if "search_s" not in row:
        config = _search_config(settings, arm, seed, data, runs)
        row["search_s"] = _search(config, run_dir)
        result = json.loads((run_dir / "result.json").read_text())
        row.update(evaluations=result["evaluations"], best_proxy=result["best_fitness"])
        save()
    final_flags = [*shlex.split(settings["final"]), *shlex.split(arm.get("final", ""))]
    if settings.get("final_in_budget"):  # the final training gets what the search left of the budget
        rest = float(settings["budget"]) - row["search_s"] - float(settings.get("final_overhead", 60))
        final_flags += ["--seconds", f"{max(60.0, rest):.0f}"]
    if arm.get("single", True) and "single" not in row:
        # every core, named: train-final's default (the cores idle at its start) would keep a whole
        # training, and with --seconds its epochs, to one thread if anything ran at that moment
        threads = [] if "--threads" in final_flags else ["--threads", str(default_workers())]
        seconds = timed_cli(
            ["train-final", str(run_dir), "--out", str(run_dir) + "-final", *final_flags, *threads]
        )
        metrics = json.loads((Path(str(run_dir) + "-final") / "metrics.json").read_text())
        row["single"] = {"accuracy": metrics["accuracy"], "seconds": seconds, "params": metrics["params"],
                         "epochs": metrics["epochs"]}  # fmt: skip
        save()
    k = int(arm.get("ensemble", 0))
    if k > 1 and "ensemble" not in row:
        target = str(run_dir) + "-ensemble"
        seconds = timed_cli(
            ["train-final", str(run_dir), "--ensemble", str(k), "--out", target, *final_flags]
        )
        metrics = json.loads((Path(target) / "metrics.json").read_text())
        row["ensemble"] = {"k": k, "accuracy": metrics["accuracy"], "seconds": seconds,
                           "members": [m["accuracy"] for m in metrics["members"]],
                           "epochs": [m["epochs"] for m in metrics["members"]]}  # fmt: skip
        save()


def _outcome(row: dict) -> tuple[float, float] | None:
    """What an arm delivers for a seed: its ensemble if it trains one, else its single winner
    (accuracy, and seconds of search plus that final training)."""
    final = row.get("ensemble") or row.get("single")
    return None if final is None else (final["accuracy"], row["search_s"] + final["seconds"])


def table(results: dict, settings: dict) -> str:
    budget = float(settings["budget"])
    what = "held-out cut of the training split" if settings.get("validation") else "test split"
    arms = settings["arms"]
    lines = [
        f"`examples/{settings['task']}.yaml`, the search stopped by time (`stop.seconds`, per arm below)"
        + "".join(f", `{o}`" for o in settings["overrides"])
        + f", then `train-final {settings['final']}`"
        + (
            " `--seconds` (what the search left, less "
            + f"{float(settings.get('final_overhead', 60)):.0f} s)"
            if settings.get("final_in_budget")
            else ""
        )  # fmt: skip
        + f"; accuracy on the {what}; budget {budget:.0f} s per arm "
        "and seed (search plus final training).",
        "",
        "| arm | search budget (s) | seed | search (s) | evaluations | best proxy | single accuracy | "
        "train-final (s) | ensemble | ensemble accuracy (member 1) | ensemble (s) | total (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm in arms:
        for seed, r in sorted(results.get(arm["name"], {}).items(), key=lambda kv: int(kv[0])):
            done = _outcome(r)
            if done is None:
                continue
            single, ens = r.get("single"), r.get("ensemble")
            total = f"{done[1]:.0f}" + ("" if done[1] <= budget else " (**over**)")
            lines.append(
                f"| {arm['name']} | {float(arm.get('search_seconds', settings['search_seconds'])):.0f} | {seed} | "
                f"{r['search_s']:.0f} | {r['evaluations']} | {r['best_proxy']:.4f} | "
                + (f"{single['accuracy']:.4f} | {single['seconds']:.0f} | " if single else "- | - | ")
                + (
                    f"{ens['k']} | {ens['accuracy']:.4f} ({ens['members'][0]:.4f}) | {ens['seconds']:.0f} | "
                    if ens
                    else "- | - | - | "
                )
                + f"{total} |"
            )
    lines.append("")
    base = results.get(arms[0]["name"], {})
    for arm in arms:
        rows = {seed: _outcome(r) for seed, r in results.get(arm["name"], {}).items() if _outcome(r)}
        if not rows:
            continue
        line = f"- {arm['name']}: mean accuracy {statistics.mean(a for a, _ in rows.values()):.4f} ({len(rows)} seeds)"
        paired = [rows[s][0] - _outcome(base[s])[0] for s in rows if s in base and _outcome(base[s])]
        if arm is not arms[0] and paired:
            line += (
                f"; against {arms[0]['name']}, seed by seed: "
                + ", ".join(f"{d:+.4f}" for d in paired)
                + f" (mean {statistics.mean(paired):+.4f})"
            )
        lines.append(line + ".")
    return "\n".join(lines)
