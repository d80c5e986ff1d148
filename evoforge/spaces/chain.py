"""The chain search space: an image (or tabular) classifier as a sequence of layers, evolved
together with its training recipe as one individual.

A :class:`ChainGenome` is plain JSON: up to ``max_layers`` layers (convolution, depthwise-separable
convolution, pooling, dense), each with every gene (channels, units, kernel, stride, activation,
normalisation, dropout, skip connection, pool type), a head (global average pooling or flatten
before the first dense layer), and a :class:`Recipe` (optimizer, learning rate, momentum, weight
decay, batch size, epochs, schedule, augmentation, label smoothing). Genes that do not apply to a
layer's type or to the optimizer (momentum for Adam), and convolution or pooling layers after the
first dense layer, are kept, so a later mutation can express them again, but they are not expressed:
two genomes that differ only there build the same network and share a content id, so the run trains
them once, and a mutation that changes only them is drawn again.

:class:`ChainSpace` samples, mutates (one change per child, as in Real et al. 2019, section 2) and
recombines (one-point on layers, uniform on the recipe) genomes, keeping them within the
constraints (layers, parameters, epochs); :func:`evoforge.spaces.chain_torch.build` (which imports
torch) makes a ``torch.nn.Module`` for any input shape and class count, and counts its parameters
and FLOPs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from evoforge.core.genome import register_genome
from evoforge.spaces.base import ArchitectureSpace, validated
from evoforge.spaces.recipe import (
    Recipe,
    RecipeChoices,
    cross_recipes,
    mutate_recipe,
    nearest,
    pick,
    random_recipe,
    recipe_genes,
    start_recipe,
)

__all__ = ["ChainGenome", "ChainSpace", "ChainSpaceConfig", "Layer", "Recipe"]

LayerType = Literal["conv", "sepconv", "pool", "dense"]
Activation = Literal["relu", "gelu", "elu", "silu", "tanh", "leaky_relu"]
Norm = Literal["none", "batch", "instance", "layer"]

#: the genes each layer type expresses (the rest are carried, not used)
_EXPRESSED = {
    "conv": ("type", "channels", "kernel", "stride", "activation", "norm", "dropout", "skip"),
    "sepconv": ("type", "channels", "kernel", "stride", "activation", "norm", "dropout", "skip"),
    "pool": ("type", "pool_type"),
    "dense": ("type", "units", "activation", "norm", "dropout", "skip"),
}


class Layer(BaseModel):
    """One layer's genes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: LayerType
    channels: int = Field(32, ge=1, description="Output channels (conv, sepconv).")
    units: int = Field(128, ge=1, description="Output units (dense).")
    kernel: Literal[3, 5, 7] = Field(3, description="Kernel size (conv, sepconv).")
    stride: Literal[1, 2] = Field(1, description="Stride (conv, sepconv); pooling always halves.")
    activation: Activation = "relu"
    norm: Norm = "none"
    dropout: float = Field(0.0, ge=0, lt=1)
    skip: bool = Field(False, description="Add the layer's input (projected if its shape differs).")
    pool_type: Literal["max", "avg"] = "max"

    def expressed(self) -> dict[str, Any]:
        genes = {k: getattr(self, k) for k in _EXPRESSED[self.type]}
        if self.type == "dense" and self.norm == "instance":  # no map to take statistics over
            genes["norm"] = "none"
        return genes


