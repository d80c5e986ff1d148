"""Supervised training of a built network with an evolved recipe, and classification metrics.

Used by the search's proxy fitness and by ``evoforge train-final``: one loop, so a recipe means the
same thing in both. All randomness (batch order, augmentation, initial weights) comes from the seed
given; a loss that stops being finite raises :class:`DivergedError`, a run past its time raises
:class:`OutOfTimeError`, and both are recorded by the caller as a failed candidate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from evoforge.spaces.recipe import Recipe

__all__ = [
    "DivergedError",
    "OutOfTimeError",
    "latency_ms",
    "TrainLog",
    "train",
    "predict",
    "predict_with_loss",
    "classification_metrics",
    "resolve_device",
    "check_device",
]

METRICS = ("accuracy", "f1", "precision", "recall")


class DivergedError(RuntimeError):
    """The training loss became NaN or infinite."""


class OutOfTimeError(RuntimeError):
    """Training ran past its time limit."""


@dataclass
class TrainLog:
    """What a training run did."""

    steps: int = 0
    epochs: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # mean training loss per epoch


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA where available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def check_device(name: str) -> str:
    """``name`` if this machine's torch can compute on it (cpu, auto, cuda, cuda:N, mps), else
    ``ValueError`` in one line: a run asked for a GPU it does not have fails before it starts, not
    in every evaluation."""
    if name in ("cpu", "auto"):
        return name
    kind, _, index = name.partition(":")
    if kind not in ("cuda", "mps") or (index and not (kind == "cuda" and index.isdigit())):
        raise ValueError(f"device {name!r} is not cpu, cuda, cuda:N, mps or auto")
    if kind == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("device 'mps' is not available on this machine (use cpu or auto)")
        return name
    if not torch.cuda.is_available():
        build = "has no CUDA support" if torch.version.cuda is None else "finds no CUDA device"
        raise ValueError(f"device {name!r}: this torch ({torch.__version__}) {build} (use cpu or auto)")
    if index and int(index) >= torch.cuda.device_count():
        raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return name


def _optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params = model.parameters()
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay, nesterov=False
        )
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.RMSprop(
        params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay
    )


def _lr_factor(schedule: str, step: int, total: int) -> float:
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(1, total)))
    if schedule == "step":  # x0.1 at half and at three quarters of training
        return 0.1 ** ((step >= total // 2) + (step >= (3 * total) // 4))
    return 1.0


def _standard_layout(t: torch.Tensor) -> torch.Tensor:
    """``t`` with torch's standard row-major strides (a copy only when it has others).

    With channels-last strides, oneDNN's backward of a 1x1 stride-2 convolution (the chain space's
    projection) corrupts the heap in torch 2.13 on AVX2 CPUs with one thread (found on an AMD EPYC):
    the process aborts. Image folders arrive channels-last (numpy keeps the layout of the transposed
    stack) and so did shifted batches; contiguous() is not enough, as it keeps a 1-channel batch's
    strides."""
    standard, step = [], 1
    for size in reversed(t.shape):
        standard.append(step)
        step *= size
    if t.stride() == tuple(reversed(standard)):
        return t
    return t.clone(memory_format=torch.contiguous_format)


def _augment(x: torch.Tensor, recipe: Recipe, gen: torch.Generator) -> torch.Tensor:
    """Random translation (zero padding) by up to ``shift`` pixels, horizontal flips and cutout, per
    image."""
    if x.ndim != 4:
        return x
    b, _, h, w = x.shape
    if recipe.shift > 0:
        s = recipe.shift
        padded = nn.functional.pad(x, (s, s, s, s))
        dy = torch.randint(0, 2 * s + 1, (b,), generator=gen).to(x.device)
        dx = torch.randint(0, 2 * s + 1, (b,), generator=gen).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
        batch = torch.arange(b, device=x.device)[:, None, None]
        x = _standard_layout(padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2))
    if recipe.flip:
        flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if recipe.cutout > 0:
        # the square's centre is anywhere in the image, so part of it may fall outside (as in the paper)
        sh, sw = max(1, round(recipe.cutout * h)), max(1, round(recipe.cutout * w))
        cy = torch.randint(0, h, (b,), generator=gen).to(x.device)
        cx = torch.randint(0, w, (b,), generator=gen).to(x.device)
        rows = torch.arange(h, device=x.device)[None, :] - (cy - sh // 2)[:, None]
        cols = torch.arange(w, device=x.device)[None, :] - (cx - sw // 2)[:, None]
        inside = ((rows >= 0) & (rows < sh))[:, :, None] & ((cols >= 0) & (cols < sw))[:, None, :]
        x = x.masked_fill(inside[:, None], 0.0)
    return x


def _batches(n: int, recipe: Recipe) -> tuple[int, int]:
    """(batch size, batches per epoch) of an epoch of ``n`` examples: a final batch of one example is
    dropped (batch normalisation cannot train on it)."""
    batch = max(1, min(recipe.batch_size, n))
    return batch, n // batch + (1 if n % batch > 1 else 0)


def train(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    recipe: Recipe,
    epochs: int,
    *,
    seed: int,
    device: torch.device,
    seconds: float | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainLog:
    """Train ``model`` (in place) on ``(x, y)`` for ``epochs`` epochs with ``recipe``.

    ``on_epoch(epoch, mean_loss)`` is called after each epoch (for progress). A final batch of one
    example is dropped (batch normalisation cannot train on it).
    """
    gen = torch.Generator().manual_seed(int(seed) % 2**63)
    model.to(device).train()
    xt = _standard_layout(torch.as_tensor(x, dtype=torch.float32, device=device))
    yt = torch.as_tensor(y, dtype=torch.int64, device=device)
    n = len(xt)
    batch, per_epoch = _batches(n, recipe)
    total = max(1, per_epoch * epochs)
    optimizer = _optimizer(model, recipe)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(recipe.schedule, s, total))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    log = TrainLog()
    start = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen).to(device)
        running, count = 0.0, 0
        for k in range(per_epoch):
            idx = order[k * batch : (k + 1) * batch]
            xb = _augment(xt[idx], recipe, gen)
            loss = loss_fn(model(xb), yt[idx])
            if not torch.isfinite(loss):
                raise DivergedError(
                    f"diverged: training loss is {loss.item()} at epoch {epoch + 1}, step {k + 1}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running += loss.item() * len(idx)
            count += len(idx)
            log.steps += 1
            if seconds is not None and time.perf_counter() - start > seconds:
                raise OutOfTimeError(f"training passed its limit of {seconds:g} s at epoch {epoch + 1}")
        log.epochs = epoch + 1
        log.losses.append(running / max(1, count))
        if on_epoch is not None:
            on_epoch(epoch + 1, log.losses[-1])
    log.seconds = time.perf_counter() - start
    return log


def epoch_seconds(
    model: nn.Module, x: np.ndarray, y: np.ndarray, recipe: Recipe, device: torch.device, steps: int = 20
) -> float:
    """The seconds :func:`train` is expected to take per epoch of ``(x, y)`` with ``recipe``, timed
    on ``steps`` batches of a copy of ``model`` (after three untimed ones: the first calls pick their
    kernels). The model, torch's random state and the data are left as they were, so a training
    that follows is the one it would have been without the estimate."""
    import copy

    n = len(x)
    batch, per_epoch = _batches(n, recipe)
    steps = max(1, min(steps, per_epoch))
    picked = np.random.default_rng(0).integers(0, n, size=(steps + 3) * batch)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        trial = copy.deepcopy(model).to(device).train()
        optimizer = _optimizer(trial, recipe)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        gen = torch.Generator().manual_seed(0)
        xt = _standard_layout(torch.as_tensor(x[picked], dtype=torch.float32, device=device))
        yt = torch.as_tensor(y[picked], dtype=torch.int64, device=device)
        start = 0.0
        for k in range(steps + 3):
            if k == 3:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
            xb = _augment(xt[k * batch : (k + 1) * batch], recipe, gen)
            loss = loss_fn(trial(xb), yt[k * batch : (k + 1) * batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()  # waits for the step, as train's running loss does
        elapsed = time.perf_counter() - start
    return elapsed / steps * per_epoch


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, device: torch.device, batch: int = 1024) -> np.ndarray:
    """Predicted class of every input."""
    return _predict(model, x, None, device, batch)[0]


@torch.no_grad()
def predict_with_loss(
    model: nn.Module, x: np.ndarray, y: np.ndarray | None, device: torch.device, batch: int = 1024
) -> tuple[np.ndarray, float]:
    """Predicted classes and the mean cross-entropy on ``(x, y)``."""
    return _predict(model, x, y, device, batch)


def _predict(model, x, y, device, batch) -> tuple[np.ndarray, float]:
    model.to(device).eval()
    out, loss = [], 0.0
    for k in range(0, len(x), batch):
        logits = model(torch.as_tensor(x[k : k + batch], dtype=torch.float32, device=device))
        if not torch.all(torch.isfinite(logits)):
            raise DivergedError("diverged: the network outputs NaN or infinite values")
        out.append(logits.argmax(1).cpu().numpy())
        if y is not None:
            target = torch.as_tensor(y[k : k + batch], dtype=torch.int64, device=device)
            loss += nn.functional.cross_entropy(logits, target, reduction="sum").item()
    pred = np.concatenate(out) if out else np.zeros(0, dtype=np.int64)
    return pred, loss / max(1, len(x))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> dict:
    """Accuracy and macro F1, precision and recall (classes never predicted count 0), plus the
    confusion matrix (rows: true class): scikit-learn's ``precision_recall_fscore_support(average=
    "macro", zero_division=0)`` and ``confusion_matrix`` exactly (a test holds them to it), from the
    confusion matrix in numpy, since importing scikit-learn's metrics costs every search worker 1.5 s
    or more.

    >>> m = classification_metrics(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    >>> m["accuracy"], round(m["recall"], 3), m["confusion"]
    (0.75, 0.75, [[1, 1], [0, 2]])
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    confusion = np.bincount(y_true * classes + y_pred, minlength=classes * classes).reshape(classes, classes)
    tp = np.diag(confusion).astype(np.float64)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(predicted + actual > 0, 2 * tp / (predicted + actual), 0.0)  # 2TP / (2TP + FP + FN)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "f1": float(f1.mean()),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "confusion": confusion.tolist(),
    }


@torch.no_grad()
def latency_ms(model: nn.Module, x: np.ndarray, device: torch.device, repeats: int = 10) -> float:
    """Median milliseconds of one forward pass on a batch of one input (``x[:1]``), in eval mode,
    after two warm-up passes: the inference latency of the model on this machine."""
    model.to(device).eval()
    one = torch.as_tensor(x[:1], dtype=torch.float32, device=device)
    times = []
    for k in range(repeats + 2):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        model(one)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if k >= 2:
            times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))
