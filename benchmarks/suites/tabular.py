"""Pipeline search on real tables: evoforge against TPOT, FLAML and the best untuned default, at equal
wall time, on the same outer splits.

    .bench-venv/bin/python benchmarks/harness.py tabular      (`make data` first: Debian's r-cran-mlbench)

Every table is split ``repeats`` times (stratified for classification; 25% test, split seed
``split_seed`` + r; a validation study cuts the training part again with ``split_seed`` + 100 + r).
Each system gets the training part alone and ``budget_minutes`` of wall time on both cores, then
predicts the test part once; the test metric (accuracy, or R2 for regression) is computed here, the
same way for all. Each system runs in a fresh process; its time is the wall time of its search and
final fit (start-up and imports excluded alike), its peak memory the largest resident set of its whole
process tree (sampled every 0.2 s).

* evoforge: ``tabular`` problem on the training part written as CSV, 5-fold CV of the metric,
  regularized evolution asynchronous on the process backend (one worker per core), starting from the
  four untuned defaults, ``stop.seconds`` the budget; its final test is the reported pipeline refitted on the training part. Settings:
  ``evoforge_overrides`` (chosen on validation data, see BENCHMARKS.md).
* TPOT 1.1: ``TPOTClassifier`` / ``TPOTRegressor`` with its defaults except ``max_time_mins`` (the
  budget), ``n_jobs`` (the cores), the metric as its scorer, ``random_state``, and its own
  preprocessing (imputation, one-hot) where the table has strings or missing values (TPOT's search
  space needs numbers).
* FLAML: ``AutoML.fit`` with its defaults except ``time_budget``, ``n_jobs``, ``metric``, ``seed``.
* defaults: scaled LogisticRegression (Ridge for regression), scaled SVC (SVR), RandomForest and
  HistGradientBoosting, each after median imputation and one-hot encoding of strings; the best by
  5-fold CV on the training part is "the best default" (all four test scores are kept too).

With ``validation: true`` nothing touches a test part: each training part is cut again (25%
validation, seed 200 + r) and the systems are scored on that. That is how evoforge's settings are
chosen.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import run_child

MLBENCH = Path("/usr/lib/R/site-library/mlbench/data")

#: table name: (loader, target column, task)
TABLES = {
    "breast_cancer": ("sklearn", "target", "classification"),
    "wine": ("sklearn", "target", "classification"),
    "diabetes": ("sklearn", "target", "regression"),
    "penguins": ("penguins", "species", "classification"),
    "sonar": ("mlbench:Sonar", "Class", "classification"),
    "breast_cancer_wisconsin": ("mlbench:BreastCancer", "Class", "classification"),
    "vehicle": ("mlbench:Vehicle", "Class", "classification"),
    "glass": ("mlbench:Glass", "Type", "classification"),
    "ionosphere": ("mlbench:Ionosphere", "Class", "classification"),
    "pima": ("mlbench:PimaIndiansDiabetes", "diabetes", "classification"),
}


def load(name: str):
    """(DataFrame with the target column, target name, task)."""
    import pandas as pd

    source, target, task = TABLES[name]
    if source == "sklearn":
        import sklearn.datasets

        frame = getattr(sklearn.datasets, f"load_{name}")(as_frame=True).frame
    elif source == "penguins":
        import palmerpenguins

        frame = palmerpenguins.load_penguins()
    else:
        import rdata

        dataset = source.partition(":")[2]
        frame = rdata.read_rda(str(MLBENCH / f"{dataset}.rda"))[dataset]
        frame = frame.drop(columns=[c for c in ("Id",) if c in frame.columns])
        for column in frame.columns:  # R factors: strings (levels), missing stays missing
            if isinstance(frame[column].dtype, pd.CategoricalDtype):
                frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame = frame.reset_index(drop=True)
    if task == "classification":
        frame[target] = frame[target].astype(str)
    return frame, target, task


def split(frame, target: str, task: str, repeat: int, validation: bool, base: int = 100):
    """(training part, evaluation part): the test part (cut by seed ``base + repeat``), or with
    ``validation`` a part of the training part (cut by ``base + 100 + repeat``)."""
    from sklearn.model_selection import train_test_split

    def cut(data, seed):
        stratify = data[target] if task == "classification" else None
        return train_test_split(data, test_size=0.25, random_state=seed, stratify=stratify)

    train, test = cut(frame, base + repeat)
    if validation:
        train, test = cut(train, base + 100 + repeat)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _strings(x) -> list:
    """The columns that are not numbers (object, string or categorical dtypes)."""
    import pandas as pd

    return [c for c in x.columns if not pd.api.types.is_numeric_dtype(x[c])]


def metric_of(task: str, y_true, y_pred) -> float:
    from sklearn.metrics import accuracy_score, r2_score

    if task == "classification":
        return float(accuracy_score(np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)))
    return float(r2_score(y_true, y_pred))


# -- the systems (each in a child process) ---------------------------------------------------------
def _evoforge(train, test, target, task, seconds, seed, overrides, work: Path) -> dict:
    import evoforge
    from evoforge.engine.config import apply_overrides

    train.to_csv(work / "train.csv", index=False)
    test.to_csv(work / "test.csv", index=False)
    raw = {
        "seed": seed,
        "generations": 100_000,
        "strategy": {"name": "regularized_evolution", "population_size": 30, "sample_size": 5},
        "problem": {
            "kind": "tabular",
            "data": str(work / "train.csv"),
            "target": target,
            "task": task,
            "metric": "accuracy" if task == "classification" else "r2",
            "test_data": str(work / "test.csv"),
        },
        "asynchronous": True,
        "backend": "process",
        "stop": {"seconds": seconds},
        "evaluation": {"timeout": 60, "retries": 0},
        "test_episodes": 1,
    }
    config = evoforge.RunConfig.model_validate(apply_overrides(raw, overrides))
    started = time.perf_counter()
    result = evoforge.run(config, work / "run")
    elapsed = time.perf_counter() - started
    best = json.loads((work / "run" / "best_pipeline.json").read_text())
    from evoforge.spaces.pipeline import Pipeline

    best.pop("genome_id", None)
    return {
        "score": result.test_score,
        "seconds": elapsed,
        "evaluations": result.evaluations,
        "failed": result.failed,
        "cv": result.best_fitness,
        "pipeline": str(Pipeline.from_json(best)),
    }


def _tpot(train, test, target, task, seconds, seed, overrides, work: Path) -> dict:
    from tpot import TPOTClassifier, TPOTRegressor

    x, y = train.drop(columns=[target]), train[target]
    needs_prep = bool(x.isna().any().any() or _strings(x))
    cls = TPOTClassifier if task == "classification" else TPOTRegressor
    if task == "classification":
        y = y.astype("category").cat.codes
        labels = dict(enumerate(train[target].astype("category").cat.categories))
    model = cls(
        scorers=["accuracy" if task == "classification" else "r2"],
        scorers_weights=[1],
        max_time_mins=seconds / 60,
        n_jobs=2,
        preprocessing=needs_prep,
        random_state=seed,
        verbose=0,
    )
    started = time.perf_counter()
    model.fit(x, y)
    elapsed = time.perf_counter() - started
    pred = model.predict(test.drop(columns=[target]))
    if task == "classification":
        pred = [labels[int(p)] for p in pred]
    return {
        "score": metric_of(task, test[target], pred),
        "seconds": elapsed,
        "pipeline": str(model.fitted_pipeline_)[:300],
    }


def _flaml(train, test, target, task, seconds, seed, overrides, work: Path) -> dict:
    from flaml import AutoML

    automl = AutoML()
    started = time.perf_counter()
    automl.fit(
        train.drop(columns=[target]),
        train[target],
        task=task,
        time_budget=seconds,
        metric="accuracy" if task == "classification" else "r2",
        n_jobs=2,
        seed=seed,
        verbose=0,
        log_file_name=str(work / "flaml.log"),
    )
    elapsed = time.perf_counter() - started
    pred = automl.predict(test.drop(columns=[target]))
    return {
        "score": metric_of(task, test[target], pred),
        "seconds": elapsed,
        "pipeline": str(automl.best_estimator),
    }


def default_models(task: str, seed: int) -> dict:
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, SVR

    if task == "classification":
        return {
            "logistic_regression": [StandardScaler(), LogisticRegression(max_iter=2000)],
            "svc": [StandardScaler(), SVC()],
            "random_forest": [RandomForestClassifier(random_state=seed, n_jobs=2)],
            "hist_gradient_boosting": [HistGradientBoostingClassifier(random_state=seed)],
        }
    return {
        "ridge": [StandardScaler(), Ridge()],
        "svr": [StandardScaler(), SVR()],
        "random_forest": [RandomForestRegressor(random_state=seed, n_jobs=2)],
        "hist_gradient_boosting": [HistGradientBoostingRegressor(random_state=seed)],
    }


def _defaults(train, test, target, task, seconds, seed, overrides, work: Path) -> dict:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x, y = train.drop(columns=[target]), train[target]
    strings = _strings(x)
    numbers = [c for c in x.columns if c not in strings]
    prep = ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), numbers),
            (
                "strings",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                strings,
            ),
        ],
        sparse_threshold=0,
    )
    folds = (StratifiedKFold if task == "classification" else KFold)(5, shuffle=True, random_state=seed)
    scoring = "accuracy" if task == "classification" else "r2"
    started = time.perf_counter()
    cv, tests = {}, {}
    for name, steps in default_models(task, seed).items():
        model = make_pipeline(prep, *steps)
        cv[name] = float(np.mean(cross_val_score(model, x, y, cv=folds, scoring=scoring)))
        tests[name] = metric_of(task, test[target], model.fit(x, y).predict(test.drop(columns=[target])))
    best = max(cv, key=cv.get)
    return {
        "score": tests[best],
        "seconds": time.perf_counter() - started,
        "pipeline": best,
        "cv": cv,
        "each": tests,
    }


SYSTEMS = {"defaults": _defaults, "evoforge": _evoforge, "tpot": _tpot, "flaml": _flaml}


def child(
    system: str, table: str, repeat: str, seconds: str, validation: str, overrides: str, base: str = "100"
) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    frame, target, task = load(table)
    train, test = split(frame, target, task, int(repeat), validation == "1", int(base))
    with tempfile.TemporaryDirectory() as work:
        return SYSTEMS[system](
            train, test, target, task, float(seconds), int(repeat), json.loads(overrides), Path(work)
        )


# -- the harness side ------------------------------------------------------------------------------
def _measured(args: list[str], timeout: float) -> dict:
    """``run_child`` with the peak resident memory of the child's whole process tree."""
    import psutil

    peak, done = [0], threading.Event()
    me = psutil.Process()

    def sample():
        while not done.wait(0.2):
            total = 0
            for proc in me.children(recursive=True):
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        out = run_child("tabular", args, core=None, timeout=timeout)
    finally:
        done.set()
        watcher.join()
    return dict(out, peak_mb=peak[0] / 2**20)


