"""What each kind of genome looks like to a person: the dashboard draws these views.

A view is plain JSON, chosen by the genome's encoding: a NEAT network as nodes in layers and weighted
connections, an update rule as math, a pipeline as its steps, an architecture as its layers (chain)
or its tree. Genomes of other encodings (parameter vectors, GAN settings) have none: their JSON is
shown as it is.

>>> import numpy as np
>>> from evoforge.spaces.neat import InnovationTracker, initial_genome
>>> view = genome_view(initial_genome(2, 1, np.random.default_rng(0), InnovationTracker(2, 1)))
>>> view["kind"], [n["role"] for n in view["nodes"]], len(view["edges"])
('network', ['input', 'input', 'bias', 'output'], 3)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["genome_view"]


def _network(genome: Any) -> dict[str, Any]:
    """Nodes placed in layers (inputs and bias first, outputs last, a hidden node one layer past its
    deepest source along enabled feed-forward paths) and every connection with its weight."""
    inputs, outputs = set(range(genome.n_inputs)), set(genome.outputs)
    edges = [
        {"src": int(s), "dst": int(d), "weight": float(w), "enabled": bool(e)}
        for s, d, w, e in zip(genome.src, genome.dst, genome.weight, genome.enabled, strict=True)
    ]
    depth = {n: 0 for n in (*inputs, genome.bias)}
    hidden = [int(h) for h in genome.hidden]
    for _ in range(len(hidden) + 1):  # longest path, relaxed once per node (cycles stop growing there)
        changed = False
        for e in edges:
            if e["enabled"] and e["src"] in depth and e["dst"] in hidden and e["src"] != e["dst"]:
                d = depth[e["src"]] + 1
                if depth.get(e["dst"], -1) < d <= len(hidden):
                    depth[e["dst"]] = d
                    changed = True
        if not changed:
            break
    last = max([depth.get(h, 1) for h in hidden], default=0) + 1
    nodes = []
    for n in genome.nodes:
        n = int(n)
        role = (
            "input" if n in inputs else "bias" if n == genome.bias else "output" if n in outputs else "hidden"
        )
        layer = last if role == "output" else depth.get(n, 1) if role == "hidden" else 0
        nodes.append({"id": n, "role": role, "layer": layer})
    return {"kind": "network", "nodes": nodes, "edges": edges, "feed_forward": bool(genome.feed_forward),
            "activation": genome.activation}  # fmt: skip


def _math(genome: Any) -> dict[str, Any]:
    return {"kind": "math", "text": genome.math()}


def _steps(genome: Any) -> dict[str, Any]:
    from evoforge.spaces.pipeline_steps import SLOTS

    return {
        "kind": "steps",
        "steps": [{"slot": s, "step": genome.step(s)[0], "params": genome.step(s)[1]} for s in SLOTS],
    }


def _layers(genome: Any) -> dict[str, Any]:
    data = genome.to_json()
    return {
        "kind": "layers",
        "layers": data["layers"],
        "head": data.get("head"),
        "recipe": data.get("recipe"),
    }


def _tree(genome: Any) -> dict[str, Any]:
    return {"kind": "tree", "tree": genome.to_json()}


#: encoding -> view (a space of your own adds its encoding here)
VIEWS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "neat": _network,
    "update_rule": _math,
    "pipeline": _steps,
    "chain": _layers,
    "tree": _tree,
}


def genome_view(genome: Any) -> dict[str, Any] | None:
    """The view of ``genome`` (None for an encoding without one)."""
    view = VIEWS.get(getattr(genome, "encoding", ""))
    return None if view is None else view(genome)
