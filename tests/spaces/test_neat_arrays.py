"""The population-array operators against the one-genome operators: given the same random decisions
(replayed to the one-genome operator in the order it asks for them), every row equals what the
one-genome operator returns for that genome, innovation numbers and node ids included."""

import numpy as np
import pytest

from evoforge.core.genome import genome_id
from evoforge.spaces import neat
from evoforge.spaces import neat_arrays as na
from evoforge.spaces.neat import InnovationTracker, add_connection, add_node, initial_genome, mutate_weights


class Replay:
    """A stand-in for a numpy Generator that answers each kind of draw from its own queue, in order."""

    def __init__(self, random=(), integers=(), normal=()):
        self.queues = {"random": list(random), "integers": list(integers), "normal": list(normal)}

    def _next(self, kind, size):
        queue = self.queues[kind]
        if size is None:
            return queue.pop(0)
        out, self.queues[kind] = np.asarray(queue[:size]), queue[size:]
        assert out.size == size, f"asked for more {kind} draws than given"
        return out

    def random(self, size=None):
        return self._next("random", size)

    def integers(self, high, size=None):
        value = self._next("integers", size)
        assert 0 <= value < high, (value, high)
        return value

    def normal(self, loc, scale, size=None):
        return loc + scale * self._next("normal", size)


def population(n=24, feed_forward=True, seed=0):
    """Genomes grown by the one-genome operators: hidden nodes, disabled genes, varied sizes."""
    rng = np.random.default_rng(seed)
    t = InnovationTracker(3, 2)
    out = []
    for _ in range(n):
        g = initial_genome(3, 2, rng, t, feed_forward=feed_forward)
        for _ in range(int(rng.integers(25))):
            r = rng.random()
            if r < 0.3:
                g = add_node(g, rng, t)
            elif r < 0.6:
                g = add_connection(g, rng, t, feed_forward, 1.0)
            elif r < 0.8:
                g = neat.toggle_enabled(g, rng)
            else:
                g = mutate_weights(g, rng, 0.1, 0.5, 1.0, 8.0)
        out.append(g)
    return out, t


def same(a, b):
    return a.content_bytes() == b.content_bytes()


@pytest.mark.parametrize("feed_forward", [True, False])
def test_a_population_round_trips_through_the_arrays(feed_forward):
    genomes, _ = population(feed_forward=feed_forward)
    pop = na.NeatPopulation.from_genomes(genomes)
    assert pop.innov.shape == (len(genomes), max(len(g) for g in genomes))
    assert all(same(pop.genome(p), g) for p, g in enumerate(genomes))
    assert pop.row_bytes() == [g.to_bytes() for g in genomes]  # the run store's form
    assert pop.ids() == [genome_id(g) for g in genomes]
    picked = pop.take(np.array([3, 3, 0]))
    assert [same(picked.genome(i), genomes[p]) for i, p in enumerate([3, 3, 0])] == [True] * 3
    assert picked.innov.shape[1] == max(len(genomes[3]), len(genomes[0]))  # cut to what they hold
    both = picked.concat(pop.take(np.array([5])))
    assert same(both.genome(3), genomes[5]) and same(both.genome(1), genomes[3])


def test_crossover_equals_the_one_genome_crossover():
    genomes, _ = population()
    pop = na.NeatPopulation.from_genomes(genomes)
    rng = np.random.default_rng(5)
    m = 40
    fitter, other = rng.integers(len(genomes), size=m), rng.integers(len(genomes), size=m)
    coin, disable = rng.random((m, pop.innov.shape[1])), rng.random((m, pop.innov.shape[1]))
    average = rng.random(m) < 0.3
    children = na.crossover(pop, fitter, other, coin, disable, average, 0.75)
    differs = 0
    for i in range(m):
        a, b = genomes[fitter[i]], genomes[other[i]]
        draws = []
        for k, innov in enumerate(a.innov.tolist()):  # the order the one-genome crossover draws in
            j = np.flatnonzero(b.innov == innov)
            if j.size:
                if not average[i]:
                    draws.append(coin[i, k])
                if not (a.enabled[k] and b.enabled[j[0]]):
                    draws.append(disable[i, k])
        want = neat.crossover(a, b, Replay(random=draws), 0.75, bool(average[i]))
        assert same(children.genome(i), want), i
        differs += not same(want, a)
    assert differs > m // 2  # the draws did change children: the comparison is not vacuous