@register_genome
@dataclass(frozen=True, eq=False)
class ChainGenome:
    """A chain architecture and its training recipe; immutable, stored as JSON.

    >>> g = ChainGenome.from_json({"layers": [{"type": "conv", "channels": 8}, {"type": "dense"}]})
    >>> [layer.type for layer in g.layers], g.recipe.optimizer
    (['conv', 'dense'], 'adam')
    >>> ChainGenome.from_json(g.to_json()).content_bytes() == g.content_bytes()
    True
    """

    encoding = "chain"
    #: the run directory gets the reported genome as this file

    layers: tuple[Layer, ...]
    recipe: Recipe = Recipe()
    head: Literal["gap", "flatten"] = "flatten"

    def to_json(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "layers": [layer.model_dump() for layer in self.layers],
            "head": self.head,
            "recipe": self.recipe.model_dump(),
        }

    @classmethod
    def from_json(cls, data: Any) -> ChainGenome:
        """Validate and build; ``ValueError`` with one line naming the bad gene."""
        if not isinstance(data, dict) or not isinstance(data.get("layers"), list) or not data["layers"]:
            raise ValueError("a chain genome needs a non-empty 'layers' list")
        unknown = set(data) - {"encoding", "layers", "head", "recipe"}
        if unknown:
            raise ValueError(f"unknown chain genome field {sorted(unknown)[0]!r}")
        if data.get("encoding", cls.encoding) != cls.encoding:
            raise ValueError(f"encoding {data['encoding']!r} is not {cls.encoding!r}")
        if data.get("head", "flatten") not in ("gap", "flatten"):
            raise ValueError(f"head must be gap or flatten, got {data['head']!r}")
        layers = tuple(validated(Layer, x, f"layers.{k}") for k, x in enumerate(data["layers"]))
        recipe = validated(Recipe, data.get("recipe", {}), "recipe")
        return cls(layers, recipe, data.get("head", "flatten"))

    def content_bytes(self) -> bytes:
        """The expressed genes only: genomes that build the same network and recipe share an id. A
        convolution or pooling layer after the first dense layer is not expressed (the builder leaves
        it out: there is no feature map left), so it is not part of the id either.

        >>> a = ChainGenome.from_json({"layers": [{"type": "conv"}, {"type": "dense"}]})
        >>> b = ChainGenome.from_json({"layers": [{"type": "conv"}, {"type": "dense"}, {"type": "pool"}]})
        >>> a.content_bytes() == b.content_bytes()
        True
        """
        dense = next((k for k, layer in enumerate(self.layers) if layer.type == "dense"), len(self.layers))
        expressed = {
            "layers": [
                layer.expressed()
                for k, layer in enumerate(self.layers)
                if k <= dense or layer.type == "dense"
            ],
            "head": self.head,
            "recipe": self.recipe.expressed(),
        }
        return json.dumps(expressed, sort_keys=True).encode()

    def replace(self, **changes: Any) -> ChainGenome:
        return ChainGenome(
            changes.get("layers", self.layers),
            changes.get("recipe", self.recipe),
            changes.get("head", self.head),
        )


