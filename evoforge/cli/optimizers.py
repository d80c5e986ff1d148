"""What ``evoforge report`` adds for optimizer searches: the best update rule as math, and as a
Python file that defines it as a torch optimizer."""

from __future__ import annotations

import json
from pathlib import Path

from evoforge.cli.app import REPORTS, fail, out


def report_rule(run_dir: Path, target: Path) -> list[Path]:
    rule_file = run_dir / "best_optimizer.json"
    if rule_file.is_file():  # optimizer searches: the rule as math and as a file to copy into a project
        from evoforge.spaces.update_rule import UpdateRule

        try:
            rule = UpdateRule.from_json(json.loads(rule_file.read_text()))
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            fail(f"{rule_file}: {exc}")
        out.print("best update rule:", highlight=False)
        out.print(rule.math(), highlight=False, markup=False)
        source = target / "best_optimizer.py"
        source.write_text(rule.python_source())
        return [source]
    return []


REPORTS["optimizer_search"] = report_rule
