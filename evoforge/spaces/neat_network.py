"""NEAT genomes compiled into arrays and evaluated for a whole population at once.

The nodes of all P genomes are laid side by side (T nodes in all) and their
enabled connections concatenated into three arrays (source, target, weight),
each genome's in innovation order. Node values ``x`` have shape (B, T): B input
rows per genome (the four XOR patterns; one row per episode in a rollout).
Inputs and the bias (value 1) are clamped; every other node takes
``act(sum of weight x source)``, summed with one ``bincount`` over all
connections. The sum for a node runs over its own connections in a fixed
order, so an individual's outputs never depend on which other genomes share
the batch (the same on every backend and chunking), and equal those of
:func:`reference_activate` exactly.

A feed-forward population is evaluated by repeating that update D times, D the
depth of the deepest genome: a node at depth d is final after d updates (later
updates recompute the same value), so this equals evaluation in topological
order. A recurrent population does one update per activation, every node
reading the previous activation's values (as neat-python's RecurrentNetwork).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from evoforge.spaces.neat import NeatGenome
from evoforge.spaces.neat_arrays import NeatPopulation

__all__ = ["ACTIVATIONS", "CompiledPopulation", "reference_activate", "depth", "depth_of_nodes"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # the steepened sigmoid of the NEAT paper (section 4.1), 1 / (1 + exp(-4.9 x))
    return 1.0 / (1.0 + np.exp(-4.9 * np.clip(x, -60.0, 60.0)))


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "identity": lambda x: x,
}


def depth(g: NeatGenome) -> int:
    """Updates a feed-forward genome needs: the longest chain of enabled connections, counting a
    non-input node without inputs as depth 1 (its value is ``act(0)``)."""
    return max(depth_of_nodes(g).values(), default=0) or 1


def depth_of_nodes(g: NeatGenome) -> dict[int, int]:
    """Depth of every node of a feed-forward genome (inputs and bias 0)."""
    first = g.n_inputs + 1
    preds: dict[int, list[int]] = {n: [] for n in g.nodes}
    for s, d, e in zip(g.src.tolist(), g.dst.tolist(), g.enabled.tolist(), strict=True):
        if e:
            preds[d].append(s)
    memo: dict[int, int] = {n: 0 for n in range(first)}
    pending = [n for n in g.nodes if n >= first]
    while pending:
        ready = [n for n in pending if all(p in memo for p in preds[n])]
        if not ready:
            raise ValueError("genome has a cycle; it is not feed-forward")
        for n in ready:
            memo[n] = 1 + max((memo[p] for p in preds[n]), default=0)
        pending = [n for n in pending if n not in memo]
    return memo


class CompiledPopulation:
    """A population of genomes as arrays.

    >>> from evoforge.spaces.neat import InnovationTracker, initial_genome
    >>> t = InnovationTracker(2, 1)
    >>> gs = [initial_genome(2, 1, np.random.default_rng(k), t) for k in range(3)]
    >>> CompiledPopulation(gs).activate(np.zeros((3, 4, 2))).shape
    (3, 4, 1)
    """

    def __init__(self, genomes: list[NeatGenome] | NeatPopulation):
        if not len(genomes):
            raise ValueError("no genomes to compile")
        if isinstance(genomes, NeatPopulation):
            self._from_arrays(genomes)
        else:
            self._from_genomes(genomes)
        fixed = self.n_inputs + 1
        base = self.offsets[:, None]
        self.inputs = base + np.arange(self.n_inputs)  # (P, I) node positions
        self.bias = base[:, 0] + self.n_inputs
        self.outputs = base + fixed + np.arange(self.n_outputs)  # outputs follow the bias
        free = np.ones(self.total, bool)
        free[self.inputs.ravel()] = False
        free[self.bias] = False
        self.free = np.flatnonzero(free)
        self.depth = self._depth() if self.feed_forward else 1

    def _from_genomes(self, genomes: list[NeatGenome]) -> None:
        first = genomes[0]
        feed_forward, activation = first.feed_forward, first.activation
        if any(g.feed_forward != feed_forward or g.activation != activation for g in genomes):
            raise ValueError("a population compiles together only if its genomes share activation and kind")
        self.n_inputs, self.n_outputs = first.n_inputs, first.n_outputs
        self.feed_forward = feed_forward
        self.act = ACTIVATIONS[activation]
        src, dst, weight, offsets = [], [], [], []
        total = 0
        for g in genomes:
            # node ids in g.nodes are ascending (inputs, bias, outputs, then sorted hidden ids), so a
            # node's position is found by binary search
            nodes = np.fromiter(g.nodes, np.int64)
            on = g.enabled
            src.append(total + np.searchsorted(nodes, g.src[on]))
            dst.append(total + np.searchsorted(nodes, g.dst[on]))
            weight.append(g.weight[on])
            offsets.append(total)
            total += nodes.size
        self.total = total
        self.offsets = np.asarray(offsets, np.int64)
        self.src = np.concatenate(src)
        self.dst = np.concatenate(dst)
        self.weight = np.concatenate(weight)

    def _from_arrays(self, pop: NeatPopulation) -> None:
        """The same arrays as :meth:`_from_genomes` builds, from the population's gene arrays at once:
        enabled genes in genome then innovation order, node ids mapped to positions by one binary
        search over every genome's hidden ids (keyed by genome)."""
        self.n_inputs, self.n_outputs = pop.n_inputs, pop.n_outputs
        self.feed_forward = pop.feed_forward
        self.act = ACTIVATIONS[pop.activation]
        fixed = pop.fixed
        sizes = fixed + pop.hidden_count
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        on = pop.valid & pop.enabled
        rows = np.nonzero(on)[0]
        top = max(int(pop.src[on].max(initial=0)), int(pop.dst[on].max(initial=0)), fixed) + 1
        has = np.arange(pop.hidden.shape[1])[None, :] < pop.hidden_count[:, None]
        hidden_keys = np.nonzero(has)[0] * top + pop.hidden[has]  # sorted: rows ascend, ids ascend
        hidden_start = np.concatenate([[0], np.cumsum(pop.hidden_count)[:-1]])

        def position(ids: np.ndarray) -> np.ndarray:
            rank = np.searchsorted(hidden_keys, rows * top + ids) - hidden_start[rows]
            return offsets[rows] + np.where(ids < fixed, ids, fixed + rank)

        self.total = int(sizes.sum())
        self.offsets = offsets
        self.src = position(pop.src[on])
        self.dst = position(pop.dst[on])
        self.weight = pop.weight[on]

    def _depth(self) -> int:
        """The largest :func:`depth` in the population, by relaxing longest paths over every genome's
        enabled connections at once (inputs and bias at 0, every other node at least 1)."""
        level = np.zeros(self.total, np.int64)
        level[self.free] = 1
        for _ in range(self.free.size + 1):
            new = level.copy()
            np.maximum.at(new, self.dst, level[self.src] + 1)
            if np.array_equal(new, level):
                return int(level.max(initial=1))
            level = new
        raise ValueError("genome has a cycle; it is not feed-forward")

    @property
    def size(self) -> int:
        return self.inputs.shape[0]

    def columns(self, p: int) -> np.ndarray:
        """Positions of genome ``p``'s nodes in the node values."""
        end = self.offsets[p + 1] if p + 1 < self.size else self.total
        return np.arange(self.offsets[p], end)

    def _update(self, x: np.ndarray) -> np.ndarray:
        """Every free node's ``act(sum of weight x source)``, summed per node in connection order."""
        b = x.shape[0]
        rows = (np.arange(b)[:, None] * self.total + self.dst[None, :]).ravel()
        sums = np.bincount(rows, weights=(x[:, self.src] * self.weight).ravel(), minlength=b * self.total)
        new = x.copy()
        new[:, self.free] = self.act(sums.reshape(b, self.total)[:, self.free])
        return new

    def _clamped(self, inputs: np.ndarray, x: np.ndarray) -> np.ndarray:
        x[:, self.inputs] = np.transpose(inputs, (1, 0, 2))
        x[:, self.bias] = 1.0
        return x

    def activate(self, inputs: np.ndarray) -> np.ndarray:
        """Feed-forward outputs (P, B, O) for inputs (P, B, I)."""
        x = self._clamped(inputs, np.zeros((inputs.shape[1], self.total)))
        for _ in range(self.depth):
            x = self._update(x)
        return np.transpose(x[:, self.outputs], (1, 0, 2))

    def initial_state(self, batch: int) -> np.ndarray:
        """Node values of recurrent networks before their first activation (all zero)."""
        return np.zeros((batch, self.total))

    def step(self, inputs: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One recurrent activation: ``(outputs (P, B, O), new state)``; nodes read the previous values."""
        x = self._update(self._clamped(inputs, state.copy()))
        return np.transpose(x[:, self.outputs], (1, 0, 2)), x


def reference_activate(g: NeatGenome, inputs: np.ndarray) -> np.ndarray:
    """One feed-forward genome evaluated node by node in topological order (the definition the
    compiled form must match). ``inputs`` (B, I) -> outputs (B, O)."""
    act = ACTIVATIONS[g.activation]
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
