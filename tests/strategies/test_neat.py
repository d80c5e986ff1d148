"""NEAT: genome operators on hand-built genomes, the compiled network against a reference
evaluation, speciation distances by hand, and seeded XOR runs (reproducible, resumable)."""

import numpy as np
import pytest
from conftest import StopRunError, individuals, outcome, stop_after

import evoforge
from evoforge.core.genome import blob_to_genome, genome_id, genome_to_blob
from evoforge.spaces.neat import (
    InnovationTracker,
    add_connection,
    add_node,
    crossover,
    distance,
    distance_matrix,
    initial_genome,
    make_genome,
    mutate_weights,
)
from evoforge.spaces.neat_network import CompiledPopulation, reference_activate


def genome(conns, hidden=(), n_in=2, n_out=1):
    """conns: (innov, src, dst, weight, enabled)."""
    i, s, d, w, e = zip(*conns, strict=True)
    return make_genome(n_in, n_out, tuple(hidden), i, s, d, w, e)


# Figure 4 of the paper: parent 1 has genes 1-5 and 8, parent 2 has 1-7, 9, 10 (innovation numbers).
P1 = genome(
    [
        (1, 0, 3, 0.1, True),
        (2, 1, 3, 0.2, False),
        (3, 2, 3, 0.3, True),
        (4, 1, 4, 0.4, True),
        (5, 4, 3, 0.5, True),
        (8, 0, 4, 0.8, True),
    ],
    hidden=(4,),
)
P2 = genome(
    [
        (1, 0, 3, 1.1, True),
        (2, 1, 3, 1.2, False),
        (3, 2, 3, 1.3, True),
        (4, 1, 4, 1.4, True),
        (5, 4, 3, 1.5, False),
        (6, 4, 5, 1.6, True),
        (7, 5, 3, 1.7, True),
        (9, 2, 4, 1.9, True),
        (10, 0, 5, 2.0, True),
    ],
    hidden=(4, 5),
)


def test_crossover_aligns_by_innovation_and_takes_the_fitter_parents_structure():
    for seed in range(20):
        child = crossover(P2, P1, np.random.default_rng(seed))  # P2 fitter: its disjoint and excess genes
        assert child.innov.tolist() == [1, 2, 3, 4, 5, 6, 7, 9, 10]
        assert child.hidden == (4, 5)
        for k, innov in enumerate(child.innov.tolist()):
            if innov <= 5:  # matching: from either parent
                assert child.weight[k] in (P1.weight[k], P2.weight[k])
            else:  # disjoint (6, 7, 9) and excess (10): the fitter parent's
                assert child.weight[k] == P2.weight[list(P2.innov).index(innov)]
    # a gene disabled in either parent is disabled in about 75% of the children
    disabled = np.mean([not crossover(P1, P2, np.random.default_rng(s)).enabled[4] for s in range(2000)])
    assert abs(disabled - 0.75) < 0.03


def test_compatibility_distance_by_hand():
    # matching 1-5 (mean |w diff| 1.0), disjoint: 8 (P1), 6, 7 (P2); excess: 9, 10 (P2 beyond P1's max 8)
    assert distance(P1, P2, 1.0, 1.0, 0.4) == pytest.approx(1.0 * 2 + 1.0 * 3 + 0.4 * 1.0)  # N = 1 (< 20)
    assert distance(P1, P2, 1.0, 1.0, 0.4, small=5) == pytest.approx((2 + 3) / 9 + 0.4)  # N = 9
    assert distance(P2, P1, 2.0, 0.5, 3.0) == pytest.approx(2.0 * 2 + 0.5 * 3 + 3.0)


def test_distance_matrix_equals_pairwise_distances():
    # the hand-built pair, then an evolved population whose genomes differ in structure and weights
    want = [[distance(a, b, 1.0, 1.0, 0.4) for b in (P1, P2)] for a in (P2, P1)]
    assert distance_matrix([P2, P1], [P1, P2], 1.0, 1.0, 0.4).tolist() == want
    rng, t = np.random.default_rng(5), InnovationTracker(3, 2)
    pop = [initial_genome(3, 2, rng, t) for _ in range(40)]
    for _ in range(15):
        t.new_generation()
        pop = [add_node(g, rng, t) if rng.random() < 0.3 else g for g in pop]
        pop = [add_connection(g, rng, t, True, 1.0) if rng.random() < 0.5 else g for g in pop]
        pop = [mutate_weights(g, rng, 0.1, 1.0, 1.0, 8.0) for g in pop]
    reps = pop[::6]
    for small in (20, 3):
        got = distance_matrix(pop, reps, 1.0, 2.0, 0.4, small)
        want = [[distance(a, b, 1.0, 2.0, 0.4, small) for b in reps] for a in pop]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert len({len(g) for g in pop}) > 3  # the population really differs in structure


