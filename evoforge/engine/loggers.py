"""TensorBoard and MLflow: a run reports itself there too, beside its run store (``logging`` in the config).

The loggers see the loop's events (the callback every run has): each generation's statistics become
scalars named by namespace (``fitness/best``, ``fitness/mean``, ``evaluations/failed``,
``time/wall_s``, ``strategy/...``), the resolved config becomes text (TensorBoard) or parameters
(MLflow), and when the run finishes its result, hall of fame, config and best genome become MLflow
artefacts. Both packages are optional (the ``loggers`` extra); a config that names one that is not
installed is refused before the run starts.

A resumed run continues where it was: TensorBoard's writer drops the events of the generations the run
replays (``purge_step``), and the MLflow run's id is kept in the run directory (``mlflow_run.json``,
written once when the run starts) so the resumed run logs into the same MLflow run.

>>> from evoforge.engine.config import LoggingConfig
>>> check(LoggingConfig())  # nothing asked for: nothing to check
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evoforge.core.environ import environment
from evoforge.core.files import atomic_write_text
from evoforge.engine.config import ConfigError, LoggingConfig

__all__ = ["attach", "check", "scalars"]

Callback = Callable[[str, dict], None]

#: generation statistics -> scalar names (cleanrl's namespaced style)
_NAMES = {
    "best": "fitness/best", "mean": "fitness/mean", "median": "fitness/median", "worst": "fitness/worst",
    "std": "fitness/std", "best_ever": "fitness/best_ever", "evaluations": "evaluations/new",
    "cached": "evaluations/cached", "failed": "evaluations/failed", "env_steps": "env/steps",
    "eval_seconds": "time/eval_s", "wall_seconds": "time/wall_s",
}  # fmt: skip
_MLFLOW_RUN = "mlflow_run.json"
_LOG = logging.getLogger(__name__)


def check(config: LoggingConfig) -> None:
    """Refuse (:class:`ConfigError`, one line) a logger whose package is not installed, a TensorBoard
    folder that cannot be written, an MLflow tracking store that does not answer (one try, 10 s, where
    MLflow would retry for minutes): before the run starts, so nothing of it is written."""
    wanted = {"tensorboard": config.tensorboard, "mlflow": config.mlflow}
    for package, where in wanted.items():
        if where is None:
            continue
        try:
            __import__("torch.utils.tensorboard" if package == "tensorboard" else "mlflow")
        except ImportError:
            raise ConfigError(
                f"logging.{package} needs the {package} package (pip install 'evoforge[loggers]')"
            ) from None
    if config.tensorboard is not None:
        _check_folder(Path(config.tensorboard))
    if config.mlflow is not None:
        _check_tracking(config.mlflow)


def _why(exc: Exception) -> str:
    """The cause in a few words: an OS error's own (``[Errno 111] Connection refused``, often deep in
    an HTTP client's message), else the message's first line.

    >>> _why(RuntimeError("API request failed with exception ...NewConnectionError('...: [Errno 111] Connection refused'))"))
    '[Errno 111] Connection refused'
    """
    import re

    text = str(exc).strip()
    found = re.search(r"\[Errno -?\d+\] [^'\")\]]+", text)
    if found:
        return found.group(0).strip().rstrip(":").strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _check_folder(folder: Path) -> None:
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # the deepest first
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(f"logging.tensorboard: cannot write in {folder} ({exc.strerror or exc})") from None
    finally:
        for made_folder in made:  # what the check made, it removes; the writer makes it again
            try:
                made_folder.rmdir()
            except OSError:
                pass


def _check_tracking(uri: str) -> None:
    from mlflow.tracking import MlflowClient

    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    try:
        with environment(quick):
            MlflowClient(uri).search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001  (whatever the store's client raises: it does not answer)
        raise ConfigError(f"logging.mlflow: no tracking store answers at {uri} ({_why(exc)})") from None


def scalars(stats: dict[str, Any]) -> dict[str, float]:
    """A generation's statistics as named scalars: the finite numbers only (a generation whose every
    candidate failed has no best), the strategy's own numbers under ``strategy/``.

    >>> scalars({"generation": 3, "best": 1.5, "mean": float("nan"), "strategy": {"sigma": 0.1, "species": {}}})
    {'fitness/best': 1.5, 'strategy/sigma': 0.1}
    """
    out = {name: stats[key] for key, name in _NAMES.items() if key in stats}
    out.update({f"strategy/{k}": v for k, v in (stats.get("strategy") or {}).items()})
    return {
        k: float(v)
        for k, v in out.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow parameters: dotted keys, values as text (at most MLflow's 6,000
    characters)."""
    out: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value)[:6000]
    return out


