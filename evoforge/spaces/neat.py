"""NEAT genomes (Stanley & Miikkulainen 2002, "Evolving Neural Networks through
Augmenting Topologies", Evolutionary Computation 10(2), section 3).

A genome is a list of node genes and a list of connection genes, each
connection carrying its *innovation number* (historical marking, section 3.2).
Node ids: inputs ``0..I-1``, the bias input ``I`` (always 1, as in the paper),
outputs ``I+1..I+O``, hidden nodes above. Genomes are immutable values:
every operator returns a new genome. Innovation numbers and hidden node ids
come from an :class:`InnovationTracker`, which gives the same structural
mutation the same numbers within one generation (section 3.2).

Operators here: weight mutation (perturb or replace), add-connection,
add-node (the split connection is disabled; the new incoming weight is 1 and
the outgoing one the old weight, section 3.1), enable toggling, crossover
aligned by innovation number (matching genes at random, disjoint and excess
from the fitter parent; a gene disabled in either parent is disabled with
probability 0.75, section 3.2), and the compatibility distance
``c1 E / N + c2 D / N + c3 W`` (equation 1).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from evoforge.core.genome import register_genome
from evoforge.core.space import SearchSpace

__all__ = [
    "NeatGenome",
    "NetworkSpace",
    "InnovationTracker",
    "crossover",
    "distance",
    "distance_matrix",
    "initial_genome",
    "load_genome",
]


@register_genome
@dataclass(frozen=True, eq=False)
class NeatGenome:
    """Node and connection genes; connection arrays are sorted by innovation number.

    >>> g = initial_genome(2, 1, np.random.default_rng(0), InnovationTracker(2, 1))
    >>> g.innov.tolist(), g.src.tolist(), g.dst.tolist()
    ([0, 1, 2], [0, 1, 2], [3, 3, 3])
    """

    encoding = "neat"

    n_inputs: int
    n_outputs: int
    hidden: tuple[int, ...]
    innov: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    enabled: np.ndarray
    activation: str = "sigmoid"
    feed_forward: bool = True

    def __post_init__(self) -> None:
        for name in ("innov", "src", "dst", "weight", "enabled"):
            getattr(self, name).setflags(write=False)

    @property
    def bias(self) -> int:
        return self.n_inputs

    @property
    def outputs(self) -> range:
        return range(self.n_inputs + 1, self.n_inputs + 1 + self.n_outputs)

    @property
    def nodes(self) -> list[int]:
        """Every node id: inputs, bias, outputs, hidden."""
        return list(range(self.n_inputs + 1 + self.n_outputs)) + list(self.hidden)

    def __len__(self) -> int:
        return len(self.innov)

    @cached_property
    def genes(self) -> dict[int, float]:
        """Innovation number -> weight (cached: genomes are immutable)."""
        return dict(zip(self.innov.tolist(), self.weight.tolist(), strict=True))

    @cached_property
    def max_innov(self) -> int:
        return int(self.innov[-1]) if len(self.innov) else -1

    def to_json(self) -> dict[str, Any]:
        columns = (self.innov, self.src, self.dst, self.weight, self.enabled)
        return {
            "inputs": self.n_inputs,
            "outputs": self.n_outputs,
            "hidden": list(self.hidden),
            "activation": self.activation,
            "feed_forward": self.feed_forward,
            "connections": [list(gene) for gene in zip(*(c.tolist() for c in columns), strict=True)],
        }

    def content_bytes(self) -> bytes:
        """What the content id hashes: the header and the raw gene arrays (their dtypes are fixed by
        :func:`make_genome`), ~10x cheaper than hashing the JSON form."""
        header = repr((self.n_inputs, self.n_outputs, self.hidden, self.activation, self.feed_forward))
        arrays = (self.innov, self.src, self.dst, self.weight, self.enabled)
        return header.encode() + b"".join(a.tobytes() for a in arrays)

    def to_bytes(self) -> bytes:
        """The compact form the run store keeps: a fixed header (inputs, outputs, hidden nodes, genes,
        feed-forward flag, activation), the hidden node ids, then the raw gene arrays."""
        head = _HEADER.pack(
            self.n_inputs,
            self.n_outputs,
            len(self.hidden),
            len(self.innov),
            self.feed_forward,
            self.activation.encode(),
        )
        arrays = (
            np.asarray(self.hidden, np.int64),
            self.innov,
            self.src,
            self.dst,
            self.weight,
            self.enabled,
        )
        return head + b"".join(a.tobytes() for a in arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> NeatGenome:
        """Inverse of :meth:`to_bytes`.

        >>> g = initial_genome(2, 1, np.random.default_rng(0), InnovationTracker(2, 1))
        >>> NeatGenome.from_bytes(g.to_bytes()).content_bytes() == g.content_bytes()
        True
        """
        n_in, n_out, n_hidden, n, feed_forward, activation = _HEADER.unpack_from(data)
        offset = _HEADER.size
        hidden = np.frombuffer(data, np.int64, n_hidden, offset)
        offset += hidden.nbytes
        columns = {}
        for name in ("innov", "src", "dst", "weight", "enabled"):
            columns[name] = np.frombuffer(data, _DTYPES[name], n, offset).copy()
            offset += columns[name].nbytes
        return NeatGenome(
            n_in,
            n_out,
            tuple(int(h) for h in hidden),
            columns["innov"],
            columns["src"],
            columns["dst"],
            columns["weight"],
            columns["enabled"],
            activation.rstrip(b"\0").decode(),
            bool(feed_forward),
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NeatGenome:
        conns = data["connections"]
        cols: list[Any] = list(zip(*conns, strict=True)) if conns else [()] * 5
        return make_genome(
            int(data["inputs"]),
            int(data["outputs"]),
            tuple(int(h) for h in data["hidden"]),
            np.asarray(cols[0], np.int64),
            np.asarray(cols[1], np.int64),
            np.asarray(cols[2], np.int64),
            np.asarray(cols[3], np.float64),
            np.asarray(cols[4], bool),
            str(data.get("activation", "sigmoid")),
            bool(data.get("feed_forward", True)),
        )

    def with_(self, **changes: Any) -> NeatGenome:
        data: dict[str, Any] = {
            "n_inputs": self.n_inputs,
            "n_outputs": self.n_outputs,
            "hidden": self.hidden,
            "innov": self.innov,
            "src": self.src,
            "dst": self.dst,
            "weight": self.weight,
            "enabled": self.enabled,
            "activation": self.activation,
            "feed_forward": self.feed_forward,
        }
        data.update(changes)
        if "innov" in changes:
            return make_genome(**data)
        # Gene order unchanged: no re-sort; unchanged arrays are shared (they are read-only).
        for name in ("src", "dst", "weight", "enabled"):
            if name in changes:
                data[name] = np.array(changes[name], dtype=_DTYPES[name])
        return NeatGenome(**data)


#: the fixed part of :meth:`NeatGenome.to_bytes`: inputs, outputs, hidden nodes, genes, feed-forward, activation
_HEADER = struct.Struct("<iiii?16s")
_DTYPES = {"innov": np.int64, "src": np.int64, "dst": np.int64, "weight": np.float64, "enabled": bool}


def load_genome(path: str) -> NeatGenome:
    """A genome from a JSON file written by ``evoforge export`` (or ``json.dump(genome.to_json())``)."""

    with open(path) as handle:
        data = json.load(handle)
    return NeatGenome.from_json(data)


def make_genome(
    n_inputs: int,
    n_outputs: int,
    hidden: tuple[int, ...],
    innov: np.ndarray,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    enabled: np.ndarray,
    activation: str = "sigmoid",
    feed_forward: bool = True,
) -> NeatGenome:
    """A genome with its connection genes sorted by innovation number (copies the arrays)."""
    order = np.argsort(np.asarray(innov, np.int64), kind="stable")
    return NeatGenome(
        n_inputs,
        n_outputs,
        tuple(sorted(int(h) for h in hidden)),
        np.asarray(innov, np.int64)[order].copy(),
        np.asarray(src, np.int64)[order].copy(),
        np.asarray(dst, np.int64)[order].copy(),
        np.asarray(weight, np.float64)[order].copy(),
        np.asarray(enabled, bool)[order].copy(),
        activation,
        feed_forward,
    )


class NetworkSpace(SearchSpace):
    """NEAT networks from ``inputs`` input nodes (plus a bias) to ``outputs`` output nodes. A NEAT
    strategy grows them with its own innovation bookkeeping, so the space says only their shape.

    >>> NetworkSpace(4, 2).inputs
    4
    """

    offers = frozenset({"network"})
    describes = "network"

    def __init__(self, inputs: int, outputs: int):
        if inputs < 1 or outputs < 1:
            raise ValueError(f"a network needs inputs and outputs, got {inputs} and {outputs}")
        self.inputs, self.outputs = int(inputs), int(outputs)


class InnovationTracker:
    """Hands out innovation numbers and hidden node ids; within one generation (between calls to
    :meth:`new_generation`) the same structural mutation always gets the same numbers.

    >>> t = InnovationTracker(2, 1)
    >>> t.connection(0, 3) == t.connection(0, 3)
    True
    """

    def __init__(self, n_inputs: int, n_outputs: int, next_innov: int = 0, next_node: int | None = None):
        self.next_innov = next_innov
        self.next_node = n_inputs + 1 + n_outputs if next_node is None else next_node
        self._links: dict[tuple[int, int], int] = {}
        self._splits: dict[int, tuple[int, int, int]] = {}

    def new_generation(self) -> None:
        self._links.clear()
        self._splits.clear()

    def connection(self, src: int, dst: int) -> int:
        """The innovation number of a new connection ``src -> dst``."""
        key = (src, dst)
        if key not in self._links:
            self._links[key] = self.next_innov
            self.next_innov += 1
        return self._links[key]

    def split(self, innov: int) -> tuple[int, int, int]:
        """``(node id, innovation in, innovation out)`` for splitting connection ``innov``."""
        if innov not in self._splits:
            node = self.next_node
            self.next_node += 1
            self._splits[innov] = (node, self.next_innov, self.next_innov + 1)
            self.next_innov += 2
        return self._splits[innov]


def initial_genome(
    n_inputs: int,
    n_outputs: int,
    rng: np.random.Generator,
    tracker: InnovationTracker,
    weight_std: float = 1.0,
    activation: str = "sigmoid",
    feed_forward: bool = True,
) -> NeatGenome:
    """Every input and the bias connected to every output, no hidden node (section 3.4: minimal start)."""
    src, dst = [], []
    for o in range(n_inputs + 1, n_inputs + 1 + n_outputs):
        for i in range(n_inputs + 1):
            src.append(i)
            dst.append(o)
    innov = np.array([tracker.connection(s, d) for s, d in zip(src, dst, strict=True)])
    weight = rng.normal(0.0, weight_std, len(src))
    ones = np.ones(len(src), bool)
    return make_genome(
        n_inputs, n_outputs, (), innov, np.array(src), np.array(dst), weight, ones, activation, feed_forward
    )


# -- mutation -------------------------------------------------------------------------------------
def mutate_weights(
    g: NeatGenome,
    rng: np.random.Generator,
    replace_prob: float,
    perturb_std: float,
    init_std: float,
    limit: float,
) -> NeatGenome:
    """Every weight perturbed by N(0, perturb_std), or with ``replace_prob`` drawn anew."""
    n = len(g)
    replace = rng.random(n) < replace_prob
    w = np.where(replace, rng.normal(0.0, init_std, n), g.weight + rng.normal(0.0, perturb_std, n))
    return g.with_(weight=np.clip(w, -limit, limit))


def creates_cycle(g: NeatGenome, src: int, dst: int) -> bool:
    """Whether adding ``src -> dst`` closes a cycle through enabled or disabled connections."""
    if src == dst:
        return True
    succ: dict[int, list[int]] = {}
    for s, d in zip(g.src.tolist(), g.dst.tolist(), strict=True):
        succ.setdefault(s, []).append(d)
    stack, seen = [dst], {dst}
    while stack:
        node = stack.pop()
        if node == src:
            return True
        for nxt in succ.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def add_connection(
    g: NeatGenome,
    rng: np.random.Generator,
    tracker: InnovationTracker,
    feed_forward: bool,
    init_std: float,
    attempts: int = 20,
) -> NeatGenome:
    """A new connection between two unconnected nodes (no cycle when ``feed_forward``)."""
    sources = g.nodes
    targets = list(g.outputs) + list(g.hidden)
    existing = set(zip(g.src.tolist(), g.dst.tolist(), strict=True))
    for _ in range(attempts):
        s = sources[int(rng.integers(len(sources)))]
        d = targets[int(rng.integers(len(targets)))]
        if (s, d) in existing or (feed_forward and creates_cycle(g, s, d)):
            continue
        return g.with_(
            innov=np.append(g.innov, tracker.connection(s, d)),
            src=np.append(g.src, s),
            dst=np.append(g.dst, d),
            weight=np.append(g.weight, rng.normal(0.0, init_std)),
            enabled=np.append(g.enabled, True),
        )
    return g


def add_node(g: NeatGenome, rng: np.random.Generator, tracker: InnovationTracker) -> NeatGenome:
    """Split an enabled connection ``a -> b`` into ``a -> new -> b`` (weights 1 and the old one)."""
    candidates = np.flatnonzero(g.enabled)
    if candidates.size == 0:
        return g
    k = int(candidates[int(rng.integers(candidates.size))])
    node, innov_in, innov_out = tracker.split(int(g.innov[k]))
    if node in g.hidden:  # this genome already split this connection (it was re-enabled since)
        return g
    enabled = g.enabled.copy()
    enabled[k] = False
    return g.with_(
        hidden=g.hidden + (node,),
        innov=np.append(g.innov, [innov_in, innov_out]),
        src=np.append(g.src, [g.src[k], node]),
        dst=np.append(g.dst, [node, g.dst[k]]),
        weight=np.append(g.weight, [1.0, g.weight[k]]),
        enabled=np.append(enabled, [True, True]),
    )


def toggle_enabled(g: NeatGenome, rng: np.random.Generator) -> NeatGenome:
    """Flip one connection's enabled flag (cycle checks count disabled connections too, so re-enabling
    one never closes a cycle)."""
    if len(g) == 0:
        return g
    k = int(rng.integers(len(g)))
    enabled = g.enabled.copy()
    enabled[k] = not enabled[k]
    return g.with_(enabled=enabled)


# -- crossover and distance ------------------------------------------------------------------------
def crossover(
    fitter: NeatGenome,
    other: NeatGenome,
    rng: np.random.Generator,
    disable_prob: float = 0.75,
    average: bool = False,
) -> NeatGenome:
    """Child of ``fitter`` and ``other`` (section 3.2, figure 4): genes are lined up by innovation
    number; matching genes are inherited at random (or, with ``average``, take the mean of the two
    weights, the NEAT C++ package's "multipoint average" mating), disjoint and excess genes from the
    fitter parent; a gene disabled in either parent is disabled in the child with ``disable_prob``."""
    pos = {int(i): k for k, i in enumerate(other.innov)}
    weight = fitter.weight.copy()
    enabled = fitter.enabled.copy()
    for k, innov in enumerate(fitter.innov.tolist()):
        j = pos.get(innov)
        if j is None:
            continue
        if average:
            weight[k] = 0.5 * (weight[k] + other.weight[j])
        elif rng.random() < 0.5:
            weight[k] = other.weight[j]
        if not (fitter.enabled[k] and other.enabled[j]):
            enabled[k] = not (rng.random() < disable_prob)
    return fitter.with_(weight=weight, enabled=enabled)


def distance(a: NeatGenome, b: NeatGenome, c1: float, c2: float, c3: float, small: int = 20) -> float:
    """Compatibility distance, equation (1): ``c1 E / N + c2 D / N + c3 W``, N the larger genome's
    gene count (1 when both have fewer than ``small`` genes), W the mean weight difference of
    matching genes.

    >>> t = InnovationTracker(2, 1); g = initial_genome(2, 1, np.random.default_rng(0), t)
    >>> distance(g, g, 1.0, 1.0, 0.4)
    0.0
    """
    # Plain Python sets and dicts: for genomes of tens of genes this is ~30x faster than numpy's set
    # routines, and speciation calls it (population x species) times per generation.
    ga, gb = a.genes, b.genes
    if not ga and not gb:
        return 0.0
    common = ga.keys() & gb.keys()
    cut = min(a.max_innov, b.max_innov)
    excess = disjoint = 0
    for k in ga.keys() - common:
        if k > cut:
            excess += 1
        else:
            disjoint += 1
    for k in gb.keys() - common:
        if k > cut:
            excess += 1
        else:
            disjoint += 1
    w = sum(abs(ga[k] - gb[k]) for k in sorted(common)) / len(common) if common else 0.0
    n = max(len(ga), len(gb))
    n = 1 if n < small else n
    return c1 * excess / n + c2 * disjoint / n + c3 * w


def distance_matrix(
    genomes: list[NeatGenome],
    others: list[NeatGenome],
    c1: float,
    c2: float,
    c3: float,
    small: int = 20,
) -> np.ndarray:
    """:func:`distance` of every genome in ``genomes`` to every genome in ``others``, shape (P, S),
    computed on dense gene tables (speciation compares a whole population with every species'
    representative; the same values as :func:`distance` up to rounding of the weight sum).

    >>> t = InnovationTracker(2, 1)
    >>> gs = [initial_genome(2, 1, np.random.default_rng(k), t) for k in range(3)]
    >>> m = distance_matrix(gs, gs[:2], 1.0, 1.0, 0.4)
    >>> bool(np.isclose(m[2, 1], distance(gs[2], gs[1], 1.0, 1.0, 0.4)))
    True
    """
    if not genomes or not others:
        return np.zeros((len(genomes), len(others)))
    na = np.array([len(g) for g in genomes], np.int64)
    nb = np.array([len(g) for g in others], np.int64)
    la = np.array([g.max_innov for g in genomes], np.int64)
    lb = np.array([g.max_innov for g in others], np.int64)
    # Genes of a beyond b's largest innovation number (and vice versa) are excess; none of them match.
    beyond_a = na[:, None] - np.stack([np.searchsorted(g.innov, lb, side="right") for g in genomes])
    beyond_b = nb[:, None] - np.stack([np.searchsorted(g.innov, la, side="right") for g in others])
    excess = beyond_a + beyond_b.T
    # A dense table of the population over the innovations the representatives carry: matching
    # genes can only be there, and it stays small however many innovations the run has made.
    universe = np.unique(np.concatenate([g.innov for g in others]))
    present = np.zeros((len(genomes), universe.size), bool)
    weight = np.zeros((len(genomes), universe.size))
    for row, g in enumerate(genomes):
        cols = np.minimum(np.searchsorted(universe, g.innov), universe.size - 1)
        hit = universe[cols] == g.innov
        present[row, cols[hit]] = True
        weight[row, cols[hit]] = g.weight[hit]
    common = np.empty((len(genomes), len(others)))
    wdiff = np.empty_like(common)
    for j, g in enumerate(others):
        cols = np.searchsorted(universe, g.innov)
        match = present[:, cols]
        common[:, j] = match.sum(axis=1)
        wdiff[:, j] = (np.abs(weight[:, cols] - g.weight) * match).sum(axis=1)
    disjoint = na[:, None] + nb[None, :] - 2 * common - excess
    w = np.divide(wdiff, common, out=np.zeros_like(wdiff), where=common > 0)
    n = np.maximum(na[:, None], nb[None, :]).astype(np.float64)
    n[n < small] = 1.0
    return c1 * excess / n + c2 * disjoint / n + c3 * w
