"""Architecture search for classifiers: fitness is a low-fidelity proxy of how well an evolved
architecture, trained with its evolved recipe, classifies.

The training split of the dataset is cut once (stratified, fixed seed) into a search-training part
and a validation part; the proxy trains a candidate for ``proxy_epochs`` epochs on ``proxy_fraction``
of the search-training part and scores the chosen metric (accuracy, macro F1, precision or recall)
on the validation part. The test split is never seen during the search: it belongs to
``evoforge train-final``. A candidate that breaks a constraint, diverges, raises or runs past
``max_seconds`` fails with its reason recorded and is scored worst; the search goes on.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evoforge.core.problem import Context, EvalResult, Lineage, ProblemConfig, TestResult, digest
from evoforge.core.space import SearchSpace
from evoforge.data.datasets import Dataset, DatasetSpec, load_dataset
from evoforge.problems.base import SpaceProblem, torch_threads
from evoforge.problems.curve_predictor import static_features
from evoforge.spaces import ArchitectureSpaceConfig, build_network, make_space
from evoforge.spaces.base import ArchitectureSpace
from evoforge.spaces.chain import ChainSpaceConfig

# torch and the training loop are imported where they are used: importing the problem registry (every
# run, every worker) must not cost torch's second of start-up.

__all__ = [
    "ClassificationConfig",
    "ClassificationProblem",
    "EarlyStopConfig",
    "split_validation",
    "train_final",
]

_SPLIT_SEED = 7_391_113


class EarlyStopConfig(BaseModel):
    """Learning-curve early stopping: after each proxy epoch t a candidate is scored on (a fixed
    sample of) the validation split, and stopped once it cannot reach the current ``k``-th best
    completed candidate on the same sample. Two rules say when it cannot:

    * ``max_gain``: even the largest gain from epoch t to the end seen in any completed candidate
      (plus ``margin``) would leave it below. Curves trained under the same proxy are compared, so a
      schedule that saves its gains for the last epochs (cosine decay) raises the allowed gain instead
      of fooling an extrapolation. Conservative: it stops only the clearly hopeless.
    * ``predictor``: a regression from the partial curve and the candidate's size and learning rate to
      its final score, fitted on the completed candidates (:mod:`evoforge.problems.curve_predictor`,
      Baker et al. 2017), predicts below by more than ``z`` of its cross-validated misses (plus
      ``margin``).

    A candidate's fitness is always its metric on the whole validation split; the sample only keeps
    the per-epoch scoring cheap."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: Literal["max_gain", "predictor"] = Field(
        "max_gain", description="max_gain (the largest gain seen) or predictor (a fitted regression)."
    )
    z: float = Field(
        1.645,
        ge=0,
        description="predictor: how many cross-validated misses the prediction may be short by "
        "(1.645: a 5% chance of stopping a candidate that would have reached the k-th best, for "
        "Gaussian misses).",
    )

    k: int = Field(10, ge=1, description="A candidate must still be able to reach the k-th best.")
    min_completed: int = Field(
        10, ge=1, description="Completed candidates (full proxy) needed before any candidate is stopped."
    )
    margin: float = Field(0.0, ge=0, description="Headroom added to the largest observed gain.")
    curve_examples: int | None = Field(
        1000,
        ge=100,
        description="Validation examples (a fixed random sample) the curves are scored on after each "
        "epoch; None scores the whole split every epoch.",
    )

    @model_validator(mode="after")
    def _enough_history(self) -> EarlyStopConfig:
        if self.min_completed < self.k:
            raise ValueError(f"min_completed ({self.min_completed}) must be at least k ({self.k})")
        return self


