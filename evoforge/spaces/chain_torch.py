"""Chain genomes as ``torch.nn.Module``: the network of a :class:`~evoforge.spaces.chain.ChainGenome`
for any input shape and class count, with its parameter and FLOP counts."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from evoforge.spaces.chain import ChainGenome

__all__ = ["Block", "Built", "ChainNet", "StandardisedNet", "build", "count_flops", "measure"]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
}


class Block(nn.Module):
    """``main(x)``, plus ``proj(x)`` when the layer has a skip connection."""

    def __init__(self, main: nn.Module, proj: nn.Module | None):
        super().__init__()
        self.main = main
        self.use_skip = proj is not None
        self.proj = proj if proj is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.main(x)
        if self.use_skip:
            y = y + self.proj(x)
        return y


class StandardisedNet(nn.Module):
    """Base of built architectures: per-channel input standardisation held in buffers (so it travels
    with the state dict), set from the training data."""

    def __init__(self, input_shape: tuple[int, ...]):
        super().__init__()
        channels = input_shape[0]
        view = (1, channels, 1, 1) if len(input_shape) == 3 else (1, channels)
        self.register_buffer("mean", torch.zeros(view))
        self.register_buffer("std", torch.ones(view))

    def set_standardisation(self, x: np.ndarray) -> None:
        """Per-channel (images) or per-feature mean and std of the training inputs."""
        axes = (0, 2, 3) if x.ndim == 4 else (0,)
        mean = torch.as_tensor(x.mean(axis=axes), dtype=torch.float32).reshape(self.mean.shape)
        std = torch.as_tensor(x.std(axis=axes), dtype=torch.float32).reshape(self.std.shape)
        self.mean.copy_(mean)
        self.std.copy_(torch.clamp(std, min=1e-6))


class ChainNet(StandardisedNet):
    """A built chain genome: input standardisation, the blocks, and a linear classifier. Scriptable
    with ``torch.jit.script``."""

    def __init__(self, blocks: list[nn.Module], input_shape: tuple[int, ...]):
        super().__init__(input_shape)
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks((x - self.mean) / self.std)


@dataclass(frozen=True)
class Built:
    """A built network with its size."""

    model: ChainNet
    params: int
    flops: int
    expressed_layers: int


def _norm(kind: str, width: int, spatial: bool, pixels: int) -> nn.Module | None:
    if kind == "batch":
        return nn.BatchNorm2d(width) if spatial else nn.BatchNorm1d(width)
    if kind == "instance":  # statistics over a map: not expressed without one, or on one pixel
        return nn.InstanceNorm2d(width, affine=True) if spatial and pixels > 1 else None
    if kind == "layer":
        return nn.GroupNorm(1, width) if spatial else nn.LayerNorm(width)
    return None


def _head(blocks: list[nn.Module], head: str, channels: int, pixels: int) -> int:
    """Append the step from feature maps to features (global average pooling or flatten); returns the
    feature count."""
    if head == "gap":
        blocks += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        return channels
    blocks.append(nn.Flatten())
    return channels * pixels


def build(genome: ChainGenome, input_shape: tuple[int, ...], classes: int) -> Built:
    """The network of ``genome`` for inputs ``(C, H, W)`` or ``(F,)`` and ``classes`` outputs.

    Layers that cannot apply are not expressed: convolutions and pooling on tabular inputs, pooling
    on a 1x1 map; a stride of 2 on a 1-pixel side becomes 1. FLOPs count multiply-adds of
    convolutions and linear layers as two operations, for one input.

    >>> g = ChainGenome.from_json({"layers": [{"type": "conv", "channels": 4, "kernel": 3}]})
    >>> b = build(g, (1, 8, 8), 10)
    >>> b.params, b.model(torch.zeros(2, 1, 8, 8)).shape
    (2610, torch.Size([2, 10]))
    """
    if len(input_shape) not in (1, 3):
        raise ValueError(f"input shape must be (C, H, W) or (F,), got {input_shape}")
    spatial = len(input_shape) == 3
    c = input_shape[0]
    h, w = (input_shape[1], input_shape[2]) if spatial else (1, 1)
    blocks: list[nn.Module] = []
    flops = 0
    expressed = 0
    for layer in genome.layers:
        if layer.type in ("conv", "sepconv", "pool") and not spatial:
            continue
        if layer.type == "pool":
            if h < 2 and w < 2:
                continue
            pool = nn.MaxPool2d if layer.pool_type == "max" else nn.AvgPool2d
            blocks.append(pool(kernel_size=2, stride=2, ceil_mode=True))
            h, w = math.ceil(h / 2), math.ceil(w / 2)
            expressed += 1
            continue
        if layer.type in ("conv", "sepconv"):
            stride = layer.stride if min(h, w) > 1 else 1
            k, out = layer.kernel, layer.channels
            ho, wo = math.ceil(h / stride), math.ceil(w / stride)
            if layer.type == "conv":
                parts: list[nn.Module] = [nn.Conv2d(c, out, k, stride, k // 2)]
                flops += 2 * c * k * k * out * ho * wo
            else:
                parts = [nn.Conv2d(c, c, k, stride, k // 2, groups=c), nn.Conv2d(c, out, 1)]
                flops += 2 * c * k * k * ho * wo + 2 * c * out * ho * wo
            proj = None
            if layer.skip:
                same = c == out and stride == 1
                proj = nn.Identity() if same else nn.Conv2d(c, out, 1, stride)
                flops += 0 if same else 2 * c * out * ho * wo
            width, h, w = out, ho, wo
            is_spatial = True
        else:  # dense
            if spatial:
                c = _head(blocks, genome.head, c, h * w)
                spatial = False
            out = layer.units
            parts = [nn.Linear(c, out)]
            flops += 2 * c * out
            proj = None
            if layer.skip:
                proj = nn.Identity() if c == out else nn.Linear(c, out)
                flops += 0 if c == out else 2 * c * out
            width = out
            is_spatial = False
        norm = _norm(layer.norm, width, is_spatial, h * w)
        if norm is not None:
            parts.append(norm)
        parts.append(_ACTIVATIONS[layer.activation]())
        if layer.dropout > 0:
            parts.append(nn.Dropout(layer.dropout))
        blocks.append(Block(nn.Sequential(*parts), proj))
        c = width
        expressed += 1
    if spatial:
        c = _head(blocks, genome.head, c, h * w)
    blocks.append(nn.Linear(c, classes))
    flops += 2 * c * classes
    model = ChainNet(blocks, input_shape)
    params = sum(p.numel() for p in model.parameters())
    return Built(model, int(params), int(flops), expressed)


def measure(genome: ChainGenome, input_shape: tuple[int, ...], classes: int) -> tuple[int, int]:
    """(parameters, FLOPs) without allocating weights (built on the meta device).

    >>> g = ChainGenome.from_json({"layers": [{"type": "conv", "channels": 4, "kernel": 3}]})
    >>> measure(g, (1, 8, 8), 10)
    (2610, 9728)
    """
    with torch.device("meta"):
        built = build(genome, input_shape, classes)
    return built.params, built.flops


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass on one input, as torch's FLOP counter
    (:class:`torch.utils.flop_counter.FlopCounterMode`) counts them: a multiply-add is two, and only
    convolutions and linear layers count (biases, normalisation, pooling and activations do not),
    the only layers with multiply-adds these spaces build. Read from the layers' shapes in one
    forward pass through hooks, the layers that keep their input's shape (normalisation, dropout)
    passed through: torch's counter took 0.14 s a cell network on the meta device, which every
    validity check of a mutated architecture paid, this about 0.04 s. Works on the meta device."""
    total = 0

    def conv(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        weight = module.weight  # (out channels, in channels / groups, *kernel)
        total += 2 * out.numel() * int(weight[0].numel())

    def linear(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += 2 * out.numel() * int(module.in_features)

    hooks = [
        m.register_forward_hook(conv if isinstance(m, nn.Conv2d) else linear)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    passed = [m for m in model.modules() if isinstance(m, _SHAPE_KEEPING)]
    for m in passed:
        m.forward = _unchanged  # an instance attribute: the class's forward comes back when deleted
    device = next(model.parameters()).device
    training = model.training
    model.eval()  # batch normalisation cannot train on one input
    try:
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        model.train(training)
        for hook in hooks:
            hook.remove()
        for m in passed:
            del m.forward
    return total


#: layers whose output has their input's shape and no multiply-adds a FLOP count includes
_SHAPE_KEEPING = (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d, nn.LayerNorm, nn.Dropout)


def _unchanged(x: torch.Tensor) -> torch.Tensor:
    return x
