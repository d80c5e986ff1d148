"""TensorBoard and MLflow loggers: what a run writes there is read back and matches its run store."""

from __future__ import annotations

import sys

import pytest
from conftest import StopRunError, stop_after

import evoforge
from evoforge.engine.config import ConfigError
from evoforge.store.run_store import RunStore

CMA = {"seed": 1, "generations": 8, "strategy": {"name": "cma_es"}, "test_episodes": 1,
       "problem": {"kind": "function", "name": "rastrigin", "dim": 4}, "checkpoint_interval": 0}  # fmt: skip


def stats_of(run_dir):
    store = RunStore.open(run_dir)
    try:
        return store.generation_stats()
    finally:
        store.close()


def test_tensorboard_events_hold_each_generations_scalars_once_even_across_a_resume(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    cfg = evoforge.RunConfig.model_validate(dict(CMA, logging={"tensorboard": str(tmp_path / "tb")}))
    with pytest.raises(StopRunError):
        evoforge.run(cfg, tmp_path / "run", callback=stop_after(5))
    evoforge.resume(tmp_path / "run")
    events = event_accumulator.EventAccumulator(str(tmp_path / "tb" / "run"))
    events.Reload()
    stats = stats_of(tmp_path / "run")
    best = events.Scalars("fitness/best")
    assert [e.step for e in best] == list(range(8))  # the replayed generations' first events purged
    assert [e.value for e in best] == pytest.approx([s["best"] for s in stats], rel=1e-6)
    assert {"fitness/mean", "time/wall_s", "evaluations/new"} <= set(events.Tags()["scalars"])
    assert "result/test_score" in events.Tags()["scalars"]


def test_mlflow_run_has_the_config_the_curve_and_the_artefacts_and_a_resume_continues_it(tmp_path):
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = evoforge.RunConfig.model_validate(dict(CMA, logging={"mlflow": uri}))
    with pytest.raises(StopRunError):
        evoforge.run(cfg, tmp_path / "run", callback=stop_after(5))
    evoforge.resume(tmp_path / "run")
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("evoforge").experiment_id])
    assert len(runs) == 1  # the resumed run logged into the MLflow run it started
    run = runs[0]
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["strategy.name"] == '"cma_es"' and run.data.params["problem.name"] == '"rastrigin"'
    stats = stats_of(tmp_path / "run")
    history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "fitness/best")}
    assert sorted(history) == list(range(8))
    assert [history[g] for g in range(8)] == pytest.approx([s["best"] for s in stats], rel=1e-6)
    result = evoforge.RunResult(**__import__("json").loads((tmp_path / "run" / "result.json").read_text()))
    assert run.data.metrics["result/test_score"] == pytest.approx(result.test_score)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"result.json", "hall_of_fame.json", "config.yaml", "best_genome.json"} <= names
    assert (tmp_path / "mlartifacts").is_dir()  # beside the database, not under the working folder


def test_a_logger_whose_package_is_missing_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    cfg = evoforge.RunConfig.model_validate(dict(CMA, logging={"mlflow": "sqlite:///x.db"}))
    with pytest.raises(ConfigError, match=r"logging.mlflow needs the mlflow package"):
        evoforge.run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "logging, message",
    [
        ({"tensorboard": "/proc/no/such"}, r"^logging.tensorboard: cannot write in /proc/no/such \("),
        (
            {"mlflow": "http://127.0.0.1:1"},
            r"^logging.mlflow: no tracking store answers at http://127.0.0.1:1 \(",
        ),
        ({"mlflow": "sqlite:////proc/no/m.db"}, r"^logging.mlflow: no tracking store answers at sqlite:"),
    ],
)
def test_a_logger_that_cannot_write_is_refused_before_anything_is_written(tmp_path, logging, message):
    """An unwritable TensorBoard folder, an MLflow server that does not answer (one quick try where
    MLflow's client retries for minutes), an unwritable MLflow database: one line, no run directory,
    and no TensorBoard folder left by the check of a writable one beside a refused MLflow store."""
    pytest.importorskip("tensorboard")
    if "mlflow" in logging:
        pytest.importorskip("mlflow")
        logging = {**logging, "tensorboard": str(tmp_path / "tb" / "deep")}
    cfg = evoforge.RunConfig.model_validate(dict(CMA, logging=logging))
    with pytest.raises(ConfigError, match=message):
        evoforge.run(cfg, tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    from evoforge.engine.loop import prepare

    prepare(cfg)  # what reads a finished run (report) does not need its loggers: no check there


def test_a_logger_failing_during_the_run_is_dropped_with_one_warning_and_the_run_goes_on(
    tmp_path, monkeypatch, caplog
):
    """A TensorBoard writer that fails from generation 3 on (a full disk, say): one warning, and the
    run finishes exactly as an unlogged one."""
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    real = SummaryWriter.add_scalar

    def failing(self, name, value, step, *args, **kwargs):
        if step >= 3:
            raise OSError(28, "No space left on device")
        return real(self, name, value, step, *args, **kwargs)

    monkeypatch.setattr(SummaryWriter, "add_scalar", failing)
    plain = evoforge.run(evoforge.RunConfig.model_validate(CMA), tmp_path / "plain")
    logged_cfg = evoforge.RunConfig.model_validate(dict(CMA, logging={"tensorboard": str(tmp_path / "tb")}))
    with caplog.at_level("WARNING", logger="evoforge.engine.loggers"):
        logged = evoforge.run(logged_cfg, tmp_path / "logged")
    assert [r.getMessage() for r in caplog.records] == [
        "evoforge: tensorboard logging stopped (OSError: [Errno 28] No space left on device); the run goes "
        "on and its run store has everything"
    ]
    assert logged.best_fitness == plain.best_fitness and logged.generations == plain.generations == 8
    assert [s["best"] for s in stats_of(tmp_path / "logged")] == [
        s["best"] for s in stats_of(tmp_path / "plain")
    ]
