"""Evolved (and hand-designed) update rules as ordinary PyTorch optimizers.

>>> import torch, evoforge.optim
>>> opt = evoforge.optim.EvolvedOptimizer(torch.nn.Linear(2, 1).parameters(), "adam")
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from evoforge.optim.optimizer import EvolvedOptimizer
from evoforge.spaces.update_rule import KNOWN, UpdateRule, known_rule

__all__ = ["EvolvedOptimizer", "UpdateRule", "KNOWN", "known_rule", "load"]


def load(path: str | Path, params: Any = None, **kwargs: Any):
    """The optimizer saved in ``path`` (a rule's JSON, such as a search's ``best_optimizer.json``).

    With ``params``, an :class:`EvolvedOptimizer` over them; without, a factory that takes the
    parameters later, like an optimizer class: ``load(path)(model.parameters(), total_steps=1000)``.
    ``kwargs`` (``lr``, ``total_steps``, ``fused``) go to the optimizer. A searched rule's ``lr`` is
    relative to Adam's (the search runs it at ``lr * adam_lr / 1e-3`` on each task): it is the rate
    for a model where Adam's best is 1e-3; elsewhere pass ``lr`` scaled as Adam's would be.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc})") from None
    if isinstance(data, dict) and "rule" in data and "expr" not in data:
        data = data["rule"]
    try:
        rule = UpdateRule.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if params is not None:
        return EvolvedOptimizer(params, rule, **kwargs)

    def factory(params: Any, **more: Any) -> EvolvedOptimizer:
        return EvolvedOptimizer(params, rule, **{**kwargs, **more})

    factory.rule = rule  # type: ignore[attr-defined]
    return factory