class _Loggers:
    def __init__(self, config: LoggingConfig, run_dir: Path, resolved: dict[str, Any], callback: Callback):
        self.config, self.run_dir, self.resolved, self.callback = config, run_dir, resolved, callback
        self.writer: Any = None
        self.mlflow: Any = None
        self.mlflow_run: str | None = None
        self.lost: set[str] = set()  # loggers that failed during the run

    def __call__(self, event: str, data: dict) -> None:
        if event == "generation":  # logged first: a callback that stops the run cannot lose it
            if self.writer is None and self.mlflow is None and data["generation"] > 0:
                self._generation(self._stored_stats(data["generation"] - 1), again=True)
            self._generation(data)
        elif event == "finish":
            self._finish(data)
        self.callback(event, data)

    def _safely(self, name: str, log: Callable[[], None]) -> None:
        """Run one logger's part; if it fails (a server gone, a full disk), say so once and go on
        without that logger: what it would have shown is in the run store, and a failed mirror is
        no reason to lose a search."""
        if name in self.lost:
            return
        try:
            log()
        except Exception as exc:  # noqa: BLE001  (any failure of the logger's package)
            self.lost.add(name)
            _LOG.warning(
                "evoforge: %s logging stopped (%s: %s); the run goes on and its run store has everything",
                name, type(exc).__name__, _why(exc),
            )  # fmt: skip

    def _stored_stats(self, generation: int) -> dict:
        """A generation's statistics from the run store (read-only: the run holds it open)."""
        from evoforge.store.run_store import RunStore

        store = RunStore.open(self.run_dir, check=False, read_only=True)
        try:
            row = store.db.execute(
                "SELECT stats FROM generations WHERE generation = ?", (generation,)
            ).fetchone()
        finally:
            store.close()
        return json.loads(row[0]) if row else {"generation": generation}

    # -- TensorBoard ------------------------------------------------------------------------------
    def _tensorboard(self, step: int) -> Any:
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            folder = Path(self.config.tensorboard or ".") / self.run_dir.name
            # a resumed run replays the generations since its checkpoint: their earlier events go
            self.writer = SummaryWriter(str(folder), purge_step=step)
            if step == 0:
                self.writer.add_text("config", "```\n" + json.dumps(self.resolved, indent=1) + "\n```", 0)
        return self.writer

    # -- MLflow -------------------------------------------------------------------------------------
    def _mlflow_client(self) -> Any:
        if self.mlflow is None:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(self.config.mlflow)
            stored = self.run_dir / _MLFLOW_RUN
            if stored.is_file():  # a resumed run: the MLflow run it started
                self.mlflow_run = json.loads(stored.read_text())["run_id"]
            else:
                experiment = client.get_experiment_by_name(self.config.mlflow_experiment)
                if experiment is None:
                    experiment_id = client.create_experiment(
                        self.config.mlflow_experiment,
                        artifact_location=_artifacts_beside(str(self.config.mlflow)),
                    )
                else:
                    experiment_id = experiment.experiment_id
                run = client.create_run(experiment_id, run_name=self.run_dir.name)
                self.mlflow_run = run.info.run_id
                params = _flat(self.resolved)
                from mlflow.entities import Param

                keys = list(params)
                for start in range(0, len(keys), 100):  # MLflow takes at most 100 parameters per batch
                    chunk = [Param(k, params[k]) for k in keys[start : start + 100]]
                    client.log_batch(self.mlflow_run, params=chunk)
                atomic_write_text(
                    stored, json.dumps({"run_id": self.mlflow_run, "tracking_uri": self.config.mlflow})
                )
            self.mlflow = client
        return self.mlflow

    # -- events -------------------------------------------------------------------------------------
    def _generation(self, stats: dict, again: bool = False) -> None:
        """Log one generation. ``again``: the generation before the first a resumed run makes, which the
        killed run may have checkpointed but not logged (TensorBoard replaces it; MLflow adds it only if
        it is missing)."""
        step = int(stats["generation"])
        values = scalars(stats)

        def tensorboard() -> None:
            writer = self._tensorboard(step)
            for name, value in values.items():
                writer.add_scalar(name, value, step)
            writer.flush()

        def mlflow() -> None:
            from mlflow.entities import Metric

            client = self._mlflow_client()
            if again and any(
                m.step == step for m in client.get_metric_history(self.mlflow_run, "fitness/best")
            ):
                return
            now = int(stats.get("wall_seconds", 0) * 1000)
            client.log_batch(self.mlflow_run, metrics=[Metric(k, v, now, step) for k, v in values.items()])

        if self.config.tensorboard is not None:
            self._safely("tensorboard", tensorboard)
        if self.config.mlflow is not None:
            self._safely("mlflow", mlflow)

    def _finish(self, result: dict) -> None:
        final = {
            k: result[k]
            for k in ("best_fitness", "test_score", "validation_score")
            if result.get(k) is not None
        }
        final = {f"result/{k}": float(v) for k, v in final.items() if math.isfinite(float(v))}
        step = int(result["generations"])

        def tensorboard() -> None:
            writer = self._tensorboard(step)
            for name, value in final.items():
                writer.add_scalar(name, value, step)
            writer.flush()

        def mlflow() -> None:
            from mlflow.entities import Metric

            client = self._mlflow_client()
            client.log_batch(self.mlflow_run, metrics=[Metric(k, v, 0, step) for k, v in final.items()])
            for name in ("result.json", "hall_of_fame.json", "config.yaml"):
                if (self.run_dir / name).is_file():
                    client.log_artifact(self.mlflow_run, str(self.run_dir / name))
            self._log_best_genome(client, result.get("best_genome_id"))
            client.set_terminated(self.mlflow_run)

        if self.config.tensorboard is not None:
            self._safely("tensorboard", tensorboard)
        if self.config.mlflow is not None:
            self._safely("mlflow", mlflow)

    def _log_best_genome(self, client: Any, genome_id: str | None) -> None:
        """The reported genome as its space writes it (JSON), where it has such a form."""
        if not genome_id:
            return
        from evoforge.store.run_store import RunStore

        store = RunStore.open(self.run_dir, check=False, read_only=True)
        try:
            genome = store.genome_of(genome_id)
        finally:
            store.close()
        if genome is None:  # not stored (a genome the run was given, never evaluated): nothing to log
            return
        to_json = getattr(genome, "to_json", None)
        body = to_json() if to_json is not None else {"parameters": [float(x) for x in np.ravel(genome)]}
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "best_genome.json"
            path.write_text(json.dumps({"genome_id": genome_id, "genome": body}))
            client.log_artifact(self.mlflow_run, str(path))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _artifacts_beside(uri: str) -> str | None:
    """For a local database (``sqlite:///PATH``), artefacts in ``mlartifacts`` beside it (MLflow's default
    is ``./mlruns`` under whatever folder the run was started from); a server decides for itself.

    >>> _artifacts_beside("sqlite:////tmp/x/mlflow.db")
    'file:///tmp/x/mlartifacts'
    >>> _artifacts_beside("http://localhost:5000") is None
    True
    """
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri[len("sqlite:///") :]).resolve().parent / "mlartifacts").as_uri()


def attach(config: LoggingConfig, run_dir: Path, resolved: dict[str, Any], callback: Callback) -> Any:
    """``callback`` with the loggers ``config`` asks for attached (``callback`` itself when none is);
    call ``close()`` on what it returns when the run ends, if it has one."""
    if config.tensorboard is None and config.mlflow is None:
        return callback
    return _Loggers(config, Path(run_dir), resolved, callback)
