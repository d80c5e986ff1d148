"""The tree search space: an image classifier as a genetic-programming tree (Koza 1992), evolved
with its training recipe.

Internal nodes are ``seq`` (children applied one after another) and ``par`` (children applied to
the same input, merged by ``add`` or ``concat``); leaves are layers: ``conv`` (convolution, batch
norm, ReLU), ``sepconv`` (its depthwise-separable form), ``pool`` (max or average, halving the
resolution) and ``identity``. Branches merge whatever their shapes: outputs are pooled to the
smallest resolution among them and, for ``add``, projected (1x1) to the widest; so every tree
builds. The network applies the tree to the (standardised) input, then global average pooling and a
linear classifier.

Variation is the classic GP set (Koza 1992, chapter 6; Poli, Langdon & McPhee 2008, "A Field Guide
to Genetic Programming", section 5.2-5.3): subtree crossover (a random subtree of one parent
replaced by a random subtree of the other), node mutation (one node's attributes), subtree mutation
(a random subtree regrown), each kept within ``max_depth``; or one recipe gene. The continuous
encoding (for CMA-ES) lays a complete binary tree of ``max_depth`` levels over [0, 1]^d.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
from pydantic import Field

from evoforge.core.genome import register_genome
from evoforge.spaces.base import ArchitectureSpace, validated
from evoforge.spaces.recipe import (
    Recipe,
    RecipeChoices,
    cross_recipes,
    decode_gene,
    mutate_recipe,
    pick,
    random_recipe,
    recipe_genes,
)

__all__ = ["TreeGenome", "TreeNode", "TreeSpace", "TreeSpaceConfig"]

LEAVES = ("conv", "sepconv", "pool", "identity")
INTERNAL = ("seq", "par")
Path = tuple[int, ...]


@dataclass(frozen=True)
class TreeNode:
    """One node; the attributes that do not apply to its ``op`` keep their defaults."""

    op: str
    children: tuple[TreeNode, ...] = ()
    merge: str = "add"
    channels: int = 32
    kernel: int = 3
    pool_type: str = "max"

    def to_json(self) -> dict[str, Any]:
        if self.op == "seq":
            return {"op": "seq", "children": [c.to_json() for c in self.children]}
        if self.op == "par":
            return {"op": "par", "merge": self.merge, "children": [c.to_json() for c in self.children]}
        if self.op in ("conv", "sepconv"):
            return {"op": self.op, "channels": self.channels, "kernel": self.kernel}
        if self.op == "pool":
            return {"op": "pool", "pool_type": self.pool_type}
        return {"op": "identity"}

    @classmethod
    def from_json(cls, data: Any, where: str = "root") -> TreeNode:
        if not isinstance(data, dict) or data.get("op") not in LEAVES + INTERNAL:
            raise ValueError(f"{where}: a node needs 'op', one of {', '.join(LEAVES + INTERNAL)}")
        op = data["op"]
        allowed = {
            "seq": {"op", "children"},
            "par": {"op", "merge", "children"},
            "conv": {"op", "channels", "kernel"},
            "sepconv": {"op", "channels", "kernel"},
            "pool": {"op", "pool_type"},
            "identity": {"op"},
        }[op]
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"{where}: {op} has no field {sorted(unknown)[0]!r}")
        if op in INTERNAL:
            children = data.get("children")
            if not isinstance(children, list) or len(children) < 2:
                raise ValueError(f"{where}: {op} needs a list of at least two children")
            if op == "par" and data.get("merge", "add") not in ("add", "concat"):
                raise ValueError(f"{where}: merge must be add or concat, got {data['merge']!r}")
            return cls(
                op,
                tuple(cls.from_json(c, f"{where}.{k}") for k, c in enumerate(children)),
                merge=data.get("merge", "add"),
            )
        if op in ("conv", "sepconv"):
            channels, kernel = data.get("channels", 32), data.get("kernel", 3)
            if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
                raise ValueError(f"{where}: channels must be a positive integer, got {channels!r}")
            if kernel not in (1, 3, 5, 7):
                raise ValueError(f"{where}: kernel must be 1, 3, 5 or 7, got {kernel!r}")
            return cls(op, channels=channels, kernel=kernel)
        if op == "pool":
            if data.get("pool_type", "max") not in ("max", "avg"):
                raise ValueError(f"{where}: pool_type must be max or avg, got {data['pool_type']!r}")
            return cls(op, pool_type=data.get("pool_type", "max"))
        return cls(op)

    # -- tree arithmetic ----------------------------------------------------------------------
    def depth(self) -> int:
        """Levels of the tree (a leaf is 1)."""
        return 1 + max((c.depth() for c in self.children), default=0)

    def paths(self, prefix: Path = ()) -> list[Path]:
        """The path (child indices from the root) of every node, the root's ``()`` first."""
        out = [prefix]
        for k, c in enumerate(self.children):
            out += c.paths((*prefix, k))
        return out

    def at(self, path: Path) -> TreeNode:
        node = self
        for k in path:
            node = node.children[k]
        return node

    def with_subtree(self, path: Path, subtree: TreeNode) -> TreeNode:
        if not path:
            return subtree
        children = list(self.children)
        children[path[0]] = children[path[0]].with_subtree(path[1:], subtree)
        return replace(self, children=tuple(children))


