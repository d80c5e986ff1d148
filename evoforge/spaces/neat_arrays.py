"""A NEAT population as padded arrays, and NEAT's operators on the whole population at once.

The genes of P genomes are held as (P, C) arrays (innovation number, source, target, weight,
enabled), each row sorted by innovation number and padded past its own gene count; hidden node ids
as a (P, H) array, sorted and padded the same way. C and H are the largest genome's counts: every
operator sizes its result to what the genomes actually hold (growing when a mutation adds genes,
shrinking when the big genomes die out), so memory follows the genomes, not a limit chosen in
advance. This is TensorNEAT's layout (Wang et al. 2024, "Tensorized NeuroEvolution of Augmenting
Topologies for GPU Acceleration", section 4) with that one change: its capacity is fixed.

Every operator keeps the semantics of the one-genome operators of :mod:`evoforge.spaces.neat`
(the paper's, section 3) and takes its random decisions as arrays, drawn by the caller; given the
same decisions it returns exactly what the one-genome operator returns for each row (tested by
replaying them to it). Innovation numbers follow section 3.2: within one call, the same structural
mutation gets the same numbers, handed out in row order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from evoforge.spaces.neat import _HEADER, NeatGenome

__all__ = [
    "PAD",
    "NeatPopulation",
    "add_connection",
    "add_node",
    "crossover",
    "distance_matrix",
    "mutate_weights",
    "toggle_enabled",
]

#: the innovation number and hidden node id of padding: larger than any real one, so rows stay sorted
PAD = np.iinfo(np.int64).max


@dataclass(frozen=True, eq=False)
class NeatPopulation:
    """P genomes' genes as (P, C) arrays, sorted by innovation number along each row.

    >>> from evoforge.spaces.neat import InnovationTracker, initial_genome
    >>> t = InnovationTracker(2, 1)
    >>> pop = NeatPopulation.from_genomes([initial_genome(2, 1, np.random.default_rng(k), t) for k in range(4)])
    >>> len(pop), pop.innov.shape, pop.genome(3).innov.tolist()
    (4, (4, 3), [0, 1, 2])
    """

    n_inputs: int
    n_outputs: int
    count: np.ndarray  # (P,) genes of each genome
    innov: np.ndarray  # (P, C) int64, PAD past count
    src: np.ndarray  # (P, C) int64 node ids
    dst: np.ndarray  # (P, C) int64
    weight: np.ndarray  # (P, C) float64
    enabled: np.ndarray  # (P, C) bool
    hidden_count: np.ndarray  # (P,)
    hidden: np.ndarray  # (P, H) int64 sorted node ids, PAD past hidden_count
    activation: str = "sigmoid"
    feed_forward: bool = True

    encoding: ClassVar[str] = NeatGenome.encoding  # a GenomeBatch of NeatGenomes (evoforge.core.genome)

    def __len__(self) -> int:
        return int(self.count.shape[0])

    def __getitem__(self, p: int) -> NeatGenome:
        return self.genome(p)

    def __iter__(self) -> Iterator[NeatGenome]:
        return (self.genome(p) for p in range(len(self)))

    @property
    def fixed(self) -> int:
        """Inputs, bias and outputs: the nodes every genome has, ids ``0 .. fixed - 1``."""
        return self.n_inputs + 1 + self.n_outputs

    @property
    def valid(self) -> np.ndarray:
        """(P, C): which slots hold a gene."""
        return np.arange(self.innov.shape[1])[None, :] < self.count[:, None]

    # -- conversion ----------------------------------------------------------------------------
    @classmethod
    def from_genomes(cls, genomes: list[NeatGenome]) -> NeatPopulation:
        if not genomes:
            raise ValueError("no genomes")
        first = genomes[0]
        count = np.array([len(g) for g in genomes], np.int64)
        hidden_count = np.array([len(g.hidden) for g in genomes], np.int64)
        pop = _empty(len(genomes), int(count.max(initial=0)), int(hidden_count.max(initial=0)))
        for p, g in enumerate(genomes):
            n, h = len(g), len(g.hidden)
            for name in ("innov", "src", "dst", "weight", "enabled"):
                pop[name][p, :n] = getattr(g, name)
            pop["hidden"][p, :h] = g.hidden
        return cls(
            first.n_inputs,
            first.n_outputs,
            count,
            hidden_count=hidden_count,
            activation=first.activation,
            feed_forward=first.feed_forward,
            **pop,
        )

    def genome(self, p: int) -> NeatGenome:
        """Row ``p`` as a :class:`NeatGenome` (for the hall of fame, export and drawing)."""
        n, h = int(self.count[p]), int(self.hidden_count[p])
        return NeatGenome(
            self.n_inputs,
            self.n_outputs,
            tuple(self.hidden[p, :h].tolist()),
            self.innov[p, :n].copy(),
            self.src[p, :n].copy(),
            self.dst[p, :n].copy(),
            self.weight[p, :n].copy(),
            self.enabled[p, :n].copy(),
            self.activation,
            self.feed_forward,
        )

    def genomes(self) -> list[NeatGenome]:
        return [self.genome(p) for p in range(len(self))]

    def take(self, rows: np.ndarray) -> NeatPopulation:
        """The genomes of ``rows`` (repeats allowed), the arrays cut to the largest of them."""
        rows = np.asarray(rows, np.int64)
        count, hidden_count = self.count[rows], self.hidden_count[rows]
        c, h = int(count.max(initial=0)), int(hidden_count.max(initial=0))
        out = replace(
            self,
            count=count,
            hidden_count=hidden_count,
            **{name: getattr(self, name)[rows, :c] for name in _GENES},
            hidden=self.hidden[rows, :h],
        )
        known = self.__dict__.get("_rows")
        if known is not None:  # the rows' ids and store forms carry over (padding is not in them)
            out.__dict__["_rows"] = tuple(tuple(part[r] for r in rows.tolist()) for part in known)
        return out

    def concat(self, other: NeatPopulation) -> NeatPopulation:
        c = max(self.innov.shape[1], other.innov.shape[1])
        h = max(self.hidden.shape[1], other.hidden.shape[1])
        a, b = self._padded(c, h), other._padded(c, h)
        arrays: dict[str, Any] = {
            name: np.concatenate([getattr(a, name), getattr(b, name)]) for name in (*_GENES, "hidden")
        }
        count = np.concatenate([self.count, other.count])
        return replace(
            self, count=count, hidden_count=np.concatenate([a.hidden_count, b.hidden_count]), **arrays
        )

    def _padded(self, genes: int, hidden: int) -> NeatPopulation:
        """The same genomes in arrays of at least ``genes`` and ``hidden`` columns."""
        c, h = self.innov.shape[1], self.hidden.shape[1]
        if genes <= c and hidden <= h:
            return self
        out = _empty(len(self), max(genes, c), max(hidden, h))
        for name in _GENES:
            out[name][:, :c] = getattr(self, name)
        out["hidden"][:, :h] = self.hidden
        return replace(self, **out)

    def ids(self) -> list[str]:
        """Every genome's content id, equal to :func:`evoforge.core.genome.genome_id` of
        :meth:`genome` (the same bytes hashed, without building the genomes; hashed once: the
        population is immutable, and the engine and the next generation's breeding both ask)."""
        return list(self._rows[0])

    def row_bytes(self) -> list[bytes]:
        """Every genome's run-store form, equal to :meth:`NeatGenome.to_bytes` of :meth:`genome`
        (built from the arrays, without the genomes)."""
        return list(self._rows[1])

    @cached_property
    def _rows(self) -> tuple[tuple[str, ...], tuple[bytes, ...]]:
        """(content ids, store forms), both from one pass over the rows, each row's genes cut as
        byte slices out of one buffer per column (numpy's per-row slicing costs more than the hash)."""
        if len(self) == 0:
            return (), ()
        buffers = [np.ascontiguousarray(getattr(self, name)) for name in _GENES]
        views = [memoryview(b.tobytes()) for b in buffers]
        strides = [b.shape[1] * b.itemsize for b in buffers]
        sizes = [b.itemsize for b in buffers]
        hidden_bytes = memoryview(np.ascontiguousarray(self.hidden).tobytes())
        hidden_stride = self.hidden.shape[1] * 8
        hidden_lists = self.hidden.tolist()
        flag, activation = self.feed_forward, self.activation
        encoding = NeatGenome.encoding.encode()
        ids, blobs = [], []
        for p, (n, h) in enumerate(zip(self.count.tolist(), self.hidden_count.tolist(), strict=True)):
            genes = [
                view[p * stride : p * stride + n * size]
                for view, stride, size in zip(views, strides, sizes, strict=True)
            ]
            header = repr((self.n_inputs, self.n_outputs, tuple(hidden_lists[p][:h]), activation, flag))
            digest = hashlib.blake2b(encoding, digest_size=8)
            digest.update(header.encode())
            for gene in genes:
                digest.update(gene)
            ids.append(digest.hexdigest())
            head = _HEADER.pack(self.n_inputs, self.n_outputs, h, n, flag, activation.encode())
            blobs.append(
                b"".join([head, hidden_bytes[p * hidden_stride : p * hidden_stride + h * 8], *genes])
            )
        return tuple(ids), tuple(blobs)

    def to_tree(self) -> dict[str, Any]:
        """The population as a state-tree value (arrays and scalars, see :mod:`evoforge.core.state_io`)."""
        tree: dict[str, Any] = {
            name: getattr(self, name) for name in (*_GENES, "hidden", "count", "hidden_count")
        }
        tree.update(inputs=self.n_inputs, outputs=self.n_outputs, activation=self.activation,
                    feed_forward=self.feed_forward)  # fmt: skip
        return tree

    @classmethod
    def from_tree(cls, tree: dict[str, Any]) -> NeatPopulation:
        dtypes = {"innov": np.int64, "src": np.int64, "dst": np.int64, "weight": np.float64, "enabled": bool,
                  "hidden": np.int64, "count": np.int64, "hidden_count": np.int64}  # fmt: skip
        arrays = {name: np.asarray(tree[name], dtype) for name, dtype in dtypes.items()}
        p = arrays["count"].size
        for name in (*_GENES, "hidden"):  # an empty population or gene table comes back flat
            arrays[name] = arrays[name].reshape(p, -1) if p else arrays[name].reshape(0, 0)
        return cls(int(tree["inputs"]), int(tree["outputs"]), activation=str(tree["activation"]),
                   feed_forward=bool(tree["feed_forward"]), **arrays)  # fmt: skip

    def assign(self, rows: np.ndarray, other: NeatPopulation) -> NeatPopulation:
        """This population with the genomes of ``rows`` replaced by ``other``'s, in order."""
        c = max(self.innov.shape[1], other.innov.shape[1])
        h = max(self.hidden.shape[1], other.hidden.shape[1])
        a, b = self._padded(c, h), other._padded(c, h)
        arrays: dict[str, Any] = {}
        for name in (*_GENES, "hidden", "count", "hidden_count"):
            column = getattr(a, name).copy()
            column[rows] = getattr(b, name)
            arrays[name] = column
        return replace(self, **arrays)

    def max_innov(self) -> np.ndarray:
        """(P,) each genome's largest innovation number, -1 for a genome without genes."""
        last = np.maximum(self.count - 1, 0)
        top = self.innov[np.arange(len(self)), last] if self.innov.shape[1] else np.zeros(len(self), np.int64)
        return np.where(self.count > 0, top, -1)


_GENES = ("innov", "src", "dst", "weight", "enabled")


def _empty(p: int, genes: int, hidden: int) -> dict[str, Any]:
    return {
        "innov": np.full((p, genes), PAD, np.int64),
        "src": np.zeros((p, genes), np.int64),
        "dst": np.zeros((p, genes), np.int64),
        "weight": np.zeros((p, genes)),
        "enabled": np.zeros((p, genes), bool),
        "hidden": np.full((p, hidden), PAD, np.int64),
    }


def _row_keys(innov: np.ndarray, valid: np.ndarray, stride: int) -> np.ndarray:
    """The valid innovation numbers of every row as one sorted vector: ``row * stride + innov``."""
    rows = np.nonzero(valid)[0]
    return rows * stride + innov[valid]


def _stride(*pops: NeatPopulation) -> int:
    top = max((int(p.max_innov().max(initial=-1)) for p in pops), default=-1)
    return top + 2


# -- crossover -------------------------------------------------------------------------------------
def crossover(
    pop: NeatPopulation,
    fitter: np.ndarray,
    other: np.ndarray,
    coin: np.ndarray,
    disable: np.ndarray,
    average: np.ndarray,
    disable_prob: float = 0.75,
) -> NeatPopulation:
    """Children of rows ``fitter[i]`` and ``other[i]`` (section 3.2): the fitter parent's genes, a
    matching gene's weight from the other parent where ``coin < 0.5`` (or the mean of both where
    ``average[i]``), and a gene disabled in either parent disabled where ``disable < disable_prob``.
    ``coin`` and ``disable`` are uniforms of shape (children, C).

    As :func:`evoforge.spaces.neat.crossover`, which draws one ``coin`` per matching gene in gene
    order (none when averaging), each followed by a ``disable`` draw if either parent has it off."""
    fitter, other = np.asarray(fitter, np.int64), np.asarray(other, np.int64)
    child = pop.take(fitter)
    mates = pop.take(other)
    m, c = child.innov.shape
    stride = _stride(child, mates)
    keys = _row_keys(mates.innov, mates.valid, stride)
    if keys.size == 0:  # no parent has a gene: nothing to match
        return child
    valid = child.valid
    query = np.arange(m)[:, None] * stride + np.where(valid, child.innov, -1)
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    match = valid & (keys[pos] == query)
    other_w, other_e = mates.weight[mates.valid][pos], mates.enabled[mates.valid][pos]
    avg = np.asarray(average, bool)[:, None]
    weight = np.where(
        match & avg,
        0.5 * (child.weight + other_w),
        np.where(match & (coin[:, :c] < 0.5), other_w, child.weight),
    )
    either_off = match & ~(child.enabled & other_e)
    enabled = np.where(either_off, ~(disable[:, :c] < disable_prob), child.enabled)
    return replace(child, weight=weight, enabled=enabled)


# -- mutation --------------------------------------------------------------------------------------
def mutate_weights(
    pop: NeatPopulation,
    rows: np.ndarray,
    replace_u: np.ndarray,
    init_z: np.ndarray,
    perturb_z: np.ndarray,
    replace_prob: float,
    perturb_std: float,
    init_std: float,
    limit: float,
) -> NeatPopulation:
    """The weights of the genomes where ``rows`` (bool, P) perturbed by ``perturb_std * perturb_z``,
    or where ``replace_u < replace_prob`` drawn anew as ``init_std * init_z``, clipped to the limit;
    the three are (P, C) draws. As :func:`evoforge.spaces.neat.mutate_weights` (its ``random(n)``,
    ``normal(0, init_std, n)``, ``normal(0, perturb_std, n)``)."""
    c = pop.innov.shape[1]
    new = np.where(
        replace_u[:, :c] < replace_prob,
        0.0 + init_std * init_z[:, :c],
        pop.weight + (0.0 + perturb_std * perturb_z[:, :c]),
    )
    new = np.clip(new, -limit, limit)
    weight = np.where(np.asarray(rows, bool)[:, None] & pop.valid, new, pop.weight)
    return replace(pop, weight=weight)


def toggle_enabled(pop: NeatPopulation, rows: np.ndarray, pick: np.ndarray) -> NeatPopulation:
    """Gene ``pick[i]`` of genome ``rows[i]`` flipped (genomes without genes are left alone)."""
    rows, pick = np.asarray(rows, np.int64), np.asarray(pick, np.int64)
    keep = pop.count[rows] > 0
    enabled = pop.enabled.copy()
    enabled[rows[keep], pick[keep]] = ~enabled[rows[keep], pick[keep]]
    return replace(pop, enabled=enabled)


def add_node(
    pop: NeatPopulation, rows: np.ndarray, pick: np.ndarray, next_node: int, next_innov: int
) -> tuple[NeatPopulation, int, int]:
    """Split the ``pick[i]``-th enabled connection ``a -> b`` of genome ``rows[i]`` into
    ``a -> new -> b`` (weights 1 and the old weight; the old connection disabled, section 3.1).
    Splits of the same connection share the node id and both innovation numbers, handed out in row
    order from ``next_node`` and ``next_innov``; a genome that holds the node already (it split this
    connection before and re-enabled it) is left alone. Genomes without an enabled connection are
    skipped and take no ``pick``. Returns the population and the next node id and innovation number.
    """
    rows, pick = np.asarray(rows, np.int64), np.asarray(pick, np.int64)
    n_on = pop.enabled.sum(axis=1)[rows]
    keep = n_on > 0
    rows, pick = rows[keep], pick[keep]
    if rows.size == 0:
        return pop, next_node, next_innov
    # the pick-th enabled gene of each row
    k = np.argmax(np.cumsum(pop.enabled[rows], axis=1) > pick[:, None], axis=1)
    split = pop.innov[rows, k]
    rank = _first_appearance_rank(split)
    node = next_node + rank
    innov_in = next_innov + 2 * rank
    n_new = int(rank.max()) + 1
    has = (pop.hidden[rows] == node[:, None]).any(axis=1)
    rows, k, node, innov_in = rows[~has], k[~has], node[~has], innov_in[~has]
    if np.unique(rows).size != rows.size:
        raise ValueError("add_node takes each genome at most once per call")
    out = pop._padded(int(pop.count.max(initial=0)) + 2, int(pop.hidden_count.max(initial=0)) + 1)
    arrays: dict[str, Any] = {name: getattr(out, name).copy() for name in (*_GENES, "hidden")}
    count, hidden_count = out.count.copy(), out.hidden_count.copy()
    arrays["enabled"][rows, k] = False
    at = count[rows]
    for offset, (innov, s, d, w) in enumerate(
        (
            (innov_in, out.src[rows, k], node, np.ones(rows.size)),
            (innov_in + 1, node, out.dst[rows, k], out.weight[rows, k]),
        )
    ):
        arrays["innov"][rows, at + offset] = innov
        arrays["src"][rows, at + offset] = s
        arrays["dst"][rows, at + offset] = d
        arrays["weight"][rows, at + offset] = w
        arrays["enabled"][rows, at + offset] = True
    count[rows] += 2
    arrays["hidden"][rows, hidden_count[rows]] = node
    hidden_count[rows] += 1
    result = _sorted_rows(replace(out, count=count, hidden_count=hidden_count, **arrays), rows)
    return result, next_node + n_new, next_innov + 2 * n_new


def add_connection(
    pop: NeatPopulation,
    rows: np.ndarray,
    source_pick: np.ndarray,
    target_pick: np.ndarray,
    weight_z: np.ndarray,
    init_std: float,
    next_innov: int,
) -> tuple[NeatPopulation, int]:
    """A new connection in each genome ``rows[i]``: the first attempt ``a`` whose source (index
    ``source_pick[i, a]`` into the genome's nodes: inputs, bias, outputs, hidden) and target (index
    ``target_pick[i, a]`` into outputs then hidden) are not yet connected and, in a feed-forward
    population, close no cycle (through enabled or disabled connections); weight
    ``init_std * weight_z[i]``. A genome whose attempts all fail is left alone. New connections
    between the same two nodes share an innovation number, handed out in row order from
    ``next_innov``. Returns the population and the next innovation number.

    As :func:`evoforge.spaces.neat.add_connection`, which draws a source and a target index per
    attempt until one fits, then the weight."""
    rows = np.asarray(rows, np.int64)
    if rows.size == 0:
        return pop, next_innov
    if np.unique(rows).size != rows.size:
        raise ValueError("add_connection takes each genome at most once per call")
    fixed, n_out = pop.fixed, pop.n_outputs
    # one padding column, so every pick indexes something (picks past a row's nodes are never drawn)
    hidden = np.concatenate([pop.hidden[rows], np.full((rows.size, 1), PAD)], axis=1)
    s_pick, t_pick = np.asarray(source_pick, np.int64), np.asarray(target_pick, np.int64)
    from_hidden = np.take_along_axis(hidden, np.clip(s_pick - fixed, 0, hidden.shape[1] - 1), 1)
    src = np.where(s_pick < fixed, s_pick, from_hidden)
    to_hidden = np.take_along_axis(hidden, np.clip(t_pick - n_out, 0, hidden.shape[1] - 1), 1)
    dst = np.where(t_pick < n_out, pop.n_inputs + 1 + t_pick, to_hidden)
    valid = pop.valid[rows]
    g_src, g_dst = pop.src[rows], pop.dst[rows]
    exists = (
        (g_src[:, None, :] == src[:, :, None]) & (g_dst[:, None, :] == dst[:, :, None]) & valid[:, None, :]
    ).any(axis=2)
    ok = ~exists
    if pop.feed_forward:
        reach = _reachability(pop, rows)
        sp, dp = _node_positions(pop, rows, src), _node_positions(pop, rows, dst)
        back = np.take_along_axis(reach.reshape(rows.size, -1), dp * reach.shape[1] + sp, 1)
        ok &= (src != dst) & ~back
    found = ok.any(axis=1)
    first = np.argmax(ok, axis=1)
    rows, first = rows[found], first[found]
    s = src[found, first]
    d = dst[found, first]
    if rows.size == 0:
        return pop, next_innov
    pairs = s * (int(max(s.max(), d.max())) + 1) + d
    rank = _first_appearance_rank(pairs)
    innov = next_innov + rank
    out = pop._padded(int(pop.count.max(initial=0)) + 1, 0)
    arrays: dict[str, Any] = {name: getattr(out, name).copy() for name in _GENES}
    count = out.count.copy()
    at = count[rows]
    arrays["innov"][rows, at] = innov
    arrays["src"][rows, at] = s
    arrays["dst"][rows, at] = d
    arrays["weight"][rows, at] = 0.0 + init_std * np.asarray(weight_z)[found]
    arrays["enabled"][rows, at] = True
    count[rows] += 1
    result = _sorted_rows(replace(out, count=count, **arrays), rows)
    return result, next_innov + int(rank.max()) + 1


def _first_appearance_rank(keys: np.ndarray) -> np.ndarray:
    """For each key, the rank of its first appearance among the distinct keys (0, 1, ... in order)."""
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.empty_like(first)
    order[np.argsort(first, kind="stable")] = np.arange(first.size)
    return order[inverse.ravel()]


def _node_positions(pop: NeatPopulation, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions of node ``ids`` (shape (m, k)) in each row's node list: fixed nodes, then hidden."""
    hidden = pop.hidden[rows]
    if hidden.shape[1] == 0:
        return ids
    col = np.argmax(hidden[:, None, :] == ids[:, :, None], axis=2)
    return np.where(ids < pop.fixed, ids, pop.fixed + col)


def _reachability(pop: NeatPopulation, rows: np.ndarray) -> np.ndarray:
    """(m, N, N) bool: a path of one or more connections (enabled or not) from node i to node j of
    each genome of ``rows``, N the fixed nodes plus the most hidden nodes among them."""
    m = rows.size
    n = pop.fixed + int(pop.hidden_count[rows].max(initial=0))
    valid = pop.valid[rows]
    sp = _node_positions(pop, rows, pop.src[rows])
    dp = _node_positions(pop, rows, pop.dst[rows])
    adj = np.zeros((m, n, n), np.float32)
    r = np.broadcast_to(np.arange(m)[:, None], valid.shape)
    adj[r[valid], sp[valid], dp[valid]] = 1.0
    reach = adj
    for _ in range(max(1, int(np.ceil(np.log2(max(n, 2))))) + 1):
        more = np.minimum(reach + reach @ reach, 1.0)
        if np.array_equal(more, reach):
            break
        reach = more
    return reach > 0


def _sorted_rows(pop: NeatPopulation, rows: np.ndarray) -> NeatPopulation:
    """The genes of ``rows`` put back in innovation order (padding stays last: PAD is the largest)."""
    order = np.argsort(pop.innov[rows], axis=1, kind="stable")
    if (order == np.arange(order.shape[1])).all():
        return pop
    arrays: dict[str, Any] = {}
    for name in _GENES:
        a = getattr(pop, name).copy()
        a[rows] = np.take_along_axis(a[rows], order, 1)
        arrays[name] = a
    return replace(pop, **arrays)


# -- compatibility distance ------------------------------------------------------------------------
#: the cells of the distance's dense table of matching genes and its (P, S) arrays together: 2**21
_TABLE_CELLS = 2**21


def distance_matrix(
    pop: NeatPopulation, reps: NeatPopulation, c1: float, c2: float, c3: float, small: int = 20
) -> np.ndarray:
    """Equation (1) between every genome of ``pop`` and every genome of ``reps``, shape (P, S):
    ``c1 E / N + c2 D / N + c3 W`` (N the larger gene count, 1 when both are under ``small``; W the
    mean weight difference of matching genes). The same numbers as
    :func:`evoforge.spaces.neat.distance_matrix`, in the same order of summation."""
    p, s = len(pop), len(reps)
    if p == 0 or s == 0:
        return np.zeros((p, s))
    # matching genes can only lie among the representatives' innovations: a dense (genomes x those
    # innovations) table. With many genomes and representatives, the tables and the (P, S) arrays
    # are built for a block of representatives at a time, so memory stays bounded; a column's numbers
    # do not depend on the other columns (summed over the same (P, genes) array), so they are the same.
    universe = np.unique(reps.innov[reps.valid])
    if s > 1 and p * (universe.size + 8 * s) > _TABLE_CELLS:  # about 8 (P, S) arrays live at once
        width = max(1, min(s // 2, _TABLE_CELLS // (p * (int(reps.count.max(initial=1)) + 8))))
        blocks = [reps.take(np.arange(a, min(a + width, s))) for a in range(0, s, width)]
        return np.concatenate([distance_matrix(pop, b, c1, c2, c3, small) for b in blocks], axis=1)
    stride = _stride(pop, reps)
    na, nb = pop.count, reps.count
    la, lb = pop.max_innov(), reps.max_innov()
    # excess: genes of a beyond b's largest innovation number, and of b beyond a's
    keys_a = _row_keys(pop.innov, pop.valid, stride)
    keys_b = _row_keys(reps.innov, reps.valid, stride)
    start_a = np.concatenate([[0], np.cumsum(na)[:-1]])
    start_b = np.concatenate([[0], np.cumsum(nb)[:-1]])
    upto_a = (
        np.searchsorted(keys_a, np.arange(p)[:, None] * stride + lb[None, :], side="right") - start_a[:, None]
    )
    upto_b = (
        np.searchsorted(keys_b, np.arange(s)[:, None] * stride + la[None, :], side="right") - start_b[:, None]
    )
    excess = (na[:, None] - upto_a) + (nb[:, None] - upto_b).T
    present = np.zeros((p, universe.size), bool)
    weight = np.zeros((p, universe.size))
    valid = pop.valid
    row = np.nonzero(valid)[0]
    innov = pop.innov[valid]
    col = np.minimum(np.searchsorted(universe, innov), max(universe.size - 1, 0))
    hit = universe[col] == innov if universe.size else np.zeros(innov.size, bool)
    present[row[hit], col[hit]] = True
    weight[row[hit], col[hit]] = pop.weight[valid][hit]
    common = np.empty((p, s))
    wdiff = np.empty_like(common)
    for j in range(s):
        n = int(nb[j])
        cols = np.searchsorted(universe, reps.innov[j, :n])
        match = present[:, cols]
        common[:, j] = match.sum(axis=1)
        wdiff[:, j] = (np.abs(weight[:, cols] - reps.weight[j, :n]) * match).sum(axis=1)
    disjoint = na[:, None] + nb[None, :] - 2 * common - excess
    w = np.divide(wdiff, common, out=np.zeros_like(wdiff), where=common > 0)
    n = np.maximum(na[:, None], nb[None, :]).astype(np.float64)
    n[n < small] = 1.0
    return c1 * excess / n + c2 * disjoint / n + c3 * w
