"""Genome representations beyond parameter vectors: NEAT networks, and architecture search spaces
(chain, cell, tree) with their training recipes. Architecture spaces share one interface: ``sample``,
``mutate``, ``crossover``, ``valid``/``violation``, ``build``, ``size``, and a continuous encoding
(``encoding_dim``, ``decode``) for CMA-ES."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from evoforge.spaces.cell import CellGenome, CellSpace, CellSpaceConfig
from evoforge.spaces.chain import ChainGenome, ChainSpace, ChainSpaceConfig
from evoforge.spaces.tree import TreeGenome, TreeSpace, TreeSpaceConfig

__all__ = ["ArchitectureSpaceConfig", "architecture_from_json", "build_network", "make_space"]

#: the ``space`` section of an architecture problem, told apart by ``kind`` (chain when absent)
ArchitectureSpaceConfig = Annotated[
    ChainSpaceConfig | CellSpaceConfig | TreeSpaceConfig, Field(discriminator="kind")
]

_SPACES = {"chain": ChainSpace, "cell": CellSpace, "tree": TreeSpace}
_GENOMES: dict[str, Any] = {"chain": ChainGenome, "cell": CellGenome, "tree": TreeGenome}


def make_space(
    config: ChainSpaceConfig | CellSpaceConfig | TreeSpaceConfig, input_shape: tuple[int, ...], classes: int
):
    """The search space object of ``config`` for inputs of ``input_shape`` and ``classes`` classes."""
    return _SPACES[config.kind](config, input_shape, classes)  # type: ignore[arg-type]  # by kind


def architecture_from_json(data: Any) -> ChainGenome | CellGenome | TreeGenome:
    """An architecture genome from its JSON (``encoding`` picks the space; chain when absent); a
    ``genome_id`` key, as in best_arch.json, is ignored. ``ValueError`` with one line otherwise."""
    if not isinstance(data, dict):
        raise ValueError("an architecture is a JSON object")
    encoding = data.get("encoding", "chain")
    if encoding not in _GENOMES:
        raise ValueError(f"unknown architecture encoding {encoding!r} (known: {', '.join(_GENOMES)})")
    return _GENOMES[encoding].from_json({k: v for k, v in data.items() if k != "genome_id"})


def build_network(genome: ChainGenome | CellGenome | TreeGenome, input_shape: tuple[int, ...], classes: int):
    """The ``torch.nn.Module`` of any architecture genome, with its size (a ``Built``)."""
    import importlib

    torch_module = {"cell": "evoforge.spaces.cell_torch", "tree": "evoforge.spaces.tree_torch"}
    module = importlib.import_module(torch_module.get(genome.encoding, "evoforge.spaces.chain_torch"))
    return module.build(genome, input_shape, classes)
