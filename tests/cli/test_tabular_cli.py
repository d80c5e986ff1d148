"""``evoforge tabular``, ``predict`` and the tabular report from the command line: what a user gets
back (a fitted pipeline, a script that rebuilds it exactly, a test report), bad input in one line,
and a killed search that resumes to the same result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from conftest import cli, kill_then_resume, mixed_csv, outcome


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tab")
    data = mixed_csv(folder)
    run_dir = folder / "run"
    done = cli(
        "tabular", "--data", data, "--target", "label", "--generations", "3", "--popsize", "6",
        "--backend", "serial", "--folds", "3", "--seed", "1", "--out", run_dir, "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return data, run_dir, done.stdout


@pytest.mark.slow
def test_search_hands_back_model_script_and_report(finished):
    data, run_dir, stdout = finished
    for name in ("best_pipeline.json", "best_pipeline.skops", "best_pipeline.py", "test_report.json"):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "test_report.json").read_text())
    assert report["classes"] == ["no", "yes"] and report["test_rows"] == 32
    assert sum(map(sum, report["confusion_matrix"])) == 32
    assert set(report["defaults"]) == {
        "logistic_regression",
        "svc",
        "random_forest",
        "hist_gradient_boosting",
    }
    # the run's own final test scored the very model that was saved
    result = json.loads((run_dir / "result.json").read_text())
    assert report["test"] == pytest.approx(result["test_score"])
    assert "best untuned default" in stdout
    # the reported pipeline is the hall of fame's best on two reshuffled cross-validations
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["validation_episodes"] == 2
    assert result["validation_score"] is not None


@pytest.mark.slow  # end to end (make test runs it; make test-fast stays under 2 minutes)
def test_time_budget_covers_search_and_validation(tmp_path):
    data = mixed_csv(tmp_path, rows=60)
    done = cli(
        "tabular", "--data", data, "--target", "label", "--time-budget", "0.05", "--popsize", "4",
        "--backend", "serial", "--folds", "2", "--out", tmp_path / "run", "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["stop"]["seconds"] == pytest.approx(0.8 * 3.0) and config["validation_episodes"] == 2


@pytest.mark.slow
def test_script_rebuilds_the_saved_model_exactly(finished):
    from evoforge.problems.tabular_export import best_of, load_fitted

    data, run_dir, _ = finished
    namespace: dict = {}
    exec(compile((run_dir / "best_pipeline.py").read_text(), "best_pipeline.py", "exec"), namespace)
    x, y = namespace["load"](data)
    problem, _, _ = best_of(run_dir)
    rows = problem.search_rows
    rebuilt = namespace["pipeline"].fit(x.iloc[rows], y[rows])
    saved = load_fitted(run_dir / "best_pipeline.skops")
    np.testing.assert_array_equal(rebuilt.predict(x), saved.predict(x))


@pytest.mark.slow
def test_predict_and_report(finished, tmp_path):
    data, run_dir, _ = finished
    done = cli("predict", run_dir, "--data", data, "--out", tmp_path / "new" / "p.csv")  # a new folder
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "new" / "p.csv").read_text().split()
    assert lines[0] == "label" and len(lines) == 161 and set(lines[1:]) <= {"yes", "no"}
    done = cli("report", run_dir, "--out", tmp_path / "report")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report" / "score_over_time.png").is_file()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "nope"], "no column 'nope' (columns: x1, colour, x2, size, flag, constant, label)"),
        (["--target", "label", "--metric", "r2"], "metric r2 is for regression"),
        (["--target", "label", "--models", "deep_forest"], "unknown model step 'deep_forest'"),
        (["--target", "constant"], "target column 'constant' has one class ('1')"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    data = mixed_csv(tmp_path)
    done = cli("tabular", "--data", data, *args, "--out", tmp_path / "run", "--backend", "serial")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # end to end (make test runs it; make test-fast stays under 2 minutes)
def test_predict_of_a_table_without_rows_is_one_line(finished, tmp_path):
    """A header alone: one line naming the file (it was scikit-learn's message about an imputer)."""
    _, run_dir, _ = finished
    (tmp_path / "empty.csv").write_text("x1,colour,x2,size,flag,constant\n")
    done = cli("predict", run_dir, tmp_path / "empty.csv")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"evoforge: error: {tmp_path / 'empty.csv'}: the table has no rows"


def test_predict_refuses_what_is_not_a_tabular_run(tmp_path):
    done = cli("predict", tmp_path, "--data", "x.csv")
    assert done.returncode == 2 and "no saved pipeline" in done.stderr


@pytest.mark.parametrize("saved", ["best_pipeline.skops", "metrics.json"])
def test_predict_names_missing_inputs_in_one_line(tmp_path, saved):
    (tmp_path / saved).write_text("{}")  # a run or model folder: the inputs are checked first
    done = cli("predict", tmp_path, tmp_path / "new.csv")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"evoforge: error: {tmp_path / 'new.csv'}: no such file or folder", (
        done.stderr
    )


@pytest.mark.slow
def test_killed_search_resumes_to_the_same_result(tmp_path):
    data = mixed_csv(tmp_path)
    raw = {
        "seed": 4,
        "generations": 4,
        "strategy": {"name": "regularized_evolution", "population_size": 4, "sample_size": 2},
        "problem": {"kind": "tabular", "data": data, "target": "label", "folds": 2},
        "checkpoint_interval": 0,
        "test_episodes": 1,
    }
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    assert cli("run", config, "--out", tmp_path / "straight", "--quiet").returncode == 0
    kill_then_resume(config, tmp_path / "killed", checkpoints=2)
    assert outcome(tmp_path / "killed") == outcome(tmp_path / "straight")


def test_predict_checks_its_output_before_any_work(tmp_path):
    (tmp_path / "best_pipeline.skops").write_text("{}")
    (tmp_path / "new.csv").write_text("x\n1\n")
    (tmp_path / "taken").mkdir()
    done = cli("predict", tmp_path, tmp_path / "new.csv", "--out", tmp_path / "taken")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == f"evoforge: error: {tmp_path / 'taken'} is a directory; give a file name"
