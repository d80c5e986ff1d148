"""Tree genomes as ``torch.nn.Module``: shapes are inferred while building, so each ``par`` node
knows how to bring its branches to one shape (pooled to the smallest resolution; for ``add``,
projected to the widest branch with a 1x1 convolution)."""

from __future__ import annotations

import torch
from torch import nn

from evoforge.spaces.chain_torch import Built, StandardisedNet, count_flops
from evoforge.spaces.tree import TreeGenome, TreeNode

__all__ = ["TreeNet", "build", "measure"]

Shape = tuple[int, int, int]  # channels, height, width


class Seq(nn.Module):
    def __init__(self, parts: list[nn.Module]):
        super().__init__()
        self.parts = nn.ModuleList(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            x = part(x)
        return x


class Par(nn.Module):
    """Branches on one input; each followed by its adapter (pooling and/or projection); summed or
    concatenated along channels."""

    def __init__(self, branches: list[nn.Module], concat: bool):
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.concat = concat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [branch(x) for branch in self.branches]
        if self.concat:
            return torch.cat(outs, dim=1)
        total = outs[0]
        for out in outs[1:]:
            total = total + out
        return total


def _leaf(node: TreeNode, shape: Shape) -> tuple[nn.Module, Shape]:
    c, h, w = shape
    if node.op == "conv":
        k = node.kernel
        conv = nn.Conv2d(c, node.channels, k, 1, k // 2, bias=False)
        return nn.Sequential(conv, nn.BatchNorm2d(node.channels), nn.ReLU()), (node.channels, h, w)
    if node.op == "sepconv":
        k = node.kernel
        parts = [
            nn.Conv2d(c, c, k, 1, k // 2, groups=c, bias=False),
            nn.Conv2d(c, node.channels, 1, bias=False),
            nn.BatchNorm2d(node.channels),
            nn.ReLU(),
        ]
        return nn.Sequential(*parts), (node.channels, h, w)
    if node.op == "pool":
        if h < 2 and w < 2:  # nothing left to halve
            return nn.Identity(), shape
        pool = nn.MaxPool2d if node.pool_type == "max" else nn.AvgPool2d
        return pool(2, 2, ceil_mode=True), (c, (h + 1) // 2, (w + 1) // 2)
    return nn.Identity(), shape


def _module(node: TreeNode, shape: Shape) -> tuple[nn.Module, Shape]:
    if node.op == "seq":
        parts = []
        for child in node.children:
            part, shape = _module(child, shape)
            parts.append(part)
        return Seq(parts), shape
    if node.op == "par":
        built = [_module(child, shape) for child in node.children]
        h = min(s[1] for _, s in built)
        w = min(s[2] for _, s in built)
        width = max(s[0] for _, s in built)
        branches = []
        for module, (c, bh, bw) in built:
            adapter: list[nn.Module] = [module]
            if (bh, bw) != (h, w):
                adapter.append(nn.AdaptiveAvgPool2d((h, w)))
            if node.merge == "add" and c != width:
                adapter.append(nn.Conv2d(c, width, 1, bias=False))
            branches.append(adapter[0] if len(adapter) == 1 else nn.Sequential(*adapter))
        channels = sum(s[0] for _, s in built) if node.merge == "concat" else width
        return Par(branches, node.merge == "concat"), (channels, h, w)
    return _leaf(node, shape)


class TreeNet(StandardisedNet):
    """The tree on the standardised input, then global average pooling and a linear classifier."""

    def __init__(self, genome: TreeGenome, input_shape: tuple[int, ...], classes: int):
        super().__init__(input_shape)
        self.body, (c, _, _) = _module(genome.root, tuple(input_shape))
        self.classifier = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body((x - self.mean) / self.std)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def build(genome: TreeGenome, input_shape: tuple[int, ...], classes: int) -> Built:
    """The network of ``genome`` for images ``(C, H, W)``, with its size.

    >>> g = TreeGenome.from_json({"root": {"op": "par", "merge": "add", "children": [
    ...     {"op": "conv", "channels": 8}, {"op": "seq", "children": [{"op": "pool"}, {"op": "identity"}]}]}})
    >>> build(g, (3, 7, 7), 5).model(torch.zeros(2, 3, 7, 7)).shape
    torch.Size([2, 5])
    """
    if len(input_shape) != 3:
        raise ValueError(f"a tree network needs image inputs (C, H, W), got {input_shape}")
    model = TreeNet(genome, tuple(input_shape), classes)
    params = sum(p.numel() for p in model.parameters())
    return Built(model, int(params), count_flops(model, tuple(input_shape)), genome.root.depth())


def measure(genome: TreeGenome, input_shape: tuple[int, ...], classes: int) -> tuple[int, int]:
    """(parameters, FLOPs) without allocating weights (built on the meta device)."""
    with torch.device("meta"):
        built = build(genome, input_shape, classes)
    return built.params, built.flops
