"""The chain space's genome ids name the network built and its recipe: a layer the builder leaves out
(a convolution or pooling after the first dense layer) is carried but not part of the id, so a
mutation that only adds or changes such a layer is drawn again, and a search never trains the same
network twice under two ids (nas_study's searches did: 22 of 281 candidates on Fashion-MNIST)."""

import numpy as np

from evoforge.spaces.chain import ChainGenome, ChainSpace, ChainSpaceConfig
from evoforge.spaces.chain_torch import build


def network(genome: ChainGenome) -> str:
    return str(build(genome, (1, 16, 16), 10).model) + repr(genome.recipe.expressed())


def test_every_mutation_changes_the_network_built_or_its_recipe():
    space = ChainSpace(ChainSpaceConfig(max_layers=6, channels=(4, 8), units=(8, 16)), (1, 16, 16), 10)
    parent = ChainGenome.from_json(
        {"layers": [{"type": "conv", "channels": 4}, {"type": "dense", "units": 8}, {"type": "pool"}]}
    )
    assert network(parent) == network(parent.replace(layers=parent.layers[:2]))
    assert parent.content_bytes() == parent.replace(layers=parent.layers[:2]).content_bytes()
    rng = np.random.default_rng(0)
    children = [space.mutate(parent, rng) for _ in range(300)]
    assert all(network(child) != network(parent) for child in children)
    # and the ids follow the networks: one id per network and recipe among the children
    ids = {}
    for child in children:
        ids.setdefault(child.content_bytes(), set()).add(network(child))
    assert all(len(nets) == 1 for nets in ids.values())
    assert len({network(c) for c in children}) == len(ids)
