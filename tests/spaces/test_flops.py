"""FLOPs as torch's own counter reports them, read from the layers' shapes instead (the counter
dispatched every operation of every candidate a search checked)."""

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from evoforge.spaces.cell import CellSpace, CellSpaceConfig
from evoforge.spaces.chain import ChainSpace, ChainSpaceConfig
from evoforge.spaces.chain_torch import count_flops
from evoforge.spaces.tree import TreeSpace, TreeSpaceConfig


def torch_count(model, shape):
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros((1, *shape), device="meta"))
    return int(counter.get_total_flops())


@pytest.mark.parametrize("space_class, config_class", [(ChainSpace, ChainSpaceConfig),
                         (CellSpace, CellSpaceConfig), (TreeSpace, TreeSpaceConfig)])  # fmt: skip
def test_flops_are_torch_counters_on_every_space(space_class, config_class):
    rng = np.random.default_rng(5)
    for shape in ((1, 8, 8), (3, 12, 12)):
        space = space_class(config_class(max_flops=None), shape, 7)
        for _ in range(5):
            with torch.device("meta"):  # no weights: the sizes are all a count needs
                model = space.build(space.sample(rng)).model
            model.train()
            ours = count_flops(model, shape)
            # the network is left as it was: training mode, every layer's own forward
            assert model.training and all("forward" not in vars(m) for m in model.modules())
            assert ours == torch_count(model, shape) > 0