def test_weight_mutation_equals_the_one_genome_mutation():
    genomes, _ = population()
    pop = na.NeatPopulation.from_genomes(genomes)
    rng = np.random.default_rng(6)
    shape = pop.innov.shape
    rows = rng.random(len(genomes)) < 0.7
    u, zi, zp = rng.random(shape), rng.standard_normal(shape), rng.standard_normal(shape)
    out = na.mutate_weights(pop, rows, u, zi, zp, 0.1, 2.5, 1.0, 8.0)
    for p, g in enumerate(genomes):
        if not rows[p]:
            assert same(out.genome(p), g)
            continue
        n = len(g)
        want = mutate_weights(g, Replay(random=u[p, :n], normal=[*zi[p, :n], *zp[p, :n]]), 0.1, 2.5, 1.0, 8.0)
        assert same(out.genome(p), want), p


def test_toggling_equals_the_one_genome_toggle():
    genomes, _ = population()
    pop = na.NeatPopulation.from_genomes(genomes)
    rows = np.array([0, 4, 9])
    pick = np.array([min(2, len(genomes[r]) - 1) for r in rows])
    out = na.toggle_enabled(pop, rows, pick)
    for p, g in enumerate(genomes):
        want = neat.toggle_enabled(g, Replay(integers=[pick[list(rows).index(p)]])) if p in rows else g
        assert same(out.genome(p), want)


@pytest.mark.parametrize("feed_forward", [True, False])
def test_structural_mutations_equal_the_one_genome_mutations_with_one_tracker(feed_forward):
    """add-node on some genomes, then add-connection on others, numbered by one tracker in row order:
    the same splits and links share numbers, as section 3.2 asks."""
    genomes, tracker = population(feed_forward=feed_forward)
    # two copies of a genome: the same split in one generation must get the same numbers
    genomes = [*genomes, genomes[2]]
    pop = na.NeatPopulation.from_genomes(genomes)
    rng = np.random.default_rng(7)
    start_node, start_innov = tracker.next_node, tracker.next_innov
    t = InnovationTracker(3, 2, start_innov, start_node)
    rows = np.flatnonzero(rng.random(len(genomes)) < 0.6)
    rows = np.union1d(rows, [2, len(genomes) - 1])
    n_on = pop.enabled.sum(axis=1)
    pick = np.array([rng.integers(max(1, n_on[r])) for r in rows])
    pick[-1] = pick[np.flatnonzero(rows == 2)[0]]  # the copy splits the same connection
    out, next_node, next_innov = na.add_node(pop, rows, pick, start_node, start_innov)
    want = list(genomes)
    for r, k in zip(rows, pick, strict=True):
        want[r] = add_node(genomes[r], Replay(integers=[k] if n_on[r] else []), t)
    assert (next_node, next_innov) == (t.next_node, t.next_innov)
    assert all(same(out.genome(p), w) for p, w in enumerate(want))
    assert same(out.genome(len(genomes) - 1), out.genome(2)) and len(out.genome(2).hidden) > len(
        genomes[2].hidden
    )
    # then new connections, 20 attempts each
    links = np.flatnonzero(rng.random(len(genomes)) < 0.7)
    n_nodes = out.fixed + out.hidden_count[links]
    n_targets = out.n_outputs + out.hidden_count[links]
    s_pick = rng.integers(0, n_nodes[:, None], size=(links.size, 20))
    t_pick = rng.integers(0, n_targets[:, None], size=(links.size, 20))
    z = rng.standard_normal(links.size)
    final, last_innov = na.add_connection(out, links, s_pick, t_pick, z, 1.0, next_innov)
    added = 0
    for i, r in enumerate(links):
        ints = np.column_stack([s_pick[i], t_pick[i]]).ravel()
        want[r] = add_connection(want[r], Replay(integers=ints, normal=[z[i]]), t, feed_forward, 1.0)
        added += len(want[r]) > len(out.genome(r))
    assert added > links.size // 2
    assert last_innov == t.next_innov
    assert all(same(final.genome(p), w) for p, w in enumerate(want))


def test_a_genome_that_holds_the_node_of_a_split_is_left_alone():
    t = InnovationTracker(2, 1)
    g = initial_genome(2, 1, np.random.default_rng(0), t)
    split = add_node(g, Replay(integers=[1]), t)  # node 4, splitting innovation 1
    reenabled = split.with_(enabled=np.ones(len(split), bool))  # the split connection is on again
    # the same split again in the same generation: the tracker gives node 4, which it has
    again = add_node(reenabled, Replay(integers=[1]), InnovationTracker(2, 1, 3, 4))
    assert same(again, reenabled)
    pop = na.NeatPopulation.from_genomes([reenabled])
    out, next_node, next_innov = na.add_node(pop, np.array([0]), np.array([1]), 4, 3)
    assert same(out.genome(0), reenabled) and (next_node, next_innov) == (5, 5)