def test_innovation_numbers_are_shared_within_a_generation():
    t = InnovationTracker(2, 1)
    g = initial_genome(2, 1, np.random.default_rng(0), t)
    a = add_node(g, np.random.default_rng(1), t)
    b = add_node(g, np.random.default_rng(1), t)  # the same split in the same generation
    assert a.innov.tolist() == b.innov.tolist() and a.hidden == b.hidden == (4,)
    t.new_generation()
    c = add_node(g, np.random.default_rng(1), t)  # the same split a generation later: new numbers
    assert c.hidden == (5,) and c.innov.max() > a.innov.max()
    split = a.enabled.tolist().index(False)
    assert a.weight[-2] == 1.0 and a.weight[-1] == g.weight[split]  # in: 1, out: the old weight


def random_genomes(n, feed_forward=True, steps=30, seed=0):
    rng = np.random.default_rng(seed)
    t = InnovationTracker(3, 2)
    out = []
    for _ in range(n):
        g = initial_genome(3, 2, rng, t, feed_forward=feed_forward)
        for _ in range(int(rng.integers(steps))):
            r = rng.random()
            if r < 0.3:
                g = add_node(g, rng, t)
            elif r < 0.7:
                g = add_connection(g, rng, t, feed_forward, 1.0)
            else:
                g = mutate_weights(g, rng, 0.1, 0.5, 1.0, 8.0)
        out.append(g)
    return out


def test_compiled_population_equals_the_reference_evaluation_exactly():
    genomes = random_genomes(40)
    inputs = np.random.default_rng(1).normal(size=(40, 5, 3))
    compiled = CompiledPopulation(genomes).activate(inputs)
    for p, g in enumerate(genomes):
        assert np.array_equal(compiled[p], reference_activate(g, inputs[p]))
    # and an individual's outputs do not depend on the rest of the batch
    alone = CompiledPopulation(genomes[7:8]).activate(inputs[7:8])
    assert np.array_equal(alone[0], compiled[7])


def test_recurrent_step_reads_the_previous_values():
    g = genome([(0, 0, 3, 1.0, True), (1, 3, 3, 0.5, True)], n_in=2, n_out=1)  # a self-loop on the output
    net = CompiledPopulation([g.with_(feed_forward=False, activation="identity")])
    state = net.initial_state(1)
    outs = []
    for _ in range(3):
        out, state = net.step(np.array([[[1.0, 0.0]]]), state)
        outs.append(float(out[0, 0, 0]))
    assert outs == [1.0, 1.5, 1.75]


def test_genome_round_trips_through_the_store_encoding():
    for g in random_genomes(5, feed_forward=False):
        encoding, blob = genome_to_blob(g)
        back = blob_to_genome(encoding, blob)
        assert encoding == "neat" and genome_id(back) == genome_id(g) and back.to_json() == g.to_json()


XOR = {"generations": 200, "strategy": {"name": "neat"}, "problem": {"kind": "xor"}, "stop": {"solved": True}}


def test_xor_is_solved_by_a_network_with_hidden_nodes(tmp_path):
    result = evoforge.run(evoforge.RunConfig(seed=7, **XOR), tmp_path / "r")
    assert result.stopped_early and result.generations < 200
    store = evoforge.store.run_store.RunStore.open(tmp_path / "r")
    best = store.genome_of(result.best_genome_id)
    store.close()
    inputs = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    out = reference_activate(best, inputs)[:, 0]
    assert ((out > 0.5) == np.array([False, True, True, False])).all()
    assert len(best.hidden) >= 1


def test_seeded_xor_run_reproduces_and_resumes_identically(tmp_path):
    cfg = evoforge.RunConfig(seed=3, **dict(XOR, generations=12))
    evoforge.run(cfg, tmp_path / "a")
    evoforge.run(cfg, tmp_path / "b")
    assert outcome(tmp_path / "a") == outcome(tmp_path / "b")
    with pytest.raises(StopRunError):
        evoforge.run(cfg, tmp_path / "c", callback=stop_after(6))
    evoforge.resume(tmp_path / "c")
    assert outcome(tmp_path / "c") == outcome(tmp_path / "a")


