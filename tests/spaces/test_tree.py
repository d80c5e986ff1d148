"""Architecture search, part 2: the tree (genetic-programming) search space."""

import json

import numpy as np
import pytest
import torch
from conftest import cli

from evoforge.core.genome import genome_id
from evoforge.core.rng import derive_rng
from evoforge.engine.registry import STRATEGIES, get_strategy
from evoforge.spaces import architecture_from_json, build_network
from evoforge.spaces.base import ArchitectureSpace
from evoforge.spaces.tree import INTERNAL, LEAVES, TreeGenome, TreeSpace, TreeSpaceConfig
from evoforge.spaces.tree_torch import measure
from evoforge.testing.strategies import build as build_strategy

pytestmark = pytest.mark.slow  # searches that train networks


get_strategy("random_search")  # fill the registry
SMALL = {"max_depth": 4, "channels": (4, 8), "max_params": 10**7}


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 5, 17), (2, 1, 1)], ids=str)
def test_random_tree_genomes_build_valid_modules(shape):
    space = TreeSpace(TreeSpaceConfig(**SMALL), shape, 7)
    rng = np.random.default_rng(0)
    for _ in range(12):
        genome = space.sample(rng)
        assert space.valid(genome) and genome.root.depth() <= 4
        built = build_network(genome, shape, 7)
        out = built.model(torch.randn(3, *shape))
        assert out.shape == (3, 7) and torch.isfinite(out).all()
        assert (built.params, built.flops) == measure(genome, shape, 7)
        assert architecture_from_json(json.loads(json.dumps(genome.to_json()))).to_json() == genome.to_json()


def test_par_merges_branches_of_different_shapes():
    # add: an 8-channel conv and a pooled 1-channel input; the input branch is projected to 8
    # channels, the conv branch pooled to 4x4. FLOPs by hand: conv 2*9*1*8*64 = 9216, projection
    # 1x1 1->8 on 4x4: 2*8*16 = 256, classifier 8->3: 48.
    g = TreeGenome.from_json(
        {
            "root": {
                "op": "par",
                "merge": "add",
                "children": [{"op": "conv", "channels": 8, "kernel": 3}, {"op": "pool"}],
            }
        }
    )
    assert measure(g, (1, 8, 8), 3)[1] == 9216 + 256 + 48
    concat = TreeGenome.from_json({"root": dict(g.to_json()["root"], merge="concat")})
    model = build_network(concat, (1, 8, 8), 3).model
    assert model.classifier.in_features == 9  # 8 + 1 channels


def test_subtree_crossover_and_mutations_keep_trees_valid_and_within_depth():
    space = TreeSpace(TreeSpaceConfig(**SMALL, max_flops=2_000_000), (1, 8, 8), 10)
    rng = np.random.default_rng(5)
    genomes = [space.sample(rng) for _ in range(8)]
    depths = set()
    for _ in range(60):
        a, b = (genomes[int(i)] for i in rng.choice(len(genomes), 2, replace=False))
        child = space.crossover(a, b, rng)
        assert space.valid(child) and child.root.depth() <= 4
        mutant = space.mutate(child, rng)
        assert space.valid(mutant) and mutant.root.depth() <= 4
        assert genome_id(mutant) != genome_id(child)
        depths.add(mutant.root.depth())
        genomes.append(mutant)
    assert len(depths) >= 3  # the operators explore shallow and deep trees


def test_subtree_crossover_takes_a_subtree_from_the_second_parent():
    space = TreeSpace(TreeSpaceConfig(max_depth=3, channels=(4,)), (1, 8, 8), 10)
    a = TreeGenome.from_json({"root": {"op": "seq", "children": [{"op": "identity"}, {"op": "identity"}]}})
    b = TreeGenome.from_json(
        {"root": {"op": "par", "children": [{"op": "pool"}, {"op": "conv", "channels": 4}]}}
    )
    rng = np.random.default_rng(0)
    leaves = set()
    for _ in range(30):
        child = space.crossover(a, b, rng)
        ops = {child.root.at(p).op for p in child.root.paths()}
        assert ops <= {"seq", "par", "identity", "pool", "conv"}
        leaves |= ops
    assert {"pool", "conv", "par"} <= leaves


