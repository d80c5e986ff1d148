"""Run every CartPole example for 5 seeds and record test scores, evaluations and wall time.

.venv/bin/python benchmarks/examples_check.py
"""

from __future__ import annotations

import datetime
import statistics
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, replace_section  # noqa: E402

import evoforge  # noqa: E402

EXAMPLES = ["cartpole-ga.yaml", "cartpole-es.yaml", "cartpole-cmaes.yaml"]


def main() -> None:
    lines = [
        "## CartPole examples, 5 seeds each",
        "",
        f"Command: `.venv/bin/python benchmarks/examples_check.py` ({datetime.date.today().isoformat()}), "
        "serial backend. Test score = mean return of the reported policy over 10 fresh test episodes.",
        "",
        "| example | test scores (seeds 0-4) | solved (>= 475) | median generations | median evaluations | median wall s |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name in EXAMPLES:
        raw = yaml.safe_load((ROOT / "examples" / name).read_text())
        results = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in range(5):
                config = evoforge.RunConfig.model_validate(dict(raw, seed=seed, backend="serial"))
                results.append(evoforge.run(config, Path(tmp) / str(seed)))
        scores = ", ".join(f"{r.test_score:g}" for r in results)
        solved = sum(r.test_score >= 475 for r in results)
        lines.append(
            f"| `examples/{name}` | {scores} | {solved}/5 | {statistics.median(r.generations for r in results):g} | "
            f"{statistics.median(r.evaluations for r in results):g} | {statistics.median(r.wall_seconds for r in results):.2f} |"
        )
        print(lines[-1], flush=True)
    replace_section("examples", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