# XOR; double pole without velocities and CartPole (recurrent networks; CartPole's episodes end apart,
# so the batch is cut down to the live networks as they fall)
CARTPOLE = {"generations": 5, "strategy": {"name": "neat", "population_size": 60, "feed_forward": False},
            "problem": {"kind": "gym", "env_id": "CartPole-v1", "episodes": 2}}  # fmt: skip
DPNV = {"generations": 6, "strategy": {"name": "neat", "population_size": 150, "feed_forward": False, "c3": 3.0,
        "compatibility_threshold": 4.0}, "problem": {"kind": "double_pole", "velocities": False}}  # fmt: skip


@pytest.mark.parametrize(
    "backend, task",
    [("serial", XOR), ("process", XOR), ("serial", DPNV), ("serial", CARTPOLE)],
    ids=["xor", "xor-process", "dpnv", "cartpole"],
)
def test_the_population_batch_path_decides_and_stores_as_the_genome_list_path(
    tmp_path, monkeypatch, backend, task
):
    """NEAT hands the engine its population as arrays; handing the same genomes as a list of objects
    (the path every other strategy takes) must give the same run, stored genomes included."""
    from evoforge.core.strategy import Asked
    from evoforge.strategies.neat import NEAT

    cfg = evoforge.RunConfig(
        seed=3, backend=backend, workers=2, **dict(task, generations=min(12, task["generations"]))
    )
    assert evoforge.run(cfg, tmp_path / "batch").failed == 0
    ask = NEAT.ask

    def as_list(self, state, rng):
        state, genomes, parents = ask(self, state, rng)
        return Asked(state, list(genomes), parents)

    monkeypatch.setattr(NEAT, "ask", as_list)
    evoforge.run(cfg, tmp_path / "list")
    assert outcome(tmp_path / "batch") == outcome(tmp_path / "list")
    blobs = [individuals(tmp_path / name, "genome_id, genome", fresh_only=True) for name in ("batch", "list")]
    assert blobs[0] == blobs[1] and len(blobs[0]) > 200


def test_each_chunk_of_a_population_carries_only_its_own_rows():
    """A worker gets its chunk's rows of the arrays (not the whole population) and scores them as the
    whole population's evaluation does."""
    from evoforge.backends.base import _Task, run_chunk
    from evoforge.engine.evaluation import evaluate_chunk, evaluation_job
    from evoforge.spaces.neat import InnovationTracker, initial_genome
    from evoforge.spaces.neat_arrays import NeatPopulation

    problem = evoforge.RunConfig(strategy={"name": "neat"}, problem={"kind": "xor"}).problem
    tracker = InnovationTracker(2, 1)
    pop = NeatPopulation.from_genomes(
        [initial_genome(2, 1, np.random.default_rng(k), tracker) for k in range(10)]
    )
    seeds = list(range(100, 110))
    whole = evaluate_chunk(problem, {}, None, list(zip(range(10), seeds, strict=True)), batch=pop)
    job = evaluation_job(problem, {}, list(range(10)), seeds, batch=pop, chunk_size=4)
    fn, _, items, indices = _Task(0, job, [4, 5, 6]).payload()
    assert len(fn.keywords["batch"]) == 3 and [item[0] for item in items] == [0, 1, 2]
    got = run_chunk(fn, job.common, items, indices)
    assert got.indices == [4, 5, 6]
    assert [r.fitness for r in got.results] == [r.fitness for r in whole[4:7]]
    assert len({r.fitness for r in whole}) > 1


def test_neat_needs_a_network_problem():
    with pytest.raises(
        ValueError,
        match="needs a search space offering network; problem 'function' evolves parameter vectors",
    ):
        evoforge.RunConfig(strategy={"name": "neat"}, problem={"kind": "function"})


def test_double_pole_physics_is_symmetric_and_at_rest_stays_at_rest():
    from evoforge.problems.double_pole import derivatives, rk4_step

    rest = np.zeros((6, 1))
    assert np.array_equal(derivatives(rest, np.zeros(1)), np.zeros((6, 1)))
    state = np.array([[0.3], [-0.2], [0.05], [0.4], [-0.1], [0.2]])
    force = np.array([3.0])
    assert np.allclose(derivatives(-state, -force), -derivatives(state, force))
    # a tilted long pole falls further the way it leans; pushing under it slows the fall
    tilted = np.zeros((6, 2))
    tilted[2] = 0.07
    after = tilted
    for _ in range(20):
        after = rk4_step(after, np.array([0.0, 10.0]))
    assert after[2, 0] > 0.07 and after[2, 1] < after[2, 0]