@register_genome
@dataclass(frozen=True, eq=False)
class TreeGenome:
    """A tree architecture and its training recipe; immutable, stored as JSON.

    >>> g = TreeGenome.from_json({"root": {"op": "seq", "children": [{"op": "conv"}, {"op": "pool"}]}})
    >>> g.root.depth(), TreeGenome.from_json(g.to_json()).content_bytes() == g.content_bytes()
    (2, True)
    """

    encoding = "tree"

    root: TreeNode
    recipe: Recipe = Recipe()

    def to_json(self) -> dict[str, Any]:
        return {"encoding": self.encoding, "root": self.root.to_json(), "recipe": self.recipe.model_dump()}

    @classmethod
    def from_json(cls, data: Any) -> TreeGenome:
        """Validate and build; ``ValueError`` with one line naming the bad node."""
        if not isinstance(data, dict) or "root" not in data:
            raise ValueError("a tree genome needs a 'root' node")
        unknown = set(data) - {"encoding", "root", "recipe"}
        if unknown:
            raise ValueError(f"unknown tree genome field {sorted(unknown)[0]!r}")
        if data.get("encoding", cls.encoding) != cls.encoding:
            raise ValueError(f"encoding {data['encoding']!r} is not {cls.encoding!r}")
        recipe = validated(Recipe, data.get("recipe", {}), "recipe")
        return cls(TreeNode.from_json(data["root"]), recipe)

    def content_bytes(self) -> bytes:
        return json.dumps(
            {"root": self.root.to_json(), "recipe": self.recipe.expressed()}, sort_keys=True
        ).encode()


class TreeSpaceConfig(RecipeChoices):
    """The tree space: node choices, the depth limit, and constraints."""

    kind: Literal["tree"] = "tree"
    max_depth: int = Field(4, ge=1, le=8, description="Most levels of a tree (a single leaf is 1).")
    leaves: tuple[Literal["conv", "sepconv", "pool", "identity"], ...] = Field(
        ("conv", "sepconv", "pool", "identity"), min_length=1, description="Leaf layers to draw from."
    )
    channels: tuple[int, ...] = Field(
        (16, 32, 64), min_length=1, description="Channel choices of conv leaves."
    )
    kernels: tuple[Literal[1, 3, 5, 7], ...] = Field((3, 5), min_length=1, description="Kernel choices.")
    max_children: int = Field(3, ge=2, le=4, description="Most children of a seq or par node.")
    leaf_probability: float = Field(
        0.3, ge=0, le=1, description="Chance a grown node below the root is a leaf before the depth limit."
    )
    max_params: int = Field(1_000_000, ge=100, description="Most parameters of a built network.")
    max_flops: int | None = Field(None, ge=1000, description="Most FLOPs for one input.")


