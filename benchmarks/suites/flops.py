"""What a validity check of an architecture costs: ``space.size(genome)`` (the network built on
torch's meta device, then counted), with evoforge's count from the layers' shapes against torch's
``FlopCounterMode`` on the same network.

    python benchmarks/harness.py flops

For every space (chain, cell, tree) ``genomes`` seeded samples; per genome both ways are timed
``repeats`` times, interleaved, build included in both, one thread; the per-genome medians are
compared (ratio torch / evoforge) and the counts must agree exactly.
"""

from __future__ import annotations

import statistics
import time


def _torch_size(space, genome, shape) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = space.build(genome).model
    model.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros((1, *shape), device="meta"))
    return int(counter.get_total_flops())


def run(settings: dict, save) -> dict:
    import numpy as np
    import torch

    from evoforge.spaces.cell import CellSpace, CellSpaceConfig
    from evoforge.spaces.chain import ChainSpace, ChainSpaceConfig
    from evoforge.spaces.tree import TreeSpace, TreeSpaceConfig

    torch.set_num_threads(1)
    shape, classes = tuple(settings["shape"]), int(settings["classes"])
    spaces = {"chain": (ChainSpace, ChainSpaceConfig), "cell": (CellSpace, CellSpaceConfig),
              "tree": (TreeSpace, TreeSpaceConfig)}  # fmt: skip
    rows = []
    for name, (space_class, config_class) in spaces.items():
        space = space_class(config_class(max_flops=None), shape, classes)
        rng = np.random.default_rng(0)
        ours, theirs, ratios = [], [], []
        for _ in range(int(settings["genomes"])):
            genome = space.sample(rng)
            a, b = [], []
            for _ in range(int(settings["repeats"])):
                start = time.perf_counter()
                flops = space.size(genome)[1]
                a.append(time.perf_counter() - start)
                start = time.perf_counter()
                reference = _torch_size(space, genome, shape)
                b.append(time.perf_counter() - start)
            if flops != reference:
                raise AssertionError(f"{name}: {flops} FLOPs counted, torch's counter {reference}")
            ours.append(statistics.median(a))
            theirs.append(statistics.median(b))
            ratios.append(theirs[-1] / ours[-1])
        rows.append({"space": name, "evoforge_ms": 1e3 * statistics.median(ours),
                     "torch_ms": 1e3 * statistics.median(theirs), "ratio": statistics.median(ratios)})  # fmt: skip
    return {"rows": rows}


def table(results: dict, settings: dict) -> str:
    return "\n".join(
        [
            f"`space.size(genome)` on {settings['genomes']} seeded genomes per space, input "
            f"{tuple(settings['shape'])}, one thread; median per genome of {settings['repeats']} interleaved "
            "timings, network built on the meta device in both; counts equal on every genome.",
            "",
            "| space | evoforge count (ms) | torch FlopCounterMode (ms) | ratio (median per genome) |",
            "|---|---|---|---|",
            *[
                f"| {r['space']} | {r['evoforge_ms']:.1f} | {r['torch_ms']:.1f} | {r['ratio']:.2f}x |"
                for r in results["rows"]
            ],  # fmt: skip
        ]
    )
