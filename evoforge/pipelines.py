"""Pipeline search from Python, the scikit-learn way: ``PipelineSearch(minutes=5).fit(X, y)``.

It runs the same search as ``evoforge tabular`` (the same engine, store, resume and backends): the
table is written as Parquet into the run's folder, searched, reported (the test part held out of the
search, the fitted pipeline, script and test report saved), and then the best pipeline is refitted
on all of ``X`` and ``y`` for :meth:`~PipelineSearch.predict`.

>>> from sklearn.datasets import load_wine
>>> X, y = load_wine(return_X_y=True, as_frame=True)
>>> search = PipelineSearch(generations=1, population_size=4, folds=3, backend="serial")
>>> search.fit(X, y).predict(X.iloc[:3]).shape    # doctest: +SKIP
(3,)
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["PipelineSearch"]


class PipelineSearch(BaseEstimator):
    """Evolve a scikit-learn pipeline for ``X`` (a DataFrame, or an array) and ``y``.

    A scikit-learn estimator: ``get_params``, ``set_params`` and ``clone`` work, so it goes into
    ``cross_val_score`` or a ``Pipeline``: each fit is a search of its own, in a new temporary folder,
    or with ``run_dir`` in its next sub-folder ``fit-1``, ``fit-2``, ... (a refit never meets the
    last one's run; parallel fits never share a folder). With ``task="classification"`` it is a classifier to scikit-learn (its
    cross-validation stratifies), with ``"regression"`` a regressor; ``"auto"`` is decided by the
    data at fit, too late for that.

    After :meth:`fit`: ``pipeline_`` (the best pipeline refitted on all the data; it predicts class
    codes, :meth:`predict` names them), ``classes_``, ``report_`` (the test report: the held-out
    score and the untuned defaults beside it), ``run_dir_`` and ``result_`` (the run's result)."""

    def __init__(
        self,
        *,
        task: str = "auto",
        metric: str = "auto",
        minutes: float | None = 5.0,
        generations: int | None = None,
        population_size: int = 30,
        folds: int = 5,
        test_fraction: float = 0.2,
        models: list[str] | None = None,
        timeout: float = 60.0,
        backend: str = "process",
        workers: int | None = None,
        seed: int = 0,
        run_dir: str | Path | None = None,
    ):
        self.task, self.metric, self.minutes, self.generations = task, metric, minutes, generations
        self.population_size, self.folds, self.test_fraction = population_size, folds, test_fraction
        self.models, self.timeout, self.backend, self.workers = models, timeout, backend, workers
        self.seed, self.run_dir = seed, run_dir

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, RegressorTags

        tags = super().__sklearn_tags__()
        if self.task == "classification":
            tags.estimator_type, tags.classifier_tags = "classifier", ClassifierTags()
        elif self.task == "regression":
            tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
        return tags

    def _config(self, data: Path, target: str) -> Any:
        from evoforge.engine.config import RunConfig
        from evoforge.problems.tabular import VALIDATION_CASES, search_seconds

        space = {"steps": {"model": list(self.models)}} if self.models else {}
        steady = self.generations is None or self.minutes is not None
        return RunConfig.model_validate(
            {
                "name": "pipeline-search",
                "seed": self.seed,
                "generations": self.generations if self.generations is not None else 100_000,
                "strategy": {
                    "name": "regularized_evolution",
                    "population_size": self.population_size,
                    "sample_size": max(2, self.population_size // 6),
                },
                "problem": {
                    "kind": "tabular",
                    "data": str(data),
                    "target": target,
                    "task": self.task,
                    "metric": self.metric,
                    "folds": self.folds,
                    "test_fraction": self.test_fraction,
                    "space": space,
                },
                "stop": {"seconds": search_seconds(self.minutes)} if self.minutes is not None else {},
                "asynchronous": steady and self.backend != "serial",
                "backend": self.backend,
                "workers": self.workers,
                "evaluation": {"timeout": self.timeout, "retries": 0},
                "test_episodes": 1,
                "validation_episodes": VALIDATION_CASES,
            }
        )

    def fit(self, X: Any, y: Any) -> PipelineSearch:
        import pandas as pd

        from evoforge.engine.loop import run
        from evoforge.problems.tabular_export import best_of, export

        frame = X.copy() if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X)).add_prefix("x")
        frame.columns = [str(c) for c in frame.columns]
        target = "target"
        while target in frame.columns:
            target = "_" + target
        labels = np.asarray(y)
        frame[target] = labels
        folder = self._new_folder()
        data = folder / "table.parquet"
        try:
            config = self._config(data, target)  # bad settings: nothing left behind
            frame.to_parquet(data)
        except BaseException:
            shutil.rmtree(folder)
            raise
        self.run_dir_ = folder / "run"
        try:
            self.result_ = run(config, self.run_dir_)
        except BaseException:
            if not (self.run_dir_ / "config.yaml").exists():  # the run never started: no folder left
                shutil.rmtree(folder)
            raise
        export(self.run_dir_)
        self.report_ = json.loads((self.run_dir_ / "test_report.json").read_text())
        problem, genome, seed = best_of(self.run_dir_)
        self._names = problem.table.classes
        # the original label of each class name (the table reads labels as text)
        originals = {str(v): v for v in labels.tolist()} if self._names else {}
        self.classes_ = np.array([originals[n] for n in self._names]) if self._names else None
        rows = np.arange(problem.table.rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.pipeline_ = problem.build(genome, seed).fit(problem.table.frame(rows), problem.table.y)
        self._table = problem.table
        return self

    def _new_folder(self) -> Path:
        if self.run_dir is None:
            return Path(tempfile.mkdtemp(prefix="evoforge-"))
        parent = Path(self.run_dir)
        parent.mkdir(parents=True, exist_ok=True)
        for n in itertools.count(1):
            try:
                (parent / f"fit-{n}").mkdir()  # atomic: of two fits racing, one gets it
            except FileExistsError:
                continue
            return parent / f"fit-{n}"
        raise AssertionError("unreachable")

    def _frame(self, X: Any) -> Any:
        import pandas as pd

        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X)).add_prefix("x")
        from evoforge.data.tables import typed_frame

        t = self._table
        return typed_frame(frame.rename(columns=str), t.numeric_names, t.categorical_names)

    def predict(self, X: Any) -> np.ndarray:
        pred = self.pipeline_.predict(self._frame(X))
        return self.classes_[np.asarray(pred, dtype=int)] if self.classes_ is not None else pred

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.pipeline_.predict_proba(self._frame(X))

    def score(self, X: Any, y: Any) -> float:
        """Accuracy (classification) or R2 (regression), as scikit-learn's estimators score."""
        from sklearn.metrics import accuracy_score, r2_score

        pred = self.predict(X)
        return float(accuracy_score(y, pred) if self.classes_ is not None else r2_score(y, pred))