def run(settings: dict, save) -> dict:
    results = save.previous or {"runs": {}}
    seconds = 60 * float(settings["budget_minutes"])
    validation = "1" if settings.get("validation") else "0"
    overrides = json.dumps(list(settings.get("evoforge_overrides") or []))
    base = str(int(settings.get("split_seed", 100)))
    for table in settings["tables"]:
        for repeat in range(int(settings["repeats"])):
            for system in settings["systems"]:
                key = f"{table}/{repeat}/{system}"
                if key in results["runs"]:
                    continue
                args = [system, table, str(repeat), str(seconds), validation, overrides, base]
                results["runs"][key] = _measured(args, timeout=3 * seconds + 600)
                print(
                    key,
                    {k: v for k, v in results["runs"][key].items() if k not in ("each", "cv")},
                    flush=True,
                )
                save(results)
    return results


def table(results: dict, settings: dict) -> str:
    runs = results["runs"]
    systems = list(settings["systems"])
    tables = [t for t in settings["tables"] if any(k.startswith(f"{t}/") for k in runs)]
    part = "validation" if settings.get("validation") else "test"
    lines = [
        f"{settings['repeats']} splits per table, {settings['budget_minutes']} minutes per search on 2 cores; "
        f"{part} accuracy (R2 for diabetes), mean ± standard deviation over the splits; rank 1 is best.",
        "",
        "| table | " + " | ".join(systems) + " |",
        "|---" * (len(systems) + 1) + "|",
    ]
    ranks: dict[str, list[float]] = {s: [] for s in systems}
    misses = []
    for t in tables:
        means, spreads = {}, {}
        for s in systems:
            scores = [
                runs[k]["score"]
                for k in runs
                if k.startswith(f"{t}/") and k.endswith(f"/{s}") and "score" in runs[k]
            ]
            if scores:
                means[s] = statistics.mean(scores)
                spreads[s] = statistics.pstdev(scores)
        order = sorted(means, key=lambda s: -means[s])
        for s in means:
            ranks[s].append(1 + sum(means[o] > means[s] for o in means))
        cells = [f"{means[s]:.4f} ± {spreads[s]:.4f}" if s in means else "failed" for s in systems]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
        if "evoforge" in means and "defaults" in means:
            spread = max(spreads["evoforge"], spreads["defaults"])
            if means["evoforge"] < means["defaults"] - spread:
                misses.append(t)
        del order
    lines += [
        "| mean rank | "
        + " | ".join(f"{statistics.mean(ranks[s]):.2f}" if ranks[s] else "-" for s in systems)
        + " |"
    ]
    lines += [
        "",
        "| system | median seconds | max seconds | median peak memory (MB) | max peak memory (MB) | failed runs |",
        "|---|---|---|---|---|---|",
    ]
    for s in systems:
        rows = [runs[k] for k in runs if k.endswith(f"/{s}")]
        ok = [r for r in rows if "seconds" in r]
        if not ok:
            lines.append(f"| {s} | - | - | - | - | {len(rows)} |")
            continue
        lines.append(
            f"| {s} | {statistics.median(r['seconds'] for r in ok):.0f} | {max(r['seconds'] for r in ok):.0f} | "
            f"{statistics.median(r['peak_mb'] for r in ok):.0f} | {max(r['peak_mb'] for r in ok):.0f} | {len(rows) - len(ok)} |"
        )
    if ranks.get("evoforge") and all(ranks[s] for s in systems):
        best_rank = min(statistics.mean(ranks[s]) for s in systems)
        met = statistics.mean(ranks["evoforge"]) == best_rank and not misses
        lines += [
            "",
            "Goal (evoforge the best mean rank of all four, and never below the best default by more than the "
            "spread between splits): "
            + ("met." if met else "**missed**")
            + (f" (below the best default by more than the spread on: {', '.join(misses)})" if misses else "")
            + ("" if met else "."),
        ]
    return "\n".join(lines)
