"""What every architecture search space shares: inputs and classes, the network builder and its
size, the constraints on epochs, parameters and FLOPs, and the decoding of a point of the continuous
encoding into gene values with a generator seeded by the point (so a point always decodes to the
same genome)."""

from __future__ import annotations

import hashlib
import importlib
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from evoforge.core.space import SearchSpace
from evoforge.spaces.recipe import Recipe, decode_gene

__all__ = ["ArchitectureSpace", "validated"]


def validated(model: type[BaseModel], data: Any, where: str) -> Any:
    """``model`` validated from ``data``; ``ValueError`` with one line naming the first bad gene."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        gene = ".".join(str(p) for p in (where, *first["loc"]))
        raise ValueError(f"gene {gene}: {first['msg']}") from None


class ArchitectureSpace(SearchSpace):
    """Base of the chain, cell and tree spaces. Subclasses set ``encoding``, ``torch_module`` (the
    module with ``build`` and ``measure``), ``images_only``, and implement ``sample``, ``mutate``,
    ``crossover``, ``_genes``, ``decode`` and ``_structure_violation``."""

    encoding: str
    torch_module: str
    images_only: bool = True
    offers = frozenset({"sample", "mutate", "crossover", "continuous"})
    describes = "architecture"
    export_name = "best_arch.json"

    def __init__(self, config: Any, input_shape: tuple[int, ...], classes: int):
        if self.images_only and len(input_shape) != 3:
            raise ValueError(
                f"the {self.encoding} space needs image inputs (C, H, W), got shape {tuple(input_shape)}"
            )
        self.config = config
        self.input_shape = tuple(int(d) for d in input_shape)
        self.classes = int(classes)

    # -- networks and constraints -------------------------------------------------------------
    def build(self, genome: Any):
        """The network of ``genome`` for this space's inputs, with its size (a ``Built``)."""
        return importlib.import_module(self.torch_module).build(genome, self.input_shape, self.classes)

    def size(self, genome: Any) -> tuple[int, int]:
        """(parameters, FLOPs) of ``genome`` for this space's inputs, without allocating weights (the
        network is built on torch's meta device)."""
        import torch

        with torch.device("meta"):
            built = self.build(genome)
        return built.params, built.flops

    def _structure_violation(self, genome: Any) -> str | None:
        return None

    def violation(self, genome: Any) -> str | None:
        """Why ``genome`` breaks a constraint (its structure, epochs, parameters, FLOPs), or None."""
        broken = self._structure_violation(genome)
        if broken is not None:
            return broken
        lo, hi = self.config.epochs_range
        if not lo <= genome.recipe.epochs <= hi:
            return f"epochs {genome.recipe.epochs} outside {lo}..{hi}"
        params, flops = self.size(genome)
        if params > self.config.max_params:
            return f"{params:,} parameters > max_params {self.config.max_params:,}"
        if self.config.max_flops is not None and flops > self.config.max_flops:
            return f"{flops:,} FLOPs > max_flops {self.config.max_flops:,}"
        return None

    def valid(self, genome: Any) -> bool:
        return self.violation(genome) is None

    # -- continuous encoding ------------------------------------------------------------------
    def _genes(self) -> list[tuple[str, tuple]]:
        raise NotImplementedError

    @property
    def encoding_dim(self) -> int:
        """Length of the continuous encoding (one coordinate per gene, each in [0, 1])."""
        return len(self._genes())

    @property
    def dim(self) -> int:
        return self.encoding_dim

    @property
    def bounds(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def initial_point(self, rng: np.random.Generator) -> np.ndarray:
        """The centre of the encoding box: every choice equally likely."""
        return np.full(self.encoding_dim, 0.5)

    def _decoded(self, x: np.ndarray) -> tuple[dict[str, Any], Recipe, np.random.Generator]:
        """Gene values of a point (clipped to [0, 1]: choice ``floor(x k)`` of k choices, the learning
        rate log-uniform over ``lr_range``), its recipe, and a generator seeded by the point for the
        repair that follows."""
        x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
        genes = self._genes()
        if x.shape != (len(genes),):
            raise ValueError(f"a {self.encoding} encoding has {len(genes)} coordinates, got shape {x.shape}")
        lr_range = self.config.lr_range
        value = {name: decode_gene(xi, c, lr_range) for (name, c), xi in zip(genes, x, strict=True)}
        recipe = Recipe(**{gene: value[gene] for gene in Recipe.model_fields})
        seed = int.from_bytes(hashlib.blake2b(x.tobytes(), digest_size=8).digest(), "little")
        return value, recipe, np.random.default_rng(seed)