class ClassificationConfig(ProblemConfig):
    """Proxy fitness of architectures (chain, cell or tree) on a classification dataset."""

    kind: Literal["classification"] = "classification"
    dataset: DatasetSpec = Field(DatasetSpec(), description="The data (see evoforge.data.DatasetSpec).")
    space: ArchitectureSpaceConfig = Field(
        ChainSpaceConfig(),
        description="The search space and its constraints: kind chain (the default), cell or tree, and its settings.",
    )
    metric: Literal["accuracy", "f1", "precision", "recall"] = Field(
        "accuracy", description="What the search maximises, on the validation split (f1 etc. are macro)."
    )
    validation_fraction: float = Field(
        0.15, gt=0, lt=1, description="Share of the training split held out to score candidates."
    )
    proxy_fraction: float = Field(
        1.0, gt=0, le=1, description="Share of the remaining training data a candidate trains on."
    )
    proxy_epochs: int | None = Field(
        5,
        ge=1,
        description="Epochs a candidate trains for during the search (its recipe's schedule is compressed "
        "into them). None trains each candidate for its recipe's own epochs: full fidelity, and the epochs "
        "gene is then selected too; otherwise that gene only sets train-final's default.",
    )
    max_seconds: float | None = Field(
        None, gt=0, description="Training seconds a candidate may take; past it, it fails (not reproducible)."
    )
    tie_break: bool = Field(
        True,
        description="Fitness is the metric minus 0.5 / (validation examples) x (1 - exp(-validation loss)): "
        "less than half an example, so it only orders candidates the metric ranks equal (small validation "
        "splits saturate: many candidates reach 100%), toward confident, correct networks.",
    )
    early_stop: EarlyStopConfig | None = Field(
        None,
        description="Stop hopeless candidates from their validation curve (None: train every one fully).",
    )
    folds: int = Field(
        0,
        ge=0,
        description="If >= 2, fitness is the mean over stratified cross-validation folds of the whole "
        "training split (repeated fold_repeats times with fresh fold assignments) instead of one "
        "validation split: for data too small for a trustworthy validation split.",
    )
    fold_repeats: int = Field(1, ge=1, description="How many times the folds are drawn afresh (with folds).")
    small_data: bool = Field(
        False,
        description="Presets for a handful of images per class, each filled in only where the config "
        "leaves it unset: 5 folds repeated twice as fitness, 30 proxy epochs, batches of 8/16/32 and heavy "
        "augmentation genes (shifts 1-3, flips, cutout up to 0.35).",
    )
    inherit_weights: bool = Field(
        False,
        description="Weight inheritance (Real et al. 2017): a child starts from its parent's trained "
        "weights wherever their layers match, so training accumulates down a lineage and short proxies "
        "rank better; each candidate's trained weights are kept in the run's states/ folder. Off by "
        "default: a candidate's score then depends on its ancestors, not on it alone.",
    )
    device: str = Field("cpu", description="cpu, cuda, cuda:N or auto (CUDA when available).")
    threads: int | None = Field(
        None,
        ge=1,
        description="Torch CPU threads per evaluation (default: on the process backend the cores divided "
        "among its workers, otherwise 1).",
    )

    @field_validator("device")
    @classmethod
    def _usable_device(cls, value: str) -> str:
        from evoforge.problems.training import check_device

        return check_device(value)

    @model_validator(mode="before")
    @classmethod
    def _chain_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("small_data"):
            data = _small_data_presets(data)
        if isinstance(data, dict) and isinstance(data.get("space"), dict) and "kind" not in data["space"]:
            data = dict(data, space=dict(data["space"], kind="chain"))
        return data

    @model_validator(mode="after")
    def _folds_alone(self) -> ClassificationConfig:
        if self.folds == 1:
            raise ValueError("folds must be 0 (one validation split) or at least 2")
        if self.folds and self.inherit_weights:
            raise ValueError("inherit_weights needs one validation split (folds 0): one model per candidate")
        if self.folds and self.early_stop is not None:
            raise ValueError(
                "early_stop needs one validation split (folds 0): curves are not averaged over folds"
            )
        return self

    @model_validator(mode="after")
    def _early_stop_needs_fixed_epochs(self) -> ClassificationConfig:
        if self.early_stop is not None and (self.proxy_epochs is None or self.proxy_epochs < 2):
            raise ValueError(
                "early_stop needs proxy_epochs of at least 2 (curves are compared epoch by epoch)"
            )
        return self


#: small_data: the problem's and the space's settings it fills in where the config leaves them unset
_SMALL_DATA = {"folds": 5, "fold_repeats": 2, "proxy_epochs": 30}
_SMALL_SPACE = {  # no cap on size: on validation draws a 30,000-parameter cap lost (BENCHMARKS.md)
    "batch_sizes": [8, 16, 32],
    "shifts": [1, 2, 3],
    "flips": [False, True],
    "cutouts": [0.0, 0.2, 0.35],
    "epochs_range": [30, 100],
}


