"""Weight inheritance: a child network starts from its parent's trained weights wherever their layers
match (Real et al. 2017, "Large-Scale Evolution of Image Classifiers", section 3.4: "the child
inherits the parent's weights whenever the layer shapes match"), instead of from a fresh draw.

A mutation inserts, removes or changes a layer, so layers are matched by alignment, not by position:
both networks' state dicts are cut into their modules (in the order the network registers them),
each module's signature is its tensors' names and shapes, and the longest common subsequence of the
two signature sequences is copied. A layer after an inserted one still finds its parent's copy; a
layer whose shape changed starts afresh, as does everything of a network that shares no layer.

States are saved as plain state dicts and read with ``torch.load(weights_only=True)``: never a pickle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["inherit", "load_state", "save_state", "state_path"]


def _modules(state: dict[str, Any]) -> list[tuple[str, tuple]]:
    """``[(module prefix, signature)]`` in the state dict's order; a signature is the module's
    ``((tensor name, shape), ...)``."""
    order: list[str] = []
    tensors: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if prefix not in tensors:
            order.append(prefix)
            tensors[prefix] = []
        tensors[prefix].append((leaf, tuple(value.shape)))
    return [(prefix, tuple(tensors[prefix])) for prefix in order]


def _common(a: list[tuple], b: list[tuple]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of ``a`` and ``b`` (dynamic programming; networks
    have tens of modules, so the quadratic table costs nothing next to training)."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def inherit(model: Any, parent_state: dict[str, Any]) -> float:
    """Copy ``parent_state``'s tensors into ``model`` wherever their modules align (see the module's
    docstring); returns the share of ``model``'s parameters (by count) that were copied.

    >>> import torch
    >>> parent = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> child = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 8), torch.nn.Linear(8, 2))
    >>> round(inherit(child, parent.state_dict()), 3)  # the first and last layers: 58 of 130
    0.446
    >>> bool(torch.equal(child[2].weight, parent[2].weight))
    True
    """
    own = model.state_dict()
    mine, theirs = _modules(own), _modules(parent_state)
    copied: dict[str, Any] = {}
    for i, j in _common([sig for _, sig in mine], [sig for _, sig in theirs]):
        prefix, parent_prefix = mine[i][0], theirs[j][0]
        for leaf, _shape in mine[i][1]:
            key = f"{prefix}.{leaf}" if prefix else leaf
            copied[key] = parent_state[f"{parent_prefix}.{leaf}" if parent_prefix else leaf]
    model.load_state_dict({**own, **copied})
    counts = {name: p.numel() for name, p in model.named_parameters()}
    total = sum(counts.values())
    return sum(n for name, n in counts.items() if name in copied) / total if total else 0.0


def state_path(folder: str | Path, genome_id: str) -> Path:
    """Where a candidate's trained state is kept: ``folder/<content id>.pt``."""
    return Path(folder) / f"{genome_id}.pt"


def save_state(model: Any, folder: str | Path, genome_id: str) -> None:
    """Save ``model``'s state dict (on the CPU) as ``folder/<genome_id>.pt``, atomically: written under
    a temporary name and renamed, so a killed evaluation leaves no half-written state (its candidate is
    evaluated again on resume and writes the same file)."""
    import torch

    path = state_path(folder, genome_id)
    tmp = path.with_name(f"{path.name}.partial")  # one name: a killed write is overwritten on resume
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, path)


def load_state(folder: str | Path, parents: tuple[str, ...]) -> dict[str, Any] | None:
    """The saved state of the first of ``parents`` that has one (None if none has: an initial
    individual, a parent whose evaluation failed, or a worker that cannot see the folder)."""
    import torch

    for parent in parents:
        path = state_path(folder, parent)
        if path.exists():
            return torch.load(path, map_location="cpu", weights_only=True)
    return None
