"""The cell search space (DARTS-like: Liu, Simonyan & Yang 2019, "DARTS: Differentiable Architecture
Search", section 2.1; the NASNet space of Zoph et al. 2018, which Real et al. 2019 evolve).

A :class:`CellGenome` holds two cells, a *normal* cell (keeps the resolution) and a *reduction* cell
(halves it, doubles the channels). A cell is a small DAG: its inputs are the outputs of the two
previous cells; each of its ``nodes`` intermediate nodes adds two operations, each applied to an
earlier state (a cell input or an earlier node); the cell's output concatenates all intermediate
nodes. Operations: separable convolutions 3x3 and 5x5, dilated separable convolutions 3x3 and 5x5,
max and average pooling 3x3, skip (identity) and none (no edge). The network is a stem convolution,
``cells`` cells with reduction cells at 1/3 and 2/3 of the depth, global average pooling and a
linear classifier; ``cells`` and ``channels`` (of the stem's successors) come from the space and are
kept in the genome, so a genome alone builds its network. Like every architecture genome, it also
carries its training recipe.

Mutation follows Real et al. 2019 (section 2, "hidden state" and "op" mutations): one input or one
operation of one node of one cell changes; or one recipe gene. Crossover takes each node from either
parent. The continuous encoding (for CMA-ES) has four coordinates per node (two inputs, two ops).
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from evoforge.core.genome import register_genome
from evoforge.spaces.base import ArchitectureSpace, validated
from evoforge.spaces.recipe import (
    Recipe,
    RecipeChoices,
    cross_recipes,
    mutate_recipe,
    pick,
    random_recipe,
    recipe_genes,
)

__all__ = ["OPS", "CellGenome", "CellSpace", "CellSpaceConfig", "Node"]

Op = Literal[
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "none",
]
OPS: tuple[str, ...] = typing.get_args(Op)
_PARAMETRIC = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


@dataclass(frozen=True)
class Node:
    """One intermediate node: ``ops[0](state[inputs[0]]) + ops[1](state[inputs[1]])``; states 0
    and 1 are the cell's inputs, state ``2 + j`` is node ``j``."""

    inputs: tuple[int, int]
    ops: tuple[str, str]

    def expressed(self) -> list:
        """The two edges without their order (the node adds them), an input behind "none" dropped."""
        edges = [[None if op == "none" else i, op] for i, op in zip(self.inputs, self.ops, strict=True)]
        return sorted(edges, key=json.dumps)


def _cell_from_json(data: Any, name: str) -> tuple[Node, ...]:
    if not isinstance(data, list) or not data:
        raise ValueError(f"cell {name!r} must be a non-empty list of nodes")
    nodes = []
    for j, raw in enumerate(data):
        if not isinstance(raw, dict) or set(raw) != {"inputs", "ops"}:
            raise ValueError(f"{name}.{j}: a node is {{'inputs': [a, b], 'ops': [x, y]}}")
        inputs, ops = raw["inputs"], raw["ops"]
        if len(inputs) != 2 or len(ops) != 2:
            raise ValueError(f"{name}.{j}: a node has two inputs and two ops")
        for i in inputs:
            if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < j + 2:
                raise ValueError(f"{name}.{j}: input {i!r} is not one of the states 0..{j + 1} before it")
        for op in ops:
            if op not in OPS:
                raise ValueError(f"{name}.{j}: unknown op {op!r} (known: {', '.join(OPS)})")
        nodes.append(Node((int(inputs[0]), int(inputs[1])), (str(ops[0]), str(ops[1]))))
    return tuple(nodes)


