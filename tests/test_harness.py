"""The benchmark harness never overwrites a finished measurement by being run again (a queue that
restarted every benchmark each session did, to a day's work); ``--rerun`` measures anew."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def settings_for(suite: str, overrides: list[str]) -> dict:
    """The harness's settings of ``suite``."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from harness import settings_for as read
    finally:
        sys.path.remove(str(BENCHMARKS))
    return read(suite, overrides)


def harness_nas_tiny(results: Path) -> subprocess.CompletedProcess:
    """``harness.py nas_tiny`` with its results in ``results``."""
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / "harness.py"), "nas_tiny", "--results", str(results)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_finished_record_is_printed_not_measured_again(tmp_path):
    row = {"draw": 200, "logistic_regression": 0.5, "svc": 0.5, "small_cnn": 0.5, "evoforge": 0.75,
           "seconds": 1.0, "params": 10}  # fmt: skip
    record = {
        "suite": "nas_tiny", "date": "2026-12-03", "command": "python benchmarks/harness.py nas_tiny",
        "machine": {}, "settings": settings_for("nas_tiny", []), "finished": True,
        "results": {"digits": [row], "fashion-mnist": [dict(row, draw=201)]},
    }  # fmt: skip
    saved = json.dumps(record, indent=1) + "\n"
    (tmp_path / "nas_tiny.json").write_text(saved)
    done = harness_nas_tiny(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "finished, from" in done.stdout and "| digits | 1 | 0.7500" in done.stdout
    assert (tmp_path / "nas_tiny.json").read_text() == saved and sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["nas_tiny.json"]


def test_results_measured_with_other_settings_are_not_replaced_silently(tmp_path):
    """A setting added to a suite's config made a resumed queue start a half-measured task again and
    overwrite its results; now the harness stops in one line, exit 2, the record untouched."""
    record = {
        "suite": "nas_tiny", "date": "2026-12-03", "command": "python benchmarks/harness.py nas_tiny",
        "machine": {}, "settings": {**settings_for("nas_tiny", []), "a_setting_since_changed": 1},
        "finished": False, "results": {"digits": []},
    }  # fmt: skip
    saved = json.dumps(record, indent=1) + "\n"
    (tmp_path / "nas_tiny.json").write_text(saved)
    done = harness_nas_tiny(tmp_path)
    assert done.returncode == 2 and "holds results measured with other settings" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert (tmp_path / "nas_tiny.json").read_text() == saved
