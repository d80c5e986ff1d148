"""Optimizer discovery: an update rule's fitness is how well it trains a suite of small tasks, relative
to Adam with its learning rate tuned on a grid.

For a task with validation loss ``L0`` before training, ``L`` after training with the rule and
``L_adam`` after training with tuned Adam (same seed: same data split, initial weights, minibatches),
the rule's normalised score is the share of Adam's progress it makes on a log scale::

    score = log(L0 / L) / log(L0 / L_adam)        (1 = Adam, > 1 = better; clipped to [-1, cap])

and its fitness the mean over the search tasks and seeds. A log scale makes a tenfold lower loss
worth the same on every task, whatever its units (cross-entropy, MSE, Rosenbrock's value); the cap
stops one task from dominating the mean. A run that diverges (a non-finite loss, or one 1,000 times
its start) scores the floor, -1, on its task and is recorded (``diverged/<task>``: the step); a rule
that diverges on every run, or that torch cannot run, fails: its error is recorded and it is scored
worst. (Failing a rule for one divergence would fail nearly every random rule early in a search:
Rosenbrock's gradients are in the hundreds, so any unnormalised rule blows up there.)

The rule's learning rate is relative to Adam's: on each task it runs at ``rule.lr * adam_lr / 1e-3``,
where ``adam_lr`` is Adam's tuned rate there, so a rule's ``lr`` means "what to use where Adam's best
rate is 1e-3" and one number serves tasks whose gradients differ by orders of magnitude. The
held-out tasks are never trained during the search; the run's test scores the best rule on them.
"""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator, model_validator

from evoforge.core.problem import Context, EvalResult, ProblemConfig, TestResult
from evoforge.core.space import SearchSpace
from evoforge.problems.base import SpaceProblem, torch_threads
from evoforge.spaces.update_rule import RuleSpace, RuleSpaceConfig, UpdateRule

__all__ = ["OptimizerSearchConfig", "OptimizerSearchProblem", "adam_baseline", "normalised_score"]

#: Adam's default learning rate: a rule's lr is relative to it
ADAM_DEFAULT_LR = 1e-3


class OptimizerSearchConfig(ProblemConfig):
    """Which tasks score a rule, how long each trains, and the space rules come from."""

    kind: str = "optimizer_search"
    search_tasks: tuple[str, ...] = Field(
        ("digits_mlp", "cancer_logreg", "rosenbrock", "adding_gru"),
        min_length=1,
        description="Tasks the search trains (see evoforge.problems.optimizer_tasks).",
    )
    heldout_tasks: tuple[str, ...] = Field(
        ("fashion_cnn", "wine_mlp", "diabetes_mlp", "digits_rnn"),
        description="Tasks only the final test trains.",
    )
    seeds: int = Field(1, ge=1, le=10, description="Seeds (data split, weights, batches) per search task.")
    test_seeds: int = Field(3, ge=1, le=10, description="Seeds per task in the held-out test.")
    budget: float = Field(1.0, gt=0, le=10, description="Scale of every task's training steps.")
    lr_grid: tuple[float, ...] = Field(
        tuple(float(10**e) for e in np.arange(-4.0, 0.01, 0.5)),
        min_length=2,
        description="Learning rates Adam is tuned over (per task, best mean loss over seeds).",
    )
    cap: float = Field(2.0, ge=1, description="Largest normalised score one task can add.")
    threads: int | None = Field(
        1, ge=1, description="Torch CPU threads per evaluation (None: a worker's share of the cores, else 1)."
    )
    space: RuleSpaceConfig = Field(default_factory=RuleSpaceConfig, description="The rules searched.")

    @field_validator("search_tasks", "heldout_tasks")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from evoforge.problems.optimizer_tasks import TASKS

        unknown = [t for t in value if t not in TASKS]
        if unknown:
            raise ValueError(f"unknown tasks {unknown} (tasks: {', '.join(TASKS)})")
        if len(set(value)) != len(value):
            raise ValueError(f"a task is listed twice: {list(value)}")
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> OptimizerSearchConfig:
        both = sorted(set(self.search_tasks) & set(self.heldout_tasks))
        if both:
            raise ValueError(f"tasks {both} are both searched and held out")
        return self


def _adam(params: Any, steps: int, lr: float) -> Any:
    import torch

    return torch.optim.Adam(params, lr=lr)


def _evolved(params: Any, steps: int, rule: UpdateRule, lr: float) -> Any:
    from evoforge.optim import EvolvedOptimizer

    return EvolvedOptimizer(params, rule, lr=lr, total_steps=steps)


def normalised_score(initial: float, final: float, adam_final: float, cap: float) -> float:
    """The share of tuned Adam's log-loss progress a run made (see the module docstring).

    >>> normalised_score(1.0, 0.01, 0.1, 2.0)  # a 100x drop where Adam made 10x
    2.0
    """
    if not math.isfinite(final) or final <= 0:
        return cap if final == 0 else -1.0
    progress = math.log(initial / max(adam_final, 1e-300))
    score = math.log(initial / final) / max(progress, 1e-3)
    return float(min(cap, max(-1.0, score)))


def _threads(n: int | None) -> None:
    """torch's threads for this problem's work: ``n``, or (None) a worker's share of the cores and one
    elsewhere, as every problem (:func:`torch_threads`); never torch's own one per core, which stalls
    beside other work and changes results with the machine."""
    import torch

    torch.set_num_threads(torch_threads(n))