@register_genome
@dataclass(frozen=True, eq=False)
class CellGenome:
    """A normal and a reduction cell, the network's depth and width, and a training recipe.

    >>> node = {"inputs": [0, 1], "ops": ["sep_conv_3x3", "skip_connect"]}
    >>> g = CellGenome.from_json({"normal": [node], "reduce": [node], "cells": 3, "channels": 8})
    >>> len(g.normal), g.cells, CellGenome.from_json(g.to_json()).content_bytes() == g.content_bytes()
    (1, 3, True)
    """

    encoding = "cell"

    normal: tuple[Node, ...]
    reduce: tuple[Node, ...]
    cells: int = 5
    channels: int = 16
    recipe: Recipe = Recipe()

    def to_json(self) -> dict[str, Any]:
        def cell(nodes):
            return [{"inputs": list(n.inputs), "ops": list(n.ops)} for n in nodes]

        return {
            "encoding": self.encoding,
            "normal": cell(self.normal),
            "reduce": cell(self.reduce),
            "cells": self.cells,
            "channels": self.channels,
            "recipe": self.recipe.model_dump(),
        }

    @classmethod
    def from_json(cls, data: Any) -> CellGenome:
        """Validate and build; ``ValueError`` with one line naming the problem."""
        if not isinstance(data, dict):
            raise ValueError("a cell genome is a JSON object")
        unknown = set(data) - {"encoding", "normal", "reduce", "cells", "channels", "recipe"}
        if unknown:
            raise ValueError(f"unknown cell genome field {sorted(unknown)[0]!r}")
        if data.get("encoding", cls.encoding) != cls.encoding:
            raise ValueError(f"encoding {data['encoding']!r} is not {cls.encoding!r}")
        normal = _cell_from_json(data.get("normal"), "normal")
        reduce = _cell_from_json(data.get("reduce"), "reduce")
        if len(normal) != len(reduce):
            raise ValueError(f"the cells differ in nodes: normal {len(normal)}, reduce {len(reduce)}")
        for key in ("cells", "channels"):
            value = data.get(key, 5 if key == "cells" else 16)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        recipe = validated(Recipe, data.get("recipe", {}), "recipe")
        return cls(normal, reduce, int(data.get("cells", 5)), int(data.get("channels", 16)), recipe)

    def content_bytes(self) -> bytes:
        expressed = {
            "normal": [n.expressed() for n in self.normal],
            "reduce": [n.expressed() for n in self.reduce],
            "cells": self.cells,
            "channels": self.channels,
            "recipe": self.recipe.expressed(),
        }
        return json.dumps(expressed, sort_keys=True).encode()

    def replace(self, **changes: Any) -> CellGenome:
        fields = ("normal", "reduce", "cells", "channels", "recipe")
        return CellGenome(**{f: changes.get(f, getattr(self, f)) for f in fields})


class CellSpaceConfig(RecipeChoices):
    """The cell space: the cells' size, the network built from them, and constraints."""

    kind: Literal["cell"] = "cell"
    nodes: int = Field(4, ge=1, le=8, description="Intermediate nodes per cell (DARTS: 4).")
    cells: int = Field(5, ge=1, description="Cells in the network; reduction cells at 1/3 and 2/3 of them.")
    channels: int = Field(16, ge=1, description="Channels of the first cells (doubled at each reduction).")
    ops: tuple[Op, ...] = Field(
        OPS,  # type: ignore[arg-type]  # OPS holds every Op
        min_length=1,
        description="Operations an edge may choose.",
    )
    max_params: int = Field(1_000_000, ge=100, description="Most parameters of a built network.")
    max_flops: int | None = Field(None, ge=1000, description="Most FLOPs for one input.")

    @model_validator(mode="after")
    def _some_edge(self) -> CellSpaceConfig:
        if set(self.ops) == {"none"}:
            raise ValueError("ops must hold an operation other than 'none'")
        return self


