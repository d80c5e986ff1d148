"""Architecture search, part 2: the cell (DARTS-like) search space."""

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
from evoforge.spaces.cell import OPS, CellGenome, CellSpace, CellSpaceConfig
from evoforge.spaces.cell_torch import measure
from evoforge.testing.strategies import build as build_strategy

pytestmark = pytest.mark.slow  # searches that train networks


get_strategy("random_search")  # fill the registry
SMALL = {"nodes": 3, "cells": 3, "channels": 4, "max_params": 10**7}


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 5, 17), (2, 1, 1)], ids=str)
def test_random_cell_genomes_build_valid_modules(shape):
    space = CellSpace(CellSpaceConfig(**SMALL), shape, 7)
    rng = np.random.default_rng(0)
    for _ in range(8):
        genome = space.sample(rng)
        assert space.valid(genome)
        built = build_network(genome, shape, 7)
        out = built.model(torch.randn(3, *shape))
        assert out.shape == (3, 7) and torch.isfinite(out).all()
        assert (built.params, built.flops) == measure(genome, shape, 7)
        assert built.params == sum(p.numel() for p in built.model.parameters())
        assert architecture_from_json(json.loads(json.dumps(genome.to_json()))).to_json() == genome.to_json()


def test_cell_space_refuses_tabular_inputs():
    with pytest.raises(ValueError, match="image inputs"):
        CellSpace(CellSpaceConfig(), (13,), 3)


def test_flops_of_a_tiny_cell_network_match_a_hand_count():
    # one node adding two skips (no weights) in every cell; 1 cell (a reduction), 2 channels, 1x4x4 input:
    # stem 3x3 conv 1 -> 6 channels on 4x4: 2*9*1*6*16 = 1728; preprocess 1x1 convs 6 -> 4 channels
    # (channels double at the reduction): the FactorizedReduce is skipped (no reduction before), two
    # ReLUConvBN: 2 * (2*6*4*16) = 1536; the skips reduce (stride 2) through FactorizedReduce(4, 4):
    # two 1x1 convs 4 -> 2 on 2x2, twice: 2 * 2 * (2*4*2*4) = 256; classifier 4 -> 3: 24
    node = {"inputs": [0, 1], "ops": ["skip_connect", "skip_connect"]}
    g = CellGenome.from_json({"normal": [node], "reduce": [node], "cells": 1, "channels": 2})
    assert measure(g, (1, 4, 4), 3)[1] == 1728 + 1536 + 256 + 24


def test_cell_content_id_ignores_edge_order_and_inputs_behind_none():
    a = {"inputs": [0, 1], "ops": ["sep_conv_3x3", "max_pool_3x3"]}
    b = {"inputs": [1, 0], "ops": ["max_pool_3x3", "sep_conv_3x3"]}
    c = {"inputs": [0, 1], "ops": ["none", "max_pool_3x3"]}
    d = {"inputs": [1, 1], "ops": ["none", "max_pool_3x3"]}

    def gid(node):
        return genome_id(CellGenome.from_json({"normal": [node], "reduce": [a]}))

    assert gid(a) == gid(b) and gid(c) == gid(d) and gid(a) != gid(c)


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"normal": [{"inputs": [0, 2], "ops": ["none", "none"]}]}, "input 2 is not one of the states 0..1"),
        ({"normal": [{"inputs": [0, 1], "ops": ["conv", "none"]}]}, "unknown op 'conv'"),
        ({"normal": []}, "non-empty list"),
        ({"cells": 0}, "cells must be a positive integer"),
    ],
)
def test_bad_cell_genomes_are_refused_with_the_reason(bad, message):
    node = {"inputs": [0, 1], "ops": ["skip_connect", "none"]}
    data = {"normal": [node], "reduce": [node], **bad}
    with pytest.raises(ValueError, match=message):
        CellGenome.from_json(data)


def test_cell_mutation_and_crossover_keep_genomes_valid_and_change_them():
    space = CellSpace(CellSpaceConfig(**SMALL, max_flops=3_000_000), (1, 8, 8), 10)
    rng = np.random.default_rng(3)
    genomes = [space.sample(rng) for _ in range(6)]
    for _ in range(30):
        a, b = (genomes[int(i)] for i in rng.choice(len(genomes), 2, replace=False))
        child = space.mutate(space.crossover(a, b, rng), rng)
        assert space.valid(child)
        assert genome_id(space.mutate(a, rng)) != genome_id(a)
        genomes.append(child)