def adam_baseline(tasks: tuple[str, ...], seeds: int, budget: float, grid: tuple[float, ...]) -> dict:
    """Adam tuned per task over ``grid``: {task: {"lr", "initial": [per seed], "final": [per seed]}},
    the rate with the lowest mean final loss over the seeds (a diverged run counts as infinite)."""

    from evoforge.problems.optimizer_tasks import run_task

    out = {}
    for task in tasks:
        best: tuple[float, float, list[float], list[float]] | None = None
        for lr in grid:
            runs = [run_task(task, functools.partial(_adam, lr=lr), s, budget=budget) for s in range(seeds)]
            finals = [r.final if r.diverged is None else math.inf for r in runs]
            mean = float(np.mean(finals))
            if best is None or mean < best[0]:
                best = (mean, lr, [r.initial for r in runs], finals)
        assert best is not None  # the grid is not empty (validated)
        _, lr, initial, finals = best
        out[task] = {"lr": lr, "initial": initial, "final": finals}
    return out


class OptimizerSearchProblem(SpaceProblem):
    """Update rules scored by the task suite, relative to tuned Adam."""

    kind = "optimizer_search"
    config_class = OptimizerSearchConfig
    example = {
        "kind": "optimizer_search",
        "search_tasks": ["rosenbrock"],
        "heldout_tasks": ["cancer_logreg"],
        "budget": 0.05,
        "test_seeds": 1,
        "lr_grid": [1e-3, 1e-2],
    }
    direction = "maximize"
    spaces: ClassVar[tuple[type[SearchSpace], ...]] = (RuleSpace,)
    candidates_per_chunk: ClassVar[int | None] = 1
    recorded_metrics = ("train_seconds",)
    config: OptimizerSearchConfig

    def __init__(self, config: OptimizerSearchConfig, shared: dict[str, np.ndarray] | None = None):
        super().__init__(config, shared)
        from evoforge.problems.optimizer_tasks import TASKS

        needed = {d for t in (*config.search_tasks, *config.heldout_tasks) if (d := TASKS[t].needs_data)}
        for name in sorted(needed):  # a missing dataset fails here, before any training
            from evoforge.data.datasets import DatasetSpec, load_dataset

            load_dataset(DatasetSpec(name=name))

    @functools.cached_property
    def search_space(self) -> RuleSpace:  # type: ignore[override]  # built on first use
        return RuleSpace(self.config.space)

    def initial_context(self) -> Context:
        """Tuned Adam on the search tasks, computed once per run (saved with every checkpoint)."""
        _threads(self.config.threads)
        c = self.config
        return {"adam": adam_baseline(c.search_tasks, c.seeds, c.budget, c.lr_grid)}

    def evaluate(self, params: list[Any], seeds: np.ndarray, context: Context) -> list[EvalResult]:
        _threads(self.config.threads)
        return [
            self.score(rule, self.config.search_tasks, self.config.seeds, context["adam"]) for rule in params
        ]

    def score(self, rule: UpdateRule, tasks: tuple[str, ...], seeds: int, adam: dict) -> EvalResult:
        """``rule`` trained on every task and seed, at its learning rate relative to tuned Adam's."""
        import time

        from evoforge.problems.optimizer_tasks import run_task

        started = time.perf_counter()
        metrics: dict[str, float] = {}
        scores, diverged = [], []
        for task in tasks:
            base = adam[task]
            lr = rule.lr * base["lr"] / ADAM_DEFAULT_LR
            per_seed = []
            for seed in range(seeds):
                try:
                    run = run_task(
                        task,
                        functools.partial(_evolved, rule=rule, lr=lr),
                        seed,
                        budget=self.config.budget,
                    )
                except (RuntimeError, ValueError, FloatingPointError) as exc:  # a rule torch cannot run
                    return EvalResult(math.nan, metrics, f"{task}: {exc}")
                if run.diverged is not None:
                    diverged.append(run.diverged)
                    metrics[f"diverged/{task}/{seed}"] = run.steps + 1
                per_seed.append(
                    normalised_score(run.initial, run.final, base["final"][seed], self.config.cap)
                )
                metrics[f"loss/{task}/{seed}"] = run.final
            metrics[f"score/{task}"] = float(np.mean(per_seed))
            scores.append(metrics[f"score/{task}"])
        metrics["train_seconds"] = time.perf_counter() - started
        if len(diverged) == len(tasks) * seeds:
            return EvalResult(math.nan, metrics, f"diverged on every task: {'; '.join(diverged)}")
        return EvalResult(float(np.mean(scores)), metrics)

    @property
    def test_label(self) -> str:
        if self.config.heldout_tasks:
            return "test score (held-out tasks)"
        return "score on the search tasks (none held out)"

    def test(self, params: Any, seed: int, cases: int, context: Context) -> TestResult:
        """The rule on the held-out tasks (``test_seeds`` seeds each), against Adam tuned there; the
        search tasks when nothing is held out."""
        _threads(self.config.threads)
        c = self.config
        tasks = c.heldout_tasks or c.search_tasks
        adam = adam_baseline(tasks, c.test_seeds, c.budget, c.lr_grid)
        result = self.score(params, tasks, c.test_seeds, adam)
        scores = [result.metrics.get(f"score/{t}", math.nan) for t in tasks]
        metrics = dict(result.metrics, **{f"adam_lr/{t}": adam[t]["lr"] for t in tasks})
        return TestResult(result.fitness, scores, metrics)
