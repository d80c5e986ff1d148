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


def test_until_stops_a_suite_where_its_next_step_would_end_too_late(tmp_path):
    """--until: each save measures the step before it; once the next step, taken to last as long as the
    longest so far, would end after the deadline, the save raises DeadlineError with the results saved,
    unfinished, so a session's queue ends with steps it finished and the same command resumes."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from harness import DeadlineError, Recorder, until_time
    finally:
        sys.path.remove(str(BENCHMARKS))
    times = iter([0.0, 30.0, 45.0, 80.0])  # start, then three saves: steps of 30, 15 and 35 s
    save = Recorder(tmp_path / "r.json", {"settings": {}}, same=False, until=100.0, clock=lambda: next(times))
    save({"a": 1})  # 30 + 30 <= 100
    save({"a": 1, "b": 2})  # 45 + 30 <= 100
    try:
        save({"a": 1, "b": 2, "c": 3})  # 80 + 35 > 100
        raise AssertionError("no DeadlineError")
    except DeadlineError as exc:
        assert "about 35 s" in str(exc)
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["results"] == {"a": 1, "b": 2, "c": 3} and record["finished"] is False
    save({"a": 1, "b": 2, "c": 3}, finished=True)  # the end is written whatever the time
    assert json.loads((tmp_path / "r.json").read_text())["finished"] is True
    early = Recorder(tmp_path / "e.json", {"settings": {}}, same=False, until=100.0, clock=lambda: 50.0)
    early.expect(None)  # no estimate: the step starts
    early.expect(50.0)  # ends at 100: in time
    try:
        early.expect(51.0)  # a suite's own estimate that ends too late
        raise AssertionError("no DeadlineError")
    except DeadlineError as exc:
        assert "about 51 s, its own estimate" in str(exc)
    assert until_time("2026-12-03T20:45:00") == until_time("2026-12-03 20:45")
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "harness.py"), "nas_tiny", "--until", "soon", "--results", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "'soon' is not HH:MM or an ISO date and time" in done.stderr


def test_a_stopped_maze_benchmark_leaves_no_run_going(tmp_path):
    """The maze suite runs ``processes`` robots' searches at once; a stop (--until's DeadlineError,
    a failed run) used to leave the other child running on, orphaned, beside the next benchmark."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from suites import maze
    finally:
        sys.path.remove(str(BENCHMARKS))
    budget = "987653"  # in every child's command line, and in no other process's

    def children() -> list[str]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if budget.encode() in cmdline.read_bytes().split(b"\0"):
                    found.append(cmdline.parent.name)
            except OSError:  # a process that ended meanwhile
                pass
        return found

    settings = {"maze": "medium", "evaluations": int(budget), "seeds": 1, "processes": 2,
                "methods": [{"name": "fails", "strategy": {"name": "no_such_strategy", "population_size": 10}},
                            {"name": "long", "strategy": {"name": "open_es", "population_size": 50}}]}  # fmt: skip

    class Save:
        previous = None

        def __call__(self, results: dict, finished: bool = False) -> None:
            raise AssertionError("nothing should be saved")

    try:
        try:
            maze.run(settings, Save())
            raise AssertionError("the failed run did not stop the benchmark")
        except RuntimeError as exc:
            assert "maze run fails/0 failed" in str(exc)
        assert children() == []
    finally:
        for pid in children():
            subprocess.run(["kill", "-9", pid], check=False)


def test_a_bad_setting_or_suite_is_one_line_and_exit_2(tmp_path):
    """A --set that is not YAML (a queue's arms once ended in a yaml.ParserError traceback), not
    KEY=VALUE, or an unknown suite: one line naming it, exit 2, no record written."""
    harness = [sys.executable, str(BENCHMARKS / "harness.py")]
    for argv, message in (
        (["nas_study", "--set", "arms=[{name: plain, search_seconds: 3000]}"], "--set arms: not YAML"),
        (["nas_study", "--set", "arms"], "--set 'arms' is not KEY=VALUE"),
        (["no_such_suite"], "no suite 'no_such_suite'"),
    ):
        proc = subprocess.run([*harness, *argv, "--results", str(tmp_path)], capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert list(tmp_path.iterdir()) == []