def _small_data_presets(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with the small-data presets where it sets nothing."""
    space = data.get("space") or {}
    if not isinstance(space, dict):
        return data
    space = {**{k: v for k, v in _SMALL_SPACE.items() if k not in space}, **space}
    return {**{k: v for k, v in _SMALL_DATA.items() if k not in data}, **data, "space": space}


def fold_splits(y: np.ndarray, folds: int, repeats: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training, held-out) indices of ``repeats`` stratified ``folds``-fold splits with fixed seeds:
    every example is held out once per repeat.

    >>> splits = fold_splits(np.array([0, 0, 0, 1, 1, 1]), 3, 2)
    >>> len(splits), sorted(np.concatenate([va for _, va in splits[:3]]).tolist())
    (6, [0, 1, 2, 3, 4, 5])
    """
    out = []
    for r in range(repeats):
        rng = np.random.default_rng(_SPLIT_SEED + 1000 + r)
        fold_of = np.zeros(len(y), dtype=np.int64)
        for label in np.unique(y):
            members = np.flatnonzero(y == label)
            rng.shuffle(members)
            fold_of[members] = (np.arange(len(members)) + int(rng.integers(folds))) % folds
        out += [(np.flatnonzero(fold_of != k), np.flatnonzero(fold_of == k)) for k in range(folds)]
    return out


class _HopelessError(Exception):
    """Raised from the epoch callback to stop a candidate that cannot reach the k-th best."""


def split_validation(y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices (search-training, validation) of a stratified split with a fixed seed.

    >>> tr, va = split_validation(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.25)
    >>> len(tr), len(va), sorted(set(np.array([0, 0, 0, 0, 1, 1, 1, 1])[va].tolist()))
    (6, 2, [0, 1])
    """
    rng = np.random.default_rng(_SPLIT_SEED)
    val = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        rng.shuffle(members)
        val[members[: max(1, int(round(fraction * len(members))))]] = True
    return np.flatnonzero(~val), np.flatnonzero(val)


class ClassificationProblem(SpaceProblem):
    """Chain architectures (with their recipes) scored by a proxy training run."""

    kind = "classification"
    config_class = ClassificationConfig
    example = {
        "kind": "classification",
        "dataset": {"name": "digits"},
        "proxy_epochs": 1,
        "proxy_fraction": 0.1,
        "threads": 1,
        "space": {"max_layers": 3, "max_params": 20_000, "channels": [8], "units": [16]},
    }
    direction = "maximize"
    spaces: ClassVar[tuple[type[SearchSpace], ...]] = (ArchitectureSpace,)
    candidates_per_chunk: ClassVar[int | None] = 1  # training runs of uneven length: one per task
    recorded_metrics = ("params", "flops", "latency_ms", "train_seconds", "val_loss", "epochs_trained")
    config: ClassificationConfig

    def __init__(self, config: ClassificationConfig, shared: dict[str, np.ndarray] | None = None):
        super().__init__(config, shared)
        if shared:
            self.x, self.y = shared["x"], shared["y"]
            self.classes = int(shared["classes"])
        else:
            data: Dataset = load_dataset(config.dataset)
            self.x, self.y, self.classes = data.x_train, data.y_train, data.classes
        train_idx, self.val_idx = split_validation(self.y, config.validation_fraction)
        if config.proxy_fraction < 1:
            keep = split_validation(self.y[train_idx], 1 - config.proxy_fraction)[0]
            train_idx = train_idx[keep]
        self.train_idx = train_idx
        self.input_shape = tuple(int(d) for d in self.x.shape[1:])
        self.device = config.device
        self._predictor: tuple[int, Any] | None = None  # early stopping's predictor, per context

    def data_digest(self) -> str:
        """The search's images and labels (the test split is train-final's, read again there)."""
        return digest(self.x, self.y, int(self.classes))

    def shared_inputs(self) -> dict[str, np.ndarray]:
        return {"x": self.x, "y": self.y, "classes": np.array(self.classes)}

    @functools.cached_property
    def search_space(self) -> ArchitectureSpace:  # type: ignore[override]
        """The chain or cell space the candidates come from."""
        return make_space(self.config.space, self.input_shape, self.classes)

    def evaluate(self, params: list[Any], seeds: np.ndarray, context: Context) -> list[EvalResult]:
        import torch

        torch.set_num_threads(self._threads)
        return [self._one(g, int(s), context) for g, s in zip(params, seeds, strict=True)]

    @property
    def inherits(self) -> bool:
        return self.config.inherit_weights

    def evaluate_lineage(
        self, params: list[Any], seeds: np.ndarray, context: Context, lineage: Lineage
    ) -> list[EvalResult]:
        """:meth:`evaluate`, each candidate starting from its parent's saved weights where its layers
        match them (:mod:`evoforge.problems.inheritance`) and saving its own trained weights."""
        import torch

        torch.set_num_threads(self._threads)
        return [
            self._fit(
                g, int(s), context, self.train_idx, self.val_idx, lineage=(lineage.folder, gid, parents)
            )
            for g, s, gid, parents in zip(params, seeds, lineage.ids, lineage.parents, strict=True)
        ]

    @functools.cached_property
    def _threads(self) -> int:
        return torch_threads(self.config.threads)

    # -- learning-curve early stopping ------------------------------------------------------------
    def initial_context(self) -> Context:
        if self.config.early_stop is None:
            return {}
        # best: the k best completed metrics, descending; gain[t]: the largest rise from after epoch
        # t + 1 to the end among completed candidates; completed: how many finished the full proxy;
        # for the predictor also every completed curve and its candidate's static features
        epochs = self.config.proxy_epochs or 2  # early stopping needs proxy_epochs >= 2 (validated)
        context: Context = {"best": np.zeros(0), "gain": np.zeros(epochs - 1), "completed": 0}
        if self.config.early_stop.rule == "predictor":
            context.update(curves=np.zeros((0, epochs)), static=np.zeros((0, 3)))
        return context

    def update_context(self, context: Context, aux: list[dict[str, np.ndarray]]) -> Context:
        done = [a for a in aux if "curve" in a]
        if self.config.early_stop is None or not done:
            return context
        curves = [a["curve"] for a in done]
        best = np.concatenate([context["best"], [c[-1] for c in curves]])
        gain = np.max([context["gain"], *[c[-1] - c[:-1] for c in curves]], axis=0)
        updated: Context = {
            "best": np.sort(best)[::-1][: self.config.early_stop.k],
            "gain": gain,
            "completed": int(context["completed"]) + len(curves),
        }
        if "curves" in context:
            updated["curves"] = np.vstack([context["curves"], *curves])
            updated["static"] = np.vstack([context["static"], *[a["static"] for a in done]])
        return updated

    def _hopeless(self, context: Context | None, curve: list[float], static: np.ndarray) -> bool:
        """Whether a candidate whose validation curve so far is ``curve`` cannot reach the k-th best
        completed candidate (:class:`EarlyStopConfig`); never before enough candidates completed."""
        rule = self.config.early_stop
        if rule is None or not context or int(context["completed"]) < rule.min_completed:
            return False
        kth, t = float(context["best"][rule.k - 1]), len(curve)
        if rule.rule == "max_gain":
            return curve[-1] + float(context["gain"][t - 1]) + rule.margin < kth
        from evoforge.problems.curve_predictor import CurvePredictor

        key = int(context["completed"])  # the context of one generation: the same completed count
        if self._predictor is None or self._predictor[0] != key:
            self._predictor = (key, CurvePredictor(context["curves"], context["static"]))
        mean, miss = self._predictor[1].predict(t, np.asarray(curve), static)
        return mean + rule.z * miss + rule.margin < kth

    @functools.cached_property
    def curve_idx(self) -> np.ndarray:
        """Positions in the validation split that learning curves are scored on (a fixed sample)."""
        n = len(self.val_idx)
        size = self.config.early_stop.curve_examples if self.config.early_stop is not None else None
        if size is None or size >= n:
            return np.arange(n)
        return np.sort(np.random.default_rng(_SPLIT_SEED + 1).choice(n, size, replace=False))

    def _curve_point(self, y: np.ndarray, pred: np.ndarray) -> float:
        if self.config.metric == "accuracy":
            return float(np.mean(y == pred))
        from evoforge.problems.training import classification_metrics

        return classification_metrics(y, pred, self.classes)[self.config.metric]

    @functools.cached_property
    def folds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The cross-validation splits of the training split (none without ``folds``)."""
        if not self.config.folds:
            return []
        return fold_splits(self.y, self.config.folds, self.config.fold_repeats)

    def _one(self, genome: Any, seed: int, context: Context | None) -> EvalResult:
        if not self.folds:
            return self._fit(genome, seed, context, self.train_idx, self.val_idx)
        results = []
        for k, (train_idx, val_idx) in enumerate(self.folds):
            result = self._fit(genome, seed + k, None, train_idx, val_idx)
            if result.error is not None:
                return result  # a candidate failing on one fold fails
            results.append(result)
        metrics = {
            key: float(np.mean([r.metrics[key] for r in results]))
            for key in results[0].metrics
            if all(key in r.metrics for r in results)
        }
        metrics["fold_sd"] = float(np.std([r.metrics[self.config.metric] for r in results]))
        return EvalResult(float(np.mean([r.fitness for r in results])), metrics=metrics)

    def _fit(
        self,
        genome: Any,
        seed: int,
        context: Context | None,
        train_idx: np.ndarray,
        val_idx: np.ndarray,
        lineage: tuple[str, str, tuple[str, ...]] | None = None,
    ) -> EvalResult:
        """``genome`` trained by its proxy on ``train_idx`` and scored on ``val_idx``; with ``lineage``
        (states folder, own id, parents' ids) it starts from a parent's weights and saves its own."""
        import torch

        from evoforge.problems.training import (
            DivergedError,
            OutOfTimeError,
            classification_metrics,
            latency_ms,
            predict_with_loss,
            resolve_device,
            train,
        )

        violation = self.search_space.violation(genome)
        if violation is not None:
            return EvalResult(float("nan"), error=f"constraint: {violation}")
        torch.manual_seed(seed % 2**63)  # initial weights
        built = self.search_space.build(genome)
        x_tr, y_tr = self.x[train_idx], self.y[train_idx]
        built.model.set_standardisation(x_tr)
        sizes = {"params": float(built.params), "flops": float(built.flops)}
        if lineage is not None:
            from evoforge.problems.inheritance import inherit, load_state

            parent_state = load_state(lineage[0], lineage[2])
            sizes["inherited"] = inherit(built.model, parent_state) if parent_state is not None else 0.0
        device = resolve_device(self.device)
        x_val, y_val = self.x[val_idx], self.y[val_idx]
        epochs = self.config.proxy_epochs or genome.recipe.epochs
        static = static_features(built.params, built.flops, genome.recipe.lr)
        curve: list[float] = []
        stopped: list[int] = []
        if self.config.early_stop is not None:
            x_curve, y_curve = x_val[self.curve_idx], y_val[self.curve_idx]

        def watch(epoch: int, _loss: float) -> None:
            if epoch == epochs:
                return
            curve.append(self._curve_point(y_curve, predict_with_loss(built.model, x_curve, None, device)[0]))
            built.model.train()
            if self._hopeless(context, curve, static):
                stopped.append(epoch)
                raise _HopelessError

        start = time.perf_counter()
        try:
            log = train(
                built.model,
                x_tr,
                y_tr,
                genome.recipe,
                epochs,
                seed=seed,
                device=device,
                seconds=self.config.max_seconds,
                on_epoch=watch if self.config.early_stop is not None else None,
            )
        except (DivergedError, OutOfTimeError) as exc:
            return EvalResult(float("nan"), metrics=sizes, error=str(exc))
        except _HopelessError:
            log = None
        if lineage is not None:
            from evoforge.problems.inheritance import save_state

            save_state(built.model, lineage[0], lineage[1])
        pred, val_loss = predict_with_loss(built.model, x_val, y_val, device)
        scores = classification_metrics(y_val, pred, self.classes)
        metrics = {k: scores[k] for k in ("accuracy", "f1", "precision", "recall")}
        metrics.update(sizes, train_seconds=time.perf_counter() - start, val_loss=val_loss)
        metrics["epochs_trained"] = float(stopped[0] if stopped else epochs)
        metrics["latency_ms"] = latency_ms(built.model, x_val, device)
        aux: dict[str, np.ndarray] = {}
        if log is not None:
            metrics["final_loss"] = log.losses[-1]
            if self.config.early_stop is not None:
                aux["curve"] = np.array([*curve, self._curve_point(y_curve, pred[self.curve_idx])])
                aux["static"] = static
        else:
            metrics["early_stopped"] = 1.0
        fitness = metrics[self.config.metric]
        if self.config.tie_break:
            # less than half a validation example, so it only orders networks the metric cannot tell apart
            fitness -= 0.5 / len(val_idx) * (1.0 - math.exp(-val_loss))
        return EvalResult(fitness, metrics=metrics, aux=aux)

    @property
    def test_label(self) -> str:
        if self.config.folds:
            return "cross-validated score of the proxy retrained (the test split is train-final's)"
        return "validation score of the proxy retrained (the test split is train-final's)"

    def test(self, params: Any, seed: int, cases: int, context: Context) -> TestResult:
        """The proxy again with ``cases`` fresh training seeds, scored on the validation split: the test
        split is kept for ``train-final``."""
        results = self.evaluate([params] * cases, seed + np.arange(cases), {})  # never stopped early
        scores = [r.fitness for r in results]
        return TestResult(float(np.mean(scores)), scores, results[0].metrics)


def train_final(
    genome: Any,
    data: Dataset,
    out_dir: Path,
    *,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    threads: int | None = None,
    seconds: float | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    on_plan: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train ``genome`` from scratch on the whole training split with its recipe (``epochs`` overrides
    the recipe's; with ``seconds``, as many of those epochs as fit in that many seconds of training,
    counted before it starts from a few timed batches (:func:`epoch_seconds`) and recorded, so
    ``epochs`` of that count repeats the training exactly; ``threads`` sets torch's CPU threads, by
    default the cores idle when it starts; ``on_plan(epochs, epoch_seconds)`` hears the count chosen),
    score it on the test split and write ``out_dir``: ``metrics.json`` (accuracy, macro
    F1, precision, recall, confusion matrix, size, time), ``model.pt`` (a state dict, loadable with
    ``torch.load(weights_only=True)``), ``model.ts`` (TorchScript) and ``arch.json``. Files are written
    to a temporary folder renamed into place, so an interrupted run leaves nothing half-written.
    """
    import json
    import shutil
    import time
    import warnings

    import torch

    from evoforge.backends.base import idle_cores
    from evoforge.problems.training import (
        classification_metrics,
        epoch_seconds,
        predict,
        resolve_device,
        train,
    )

    dev = resolve_device(device)
    # by default the cores idle now: torch's one thread per core stalls (100x and more) when other
    # work keeps a core busy; metrics.json records the count, which --threads reproduces exactly
    torch.set_num_threads(threads or idle_cores())
    torch.manual_seed(seed)
    built = build_network(genome, data.input_shape, data.classes)
    built.model.set_standardisation(data.x_train)
    n_epochs = epochs if epochs is not None else genome.recipe.epochs
    started = time.perf_counter()
    time_box: dict[str, Any] = {}
    if seconds is not None:  # a time budget: the epochs that fit, at most n_epochs
        estimate = epoch_seconds(built.model, data.x_train, data.y_train, genome.recipe, dev)
        time_box = {"seconds": seconds, "epoch_estimate_seconds": estimate, "epochs_at_most": n_epochs}
        n_epochs = max(1, min(n_epochs, int(seconds // estimate)))
        if on_plan is not None:
            on_plan(n_epochs, estimate)
    log = train(
        built.model,
        data.x_train,
        data.y_train,
        genome.recipe,
        n_epochs,
        seed=seed,
        device=dev,
        on_epoch=on_epoch,
    )
    pred = predict(built.model, data.x_test, dev)
    metrics = classification_metrics(data.y_test, pred, data.classes)
    metrics.update(
        dataset=data.name,
        train_examples=len(data.x_train),
        test_examples=len(data.x_test),
        epochs=n_epochs,
        seed=seed,
        threads=torch.get_num_threads(),
        params=built.params,
        flops=built.flops,
        train_seconds=log.seconds,
        total_seconds=time.perf_counter() - started,
        final_loss=log.losses[-1],
        class_names=list(data.class_names),
        # what evoforge.load_model and evoforge predict need to feed the model new raw inputs
        input_shape=list(data.input_shape),
        divide_by=data.divide_by,
        feature_names=list(data.feature_names),
    )
    if time_box:  # load-dependent: the count chosen, and what it was chosen from
        metrics["time_box"] = time_box
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model = built.model.cpu().eval()
    torch.save(model.state_dict(), tmp / "model.pt")
    with warnings.catch_warnings():  # TorchScript is deprecated in favour of torch.export, still asked for
        warnings.simplefilter("ignore")
        try:
            exported = torch.jit.script(model)
        except Exception:  # noqa: BLE001  (cells index their edges by node: traced instead, a static graph)
            exported = torch.jit.trace(model, torch.as_tensor(data.x_test[:2], dtype=torch.float32))
        exported.save(str(tmp / "model.ts"))
    (tmp / "arch.json").write_text(json.dumps(genome.to_json(), indent=1))
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return metrics


def _train_member(args: tuple) -> dict[str, Any]:
    """One ensemble member in a worker process: (genome JSON, dataset spec, folder, epochs, seed,
    device, threads, seconds) -> its metrics."""
    from evoforge.data.datasets import DatasetSpec, load_dataset
    from evoforge.spaces import architecture_from_json

    genome, spec, folder, epochs, seed, device, threads, seconds = args
    data = load_dataset(DatasetSpec.model_validate(spec))
    return train_final(
        architecture_from_json(genome),
        data,
        Path(folder),
        epochs=epochs,
        seed=seed,
        device=device,
        threads=threads,
        seconds=seconds,
    )


def train_ensemble(
    genomes: list[Any],
    spec: dict[str, Any],
    out_dir: Path,
    *,
    epochs: int | None = None,
    seed: int = 0,
    device: str = "cpu",
    workers: int = 1,
    threads: int | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    """A population ensemble (the survey's "use the population, not just its best"): each of
    ``genomes`` (the hall of fame's top k, fittest first) trained by :func:`train_final` into
    ``out_dir/member-K`` (``workers`` at a time, each on ``threads`` torch threads), then their class
    probabilities averaged on the test split. With ``seconds``, each member trains the epochs that fit
    in its share of them (the members run in ``ceil(k / workers)`` rounds). ``metrics.json`` holds the ensemble's metrics, every
    member's, and the gain over member 1, the model ``train-final RUN`` alone gives (not over the
    member best on the test split, which would choose by the test). Written to a temporary folder
    renamed into place."""
    import json
    import shutil
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from evoforge.data.datasets import DatasetSpec, load_dataset
    from evoforge.problems.trained_model import load_model
    from evoforge.problems.training import classification_metrics

    started = time.perf_counter()
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rounds = -(-len(genomes) // max(1, workers))
    share = None if seconds is None else seconds / rounds
    jobs = [
        (g.to_json(), spec, str(tmp / f"member-{k + 1}"), epochs, seed, device, threads, share)
        for k, g in enumerate(genomes)
    ]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            members = list(pool.map(_train_member, jobs))
    else:
        members = [_train_member(job) for job in jobs]
    data = load_dataset(DatasetSpec.model_validate(spec))
    proba = np.mean(
        [
            load_model(tmp / f"member-{k + 1}").predict_proba(data.x_test, scaled=True)
            for k in range(len(jobs))
        ],
        axis=0,
    )
    metrics = classification_metrics(data.y_test, proba.argmax(axis=1), data.classes)
    keep = ("accuracy", "f1", "params", "flops", "train_seconds", "epochs", "time_box")
    metrics.update(
        ensemble=len(jobs),
        members=[{k: m[k] for k in keep if k in m} for m in members],
        gain_over_member_1=metrics["accuracy"] - members[0]["accuracy"],
        dataset=data.name,
        test_examples=len(data.x_test),
        params=sum(m["params"] for m in members),
        total_seconds=time.perf_counter() - started,
        class_names=list(data.class_names),
        input_shape=list(data.input_shape),
        divide_by=data.divide_by,
        feature_names=list(data.feature_names),
    )
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return metrics