# -- the space ------------------------------------------------------------------------------------
class ChainSpaceConfig(RecipeChoices):
    """What the chain space may contain, and its constraints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["chain"] = "chain"
    max_layers: int = Field(8, ge=1, description="Most layers in a genome (L).")
    max_params: int = Field(1_000_000, ge=100, description="Most parameters of a built network.")
    max_flops: int | None = Field(
        None,
        ge=1000,
        description="Most FLOPs for one input (multiply-adds count two); bounds a candidate's training time "
        "more directly than its parameters do.",
    )
    layer_types: tuple[LayerType, ...] = Field(
        ("conv", "sepconv", "pool", "dense"), min_length=1, description="Layer types to draw from."
    )
    channels: tuple[int, ...] = Field((16, 32, 64, 128), min_length=1, description="Channel choices.")
    units: tuple[int, ...] = Field((32, 64, 128, 256), min_length=1, description="Dense unit choices.")
    kernels: tuple[Literal[3, 5, 7], ...] = Field((3, 5, 7), min_length=1, description="Kernel choices.")
    activations: tuple[Activation, ...] = Field(
        ("relu", "gelu", "elu", "silu", "tanh", "leaky_relu"), min_length=1, description="Activations."
    )
    norms: tuple[Norm, ...] = Field(
        ("none", "batch", "instance", "layer"), min_length=1, description="Norms."
    )
    dropouts: tuple[float, ...] = Field((0.0, 0.1, 0.2, 0.3, 0.5), min_length=1, description="Dropouts.")


_LAYER_CHOICES = {
    "channels": "channels",
    "units": "units",
    "kernel": "kernels",
    "activation": "activations",
    "norm": "norms",
    "dropout": "dropouts",
}
_pick = pick


class ChainSpace(ArchitectureSpace):
    """Sampling, mutation and crossover of chain genomes for one input shape and class count.

    >>> space = ChainSpace(ChainSpaceConfig(max_layers=4), (1, 8, 8), 10)
    >>> g = space.sample(np.random.default_rng(0))
    >>> space.valid(g) and space.valid(space.mutate(g, np.random.default_rng(1)))
    True
    """

    encoding = "chain"
    torch_module = "evoforge.spaces.chain_torch"
    images_only = False

    def __init__(self, config: ChainSpaceConfig, input_shape: tuple[int, ...], classes: int):
        super().__init__(config, input_shape, classes)
        spatial = len(self.input_shape) == 3
        self.layer_types = tuple(t for t in config.layer_types if spatial or t == "dense") or ("dense",)

    def _structure_violation(self, genome: ChainGenome) -> str | None:
        if len(genome.layers) > self.config.max_layers:
            return f"{len(genome.layers)} layers > max_layers {self.config.max_layers}"
        return None

    # -- sampling -------------------------------------------------------------------------------
    def random_layer(self, rng: np.random.Generator) -> Layer:
        cfg = self.config
        return Layer(
            type=_pick(rng, self.layer_types),
            channels=_pick(rng, cfg.channels),
            units=_pick(rng, cfg.units),
            kernel=_pick(rng, cfg.kernels),
            stride=_pick(rng, (1, 2)),
            activation=_pick(rng, cfg.activations),
            norm=_pick(rng, cfg.norms),
            dropout=_pick(rng, cfg.dropouts),
            skip=bool(rng.random() < 0.3),
            pool_type=_pick(rng, ("max", "avg")),
        )

    def random_recipe(self, rng: np.random.Generator) -> Recipe:
        return random_recipe(self.config, rng)

    def sample(self, rng: np.random.Generator) -> ChainGenome:
        """A random valid genome: depth uniform in 1..max_layers, convolutions and pooling before dense
        layers, shrunk until within max_params."""
        depth = int(rng.integers(1, self.config.max_layers + 1))
        layers = [self.random_layer(rng) for _ in range(depth)]
        # feature extractors first: a convolution after the first dense layer would not be expressed
        layers.sort(key=lambda layer: layer.type == "dense")
        genome = ChainGenome(
            tuple(layers),
            self.random_recipe(rng),
            _pick(rng, ("gap", "flatten")),
        )
        return self._repair(genome, rng)

    def first(self, index: int, rng: np.random.Generator) -> ChainGenome:
        """A first population's members: :meth:`start` first, then samples."""
        return self.start(rng) if index == 0 else self.sample(rng)

    def start(self, rng: np.random.Generator) -> ChainGenome:
        """The network a practitioner writes first, within this space: for images two 3x3
        convolutions (32 and 64 channels, batch norm, ReLU), max pooling and a dense layer of 128
        with dropout 0.25; for vectors two dense layers (256, 128); trained by :func:`start_recipe`.
        Each gene is the nearest choice the space offers; layers past ``max_layers`` or over the
        parameter budget are dropped as any genome is repaired."""
        cfg = self.config

        def layer(**genes: Any) -> Layer:
            wanted = {"activation": "relu", "norm": "batch", "dropout": 0.0, **genes}
            for gene in ("channels", "units", "activation", "norm", "dropout"):
                if gene in wanted:
                    wanted[gene] = nearest(getattr(cfg, _LAYER_CHOICES[gene]), wanted[gene])
            return Layer(**wanted)

        if "conv" in self.layer_types:
            layers = [layer(type="conv", channels=32), layer(type="conv", channels=64)]
            if "pool" in self.layer_types:
                layers.append(Layer(type="pool", pool_type="max"))
        else:
            layers = [layer(type="dense", units=256, norm="none")]
        if "dense" in self.layer_types:
            layers.append(layer(type="dense", units=128, norm="none", dropout=0.25))
        return self._repair(ChainGenome(tuple(layers), start_recipe(cfg), "flatten"), rng)

    def _repair(self, genome: ChainGenome, rng: np.random.Generator) -> ChainGenome:
        """Drop random layers (then fall back to global pooling) until the genome is valid."""
        genome = genome.replace(layers=genome.layers[: self.config.max_layers])
        while not self.valid(genome):
            if genome.head == "flatten":
                genome = genome.replace(head="gap")
            elif len(genome.layers) > 1:
                drop = int(rng.integers(len(genome.layers)))
                genome = genome.replace(layers=genome.layers[:drop] + genome.layers[drop + 1 :])
            else:
                small = Layer(type="dense", units=min(self.config.units))
                genome = genome.replace(layers=(small,), head="gap")
                if not self.valid(genome):
                    raise ValueError(f"no genome fits the constraints: {self.violation(genome)}")
        return genome

    # -- variation ------------------------------------------------------------------------------
    def mutate(self, genome: ChainGenome, rng: np.random.Generator) -> ChainGenome:
        """One random change that alters the expressed network or recipe (up to 20 tries), kept valid."""
        for _ in range(20):
            child = self._mutate_once(genome, rng)
            if child.content_bytes() != genome.content_bytes() and self.valid(child):
                return child
        return self._repair(child, rng)

    def _mutate_once(self, genome: ChainGenome, rng: np.random.Generator) -> ChainGenome:
        layers = list(genome.layers)
        roll = rng.random()
        if roll < 0.35:  # one gene of one layer
            k = int(rng.integers(len(layers)))
            layer = layers[k]
            gene = _pick(rng, _EXPRESSED[layer.type])
            if gene == "type":
                value: Any = _pick(rng, self.layer_types)
            elif gene == "stride":
                value = 3 - layer.stride
            elif gene == "skip":
                value = not layer.skip
            elif gene == "pool_type":
                value = "avg" if layer.pool_type == "max" else "max"
            else:
                value = _pick(rng, getattr(self.config, _LAYER_CHOICES[gene]))
            layers[k] = layer.model_copy(update={gene: value})
            return genome.replace(layers=tuple(layers))
        if roll < 0.5 and len(layers) < self.config.max_layers:
            k = int(rng.integers(len(layers) + 1))
            return genome.replace(layers=tuple(layers[:k] + [self.random_layer(rng)] + layers[k:]))
        if roll < 0.6 and len(layers) > 1:
            k = int(rng.integers(len(layers)))
            return genome.replace(layers=tuple(layers[:k] + layers[k + 1 :]))
        if roll < 0.95:  # one recipe gene
            return genome.replace(recipe=mutate_recipe(genome.recipe, self.config, rng))
        return genome.replace(head="gap" if genome.head == "flatten" else "flatten")

    def crossover(self, a: ChainGenome, b: ChainGenome, rng: np.random.Generator) -> ChainGenome:
        """One-point crossover of the layer lists (a cut in each parent), uniform crossover of the
        recipe genes, the head from either; repaired to be valid."""
        cut_a = int(rng.integers(1, len(a.layers) + 1))
        cut_b = int(rng.integers(0, len(b.layers) + 1))
        layers = a.layers[:cut_a] + b.layers[cut_b:]
        recipe = cross_recipes(a.recipe, b.recipe, rng)
        head = a.head if rng.random() < 0.5 else b.head
        return self._repair(ChainGenome(tuple(layers), recipe, head), rng)

    # -- continuous encoding (CMA-ES) -------------------------------------------------------------
    def _genes(self) -> list[tuple[str, tuple]]:
        """The coordinates of the continuous encoding, as (name, choices); ``("lr", ())`` is the one
        continuous gene (log-uniform over ``lr_range``)."""
        cfg = self.config
        genes: list[tuple[str, tuple]] = [("depth", tuple(range(1, cfg.max_layers + 1)))]
        for k in range(cfg.max_layers):
            genes += [
                (f"{k}.type", self.layer_types),
                (f"{k}.channels", cfg.channels),
                (f"{k}.units", cfg.units),
                (f"{k}.kernel", cfg.kernels),
                (f"{k}.stride", (1, 2)),
                (f"{k}.activation", cfg.activations),
                (f"{k}.norm", cfg.norms),
                (f"{k}.dropout", cfg.dropouts),
                (f"{k}.skip", (False, True)),
                (f"{k}.pool_type", ("max", "avg")),
            ]
        genes.append(("head", ("gap", "flatten")))
        return genes + recipe_genes(cfg)

    def decode(self, x: np.ndarray) -> ChainGenome:
        """The genome of a point of [0, 1]^encoding_dim (coordinates outside are clipped): a
        categorical gene with k choices takes choice ``floor(x * k)`` (so every choice owns an
        interval of width 1/k), the learning rate is log-uniform over ``lr_range``; then repaired to
        fit the constraints, with a generator seeded by the point, so a point always decodes to the
        same genome.

        >>> space = ChainSpace(ChainSpaceConfig(max_layers=2), (1, 8, 8), 10)
        >>> g = space.decode(np.full(space.encoding_dim, 0.99))
        >>> len(g.layers), g.head, g.recipe.optimizer
        (2, 'flatten', 'rmsprop')
        """
        value, recipe, rng = self._decoded(x)
        fields = ("type", "channels", "units", "kernel", "stride", "activation", "norm", "dropout", "skip")
        layers = [
            Layer(**{f: value[f"{k}.{f}"] for f in (*fields, "pool_type")}) for k in range(value["depth"])
        ]
        layers.sort(key=lambda layer: layer.type == "dense")  # as in sample: features before dense
        return self._repair(ChainGenome(tuple(layers), recipe, value["head"]), rng)