class TreeSpace(ArchitectureSpace):
    """Growing, GP variation and the continuous encoding of tree genomes for one image shape.

    >>> space = TreeSpace(TreeSpaceConfig(max_depth=3, channels=(4,)), (1, 8, 8), 10)
    >>> g = space.sample(np.random.default_rng(0))
    >>> space.valid(g) and space.valid(space.mutate(g, np.random.default_rng(1)))
    True
    """

    encoding = "tree"
    torch_module = "evoforge.spaces.tree_torch"

    def _structure_violation(self, genome: TreeGenome) -> str | None:
        if genome.root.depth() > self.config.max_depth:
            return f"depth {genome.root.depth()} > max_depth {self.config.max_depth}"
        return None

    def _repair(self, genome: TreeGenome, rng: np.random.Generator) -> TreeGenome:
        """Collapse random internal nodes into one of their children (then the root into an identity)
        until the genome fits the constraints."""
        while not self.valid(genome):
            internal = [p for p in genome.root.paths() if genome.root.at(p).op in INTERNAL]
            if internal:
                path = internal[int(rng.integers(len(internal)))]
                node = genome.root.at(path)
                child = node.children[int(rng.integers(len(node.children)))]
                genome = replace(genome, root=genome.root.with_subtree(path, child))
            elif genome.root.op != "identity":
                genome = replace(genome, root=TreeNode("identity"))
            else:
                raise ValueError(f"no tree genome fits the constraints: {self.violation(genome)}")
        return genome

    # -- growing ------------------------------------------------------------------------------
    def random_leaf(self, rng: np.random.Generator) -> TreeNode:
        op = pick(rng, self.config.leaves)
        return TreeNode(
            op,
            channels=pick(rng, self.config.channels),
            kernel=pick(rng, self.config.kernels),
            pool_type=pick(rng, ("max", "avg")),
        )

    def grow(self, rng: np.random.Generator, depth: int, root: bool = False) -> TreeNode:
        """A random tree of at most ``depth`` levels (the "grow" method): a leaf at the limit, or
        below the root with ``leaf_probability``; otherwise a seq or par node of 2..max_children."""
        if depth <= 1 or (not root and rng.random() < self.config.leaf_probability):
            return self.random_leaf(rng)
        op = pick(rng, INTERNAL)
        n = int(rng.integers(2, self.config.max_children + 1))
        children = tuple(self.grow(rng, depth - 1) for _ in range(n))
        return TreeNode(op, children, merge=pick(rng, ("add", "concat")))

    def sample(self, rng: np.random.Generator) -> TreeGenome:
        genome = TreeGenome(self.grow(rng, self.config.max_depth, root=True), random_recipe(self.config, rng))
        return self._repair(genome, rng)

    # -- variation ----------------------------------------------------------------------------
    def _node_mutation(self, node: TreeNode, rng: np.random.Generator) -> TreeNode:
        if node.op in INTERNAL:
            if node.op == "par" and rng.random() < 0.5:
                return replace(node, merge="concat" if node.merge == "add" else "add")
            return replace(node, op="par" if node.op == "seq" else "seq")
        gene = pick(rng, ("op", "channels", "kernel", "pool_type"))
        if gene == "op":
            return replace(node, op=pick(rng, self.config.leaves))
        if gene == "channels":
            return replace(node, channels=pick(rng, self.config.channels))
        if gene == "kernel":
            return replace(node, kernel=pick(rng, self.config.kernels))
        return replace(node, pool_type="avg" if node.pool_type == "max" else "max")

    def mutate(self, genome: TreeGenome, rng: np.random.Generator) -> TreeGenome:
        """One change that alters the expressed genome (up to 20 tries): node mutation (40%), subtree
        mutation (40%, regrown within the depth left at that node) or a recipe gene (20%)."""
        child = genome
        for _ in range(20):
            roll = rng.random()
            paths = genome.root.paths()
            path = paths[int(rng.integers(len(paths)))]
            if roll < 0.4:
                new = self._node_mutation(genome.root.at(path), rng)
                child = replace(genome, root=genome.root.with_subtree(path, new))
            elif roll < 0.8:
                regrown = self.grow(rng, self.config.max_depth - len(path))
                child = replace(genome, root=genome.root.with_subtree(path, regrown))
            else:
                child = replace(genome, recipe=mutate_recipe(genome.recipe, self.config, rng))
            if child.content_bytes() != genome.content_bytes() and self.valid(child):
                return child
        return self._repair(child, rng)

    def crossover(self, a: TreeGenome, b: TreeGenome, rng: np.random.Generator) -> TreeGenome:
        """Subtree crossover: a random subtree of ``a`` replaced by a random subtree of ``b`` that fits
        the depth left there (the root of ``b`` fits at ``a``'s root); uniform recipe crossover."""
        path = a.root.paths()[int(rng.integers(len(a.root.paths())))]
        room = self.config.max_depth - len(path)
        donors = [p for p in b.root.paths() if b.root.at(p).depth() <= room]
        donor = b.root.at(donors[int(rng.integers(len(donors)))]) if donors else a.root.at(path)
        child = TreeGenome(a.root.with_subtree(path, donor), cross_recipes(a.recipe, b.recipe, rng))
        return self._repair(child, rng)

    # -- continuous encoding (CMA-ES) ---------------------------------------------------------
    def _slots(self) -> int:
        return 2**self.config.max_depth - 1  # a complete binary tree, heap order

    def _genes(self) -> list[tuple[str, tuple]]:
        genes: list[tuple[str, tuple]] = []
        for slot in range(self._slots()):
            genes += [
                (f"{slot}.op", self.config.leaves + INTERNAL),
                (f"{slot}.merge", ("add", "concat")),
                (f"{slot}.channels", self.config.channels),
                (f"{slot}.kernel", self.config.kernels),
                (f"{slot}.pool_type", ("max", "avg")),
            ]
        return genes + recipe_genes(self.config)

    def decode(self, x: np.ndarray) -> TreeGenome:
        """The genome of a point of [0, 1]^encoding_dim: slot ``s`` of a complete binary tree holds a
        node (choice ``floor(x k)`` of k for each attribute); an internal node's two children are
        slots ``2s + 1`` and ``2s + 2``; a slot on the last level is a leaf (its op read among the
        leaves alone). Repaired deterministically."""
        value, recipe, rng = self._decoded(x)
        first_leaf = self._slots() // 2

        def node(slot: int) -> TreeNode:
            op = value[f"{slot}.op"]
            if slot >= first_leaf and op in INTERNAL:
                op = decode_gene(float(np.asarray(x)[5 * slot]), self.config.leaves)
            attrs = {
                "channels": value[f"{slot}.channels"],
                "kernel": value[f"{slot}.kernel"],
                "pool_type": value[f"{slot}.pool_type"],
            }
            if op in INTERNAL:
                return TreeNode(op, (node(2 * slot + 1), node(2 * slot + 2)), merge=value[f"{slot}.merge"])
            return TreeNode(op, **attrs)

        genome = TreeGenome(node(0), recipe)
        return self._repair(genome, rng)
