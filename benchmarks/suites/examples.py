"""Every CartPole example for ``seeds`` seeds on the serial backend: test scores (mean return of the
reported policy over 10 fresh test episodes), solved (>= 475), generations, evaluations, wall time."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def run(settings: dict, save) -> dict:
    import evoforge

    results: dict = {}
    for name in settings["examples"]:
        raw = yaml.safe_load((ROOT / "examples" / name).read_text())
        runs = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(int(settings["seeds"])):
                config = evoforge.RunConfig.model_validate(dict(raw, seed=seed, backend="serial"))
                r = evoforge.run(config, Path(tmp) / str(seed))
                runs.append(
                    {
                        "seed": seed,
                        "test_score": r.test_score,
                        "generations": r.generations,
                        "evaluations": r.evaluations,
                        "wall_seconds": r.wall_seconds,
                    }
                )
        results[name] = runs
        save(results)
    return results


def table(results: dict, settings: dict) -> str:
    lines = [
        "| example | test scores (by seed) | solved (>= 475) | median generations | median evaluations | median wall s |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, runs in results.items():
        scores = ", ".join(f"{r['test_score']:g}" for r in runs)
        solved = sum(r["test_score"] >= 475 for r in runs)
        lines.append(
            f"| `examples/{name}` | {scores} | {solved}/{len(runs)} | "
            f"{statistics.median(r['generations'] for r in runs):g} | "
            f"{statistics.median(r['evaluations'] for r in runs):g} | "
            f"{statistics.median(r['wall_seconds'] for r in runs):.2f} |"
        )
    return "\n".join(lines)
