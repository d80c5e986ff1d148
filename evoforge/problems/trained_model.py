"""A classifier that ``train-final`` wrote, loaded for use: its network with the trained weights and
what feeding it new data takes (input shape, the divisor of raw inputs, class names).

>>> import tempfile, pathlib
>>> from evoforge.problems.trained_model import load_model
>>> load_model(tempfile.mkdtemp())  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
evoforge.problems.trained_model.ModelError: ...: not a train-final output (no metrics.json)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.core.problem import InputError

__all__ = ["EnsembleModel", "ModelError", "TrainedModel", "load_model"]

_FILES = ("metrics.json", "arch.json", "model.pt")


class ModelError(InputError):
    """A folder that holds no usable trained model, in one line."""


@dataclass
class TrainedModel:
    """A trained classifier. ``module`` (a ``torch.nn.Module`` in eval mode, on the CPU) takes inputs
    already divided by ``divide_by`` (it standardises them itself, as in training); :meth:`predict`
    and :meth:`predict_proba` take raw inputs (digits' 0..16, pixels' 0..255, or the values of the
    CSV or npz it was trained on) of shape ``(N, *input_shape)`` or flattened ``(N, features)``;
    ``feature_names`` are a CSV's input columns in that order (empty for other data)."""

    module: Any
    input_shape: tuple[int, ...]
    class_names: tuple[str, ...]
    divide_by: float
    metrics: dict[str, Any]
    feature_names: tuple[str, ...] = ()

    def logits(self, x: np.ndarray, scaled: bool = False, batch: int = 1024) -> np.ndarray:
        """The network's outputs for raw inputs ``x`` (``scaled``: already divided by ``divide_by``)."""
        import torch

        x = np.asarray(x, dtype=np.float32)
        x = x.reshape((len(x), *self.input_shape)) / (1.0 if scaled else self.divide_by)
        out = []
        with torch.no_grad():
            for k in range(0, len(x), batch):
                out.append(self.module(torch.as_tensor(x[k : k + batch])).numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)), np.float32)

    def predict_proba(self, x: np.ndarray, scaled: bool = False) -> np.ndarray:
        """Class probabilities (softmax of the outputs), one row per input."""
        z = self.logits(x, scaled)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def predict(self, x: np.ndarray, scaled: bool = False) -> np.ndarray:
        """The predicted class index of every input (names: ``class_names``)."""
        return self.logits(x, scaled).argmax(axis=1)


@dataclass
class EnsembleModel:
    """A population ensemble (``train-final --ensemble K``): its members' class probabilities
    averaged. The same interface as :class:`TrainedModel`; ``members`` are the members."""

    members: list[TrainedModel]
    metrics: dict[str, Any]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.members[0].input_shape

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.members[0].class_names

    @property
    def divide_by(self) -> float:
        return self.members[0].divide_by

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.members[0].feature_names

    def predict_proba(self, x: np.ndarray, scaled: bool = False) -> np.ndarray:
        return np.mean([m.predict_proba(x, scaled) for m in self.members], axis=0)

    def predict(self, x: np.ndarray, scaled: bool = False) -> np.ndarray:
        return self.predict_proba(x, scaled).argmax(axis=1)


def load_model(folder: str | Path) -> TrainedModel | EnsembleModel:
    """The model ``evoforge train-final`` wrote into ``folder`` (an ensemble if it was given
    ``--ensemble``); weights are read with ``torch.load(weights_only=True)``. :class:`ModelError` if
    the folder holds none."""
    import torch

    from evoforge.spaces import architecture_from_json, build_network

    folder = Path(folder)
    numbered = {p: p.name.removeprefix("member-") for p in folder.glob("member-*")}
    ensemble = sorted((p for p, n in numbered.items() if n.isdigit()), key=lambda p: int(numbered[p]))
    if (folder / "metrics.json").is_file() and ensemble and not (folder / "model.pt").exists():
        try:
            metrics = json.loads((folder / "metrics.json").read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelError(f"{folder}: unreadable metrics.json ({str(exc).splitlines()[0]})") from None
        members = [load_model(member) for member in ensemble]
        if not all(isinstance(m, TrainedModel) for m in members):
            raise ModelError(f"{folder}: an ensemble member is itself an ensemble")
        return EnsembleModel([m for m in members if isinstance(m, TrainedModel)], metrics)
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise ModelError(f"{folder}: not a train-final output (no {missing[0]})")
    try:
        metrics = json.loads((folder / "metrics.json").read_text())
        genome = architecture_from_json(json.loads((folder / "arch.json").read_text()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{folder}: unreadable model description ({str(exc).splitlines()[0]})") from None
    if "input_shape" not in metrics:
        raise ModelError(
            f"{folder}: written by an older evoforge (metrics.json has no input_shape); run train-final again"
        )
    shape = tuple(int(d) for d in metrics["input_shape"])
    names = tuple(str(c) for c in metrics["class_names"])
    module = build_network(genome, shape, len(names)).model
    try:
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        module.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001  (a damaged or foreign file: one line, whatever torch raises)
        raise ModelError(
            f"{folder / 'model.pt'}: cannot load the weights ({str(exc).splitlines()[0]})"
        ) from None
    columns = tuple(str(c) for c in metrics.get("feature_names", ()))
    return TrainedModel(module.eval(), shape, names, float(metrics.get("divide_by", 1.0)), metrics, columns)