class CellSpace(ArchitectureSpace):
    """Sampling, mutation, crossover and the continuous encoding of cell genomes for one input shape.

    >>> space = CellSpace(CellSpaceConfig(nodes=2, cells=2, channels=4), (1, 8, 8), 10)
    >>> g = space.sample(np.random.default_rng(0))
    >>> space.valid(g) and space.valid(space.mutate(g, np.random.default_rng(1)))
    True
    """

    encoding = "cell"
    torch_module = "evoforge.spaces.cell_torch"

    def _structure_violation(self, genome: CellGenome) -> str | None:
        cfg = self.config
        if len(genome.normal) != cfg.nodes:
            return f"{len(genome.normal)} nodes per cell, the space has {cfg.nodes}"
        if (genome.cells, genome.channels) != (cfg.cells, cfg.channels):
            return f"{genome.cells} cells of {genome.channels} channels, the space has {cfg.cells} of {cfg.channels}"
        return None

    def _repair(self, genome: CellGenome, rng: np.random.Generator) -> CellGenome:
        """Replace random parametric operations by skips until the genome fits the constraints."""
        while not self.valid(genome):
            edges = [
                (cell, j, k)
                for cell in ("normal", "reduce")
                for j, node in enumerate(getattr(genome, cell))
                for k in (0, 1)
                if node.ops[k] in _PARAMETRIC
            ]
            if not edges:
                raise ValueError(f"no cell genome fits the constraints: {self.violation(genome)}")
            cell, j, k = edges[int(rng.integers(len(edges)))]
            genome = self._with_edge(genome, cell, j, k, op="skip_connect")
        return genome

    @staticmethod
    def _with_edge(genome: CellGenome, cell: str, j: int, k: int, *, op=None, source=None) -> CellGenome:
        nodes = list(getattr(genome, cell))
        ops, inputs = list(nodes[j].ops), list(nodes[j].inputs)
        if op is not None:
            ops[k] = op
        if source is not None:
            inputs[k] = source
        nodes[j] = Node((inputs[0], inputs[1]), (ops[0], ops[1]))
        return genome.replace(**{cell: tuple(nodes)})

    # -- sampling and variation ---------------------------------------------------------------
    def _random_cell(self, rng: np.random.Generator) -> tuple[Node, ...]:
        return tuple(
            Node(
                (int(rng.integers(j + 2)), int(rng.integers(j + 2))),
                (pick(rng, self.config.ops), pick(rng, self.config.ops)),
            )
            for j in range(self.config.nodes)
        )

    def sample(self, rng: np.random.Generator) -> CellGenome:
        """Every input and operation uniform over its choices; repaired to fit the constraints."""
        genome = CellGenome(
            self._random_cell(rng),
            self._random_cell(rng),
            self.config.cells,
            self.config.channels,
            random_recipe(self.config, rng),
        )
        return self._repair(genome, rng)

    def mutate(self, genome: CellGenome, rng: np.random.Generator) -> CellGenome:
        """One change that alters the expressed genome (up to 20 tries): a hidden-state mutation (one
        node input), an op mutation (one node operation), each 40%, or a recipe gene (20%)."""
        child = genome
        for _ in range(20):
            roll = rng.random()
            if roll < 0.8:
                cell = "normal" if rng.random() < 0.5 else "reduce"
                j, k = int(rng.integers(self.config.nodes)), int(rng.integers(2))
                if roll < 0.4:
                    child = self._with_edge(genome, cell, j, k, source=int(rng.integers(j + 2)))
                else:
                    child = self._with_edge(genome, cell, j, k, op=pick(rng, self.config.ops))
            else:
                child = genome.replace(recipe=mutate_recipe(genome.recipe, self.config, rng))
            if child.content_bytes() != genome.content_bytes() and self.valid(child):
                return child
        return self._repair(child, rng)

    def crossover(self, a: CellGenome, b: CellGenome, rng: np.random.Generator) -> CellGenome:
        """Each node of each cell from either parent (inputs only ever point backwards, so any mix is a
        valid DAG); uniform crossover of the recipe; repaired to fit the constraints."""
        normal = tuple(x if rng.random() < 0.5 else y for x, y in zip(a.normal, b.normal, strict=True))
        reduce = tuple(x if rng.random() < 0.5 else y for x, y in zip(a.reduce, b.reduce, strict=True))
        child = CellGenome(normal, reduce, a.cells, a.channels, cross_recipes(a.recipe, b.recipe, rng))
        return self._repair(child, rng)

    # -- continuous encoding (CMA-ES) ---------------------------------------------------------
    def _genes(self) -> list[tuple[str, tuple]]:
        genes: list[tuple[str, tuple]] = []
        for cell in ("normal", "reduce"):
            for j in range(self.config.nodes):
                states = tuple(range(j + 2))
                genes += [
                    (f"{cell}.{j}.in0", states),
                    (f"{cell}.{j}.op0", self.config.ops),
                    (f"{cell}.{j}.in1", states),
                    (f"{cell}.{j}.op1", self.config.ops),
                ]
        return genes + recipe_genes(self.config)

    def decode(self, x: np.ndarray) -> CellGenome:
        """The genome of a point of [0, 1]^encoding_dim (choice ``floor(x k)`` of k, as the chain
        space), repaired deterministically."""
        value, recipe, rng = self._decoded(x)

        def cell(name):
            return tuple(
                Node(
                    (value[f"{name}.{j}.in0"], value[f"{name}.{j}.in1"]),
                    (value[f"{name}.{j}.op0"], value[f"{name}.{j}.op1"]),
                )
                for j in range(self.config.nodes)
            )

        genome = CellGenome(cell("normal"), cell("reduce"), self.config.cells, self.config.channels, recipe)
        return self._repair(genome, rng)
