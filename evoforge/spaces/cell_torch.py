"""Cell genomes as ``torch.nn.Module``: the operations, cells and network of DARTS (Liu et al. 2019,
section 2.1 and appendix A.1), built for any image shape and class count.

Odd feature-map sides are handled throughout: every stride-2 operation maps a side of n to
ceil(n / 2), and the factorized reduction pads before its shifted half, so states always agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from evoforge.spaces.cell import CellGenome
from evoforge.spaces.chain_torch import Built, StandardisedNet, count_flops

__all__ = ["CellNet", "build", "measure"]


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1):
        super().__init__(
            nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out)
        )


class SepConv(nn.Sequential):
    """Depthwise-separable convolution applied twice (DARTS's sep_conv_kxk)."""

    def __init__(self, c: int, kernel: int, stride: int):
        def half(s: int) -> list[nn.Module]:
            return [
                nn.ReLU(),
                nn.Conv2d(c, c, kernel, s, kernel // 2, groups=c, bias=False),
                nn.Conv2d(c, c, 1, bias=False),
                nn.BatchNorm2d(c),
            ]

        super().__init__(*half(stride), *half(1))


class DilConv(nn.Sequential):
    """Dilated (rate 2) depthwise-separable convolution (DARTS's dil_conv_kxk)."""

    def __init__(self, c: int, kernel: int, stride: int):
        pad = kernel - 1  # dilation 2: the effective kernel is 2k - 1
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c, c, kernel, stride, pad, dilation=2, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution with two 1x1 stride-2 convolutions, one shifted by a pixel, concatenated."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, 2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out - c_out // 2, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


class Zero(nn.Module):
    """The "none" edge: zeros of the output's shape."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def _op(name: str, c: int, stride: int) -> nn.Module:
    if name.startswith("sep_conv"):
        return SepConv(c, int(name[-1]), stride)
    if name.startswith("dil_conv"):
        return DilConv(c, int(name[-1]), stride)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    return Zero(stride)


class Cell(nn.Module):
    """One cell: preprocess both inputs to ``c`` channels, compute the nodes, concatenate them."""

    def __init__(self, nodes, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.pre0 = FactorizedReduce(c_prev_prev, c) if reduction_prev else ReLUConvBN(c_prev_prev, c)
        self.pre1 = ReLUConvBN(c_prev, c)
        self.inputs = [list(node.inputs) for node in nodes]
        self.edges = nn.ModuleList(
            _op(op, c, 2 if reduction and i < 2 else 1)
            for node in nodes
            for i, op in zip(node.inputs, node.ops, strict=True)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for j, (a, b) in enumerate(self.inputs):
            states.append(self.edges[2 * j](states[a]) + self.edges[2 * j + 1](states[b]))
        return torch.cat(states[2:], dim=1)


class CellNet(StandardisedNet):
    """Stem, stacked cells (reductions at 1/3 and 2/3 of the depth), global pooling, classifier."""

    def __init__(
        self, genome: CellGenome, input_shape: tuple[int, ...], classes: int, stem_multiplier: int = 3
    ):
        super().__init__(input_shape)
        c = genome.channels
        nodes = len(genome.normal)
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], stem_multiplier * c, 3, 1, 1, bias=False),
            nn.BatchNorm2d(stem_multiplier * c),
        )
        c_prev_prev, c_prev = stem_multiplier * c, stem_multiplier * c
        reductions = {genome.cells // 3, 2 * genome.cells // 3} if genome.cells >= 3 else {genome.cells - 1}
        self.cells = nn.ModuleList()
        reduction_prev = False
        for k in range(genome.cells):
            reduction = k in reductions
            if reduction:
                c *= 2
            cell_nodes = genome.reduce if reduction else genome.normal
            self.cells.append(Cell(cell_nodes, c_prev_prev, c_prev, c, reduction, reduction_prev))
            c_prev_prev, c_prev = c_prev, nodes * c
            reduction_prev = reduction
        self.classifier = nn.Linear(c_prev, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem((x - self.mean) / self.std)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1))


def build(genome: CellGenome, input_shape: tuple[int, ...], classes: int) -> Built:
    """The network of ``genome`` for images ``(C, H, W)`` and ``classes`` outputs, with its size.

    >>> node = {"inputs": [0, 1], "ops": ["sep_conv_3x3", "max_pool_3x3"]}
    >>> g = CellGenome.from_json({"normal": [node], "reduce": [node], "cells": 3, "channels": 4})
    >>> build(g, (1, 9, 9), 10).model(torch.zeros(2, 1, 9, 9)).shape
    torch.Size([2, 10])
    """
    if len(input_shape) != 3:
        raise ValueError(f"a cell network needs image inputs (C, H, W), got {input_shape}")
    model = CellNet(genome, tuple(input_shape), classes)
    params = sum(p.numel() for p in model.parameters())
    return Built(model, int(params), count_flops(model, tuple(input_shape)), genome.cells)


def measure(genome: CellGenome, input_shape: tuple[int, ...], classes: int) -> tuple[int, int]:
    """(parameters, FLOPs) without allocating weights (built on the meta device)."""
    with torch.device("meta"):
        built = build(genome, input_shape, classes)
    return built.params, built.flops