def test_generalization_starts_cover_the_published_grid():
    from evoforge.problems.double_pole import generalization_starts

    starts = generalization_starts()
    assert starts.shape == (6, 625) and len({tuple(c) for c in starts.T}) == 625
    assert np.allclose(starts[0].max(), 0.95 * 4.32 - 2.16) and np.all(starts[4:] == 0)


# A recurrent network NEAT evolved for DPNV (examples/neat-double-pole-novel.yaml, seed 0): it balances
# 100,000 steps and 242 of the 625 generalisation starts, with one self-connection on the output.
# Genes: (innovation, source, target, weight, enabled).
DPNV_SOLVER = [
    (0, 0, 4, -0.32654482367828463, True),
    (1, 1, 4, -5.426035427833316, True),
    (2, 2, 4, 4.055995198366492, True),
    (3, 3, 4, 0.5599893937821212, True),
    (17, 4, 4, -1.1104339348196817, True),
]


@pytest.mark.slow
def test_dpnv_champion_tests_do_not_depend_on_batch_mates():
    from evoforge.problems.double_pole import DoublePoleConfig, DoublePoleProblem

    i, s, d, w, e = zip(*DPNV_SOLVER, strict=True)
    solver = make_genome(3, 1, (), i, s, d, w, e, feed_forward=False)
    other = solver.with_(weight=solver.weight * 0.5)
    problem = DoublePoleProblem(DoublePoleConfig(velocities=False, solve_steps=20_000))
    seeds = np.zeros(3, np.int64)
    together = problem.evaluate([solver, other, solver], seeds, {})
    alone = [problem.evaluate([g], seeds[:1], {})[0] for g in (solver, other)]
    assert together[0].metrics == together[2].metrics == alone[0].metrics
    assert together[1].metrics == alone[1].metrics
    assert [r.fitness for r in together] == [alone[0].fitness, alone[1].fitness, alone[0].fitness]
    m = together[0].metrics
    assert m["long_steps"] == 20_000 and m["generalization"] == 242 and m["solved"] == 1.0


@pytest.mark.slow
def test_neat_solves_double_pole_with_velocities_within_the_papers_budget(tmp_path):
    cfg = evoforge.RunConfig(
        seed=0,
        generations=30,
        strategy={"name": "neat"},
        problem={"kind": "double_pole", "velocities": True, "solve_steps": 10_000},
        stop={"solved": True},
        test_episodes=1,
    )
    result = evoforge.run(cfg, tmp_path / "r")
    assert result.stopped_early and result.best_fitness >= 10_000
    assert result.evaluations <= 3_600  # the paper's mean for DPV (with 100,000 steps)


def test_torch_module_matches_the_reference_and_trains():
    torch = pytest.importorskip("torch")
    from evoforge.spaces.neat_torch import to_torch

    inputs = np.random.default_rng(2).normal(size=(6, 3))
    for g in random_genomes(15, seed=3):
        module = to_torch(g)
        out = module(torch.tensor(inputs)).detach().numpy()
        assert np.allclose(out, reference_activate(g, inputs), rtol=0, atol=1e-12)
    module.weight.grad = None
    module(torch.tensor(inputs)).sum().backward()
    assert module.weight.grad is not None and module.weight.grad.shape == module.weight.shape


def test_torch_module_steps_recurrent_networks_like_the_compiled_population():
    torch = pytest.importorskip("torch")
    from evoforge.spaces.neat_torch import to_torch

    genomes = random_genomes(5, feed_forward=False, seed=4)
    net = CompiledPopulation(genomes)
    x = np.random.default_rng(5).normal(size=(5, 2, 3))
    state = net.initial_state(2)
    modules = [to_torch(g) for g in genomes]
    states = [None] * 5
    for _ in range(4):
        out, state = net.step(x, state)
        for p, m in enumerate(modules):
            o, states[p] = m(torch.tensor(x[p]), states[p])
            assert np.allclose(o.detach().numpy(), out[p], atol=1e-12)
