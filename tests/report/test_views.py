"""Each kind of genome's view: what the dashboard draws of it."""

import numpy as np

from evoforge.report.views import genome_view
from evoforge.spaces.chain import ChainSpace, ChainSpaceConfig
from evoforge.spaces.neat import InnovationTracker, add_node, initial_genome
from evoforge.spaces.pipeline import PipelineSpace, PipelineSpaceConfig
from evoforge.spaces.pipeline_steps import SLOTS, Facts
from evoforge.spaces.update_rule import known_rule


def test_a_network_is_drawn_in_layers_with_every_connection():
    tracker = InnovationTracker(2, 1)
    g = add_node(initial_genome(2, 1, np.random.default_rng(0), tracker), np.random.default_rng(1), tracker)
    g = add_node(g, np.random.default_rng(5), tracker)
    view = genome_view(g)
    layer = {n["id"]: n["layer"] for n in view["nodes"]}
    roles = {n["id"]: n["role"] for n in view["nodes"]}
    assert roles == {0: "input", 1: "input", 2: "bias", 3: "output", **{h: "hidden" for h in g.hidden}}
    assert len(view["edges"]) == len(g.innov) and sum(not e["enabled"] for e in view["edges"]) >= 1
    for e in view["edges"]:  # every enabled connection goes forward, from a lower layer to a higher one
        if e["enabled"]:
            assert layer[e["src"]] < layer[e["dst"]], e


def test_an_update_rule_is_math_a_pipeline_its_steps_an_architecture_its_layers():
    rule = known_rule("adam")
    assert genome_view(rule) == {"kind": "math", "text": rule.math()}
    facts = Facts(task="classification", samples=100, numeric=4, categorical=0, encoded=4, classes=3)
    pipe = PipelineSpace(PipelineSpaceConfig(), facts).sample(np.random.default_rng(0))
    view = genome_view(pipe)
    assert [s["slot"] for s in view["steps"]] == list(SLOTS)
    assert all((s["step"], s["params"]) == pipe.step(s["slot"]) for s in view["steps"])
    chain = ChainSpace(ChainSpaceConfig(), (1, 8, 8), 10).sample(np.random.default_rng(0))
    assert genome_view(chain)["layers"] == chain.to_json()["layers"]
    assert genome_view(np.zeros(3)) is None
