"""What a pipeline search hands back, written into its run directory by :func:`export`:

* ``best_pipeline.skops``: the reported pipeline fitted on the whole search part, with the random
  seed of the run's final test, so it is the very model that test scored (skops format: loading it
  runs no code; :func:`load_fitted` accepts only the types scikit-learn, NumPy, SciPy, LightGBM and
  XGBoost define);
* ``best_pipeline.py``: the same pipeline as a readable script (building it, typing a CSV file's
  columns as evoforge does, fitting it); it rebuilds the saved model exactly;
* ``test_report.json``: the test metric, a confusion matrix and per-class scores (or residuals), and
  the untuned defaults (scaled logistic regression or ridge, scaled SVC or SVR, random forest,
  histogram gradient boosting) with their cross-validated and test scores, the best default chosen
  by cross-validation.

The pipeline predicts class codes 0..k-1; ``classes`` in the report (and ``CLASSES`` in the script)
name them, and :func:`predict` maps them back.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from evoforge.core.rng import derive_seed
from evoforge.data.tables import TableError, read_frame, typed_frame
from evoforge.problems.tabular import TabularConfig, TabularProblem, score
from evoforge.spaces.pipeline import Pipeline, describe_pipeline, python_source

__all__ = ["export", "load_fitted", "predict", "best_of", "TRUSTED_PREFIXES"]

#: modules whose types a saved pipeline may hold
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "lightgbm.", "xgboost.", "builtins.", "collections.")


def best_of(run_dir: Path) -> tuple[TabularProblem, Pipeline, int]:
    """The problem of a finished run, its reported pipeline, and the seed of its final test."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    problem = TabularProblem(TabularConfig.model_validate(config["problem"]))
    data = json.loads((run_dir / "best_pipeline.json").read_text())
    data.pop("genome_id", None)
    return problem, Pipeline.from_json(data), derive_seed(int(config.get("seed", 0)), "test") % 2**31


def _script(problem: TabularProblem, genome: Pipeline, seed: int, run_dir: Path) -> str:
    t = problem.table
    make = describe_pipeline(genome, problem.facts, t.numeric_names, t.categorical_names, seed)
    header = (
        f"The pipeline evolved by evoforge in {run_dir.name} ({problem.config.data}, target "
        f"{t.target!r}):\n{genome}\n\nRun it as `python best_pipeline.py TRAIN.csv` to fit it and print its "
        "training score; import it for `pipeline` and `load`."
    )
    source = python_source(make, header)
    return (
        source
        + f'''
# the columns as evoforge typed them (numbers, then strings); the classes the codes 0..k-1 stand for
NUMERIC = {t.numeric_names!r}
CATEGORICAL = {t.categorical_names!r}
TARGET = {t.target!r}
CLASSES = {t.classes!r}


def load(path):
    """(features, target) of a CSV or Parquet file, typed as evoforge types them (the target as class
    codes for classification; None where the file has no target column)."""
    import numpy as np
    import pandas as pd

    frame = pd.read_parquet(path) if str(path).endswith((".parquet", ".pq")) else pd.read_csv(path)
    x = pd.DataFrame(
        {{c: frame[c].to_numpy(dtype=np.float64) for c in NUMERIC}}
        | {{c: np.array([None if pd.isna(v) else str(v) for v in frame[c]], dtype=object) for c in CATEGORICAL}},
        columns=NUMERIC + CATEGORICAL,
    )
    if TARGET not in frame.columns:
        return x, None
    y = frame[TARGET]
    if CLASSES:
        y = np.array([CLASSES.index(str(v)) for v in y])
    return x, y


if __name__ == "__main__":
    import sys

    x, y = load(sys.argv[1])
    pipeline.fit(x, y)
    print("training score:", pipeline.score(x, y))
'''
    )


def _defaults(problem: TabularProblem, seed: int) -> dict[str, dict[str, float]]:
    """The four untuned defaults: cross-validated on the search folds, then fitted on the search part
    and scored on the test part."""
    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC, SVR

    t = problem.table
    prep = ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), t.numeric_names),
            (
                "strings",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                t.categorical_names,
            ),
        ],
        sparse_threshold=0,
    )
    if t.task == "classification":
        models = {
            "logistic_regression": [StandardScaler(), LogisticRegression(max_iter=2000)],
            "svc": [StandardScaler(), SVC(probability=problem.needs_proba, random_state=seed)],
            "random_forest": [RandomForestClassifier(random_state=seed)],
            "hist_gradient_boosting": [HistGradientBoostingClassifier(random_state=seed)],
        }
    else:
        models = {
            "ridge": [StandardScaler(), Ridge()],
            "svr": [StandardScaler(), SVR()],
            "random_forest": [RandomForestRegressor(random_state=seed)],
            "hist_gradient_boosting": [HistGradientBoostingRegressor(random_state=seed)],
        }

    def fit_score(model: Any, train: np.ndarray, test: np.ndarray, table: Any) -> float:
        model = clone(model).fit(t.frame(train), t.y[train])
        x = table.frame(test)
        proba = model.predict_proba(x) if problem.needs_proba else None
        pred = None if problem.needs_proba else model.predict(x)
        return score(problem.metric, table.y[test], pred, proba, len(t.classes))

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, steps in models.items():
            model = make_pipeline(prep, *steps)
            cv = float(np.mean([fit_score(model, a, b, t) for a, b in problem.folds]))
            test = fit_score(model, problem.search_rows, problem.test_rows, problem.test_table)
            out[name] = {"cv": cv, "test": test}
    return out


