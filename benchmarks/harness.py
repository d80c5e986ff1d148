"""The benchmark harness: one entry point for every suite.

    python benchmarks/harness.py SUITE [--set key=value ...]

reads the suite's settings from ``benchmarks/configs/SUITE.yaml`` (overridden by ``--set``, values
parsed as YAML), runs ``benchmarks/suites/SUITE.py``'s ``run(settings)``, writes everything it
returns to ``benchmarks/results/SUITE.json`` (``SUITE-TASK.json`` for a suite with a ``task`` setting) with the date, the command, the machine and the
settings, and prints the suite's table (``table(results)``) as Markdown for BENCHMARKS.md. A suite
may save partial results as it goes through the ``save`` callback it is given, so a long run that is
stopped keeps what it measured.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
    }


def load_suite(name: str):
    path = HERE / "suites" / f"{name}.py"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in (HERE / "suites").glob("*.py")))
        sys.exit(f"harness: no suite {name!r} (known: {known})")
    spec = importlib.util.spec_from_file_location(f"suite_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def settings_for(name: str, overrides: list[str]) -> dict:
    path = HERE / "configs" / f"{name}.yaml"
    settings = yaml.safe_load(path.read_text()) if path.is_file() else {}
    for item in overrides:
        key, _, text = item.partition("=")
        settings[key] = yaml.safe_load(text)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suite")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    suite = load_suite(args.suite)
    settings = settings_for(args.suite, args.set)
    # a suite run for one of its tasks keeps its results apart: results/SUITE-TASK.json
    name = f"{args.suite}-{settings['task']}" if "task" in settings else args.suite
    out = HERE / "results" / f"{name}.json"
    record = {
        "suite": args.suite,
        "date": datetime.date.today().isoformat(),
        "command": " ".join(["python", "benchmarks/harness.py", *sys.argv[1:]]),
        "machine": machine(),
        "settings": settings,
        "results": {},
    }

    def save(results: dict) -> None:
        record["results"] = results
        out.parent.mkdir(exist_ok=True)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=1) + "\n")
        tmp.replace(out)

    results = suite.run(settings, save)
    save(results)
    print(f"<!-- {record['command']} ({record['date']}) -->")
    print(suite.table(results))


if __name__ == "__main__":
    main()
