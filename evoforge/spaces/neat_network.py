"""NEAT genomes compiled into arrays and evaluated for a whole population at once.

A population of P genomes becomes one weight tensor ``W`` of shape (P, N, N)
(N the largest node count; ``W[p, i, j]`` the weight of the enabled connection
i -> j of genome p) with node values ``x`` of shape (P, B, N) for B input rows
per genome. Inputs and the bias (value 1) are clamped; every other node takes
``act(x @ W)``. A feed-forward population is evaluated by repeating that update
D times, D the depth of the deepest genome: a node at depth d is exact after d
updates, so this equals evaluation in topological order (tested against
:func:`reference_activate`). A recurrent population does one update per
activation, every node reading the previous activation's values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evoforge.spaces.neat import NeatGenome

__all__ = ["ACTIVATIONS", "CompiledPopulation", "reference_activate", "depth"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # the steepened sigmoid of the NEAT paper (section 4.1), 1 / (1 + exp(-4.9 x))
    return 1.0 / (1.0 + np.exp(-4.9 * np.clip(x, -60.0, 60.0)))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "identity": lambda x: x,
}


def _local_index(g: NeatGenome) -> dict[int, int]:
    return {node: k for k, node in enumerate(g.nodes)}


def depth(g: NeatGenome) -> int:
    """Updates needed for a feed-forward genome: the longest chain of enabled connections, counting a
    non-input node with no input as depth 1 (its value is ``act(0)``)."""
    first = g.n_inputs + 1
    preds: dict[int, list[int]] = {n: [] for n in g.nodes}
    for s, d, e in zip(g.src.tolist(), g.dst.tolist(), g.enabled.tolist(), strict=True):
        if e:
            preds[d].append(s)
    memo: dict[int, int] = {}

    def node_depth(n: int) -> int:
        if n < first:
            return 0
        if n not in memo:
            memo[n] = -1  # cycle guard (recurrent genomes are not asked for a depth)
            memo[n] = 1 + max((node_depth(p) for p in preds[n] if memo.get(p) != -1), default=0)
        return memo[n]

    return max((node_depth(n) for n in g.nodes), default=1)


class CompiledPopulation:
    """A population of genomes as arrays.

    >>> from evoforge.spaces.neat import InnovationTracker, initial_genome
    >>> t = InnovationTracker(2, 1)
    >>> gs = [initial_genome(2, 1, np.random.default_rng(k), t) for k in range(3)]
    >>> CompiledPopulation(gs).activate(np.zeros((3, 4, 2))).shape
    (3, 4, 1)
    """

    def __init__(self, genomes: list[NeatGenome], feed_forward: bool = True, activation: str = "sigmoid"):
        if not genomes:
            raise ValueError("no genomes to compile")
        first = genomes[0]
        self.n_inputs, self.n_outputs = first.n_inputs, first.n_outputs
        self.fixed = self.n_inputs + 1
        self.feed_forward = feed_forward
        self.act = ACTIVATIONS[activation]
        n = max(len(g.nodes) for g in genomes)
        self.weights = np.zeros((len(genomes), n, n))
        for p, g in enumerate(genomes):
            index = _local_index(g)
            on = g.enabled
            src = np.fromiter((index[s] for s in g.src[on].tolist()), np.int64, int(on.sum()))
            dst = np.fromiter((index[d] for d in g.dst[on].tolist()), np.int64, int(on.sum()))
            np.add.at(self.weights[p], (src, dst), g.weight[on])
        self.depth = max(depth(g) for g in genomes) if feed_forward else 1
        self.out = slice(self.fixed, self.fixed + self.n_outputs)

    @property
    def size(self) -> int:
        return self.weights.shape[0]

    def _clamp(self, x: np.ndarray, inputs: np.ndarray) -> None:
        x[..., : self.n_inputs] = inputs
        x[..., self.n_inputs] = 1.0

    def activate(self, inputs: np.ndarray) -> np.ndarray:
        """Feed-forward outputs (P, B, O) for inputs (P, B, I)."""
        p, b, _ = inputs.shape
        x = np.zeros((p, b, self.weights.shape[1]))
        self._clamp(x, inputs)
        for _ in range(self.depth):
            x[..., self.fixed :] = self.act(np.matmul(x, self.weights[:, :, self.fixed :]))
        return x[..., self.out].copy()

    def initial_state(self, batch: int) -> np.ndarray:
        """Node values of recurrent networks before their first activation (all zero)."""
        return np.zeros((self.size, batch, self.weights.shape[1]))

    def step(self, inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One recurrent activation: ``(outputs, new state)``; every node reads the previous values."""
        x = state.copy()
        self._clamp(x, inputs)
        new = x.copy()
        new[..., self.fixed :] = self.act(np.matmul(x, self.weights[:, :, self.fixed :]))
        return new[..., self.out].copy(), new


def reference_activate(g: NeatGenome, inputs: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """One feed-forward genome evaluated node by node in topological order (the definition the
    compiled form must match). ``inputs`` (B, I) -> outputs (B, O)."""
    act = ACTIVATIONS[activation]
    first = g.n_inputs + 1
    values: dict[int, np.ndarray] = {i: inputs[:, i] for i in range(g.n_inputs)}
    values[g.n_inputs] = np.ones(inputs.shape[0])
    incoming: dict[int, list[tuple[int, float]]] = {n: [] for n in g.nodes if n >= first}
    for s, d, w, e in zip(g.src.tolist(), g.dst.tolist(), g.weight.tolist(), g.enabled.tolist(), strict=True):
        if e:
            incoming[d].append((s, w))
    pending = set(incoming)
    while pending:
        ready = sorted(n for n in pending if all(s in values for s, _ in incoming[n]))
        if not ready:
            raise ValueError("genome has a cycle; it is not feed-forward")
        for n in ready:
            total = np.zeros(inputs.shape[0])
            for s, w in incoming[n]:
                total = total + w * values[s]
            values[n] = act(total)
            pending.discard(n)
    return np.stack([values[o] for o in g.outputs], axis=1)