def _details(problem: TabularProblem, fitted: Any) -> dict[str, Any]:
    """Confusion matrix and per-class scores, or residuals, on the test part."""
    from sklearn import metrics

    table, rows = problem.test_table, problem.test_rows
    y, pred = table.y[rows], fitted.predict(table.frame(rows))
    if table.task == "classification":
        k = len(problem.table.classes)
        precision, recall, f1, support = metrics.precision_recall_fscore_support(
            y, pred, labels=np.arange(k), zero_division=0
        )
        return {
            "confusion_matrix": metrics.confusion_matrix(y, pred, labels=np.arange(k)).tolist(),
            "per_class": {
                name: {"precision": float(p), "recall": float(r), "f1": float(f), "rows": int(n)}
                for name, p, r, f, n in zip(
                    problem.table.classes, precision, recall, f1, support, strict=True
                )
            },
        }
    residuals = y - pred
    return {
        "rmse": float(np.sqrt(np.mean(residuals**2))),
        "mae": float(np.mean(np.abs(residuals))),
        "r2": float(metrics.r2_score(y, pred)),
        "residual_quantiles": {
            str(q): float(v)
            for q, v in zip(
                (0.05, 0.25, 0.5, 0.75, 0.95),
                np.quantile(residuals, [0.05, 0.25, 0.5, 0.75, 0.95]),
                strict=True,
            )
        },
    }


def export(run_dir: Path) -> dict[str, Path]:
    """Write the fitted pipeline, its script and the test report into a finished run's directory."""
    import skops.io
    from threadpoolctl import threadpool_limits

    run_dir = Path(run_dir)
    problem, genome, seed = best_of(run_dir)
    started = time.perf_counter()
    with threadpool_limits(problem.config.threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = problem.build(genome, seed).fit(
            problem.table.frame(problem.search_rows), problem.table.y[problem.search_rows]
        )
        fit_seconds = time.perf_counter() - started
        x_test = problem.test_table.frame(problem.test_rows)
        proba = fitted.predict_proba(x_test) if problem.needs_proba else None
        pred = None if problem.needs_proba else fitted.predict(x_test)
        value = score(
            problem.metric, problem.test_table.y[problem.test_rows], pred, proba, len(problem.table.classes)
        )
        details = _details(problem, fitted)
        defaults = _defaults(problem, seed)
    best_default = max(defaults, key=lambda name: problem.sign * defaults[name]["cv"])
    result = json.loads((run_dir / "result.json").read_text())
    report = {
        "metric": problem.metric,
        "test": value,
        "cv": problem.sign * float(result["best_fitness"]),
        "test_rows": int(len(problem.test_rows)),
        "search_rows": int(len(problem.search_rows)),
        "task": problem.table.task,
        "classes": problem.table.classes,
        "pipeline": str(genome),
        "fit_seconds": fit_seconds,
        **details,
        "defaults": defaults,
        "best_default": best_default,
    }
    paths = {
        "model": run_dir / "best_pipeline.skops",
        "script": run_dir / "best_pipeline.py",
        "report": run_dir / "test_report.json",
    }
    skops.io.dump(fitted, paths["model"])
    paths["script"].write_text(_script(problem, genome, seed, run_dir))
    paths["report"].write_text(json.dumps(report, indent=1) + "\n")
    return paths


def load_fitted(path: Path) -> Any:
    """A pipeline saved by :func:`export`, loaded by skops without running code from the file; types
    outside scikit-learn, NumPy, SciPy, LightGBM and XGBoost are refused (``ValueError``)."""
    import skops.io

    untrusted = skops.io.get_untrusted_types(file=path)
    unknown = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if unknown:
        raise ValueError(f"{path}: holds types evoforge does not trust: {', '.join(unknown[:5])}")
    return skops.io.load(path, trusted=untrusted)


def predict(run_dir: Path, data: str) -> Any:
    """Predictions of a run's saved pipeline for the rows of a table (a DataFrame of one column,
    named after the target; class names for classification)."""
    import pandas as pd

    problem_config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text())["problem"]
    report = json.loads((Path(run_dir) / "test_report.json").read_text())
    fitted = load_fitted(Path(run_dir) / "best_pipeline.skops")
    frame = read_frame(data)
    branches = {name: list(cols) for name, _, cols in fitted.named_steps["prepare"].transformers}
    try:
        x = typed_frame(frame, branches.get("numeric", []), branches.get("categorical", []))
    except TableError as exc:
        raise TableError(f"{data}: {exc}") from None
    pred = fitted.predict(x)
    if report["classes"]:
        pred = [report["classes"][int(p)] for p in pred]
    return pd.DataFrame({problem_config.get("target", "target"): pred})