def test_grown_trees_respect_the_depth_limit_and_node_kinds():
    space = TreeSpace(TreeSpaceConfig(max_depth=3, max_children=4), (1, 8, 8), 10)
    rng = np.random.default_rng(1)
    for _ in range(50):
        root = space.grow(rng, 3, root=True)
        assert root.depth() <= 3
        for path in root.paths():
            node = root.at(path)
            assert (node.op in INTERNAL) == bool(node.children)
            assert node.op in INTERNAL + LEAVES
            assert not node.children or 2 <= len(node.children) <= 4


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"op": "seq", "children": [{"op": "conv"}]}, "root: seq needs a list of at least two children"),
        (
            {"op": "par", "merge": "mul", "children": [{"op": "pool"}, {"op": "pool"}]},
            "merge must be add or concat",
        ),
        ({"op": "seq", "children": [{"op": "conv", "kernel": 4}, {"op": "pool"}]}, "root.0: kernel must be"),
        ({"op": "lstm"}, "a node needs 'op'"),
        ({"op": "pool", "channels": 3}, "pool has no field 'channels'"),
    ],
)
def test_bad_trees_are_refused_with_the_node(bad, message):
    with pytest.raises(ValueError, match=message):
        TreeGenome.from_json({"root": bad})


def test_tree_decoding_covers_every_choice_and_stays_valid():
    space = TreeSpace(TreeSpaceConfig(max_depth=3, channels=(4, 8), max_params=10**7), (1, 8, 8), 10)
    assert space.encoding_dim == 7 * 5 + 11
    ops = set()
    for i in range(len(LEAVES + INTERNAL)):
        x = np.full(space.encoding_dim, 0.0)
        x[0] = (i + 0.5) / len(LEAVES + INTERNAL)
        ops.add(space.decode(x).root.op)
    assert ops == set(LEAVES + INTERNAL)
    rng = np.random.default_rng(0)
    for _ in range(30):
        x = rng.uniform(size=space.encoding_dim)
        g = space.decode(x)
        assert space.valid(g) and genome_id(space.decode(x)) == genome_id(g)


@pytest.mark.parametrize(
    "name", sorted(n for n, c in STRATEGIES.items() if c.requires <= ArchitectureSpace.offers)
)
def test_every_space_strategy_runs_on_the_tree_space(name):
    space = TreeSpace(TreeSpaceConfig(**SMALL), (1, 8, 8), 10)
    s = build_strategy(name, space, 6)
    state = s.init(derive_rng(0, "init"))
    for gen in range(3):
        state, genomes, _ = s.ask(state, derive_rng(0, gen, "ask"))
        assert all(space.valid(g) for g in genomes)
        fitness = np.array([g.root.depth() for g in genomes], float)
        if getattr(s, "multi_objective", False):
            fitness = np.column_stack([fitness, -np.arange(len(genomes))])
        if s.uses_descriptors:  # quality diversity: toy descriptors in the default box [0, 1]^2
            fitness = np.column_stack([fitness, fitness / 10, np.linspace(0, 1, len(genomes))])
        state = s.tell(state, genomes, fitness)


def test_tree_search_from_the_command_line(tmp_path):
    run = tmp_path / "run"
    args = ["nas", "--dataset", "digits", "--search-space", "tree", "--generations", "2", "--popsize", "4"]
    args += ["--proxy-epochs", "1", "--proxy-fraction", "0.2", "--set", "problem.space.max_depth=3"]
    args += ["--set", "problem.space.channels=[4, 8]", "--set", "problem.threads=1", "--seed", "2"]
    args += ["--backend", "serial"]  # no worker start-up: not what this tests
    proc = cli(*args, "--output", run, "--quiet")
    assert proc.returncode == 0, proc.stderr
    arch = json.loads((run / "best_arch.json").read_text())
    assert arch["encoding"] == "tree"
    assert TreeGenome.from_json({k: v for k, v in arch.items() if k != "genome_id"}).root.depth() <= 3
