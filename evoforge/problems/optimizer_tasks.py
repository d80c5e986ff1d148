"""The task suite an update rule is scored on: small, real training problems, each trained for a fixed
number of steps and scored by its loss on held-out data (the function value for Rosenbrock).

==================  ============================================================  =====
task                what trains                                                   steps
==================  ============================================================  =====
digits_mlp          MLP 64-64-10 (tanh) on scikit-learn's digits, cross-entropy     300
cancer_logreg       logistic regression on breast cancer (30 standardised columns)  200
rosenbrock          the 10-dimensional Rosenbrock function from (-1.2, 1, ...)      400
adding_gru          GRU (16 units) on the adding problem, 20 steps long, MSE        300
fashion_cnn         CNN 8-16 channels on 4,000 Fashion-MNIST images (needs them)    200
wine_mlp            MLP 13-32-3 (relu) on wine, cross-entropy                       200
diabetes_mlp        MLP 10-32-1 (relu) regression on diabetes, standardised, MSE    300
digits_rnn          GRU (32 units) reading digits row by row (8 rows of 8)          300
==================  ============================================================  =====

A run of a task is deterministic in (task, seed): the seed picks the data split, the initial weights
and the minibatches. Training stops early when the loss turns non-finite or grows past 1,000 times
its initial value (the rule diverged).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["TASKS", "TaskRun", "run_task", "task_names"]


@dataclass(frozen=True)
class TaskRun:
    """One training run of a task: its loss before and after, or where it diverged."""

    initial: float
    final: float
    steps: int
    diverged: str | None = None


@dataclass(frozen=True)
class _Task:
    name: str
    steps: int
    batch_size: int
    #: seed -> (model, x_train, y_train, x_val, y_val, loss)
    setup: Callable[[int], tuple]
    needs_data: str | None = None  # "fashion-mnist" where the task reads files


def _split(x: np.ndarray, y: np.ndarray, seed: int, val: float = 0.25):
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * (1 - val))
    tr, va = order[:cut], order[cut:]
    return x[tr], y[tr], x[va], y[va]


def _standardise(x_tr: np.ndarray, x_va: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-8
    return (x_tr - mu) / sd, (x_va - mu) / sd


@functools.cache
def _sklearn(name: str) -> tuple[np.ndarray, np.ndarray]:
    import sklearn.datasets as skd

    data = getattr(skd, f"load_{name}")()
    return data.data.astype(np.float32), data.target


def _tensors(x_tr, y_tr, x_va, y_va, classify: bool):
    ytype = torch.int64 if classify else torch.float32
    return (
        torch.as_tensor(x_tr, dtype=torch.float32),
        torch.as_tensor(y_tr, dtype=ytype),
        torch.as_tensor(x_va, dtype=torch.float32),
        torch.as_tensor(y_va, dtype=ytype),
    )


def _tabular(name: str, hidden: int | None, classes: int, act: type[nn.Module] = nn.ReLU):
    def setup(seed: int):
        x, y = _sklearn(name)
        x_tr, y_tr, x_va, y_va = _split(x, y, seed)
        x_tr, x_va = _standardise(x_tr, x_va)
        classify = classes > 1
        if not classify:
            mu, sd = y_tr.mean(), y_tr.std()
            y_tr, y_va = ((y_tr - mu) / sd)[:, None], ((y_va - mu) / sd)[:, None]
        d = x.shape[1]
        layers = (
            [nn.Linear(d, classes)]
            if hidden is None
            else [nn.Linear(d, hidden), act(), nn.Linear(hidden, classes)]
        )
        loss = nn.functional.cross_entropy if classify else nn.functional.mse_loss
        return (nn.Sequential(*layers), *_tensors(x_tr, y_tr, x_va, y_va, classify), loss)

    return setup


class _Rosenbrock(nn.Module):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2, from the classic start (-1.2, 1, -1.2, ...)."""

    def __init__(self, dim: int = 10):
        super().__init__()
        self.x = nn.Parameter(torch.tensor([-1.2, 1.0] * (dim // 2)))

    def forward(self, _inputs: torch.Tensor) -> torch.Tensor:
        x = self.x
        return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _rosenbrock(seed: int):
    empty = torch.zeros(1, 1)
    return _Rosenbrock(), empty, empty, empty, empty, lambda value, _target: value


class _Recurrent(nn.Module):
    def __init__(self, inputs: int, hidden: int, outputs: int):
        super().__init__()
        self.gru = nn.GRU(inputs, hidden, batch_first=True)
        self.head = nn.Linear(hidden, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, h = self.gru(x)
        return self.head(h[-1])


def _adding(seed: int, n: int = 2500, length: int = 20):
    """The adding problem (Hochreiter & Schmidhuber 1997): the sum of the two marked values."""
    rng = np.random.default_rng(1000 + seed)
    values = rng.uniform(0, 1, (n, length))
    marks = np.zeros((n, length))
    for row in range(n):
        marks[row, rng.choice(length, 2, replace=False)] = 1
    x = np.stack([values, marks], -1).astype(np.float32)
    y = (values * marks).sum(1, keepdims=True).astype(np.float32)
    x_tr, y_tr, x_va, y_va = _split(x, y, seed, val=0.2)
    return (_Recurrent(2, 16, 1), *_tensors(x_tr, y_tr, x_va, y_va, False), nn.functional.mse_loss)


def _digits_rnn(seed: int):
    x, y = _sklearn("digits")
    x = (x / 16.0).reshape(-1, 8, 8)
    x_tr, y_tr, x_va, y_va = _split(x, y, seed)
    return (_Recurrent(8, 32, 10), *_tensors(x_tr, y_tr, x_va, y_va, True), nn.functional.cross_entropy)


@functools.lru_cache(maxsize=1)
def _fashion() -> tuple[np.ndarray, np.ndarray]:
    from evoforge.data.datasets import DatasetSpec, load_dataset

    data = load_dataset(DatasetSpec(name="fashion-mnist"))
    return data.x_train, data.y_train


def _fashion_cnn(seed: int, n: int = 5000):
    x, y = _fashion()
    pick = np.random.default_rng(2000 + seed).choice(len(x), min(n, len(x)), replace=False)
    x_tr, y_tr, x_va, y_va = _split(x[pick], y[pick], seed, val=0.2)  # pixels already in [0, 1]
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, 10),
    )
    return (model, *_tensors(x_tr, y_tr, x_va, y_va, True), nn.functional.cross_entropy)


TASKS: dict[str, _Task] = {
    t.name: t
    for t in (
        _Task("digits_mlp", 300, 64, _tabular("digits", 64, 10, nn.Tanh)),
        _Task("cancer_logreg", 200, 64, _tabular("breast_cancer", None, 2)),
        _Task("rosenbrock", 400, 1, _rosenbrock),
        _Task("adding_gru", 300, 32, _adding),
        _Task("fashion_cnn", 200, 64, _fashion_cnn, needs_data="fashion-mnist"),
        _Task("wine_mlp", 200, 32, _tabular("wine", 32, 3)),
        _Task("diabetes_mlp", 300, 32, _tabular("diabetes", 32, 1)),
        _Task("digits_rnn", 300, 64, _digits_rnn),
    )
}


def task_names() -> tuple[str, ...]:
    return tuple(TASKS)


@torch.no_grad()
def _val_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Callable) -> float:
    return float(loss(model(x), y))


def run_task(
    name: str,
    make_optimizer: Callable[[list[nn.Parameter], int], torch.optim.Optimizer],
    seed: int,
    *,
    budget: float = 1.0,
) -> TaskRun:
    """Train task ``name`` with the optimizer ``make_optimizer(params, total_steps)`` for its steps
    (times ``budget``) and return the validation loss before and after.

    >>> run = run_task("rosenbrock", lambda p, n: torch.optim.Adam(p, lr=0.01), 0, budget=0.1)
    >>> run.final < run.initial
    True
    """
    task = TASKS[name]
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global state untouched
        torch.manual_seed(seed)
        model, x_tr, y_tr, x_va, y_va, loss = task.setup(seed)
    steps = max(1, round(task.steps * budget))
    gen = torch.Generator().manual_seed(seed)
    optimizer = make_optimizer(list(model.parameters()), steps)
    initial = _val_loss(model, x_va, y_va, loss)
    limit = 1000 * max(initial, 1e-3)
    n = len(x_tr)
    for step in range(steps):
        idx = torch.randint(0, n, (min(task.batch_size, n),), generator=gen)
        value = loss(model(x_tr[idx]), y_tr[idx])
        if not math.isfinite(value.item()) or value.item() > limit:
            return TaskRun(initial, math.nan, step, f"diverged on {name} at step {step + 1}")
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    final = _val_loss(model, x_va, y_va, loss)
    if not math.isfinite(final) or final > limit:
        return TaskRun(initial, math.nan, steps, f"diverged on {name} (validation loss {final:g})")
    return TaskRun(initial, final, steps)
