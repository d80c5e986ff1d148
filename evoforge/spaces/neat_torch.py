"""A NEAT genome as a ``torch.nn.Module`` (its weights trainable parameters).

Feed-forward genomes are evaluated level by level (nodes grouped by their
depth), recurrent ones one activation per call, with the same semantics as
:mod:`evoforge.spaces.neat_network`: inputs and a bias of 1 are clamped, every
other node is ``act(sum of weight x source)``.

    >>> import numpy as np, torch
    >>> from evoforge.spaces.neat import InnovationTracker, initial_genome
    >>> g = initial_genome(2, 1, np.random.default_rng(0), InnovationTracker(2, 1))
    >>> to_torch(g)(torch.zeros(4, 2, dtype=torch.float64)).shape
    torch.Size([4, 1])
"""

from __future__ import annotations

from evoforge.spaces.neat import NeatGenome
from evoforge.spaces.neat_network import depth_of_nodes

__all__ = ["to_torch"]


def to_torch(genome: NeatGenome, dtype=None):
    """The network of ``genome`` as a ``torch.nn.Module`` (float64 unless ``dtype`` says otherwise)."""
    import torch

    class NeatModule(torch.nn.Module):
        """A NEAT network. Feed-forward: ``forward(x (B, I)) -> (B, O)``. Recurrent:
        ``forward(x, state=None) -> (outputs, state)``, one activation per call."""

        def __init__(self, g: NeatGenome, dtype: torch.dtype):
            super().__init__()
            self.n_inputs, self.n_outputs = g.n_inputs, g.n_outputs
            self.feed_forward, self.activation = g.feed_forward, g.activation
            index = {node: k for k, node in enumerate(g.nodes)}
            on = g.enabled
            self.n_nodes = len(g.nodes)
            self.weight = torch.nn.Parameter(torch.tensor(g.weight[on], dtype=dtype))
            self.register_buffer(
                "src", torch.tensor([index[s] for s in g.src[on].tolist()], dtype=torch.long)
            )
            self.register_buffer(
                "dst", torch.tensor([index[d] for d in g.dst[on].tolist()], dtype=torch.long)
            )
            self.register_buffer("outputs", torch.tensor([index[o] for o in g.outputs], dtype=torch.long))
            fixed = g.n_inputs + 1
            self.register_buffer("free", torch.arange(fixed, self.n_nodes, dtype=torch.long))
            if g.feed_forward:
                depths = depth_of_nodes(g)
                levels: dict[int, list[int]] = {}
                for node, d in depths.items():
                    if node >= fixed:
                        levels.setdefault(d, []).append(index[node])
                self.levels = [torch.tensor(sorted(levels[d]), dtype=torch.long) for d in sorted(levels)]

        def _act(self, x):
            if self.activation == "sigmoid":
                return torch.sigmoid(4.9 * torch.clamp(x, -60.0, 60.0))
            if self.activation == "tanh":
                return torch.tanh(x)
            if self.activation == "relu":
                return torch.relu(x)
            return x

        def _clamped(self, x, values):
            bias = torch.ones(x.shape[0], 1, dtype=values.dtype, device=values.device)
            return torch.cat([x.to(values.dtype), bias, values[:, self.n_inputs + 1 :]], dim=1)

        def _sums(self, values):
            contrib = values[:, self.src] * self.weight
            return torch.zeros_like(values).index_add(1, self.dst, contrib)

        def forward(self, x, state=None):
            if self.feed_forward:
                values = self._clamped(
                    x, torch.zeros(x.shape[0], self.n_nodes, dtype=self.weight.dtype, device=x.device)
                )
                for level in self.levels:
                    values = values.index_copy(1, level, self._act(self._sums(values)[:, level]))
                return values[:, self.outputs]
            if state is None:
                state = torch.zeros(x.shape[0], self.n_nodes, dtype=self.weight.dtype, device=x.device)
            values = self._clamped(x, state)
            new = values.index_copy(1, self.free, self._act(self._sums(values)[:, self.free]))
            return new[:, self.outputs], new

    return NeatModule(genome, dtype or torch.float64)
