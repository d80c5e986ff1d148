"""Pipeline search on a table: fitness is the k-fold cross-validated metric of a whole scikit-learn
pipeline (imputation, encoding, scaling, feature extraction and selection, model).

The table is split once (stratified for classification, a fixed seed) into a search part and a test
part (or the test part is a separate file, ``test_data``). The search never sees the test part: the
folds, the same for every candidate, cut the search part, and only the run's final test fits the
reported pipeline on the whole search part and scores the test part, once. A candidate that raises or
scores NaN fails with its reason and is scored worst; ``evaluation.timeout`` bounds its time and
``max_memory_mb`` its memory (where the platform allows a limit).

Fitness is "higher is better" for every metric: error metrics (log loss, RMSE, MAE) are negated.
"""

from __future__ import annotations

import functools
import time
import warnings
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from evoforge.core.paths import AbsolutePath
from evoforge.core.problem import Context, EvalResult, ProblemConfig, TestResult, digest
from evoforge.core.space import SearchSpace
from evoforge.data.tables import Table, TableError, load_table
from evoforge.problems.base import SpaceProblem
from evoforge.spaces.pipeline import Pipeline, PipelineSpace, PipelineSpaceConfig, describe_pipeline
from evoforge.spaces.pipeline_steps import Facts

__all__ = ["TabularConfig", "TabularProblem", "METRICS", "VALIDATION_CASES", "score", "search_seconds"]

_SPLIT_SEED = 5_021_977

#: the hall of fame is cross-validated again this many times, with freshly shuffled folds, and the
#: best of it on those scores is reported (``validation_episodes``): the one score a pipeline was
#: selected on is optimistic after hundreds of candidates (BENCHMARKS.md, study E)
VALIDATION_CASES = 2


def search_seconds(minutes: float) -> float:
    """The search's share of a time budget of ``minutes``: four fifths, the rest left for validating
    the hall of fame, so the whole run keeps to the budget."""
    return 60.0 * minutes * 0.8


#: metric name: (task, needs probabilities, sign that makes it "higher is better")
METRICS: dict[str, tuple[str, bool, float]] = {
    "accuracy": ("classification", False, 1.0),
    "balanced_accuracy": ("classification", False, 1.0),
    "f1_macro": ("classification", False, 1.0),
    "roc_auc": ("classification", True, 1.0),
    "log_loss": ("classification", True, -1.0),
    "r2": ("regression", False, 1.0),
    "rmse": ("regression", False, -1.0),
    "mae": ("regression", False, -1.0),
}


class TabularConfig(ProblemConfig):
    """Pipeline search on a CSV or Parquet table (or ``sklearn:NAME``, a bundled table)."""

    kind: Literal["tabular"] = "tabular"
    data: AbsolutePath = Field(
        description="A CSV, TSV or Parquet file, or sklearn:breast_cancer (wine, digits, iris, diabetes)."
    )
    target: str = Field("target", description="The column to predict (anywhere in the table).")
    task: Literal["auto", "classification", "regression"] = Field(
        "auto", description="auto: classification for strings, booleans and integers with at most 20 values."
    )
    metric: Literal[
        "auto", "accuracy", "balanced_accuracy", "f1_macro", "roc_auc", "log_loss", "r2", "rmse", "mae"
    ] = Field("auto", description="What the search maximises (error metrics negated); auto: accuracy or r2.")
    folds: int = Field(5, ge=2, le=20, description="Cross-validation folds of the search part.")
    test_fraction: float = Field(
        0.2, ge=0, lt=1, description="Share of the table held out for the final test (0 with test_data)."
    )
    test_data: AbsolutePath | None = Field(
        None, description="A separate test table (same columns), instead of cutting one from data."
    )
    space: PipelineSpaceConfig = Field(PipelineSpaceConfig(), description="Which steps the search may use.")
    threads: int = Field(
        1, ge=1, description="BLAS and OpenMP threads per evaluation (workers x threads <= cores)."
    )
    max_memory_mb: int | None = Field(
        None,
        ge=64,
        description="Address-space limit of a worker process evaluating candidates: a pipeline that needs "
        "more fails with a MemoryError instead of taking the machine down (Linux and macOS; not applied "
        "in the serial backend's own process).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TabularConfig:
        if self.test_data is None and self.test_fraction == 0:
            raise ValueError(
                "test_fraction 0 needs test_data (the final test needs rows the search never saw)"
            )
        if self.test_data is not None and self.test_fraction > 0 and "test_fraction" in self.model_fields_set:
            raise ValueError("give test_data or test_fraction, not both")
        if self.metric != "auto" and self.task != "auto" and METRICS[self.metric][0] != self.task:
            raise ValueError(
                f"metric {self.metric} is for {METRICS[self.metric][0]}, the task is {self.task}"
            )
        return self


def score(
    metric: str, y: np.ndarray, pred: np.ndarray | None, proba: np.ndarray | None, classes: int
) -> float:
    """``metric`` of predictions (or probabilities, for ROC AUC and log loss), as is (not negated)."""
    from sklearn import metrics

    if metric == "accuracy":
        return float(metrics.accuracy_score(y, pred))
    if metric == "balanced_accuracy":
        with warnings.catch_warnings():  # a fold missing a class warns; the score is still defined
            warnings.simplefilter("ignore")
            return float(metrics.balanced_accuracy_score(y, pred))
    if metric == "f1_macro":
        return float(metrics.f1_score(y, pred, average="macro", labels=np.arange(classes), zero_division=0))
    if metric in ("roc_auc", "log_loss"):
        if proba is None:
            raise ValueError(f"{metric} scores probabilities")
        labels = np.arange(classes)
        if metric == "log_loss":
            return float(metrics.log_loss(y, proba, labels=labels))
        if classes == 2:
            return float(metrics.roc_auc_score(y, proba[:, 1]))
        return float(metrics.roc_auc_score(y, proba, multi_class="ovr", labels=labels))
    if metric == "r2":
        return float(metrics.r2_score(y, pred))
    if metric == "rmse":
        return float(np.sqrt(metrics.mean_squared_error(y, pred)))
    if metric == "mae":
        return float(metrics.mean_absolute_error(y, pred))
    raise ValueError(f"unknown metric {metric!r}")


def _limit_memory(megabytes: int | None) -> None:
    """Cap this process's address space (only in worker processes: never the driver's own)."""
    import multiprocessing

    if megabytes is None or multiprocessing.parent_process() is None:
        return
    try:
        import resource

        limit = megabytes * 2**20
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY or soft > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):  # no such limit on this platform
        return