def test_cell_decoding_covers_every_choice():
    space = CellSpace(CellSpaceConfig(**SMALL), (1, 8, 8), 10)
    genes = space._genes()
    assert space.encoding_dim == len(genes) == 2 * 3 * 4 + 11
    for g, (name, choices) in enumerate(genes):
        if "." not in name:
            continue
        cell, j, gene = name.split(".")
        seen = set()
        for i in range(len(choices)):
            x = np.full(space.encoding_dim, 0.5)
            x[g] = (i + 0.5) / len(choices)
            node = getattr(space.decode(x), cell)[int(j)]
            seen.add(node.inputs[int(gene[-1])] if gene.startswith("in") else node.ops[int(gene[-1])])
        assert seen == set(choices) and (gene.startswith("in") or seen == set(OPS)), name


@pytest.mark.parametrize(
    "name", sorted(n for n, c in STRATEGIES.items() if c.requires <= ArchitectureSpace.offers)
)
def test_every_space_strategy_runs_on_the_cell_space(name):
    space = CellSpace(CellSpaceConfig(**SMALL), (1, 8, 8), 10)
    s = build_strategy(name, space, 6)
    state = s.init(derive_rng(0, "init"))
    for gen in range(3):
        state, genomes, _ = s.ask(state, derive_rng(0, gen, "ask"))
        assert all(space.valid(g) for g in genomes)
        fitness = np.array(
            [sum(op == "sep_conv_3x3" for n in g.normal for op in n.ops) for g in genomes], float
        )
        if getattr(s, "multi_objective", False):
            fitness = np.column_stack([fitness, -np.arange(len(genomes))])
        if s.uses_descriptors:  # quality diversity: toy descriptors in the default box [0, 1]^2
            fitness = np.column_stack([fitness, fitness / 10, np.linspace(0, 1, len(genomes))])
        state = s.tell(state, genomes, fitness)


def test_cell_search_and_train_final_from_the_command_line(tmp_path):
    run, final = tmp_path / "run", tmp_path / "final"
    args = ["nas", "--dataset", "digits", "--search-space", "cell", "--generations", "2", "--popsize", "4"]
    args += ["--proxy-epochs", "1", "--proxy-fraction", "0.2", "--set", "problem.space.nodes=2"]
    args += ["--set", "problem.space.cells=2", "--set", "problem.space.channels=4", "--seed", "1"]
    args += ["--set", "problem.threads=1", "--backend", "serial"]  # no worker start-up: not tested here
    proc = cli(*args, "--output", run, "--quiet")
    assert proc.returncode == 0, proc.stderr
    arch = json.loads((run / "best_arch.json").read_text())
    assert arch["encoding"] == "cell" and len(arch["normal"]) == 2
    proc = cli("train-final", run, "--epochs", 1, "--out", tmp_path / "searched")
    assert proc.returncode == 0, proc.stderr
    # a hand-made cell network with a sound recipe learns digits in a few epochs
    node = {"inputs": [0, 1], "ops": ["sep_conv_3x3", "skip_connect"]}
    hand = {"encoding": "cell", "normal": [node, node], "reduce": [node, node], "cells": 2, "channels": 8}
    hand["recipe"] = {"optimizer": "adam", "lr": 3e-3, "batch_size": 32, "epochs": 8}
    (tmp_path / "hand.json").write_text(json.dumps(hand))
    proc = cli("train-final", "--arch", tmp_path / "hand.json", "--dataset", "digits", "--out", final)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((final / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9, metrics["accuracy"]
    genome = architecture_from_json(json.loads((final / "arch.json").read_text()))
    built = build_network(genome, (1, 8, 8), 10)
    built.model.load_state_dict(torch.load(final / "model.pt", weights_only=True))
    built.model.eval()
    traced = torch.jit.load(str(final / "model.ts"))
    x = torch.randn(5, 1, 8, 8)
    torch.testing.assert_close(traced(x), built.model(x))


def test_unknown_search_space_is_one_line_and_exit_2(tmp_path):
    proc = cli("nas", "--dataset", "digits", "--search-space", "graph", "--output", tmp_path / "x")
    assert proc.returncode == 2 and "problem.space: Input tag 'graph' found using 'kind'" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_the_chain_spaces_closed_form_flops_match_torchs_counter():
    from evoforge.spaces.chain import ChainSpace, ChainSpaceConfig
    from evoforge.spaces.chain_torch import count_flops

    for shape in [(1, 8, 8), (3, 5, 17), (13,)]:
        space = ChainSpace(ChainSpaceConfig(max_layers=6, max_params=10**6), shape, 7)
        rng = np.random.default_rng(2)
        for _ in range(15):
            built = space.build(space.sample(rng))
            assert built.flops == count_flops(built.model, shape)