def test_distance_matrix_equals_the_one_genome_distances():
    genomes, _ = population(40)
    reps = genomes[::7]
    pop, rep_pop = na.NeatPopulation.from_genomes(genomes), na.NeatPopulation.from_genomes(reps)
    got = na.distance_matrix(pop, rep_pop, 1.0, 1.0, 0.4, 20)
    assert np.array_equal(got, neat.distance_matrix(genomes, reps, 1.0, 1.0, 0.4, 20))
    pairwise = np.array([[neat.distance(a, b, 1.0, 1.0, 0.4, 20) for b in reps] for a in genomes])
    assert np.allclose(got, pairwise, rtol=1e-12, atol=1e-12)
    assert (got > 0).sum() > got.size // 2


def test_distance_matrix_in_blocks_equals_it_whole(monkeypatch):
    """A large population's distances are computed a block of representatives at a time (bounded
    memory): the same numbers, whatever the block size."""
    genomes, _ = population(40)
    pop, reps = na.NeatPopulation.from_genomes(genomes), na.NeatPopulation.from_genomes(genomes[::7])
    whole = na.distance_matrix(pop, reps, 1.0, 1.0, 0.4, 20)
    for cells in (1, 50, 333):
        monkeypatch.setattr(na, "_TABLE_CELLS", cells)
        assert np.array_equal(na.distance_matrix(pop, reps, 1.0, 1.0, 0.4, 20), whole)


def test_innovation_numbers_name_one_connection_each_across_a_run():
    """Through generations of the array strategy: within a genome no number repeats, and across the
    population one number always names the same source and target (section 3.2's historical
    markings); hidden node ids likewise always come from the same split."""
    from evoforge.spaces.neat import NetworkSpace
    from evoforge.strategies.neat import NEAT, NEATConfig

    strategy = NEAT(
        NEATConfig(population_size=60, add_node_prob=0.2, add_connection_prob=0.3), NetworkSpace(2, 1)
    )
    state = strategy.init(np.random.default_rng(0))
    names: dict[int, tuple[int, int]] = {}
    for gen in range(12):
        state, genomes, _ = strategy.ask(state, np.random.default_rng([1, gen]))
        for g in genomes:
            assert np.unique(g.innov).size == len(g)
            for innov, s, d in zip(g.innov.tolist(), g.src.tolist(), g.dst.tolist(), strict=True):
                assert names.setdefault(innov, (s, d)) == (s, d), innov
        fitness = np.array([len(g) for g in genomes], float)  # any fitness: this is about bookkeeping
        state = strategy.tell(state, genomes, fitness)
    assert max(len(g.hidden) for g in genomes) >= 2 and len(names) > 20


def test_a_checkpoint_of_the_one_genome_neat_resumes_as_arrays(tmp_path):
    """A run checkpointed by earlier versions (one genome at a time) loads into the array state and
    breeds from the same population and species."""
    from evoforge.core.state_io import load_state, save_state
    from evoforge.spaces.neat import NetworkSpace
    from evoforge.strategies.neat import NEAT, NEATConfig
    from evoforge.strategies.neat_reference import NEATReference

    config, space = NEATConfig(population_size=30), NetworkSpace(2, 1)
    old = NEATReference(config, space)
    state = old.init(np.random.default_rng(0))
    for gen in range(4):
        state, genomes, _ = old.ask(state, np.random.default_rng(gen))
        state = old.tell(state, genomes, np.array([len(g) + 0.1 * k for k, g in enumerate(genomes)]))
    save_state(tmp_path / "s.npz", old.state_to_tree(state))
    new = NEAT(config, space)
    loaded = new.state_from_tree(load_state(tmp_path / "s.npz"))
    assert all(same(a, b) for a, b in zip(loaded.population.genomes(), state.population, strict=True))
    assert [s["members"].tolist() for s in loaded.species] == [s["members"] for s in state.species]
    assert all(
        same(loaded.representatives.genome(j), s["representative"]) for j, s in enumerate(state.species)
    )
    assert (loaded.next_innov, loaded.next_node, loaded.threshold) == (
        state.next_innov,
        state.next_node,
        state.threshold,
    )
    _, children, _ = new.ask(loaded, np.random.default_rng(9))
    assert len(children) == 30


@pytest.mark.parametrize("feed_forward", [True, False])
def test_a_population_compiles_from_its_arrays_as_from_its_genomes(feed_forward):
    from evoforge.spaces.neat_network import CompiledPopulation

    genomes, _ = population(40, feed_forward=feed_forward)
    a, b = CompiledPopulation(genomes), CompiledPopulation(na.NeatPopulation.from_genomes(genomes))
    for name in ("offsets", "src", "dst", "weight", "free", "inputs", "outputs", "bias"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert (a.total, a.depth) == (b.total, b.depth)
    x = np.random.default_rng(0).normal(size=(40, 5, 3))
    if feed_forward:
        assert np.array_equal(a.activate(x), b.activate(x))
    else:
        assert np.array_equal(a.step(x, a.initial_state(5))[0], b.step(x, b.initial_state(5))[0])