class TabularProblem(SpaceProblem):
    """Whole scikit-learn pipelines scored by cross-validation (see the module docstring)."""

    kind = "tabular"
    config_class = TabularConfig
    example = {"kind": "tabular", "data": "sklearn:wine", "folds": 3}
    direction = "maximize"
    spaces: ClassVar[tuple[type[SearchSpace], ...]] = (PipelineSpace,)
    candidates_per_chunk: ClassVar[int | None] = 1  # fits of uneven length: one per task
    recorded_metrics = ("fit_seconds", "steps", "cv_std")
    config: TabularConfig

    def __init__(self, config: TabularConfig, shared: dict[str, np.ndarray] | None = None):
        super().__init__(config, shared)
        self.table = table = load_table(config.data, config.target, config.task, min_class=2)
        self.metric = (
            config.metric
            if config.metric != "auto"
            else ("accuracy" if table.task == "classification" else "r2")
        )
        task, self.needs_proba, self.sign = METRICS[self.metric]
        if task != table.task:
            raise TableError(
                f"metric {self.metric} is for {task}, but {config.target!r} is a {table.task} target"
            )
        if config.test_data is not None:
            self.search_rows = np.arange(table.rows)
            self.test_table: Table = self._load_test(config.test_data)
            self.test_rows = np.arange(self.test_table.rows)
        else:
            self.search_rows, self.test_rows = self._split(table, config.test_fraction)
            self.test_table = table
        self.folds = self._folds()

    # -- data ---------------------------------------------------------------------------------
    def data_digest(self) -> str:
        """The table searched and the test table (the same one when the test part is cut from it)."""
        tables = [self.table] if self.test_table is self.table else [self.table, self.test_table]
        return digest(*(part for t in tables for part in (
            t.numeric, t.categorical, t.numeric_names, t.categorical_names, t.y, t.classes)))  # fmt: skip

    def _load_test(self, source: str) -> Table:
        test = load_table(source, self.config.target, self.table.task, min_class=1)
        if (test.numeric_names, test.categorical_names) != (
            self.table.numeric_names,
            self.table.categorical_names,
        ):
            raise TableError(f"{source}: its columns differ from those of {self.config.data}")
        if self.table.task == "classification":  # class codes of the search table
            names = [test.classes[c] for c in test.y]
            unknown = sorted(set(names) - set(self.table.classes))
            if unknown:
                raise TableError(f"{source}: class {unknown[0]!r} does not occur in {self.config.data}")
            test.y = np.array([self.table.classes.index(n) for n in names], dtype=np.int64)
            test.classes = self.table.classes
        return test

    @staticmethod
    def _split(table: Table, fraction: float) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import train_test_split

        rows = np.arange(table.rows)
        stratify = table.y if table.task == "classification" else None
        search, test = train_test_split(rows, test_size=fraction, random_state=_SPLIT_SEED, stratify=stratify)
        return np.sort(search), np.sort(test)

    def _folds(self, shuffle: int = _SPLIT_SEED) -> list[tuple[np.ndarray, np.ndarray]]:
        """Rows (training, held-out) of each fold of the search part, shuffled by ``shuffle``
        (stratified for classification); the search's own folds use the fixed split seed."""
        from sklearn.model_selection import KFold, StratifiedKFold

        y = self.table.y[self.search_rows]
        if self.table.task == "classification":
            smallest = int(np.bincount(y).min())
            if smallest < self.config.folds:
                raise TableError(
                    f"{self.config.data}: a class has {smallest} rows in the search part, fewer than the "
                    f"{self.config.folds} folds (lower folds)"
                )
            splitter: Any = StratifiedKFold(self.config.folds, shuffle=True, random_state=shuffle)
        else:
            splitter = KFold(self.config.folds, shuffle=True, random_state=shuffle)
        return [(self.search_rows[a], self.search_rows[b]) for a, b in splitter.split(np.zeros(len(y)), y)]

    @functools.cached_property
    def facts(self) -> Facts:
        t = self.table
        fold_rows = min(len(train) for train, _ in self.folds)
        levels = sum(
            len({v for v in t.categorical[:, k] if v is not None}) for k in range(t.categorical.shape[1])
        )
        return Facts(
            task=t.task,
            samples=fold_rows,
            numeric=len(t.numeric_names),
            categorical=len(t.categorical_names),
            encoded=len(t.numeric_names) + levels,
            classes=len(t.classes),
            proba=self.needs_proba,
            installed=Facts.optional_libraries(),
        )

    @functools.cached_property
    def search_space(self) -> PipelineSpace:  # type: ignore[override]
        return PipelineSpace(self.config.space, self.facts)

    # -- evaluation ---------------------------------------------------------------------------
    def build(self, genome: Pipeline, seed: int) -> Any:
        """The unfitted ``sklearn.pipeline.Pipeline`` of ``genome``."""
        t = self.table
        return describe_pipeline(genome, self.facts, t.numeric_names, t.categorical_names, seed).build()

    def _fit_score(
        self, genome: Pipeline, seed: int, train: np.ndarray, test: np.ndarray, table: Table
    ) -> float:
        model = self.build(genome, seed)
        model.fit(self.table.frame(train), self.table.y[train])
        x = table.frame(test)
        pred = proba = None
        if self.needs_proba:
            proba = model.predict_proba(x)
        else:
            pred = model.predict(x)
        return score(self.metric, table.y[test], pred, proba, len(self.table.classes))

    def evaluate(self, params: list[Any], seeds: np.ndarray, context: Context) -> list[EvalResult]:
        _limit_memory(self.config.max_memory_mb)
        return [self._one(g, int(s)) for g, s in zip(params, seeds, strict=True)]

    def _one(self, genome: Pipeline, seed: int) -> EvalResult:
        from threadpoolctl import threadpool_limits

        seed = seed % 2**31  # scikit-learn's random_state range
        start = time.perf_counter()
        scores = []
        try:
            with threadpool_limits(self.config.threads), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence and the like: the score says enough
                for train, test in self.folds:
                    scores.append(self._fit_score(genome, seed, train, test, self.table))
        except MemoryError:
            return EvalResult(
                float("nan"), error=f"out of memory (max_memory_mb {self.config.max_memory_mb})"
            )
        except Exception as exc:  # a pipeline that cannot fit this data fails, the search goes on
            return EvalResult(
                float("nan"),
                error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300],
            )
        seconds = time.perf_counter() - start
        value = float(np.mean(scores))
        metrics = {
            self.metric: value,
            "cv_std": float(np.std(scores)),
            "fit_seconds": seconds,
            "steps": float(genome.size()),
        }
        return EvalResult(self.sign * value, metrics)

    def validate(self, params: Any, seed: int, cases: int, context: Context) -> TestResult:
        """Cross-validation of the search part again, ``cases`` times, each with folds shuffled by a
        fresh seed (never the test part): a fitter estimate for the hall of fame than the one noisy
        score it was selected on (``validation_episodes``)."""
        from threadpoolctl import threadpool_limits

        values = []
        with threadpool_limits(self.config.threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in range(cases):
                shuffle = (seed + 7919 * k) % 2**31
                folds = self._folds(shuffle)
                values.append(
                    float(np.mean([self._fit_score(params, shuffle, a, b, self.table) for a, b in folds]))
                )
        scores = [self.sign * v for v in values]
        return TestResult(float(np.mean(scores)), scores, {self.metric: float(np.mean(values))})

    def test(self, params: Any, seed: int, cases: int, context: Context) -> TestResult:
        """Fit on the whole search part, score the test part (once)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(self.config.threads), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = self._fit_score(params, seed % 2**31, self.search_rows, self.test_rows, self.test_table)
        return TestResult(self.sign * value, [self.sign * value], {self.metric: value})
