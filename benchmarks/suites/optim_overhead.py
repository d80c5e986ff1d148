"""Per-step cost of evolved update rules against torch.optim.Adam (issue 6).

    python benchmarks/harness.py optim_overhead [--set rules=[path/to/best_optimizer.json]]

The parameters of a 1M-parameter MLP (784-1024-192-10 plus biases: 1,007,242) get fixed random
gradients; only ``optimizer.step()`` is timed (the training step around it is the same for every
optimizer). Each optimizer is timed for a block of steps, the optimizers interleaved, ``repeats``
blocks each; the ratio to torch's Adam (its default, the foreach implementation) is the median of
the per-block ratios. One thread, pinned to one core, so the shared machine disturbs it least. Every
rule is timed twice: with the default foreach kernels and with ``fused=True`` (compiled by
``torch.compile`` on its first step, before the timing); torch's own ``Adam(fused=True)`` is listed.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path


def _model(params: int):
    import torch

    # 784 -> 1024 -> hidden -> 10 (with biases) holds about `params` weights
    hidden = max(8, round((params - 785 * 1024 - 10) / (1024 + 1 + 10)))
    return torch.nn.Sequential(
        torch.nn.Linear(784, 1024),
        torch.nn.ReLU(),
        torch.nn.Linear(1024, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 10),
    )


def run(settings: dict, save) -> dict:
    steps, repeats = int(settings["steps"]), int(settings["repeats"])
    import os

    import torch

    from evoforge.optim import EvolvedOptimizer, known_rule
    from evoforge.spaces.update_rule import UpdateRule

    torch.set_num_threads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    model = _model(settings["params"])
    n = sum(p.numel() for p in model.parameters())
    gen = torch.Generator().manual_seed(0)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=gen) * 1e-2
    # a rule of many ops, as evolved rules can be: clipping, L2, both moments, sign, interp, clip
    busy = UpdateRule(
        expr=[
            "add",
            ["norm", ["m"]],
            ["scale", 0.1, ["sign", ["interp", 0.9, ["m_prev"], ["clip", 1.0, ["g"]]]]],
        ],
        bias_correction=True,
        weight_decay=1e-2,
        l2=1e-4,
        clip_norm=1.0,
        schedule="warmup_cosine",
        warmup=0.05,
    )
    rules = {
        "adam rule": known_rule("adam"),
        "lion rule": known_rule("lion"),
        "9-node rule, clipping, both decays": busy,
    }
    for path in map(Path, settings.get("rules") or []):
        rules[path.name] = UpdateRule.from_json(json.loads(path.read_text()))
    makers = {
        "torch Adam": lambda ps: torch.optim.Adam(ps, lr=1e-3),
        "torch Adam, fused=True": lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
        "torch AdamW": lambda ps: torch.optim.AdamW(ps, lr=1e-3),
    }
    for label, rule in rules.items():
        for fused in (False, True):
            makers[f"evolved{', fused' if fused else ''}: {label}"] = lambda ps, r=rule, f=fused: (
                EvolvedOptimizer(ps, r, total_steps=10**6, fused=f)
            )
    optimizers = {name: make(list(model.parameters())) for name, make in makers.items()}
    with torch.no_grad():
        snapshot = [p.clone() for p in model.parameters()]
    times: dict[str, list[float]] = {name: [] for name in optimizers}
    for opt in optimizers.values():  # compile the fused rules before any timing
        opt.step()
    for _ in range(repeats + 1):  # the first block warms up and is dropped
        for name, opt in optimizers.items():
            start = time.perf_counter()
            for _ in range(steps):
                opt.step()
            times[name].append((time.perf_counter() - start) / steps)
            with torch.no_grad():
                for p, s in zip(model.parameters(), snapshot, strict=True):
                    p.copy_(s)
    base = "torch Adam"
    rows = []
    for name, ts in times.items():
        ratios = [t / b for t, b in zip(ts[1:], times[base][1:], strict=True)]
        rows.append(
            {
                "optimizer": name,
                "ms_per_step": statistics.median(ts[1:]) * 1e3,
                "ratio": statistics.median(ratios),
            }
        )
    return {"parameters": n, "hidden": model[2].out_features, "rows": rows}


def table(results: dict, settings: dict) -> str:
    rows = results["rows"]
    worst = max(r["ratio"] for r in rows if r["optimizer"].startswith("evolved:"))
    worst_fused = max(r["ratio"] for r in rows if r["optimizer"].startswith("evolved, fused"))
    return "\n".join(
        [
            f"{results['parameters']:,} parameters (an MLP 784-1024-{results['hidden']}-10), fixed random "
            "gradients, `optimizer.step()` alone, one thread on one core; interleaved blocks per optimizer, "
            "median time per step and median ratio to torch's Adam (its default foreach implementation).",
            "",
            "| optimizer | ms per step | ratio to torch Adam |",
            "|---|---|---|",
            *[f"| {r['optimizer']} | {r['ms_per_step']:.3f} | {r['ratio']:.2f} |" for r in rows],
            "",
            f"Goal (an evolved optimizer's step at most 1.5x Adam's): with `fused=True` "
            f"{'met' if worst_fused <= 1.5 else 'missed'} (the costliest rule {worst_fused:.2f}x); with the "
            f"default foreach kernels {'met for every rule here' if worst <= 1.5 else 'missed by some rules'} "
            f"(the costliest {worst:.2f}x). Compilation (once per rule, on the first step) is not in these times.",
        ]
    )
