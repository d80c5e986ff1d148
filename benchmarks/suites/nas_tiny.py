"""Tiny data: random draws of a few classes with 50 training images in all. evoforge's small-data
search (``nas --small-data``: cross-validated fitness, small batches, augmentation genes) plus
train-final against scaled logistic regression, scaled SVC and the default small CNN (the textbook
network a chain search starts from, trained with train-final: Adam 1e-3, cosine, 100 epochs of
batches of 16), all on the same 50
images, scored once on the draw's 200 test images.

    python benchmarks/harness.py nas_tiny

Training images come from the dataset's training split, test images from its test split (digits:
evoforge's fixed 20% split, about 36 images a class); ``validation: true`` takes both from the
training split, for choosing settings. Each draw is a seed (first_draw + k): its classes, then its
images.
"""

from __future__ import annotations

import json
import shlex
import statistics
import tempfile
from pathlib import Path

import numpy as np
from common import timed_cli


def draw(
    dataset: str, seed: int, classes: int, n_train: int, n_test: int, validation: bool
) -> dict[str, np.ndarray]:
    """The draw's arrays, inputs scaled to [0, 1] as evoforge reads them: training images from the
    dataset's training split, test images from its test split (digits: evoforge's fixed 20% split,
    about 36 a class, so fewer than ``n_test`` for 4 classes); with ``validation`` both from the
    training split, apart, so choosing settings never reads a test split."""
    from evoforge.data.datasets import DatasetSpec, load_dataset

    rng = np.random.default_rng(seed)
    data = load_dataset(DatasetSpec(name=dataset))
    chosen = rng.choice(data.classes, classes, replace=False)
    pool = rng.permutation(np.flatnonzero(np.isin(data.y_train, chosen)))
    tr = pool[:n_train]
    if validation:
        te = pool[n_train : n_train + n_test]
        x_te, y_te = data.x_train[te], data.y_train[te]
    else:
        te = rng.permutation(np.flatnonzero(np.isin(data.y_test, chosen)))[:n_test]
        x_te, y_te = data.x_test[te], data.y_test[te]
    return {"x_train": data.x_train[tr], "y_train": data.y_train[tr], "x_test": x_te, "y_test": y_te}


def baselines(arrays: dict[str, np.ndarray], work: Path) -> dict[str, float]:
    """Test accuracy of the three baselines on the draw."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from evoforge.data.datasets import Dataset
    from evoforge.problems.classification import train_final
    from evoforge.spaces.chain import ChainSpace, ChainSpaceConfig

    flat = {k: v.reshape(len(v), -1) if k.startswith("x") else v for k, v in arrays.items()}
    out = {}
    for name, model in (
        ("logistic_regression", make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))),
        ("svc", make_pipeline(StandardScaler(), SVC())),
    ):
        model.fit(flat["x_train"], flat["y_train"])
        out[name] = float(np.mean(model.predict(flat["x_test"]) == flat["y_test"]))
    labels, codes = np.unique(np.concatenate([arrays["y_train"], arrays["y_test"]]), return_inverse=True)
    n = len(arrays["y_train"])
    data = Dataset("draw", arrays["x_train"], codes[:n], arrays["x_test"], codes[n:],
                   tuple(str(v) for v in labels))  # fmt: skip
    genome = ChainSpace(ChainSpaceConfig(), data.input_shape, data.classes).start(np.random.default_rng(0))
    # its textbook recipe, but 100 epochs of batches of 16 (300 steps): 20 epochs of 64 are 20 steps on
    # 50 images, which leave it untrained (seen on a smoke draw, seed 900, before any benchmark draw)
    genome = genome.replace(recipe=genome.recipe.model_copy(update={"batch_size": 16}))
    out["small_cnn"] = float(train_final(genome, data, work / "cnn", epochs=100, threads=1)["accuracy"])
    return out


def run(settings: dict, save) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench-nas-tiny-"))
    results = dict(save.previous or {})
    for dataset in settings["datasets"]:
        rows = list(results.get(dataset, []))
        for k in range(len(rows), int(settings["draws"])):
            seed = int(settings["first_draw"]) + k
            arrays = draw(dataset, seed, int(settings["classes"]), int(settings["train"]), int(settings["test"]),
                          bool(settings.get("validation")))  # fmt: skip
            folder = work / f"{dataset}-{seed}"
            folder.mkdir()
            np.savez(folder / "draw.npz", **arrays)
            row = {"draw": seed, **baselines(arrays, folder)}
            search = timed_cli(["nas", "--dataset", "npz", "--data-path", str(folder / "draw.npz"),
                                *shlex.split(settings["command"]), "--seed", str(seed), "--output",
                                str(folder / "run"), "--quiet"])  # fmt: skip
            final = timed_cli(
                ["train-final", str(folder / "run"), "--output", str(folder / "final"), "--threads", "1"]
            )
            metrics = json.loads((folder / "final" / "metrics.json").read_text())
            row.update(evoforge=metrics["accuracy"], seconds=search + final, params=metrics["params"])
            rows.append(row)
            print(dataset, row, flush=True)
            results[dataset] = rows
            save(results)
    return results


SYSTEMS = ("evoforge", "logistic_regression", "svc", "small_cnn")


def table(results: dict, settings: dict) -> str:
    lines = [
        f"{settings['draws']} draws (seeds {settings['first_draw']}..) of {settings['classes']} classes, "
        f"{settings['train']} training and {settings['test']} test images; test accuracy, mean ± standard "
        f"deviation over the draws; evoforge: `nas {settings['command']}` then train-final.",
        "",
        "| dataset | draws | "
        + " | ".join(SYSTEMS)
        + " | evoforge ahead of all three | evoforge seconds (median) |",
        "|---|---|" + "---|" * len(SYSTEMS) + "---|---|",
    ]
    verdicts = []
    for dataset, rows in results.items():
        cells = [
            f"{statistics.mean(r[s] for r in rows):.4f} ± {statistics.pstdev([r[s] for r in rows]):.4f}"
            for s in SYSTEMS
        ]
        means = {s: statistics.mean(r[s] for r in rows) for s in SYSTEMS}
        ahead = all(means["evoforge"] > means[s] for s in SYSTEMS[1:])
        wins = sum(r["evoforge"] > max(r[s] for s in SYSTEMS[1:]) for r in rows)
        lines.append(f"| {dataset} | {len(rows)} | " + " | ".join(cells) + f" | {'yes' if ahead else 'no'} "
                     f"(best on {wins} draws) | {statistics.median(r['seconds'] for r in rows):.0f} |")  # fmt: skip
        verdicts.append(f"{dataset}: {'met' if ahead else '**missed**'}")
    lines += ["", "Goal (evoforge's mean ahead of all three on both datasets): " + "; ".join(verdicts) + "."]
    return "\n".join(lines)
