"""NEAT side by side with neat-python on XOR: evaluations and wall time to solve, medians over
``--runs`` seeds, each run in its own process pinned to one core, the two libraries interleaved.

Both stop in the first generation in which a network classifies all four XOR patterns (every
output on the right side of 0.5). neat-python runs its own XOR example settings
(`benchmarks/neat_xor.cfg`, its fitness 4 - sum of squared errors); evoforge runs
`examples/neat-xor.yaml` (the NEAT paper's settings). "Individuals evaluated" counts every
genome a library evaluates (neat-python re-evaluates its elites, evoforge does not); wall time
covers building the population and the whole run, including evoforge's run store.

    .bench-venv/bin/python benchmarks/neat_vs_neatpython.py [--runs 30]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, median, neat_population, pin_from_env, replace_section, run_child  # noqa: E402

SCRIPT = Path(__file__).resolve()
XOR_IN = [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)]
XOR_OUT = [0.0, 1.0, 1.0, 0.0]


class _SolvedError(Exception):
    pass


def run_neat_python(seed: int) -> dict:
    import neat

    start = time.perf_counter()
    config, pop = neat_population("neat_xor.cfg", seed)
    counted = {"generations": 0, "individuals": 0}

    def evaluate(genomes, config):
        counted["generations"] += 1
        counted["individuals"] += len(genomes)
        solved = False
        for _, g in genomes:
            net = neat.nn.FeedForwardNetwork.create(g, config)
            outs = [net.activate(x)[0] for x in XOR_IN]
            g.fitness = 4.0 - sum((o - t) ** 2 for o, t in zip(outs, XOR_OUT, strict=True))
            solved |= all(abs(o - t) < 0.5 for o, t in zip(outs, XOR_OUT, strict=True))
        if solved:
            raise _SolvedError

    try:
        pop.run(evaluate, 300)
        solved = False
    except _SolvedError:
        solved = True
    return dict(counted, solved=solved, seconds=time.perf_counter() - start)


def run_evoforge(seed: int) -> dict:
    import yaml

    import evoforge

    start = time.perf_counter()
    raw = yaml.safe_load((ROOT / "examples" / "neat-xor.yaml").read_text())
    cfg = evoforge.RunConfig.model_validate(dict(raw, seed=seed, generations=300))
    result = evoforge.run(cfg, tempfile.mkdtemp() + "/r")
    return {
        "generations": result.generations,
        "individuals": result.generations * cfg.strategy["population_size"],
        "evaluations": result.evaluations,
        "solved": result.stopped_early,
        "seconds": time.perf_counter() - start,
    }


LIBS = {"neat-python 2.0.0": run_neat_python, "evoforge": run_evoforge}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("LIB", "SEED"))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if args.child:
        pin_from_env()
        print(json.dumps(LIBS[args.child[0]](int(args.child[1]))))
        return
    rows: dict[str, list[dict]] = {lib: [] for lib in LIBS}
    for seed in range(args.runs):
        for lib in LIBS:
            rows[lib].append(run_child(SCRIPT, [lib, str(seed)], core=seed % 2))
            print(lib, seed, rows[lib][-1], flush=True)
    lines = [
        "## NEAT vs neat-python on XOR (issue 3, partial)",
        "",
        f"Command: `.bench-venv/bin/python benchmarks/neat_vs_neatpython.py --runs {args.runs}` "
        f"({datetime.date.today().isoformat()}); each run a fresh process pinned to one core, the two "
        "libraries interleaved; both stop in the first generation in which a network classifies all "
        "four patterns. Medians over the solved runs.",
        "",
        "| library | solved | generations | individuals evaluated | wall time to solve (s) |",
        "|---|---|---|---|---|",
    ]
    med = {}
    for lib, rs in rows.items():
        ok = [r for r in rs if r.get("solved")]
        med[lib] = {k: median([r[k] for r in ok]) for k in ("generations", "individuals", "seconds")}
        lines.append(
            f"| {lib} | {len(ok)} / {len(rs)} | {med[lib]['generations']:.0f} | "
            f"{med[lib]['individuals']:,.0f} | {med[lib]['seconds']:.2f} |"
        )
    ratio = med["neat-python 2.0.0"]["seconds"] / med["evoforge"]["seconds"]
    lines += [
        "",
        f"Wall time, neat-python / evoforge: {ratio:.2f}x (goal: >= 10x, with no more evaluations): "
        + (
            "met."
            if ratio >= 10 and med["evoforge"]["individuals"] <= med["neat-python 2.0.0"]["individuals"]
            else "**missed**."
        ),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        replace_section("neat-vs-neat-python", text)


if __name__ == "__main__":
    main()
