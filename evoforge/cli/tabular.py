"""``evoforge tabular`` (evolve a scikit-learn pipeline for a CSV or Parquet table), ``evoforge
predict`` (apply a run's saved pipeline to new rows), and what ``evoforge report`` adds for pipeline
searches (the score over time against the best untuned default)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from evoforge.cli.app import REPORTS, app, fail, out
from evoforge.cli.runs import _check_writable, launch, load_config
from evoforge.core.files import atomic_write_text

#: the time budget when neither --time-budget nor --generations is given
DEFAULT_MINUTES = 5.0


@app.command()
def tabular(
    data: str | None = typer.Option(
        None, "--data", help="A CSV, TSV or Parquet file (or sklearn:wine, ...)."
    ),
    target: str | None = typer.Option(None, "--target", help="The column to predict."),
    task: str | None = typer.Option(None, "--task", help="classification or regression (default: inferred)."),
    metric: str | None = typer.Option(
        None,
        "--metric",
        help="accuracy, balanced_accuracy, f1_macro, roc_auc, log_loss; r2, rmse, mae (default: accuracy or r2).",
    ),
    time_budget: float | None = typer.Option(
        None,
        "--time-budget",
        help=f"Minutes of the whole run: the search, then validating its hall of fame on reshuffled "
        f"folds (default {DEFAULT_MINUTES:g} unless --generations).",
    ),
    generations: int | None = typer.Option(None, "--generations", help="Generations to run."),
    popsize: int | None = typer.Option(None, "--popsize", help="Population size."),
    strategy: str | None = typer.Option(
        None, "--strategy", help="regularized-evolution (default), tournament, nsga2, random, ..."
    ),
    folds: int | None = typer.Option(None, "--folds", help="Cross-validation folds (default 5)."),
    test_data: str | None = typer.Option(None, "--test-data", help="A separate test table."),
    test_fraction: float | None = typer.Option(
        None, "--test-fraction", help="Share of the table held out for the final test (default 0.2)."
    ),
    models: str | None = typer.Option(
        None, "--models", help="Models allowed, comma-separated (e.g. svc,random_forest; default: all)."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Seconds one candidate may take (default 60)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="A YAML config to start from (flags override it)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Run seed."),
    output: Path | None = typer.Option(None, "--output", "--out", help="Run directory."),
    backend: str | None = typer.Option(None, "--backend", help="serial, process (default) or ray."),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (default: one per core)."),
    set_: list[str] = typer.Option([], "--set", help="Override any config value: key.sub=value."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Evolve a whole scikit-learn pipeline (imputation, encoding, scaling, feature selection and
    extraction, model) for a table, then save it fitted, as a script, and with a test report.

    The flags are overrides of the one config path every command uses (``--config``, or a tabular
    problem searched by asynchronous regularized evolution on every core)."""
    from evoforge.problems.tabular import VALIDATION_CASES, search_seconds

    budget = time_budget if time_budget is not None or generations is not None else DEFAULT_MINUTES
    flags = {
        "problem.data": data,
        "problem.target": target,
        "problem.task": task,
        "problem.metric": metric,
        "problem.folds": folds,
        "problem.test_data": test_data,
        "problem.test_fraction": 0.0 if test_data is not None and test_fraction is None else test_fraction,
        "problem.space.steps.model": None
        if models is None
        else [m.strip() for m in models.split(",") if m.strip()],
        "stop.seconds": None if budget is None else search_seconds(budget),
        "generations": generations if generations is not None else (100_000 if budget is not None else None),
        "strategy.name": strategy,
        "strategy.population_size": popsize,
        "evaluation.timeout": timeout,
        "backend": backend,
        "workers": workers,
    }
    overrides = [f"{key}={json.dumps(value)}" for key, value in flags.items() if value is not None]
    defaults = {
        "problem": {"kind": "tabular"},
        "strategy": {"name": "regularized_evolution", "population_size": 30, "sample_size": 5},
        "asynchronous": True,
        "backend": "process",
        "evaluation": {"timeout": 60, "retries": 0},
        "test_episodes": 1,
        "validation_episodes": VALIDATION_CASES,
    }
    if config is None and data is None:
        fail("give --data FILE (and --target COLUMN), or --config FILE")
    cfg = load_config(config, [*overrides, *set_], seed, defaults=defaults, name=_name)
    if cfg.asynchronous and cfg.strategy.name not in ("regularized_evolution", "steady_ga"):
        cfg = cfg.model_copy(update={"asynchronous": False})  # generational strategies run in generations
    run_dir = launch(cfg, output, quiet)
    _export(run_dir)


def _name(raw: dict[str, Any]) -> str:
    data = str(raw.get("problem", {}).get("data", "table"))
    return "tabular-" + (data.partition(":")[2] if data.startswith("sklearn:") else Path(data).stem)


def _export(run_dir: Path) -> None:
    from evoforge.problems.tabular_export import export

    paths = export(run_dir)
    report = json.loads(paths["report"].read_text())
    default = report["defaults"][report["best_default"]]
    metric = report["metric"]
    out.print(f"best pipeline: {report['pipeline']}", highlight=False, markup=False)
    out.print(
        f"{metric}: cross-validated {report['cv']:.4f}, test {report['test']:.4f} ({report['test_rows']} rows); "
        f"best untuned default ({report['best_default']}): cross-validated {default['cv']:.4f}, test {default['test']:.4f}",
        highlight=False,
    )
    for kind, path in paths.items():
        out.print(f"{kind}: {path}", highlight=False)


@app.command()
def predict(
    run_dir: Path = typer.Argument(
        ..., help="A finished tabular run, or a model folder written by train-final."
    ),
    inputs: str | None = typer.Argument(None, help="The new data (the same as --data)."),
    data: str | None = typer.Option(
        None,
        "--data",
        help="Tabular run: a CSV, TSV or Parquet file with the same columns. Model folder: an image "
        "or a folder of images, an IDX file, an .npz (array x), an .npy or a CSV of one input per row.",
    ),
    output: Path | None = typer.Option(
        None, "--output", "--out", help="A CSV file (default: standard output)."
    ),
) -> None:
    """Predict new data with a tabular run's saved pipeline or a train-final model: a CSV of one row
    per input (for a model: the input, the predicted class and each class's probability)."""
    if (inputs is None) == (data is None):
        fail("give the new data once: as the second argument or as --data")
    source: str = inputs if data is None else data  # type: ignore[assignment]  # one is given
    pipeline = (run_dir / "best_pipeline.skops").is_file()
    if not pipeline and not (run_dir / "metrics.json").is_file():
        fail(
            f"{run_dir} holds no saved pipeline (best_pipeline.skops) and no model (model.pt): not a "
            "finished tabular run or a train-final output"
        )
    if not Path(source).exists():  # said before torch, scikit-learn and pandas are loaded
        fail(f"{source}: no such file or folder")
    if output is not None:
        _check_writable(output)
    if not pipeline:
        from evoforge.cli.nas import predict_with_model

        frame = predict_with_model(run_dir, source)
    else:
        from evoforge.data.tables import TableError
        from evoforge.problems.tabular_export import predict as predict_rows

        try:
            frame = predict_rows(run_dir, source)
        except (TableError, ValueError) as exc:
            fail(str(exc).splitlines()[0])
    if output is None:
        out.print(frame.to_csv(index=False), end="", highlight=False, markup=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output, frame.to_csv(index=False))
        out.print(f"wrote {len(frame)} predictions to {output}", highlight=False)


def report_pipeline(run_dir: Path, target: Path) -> list[Path]:
    """The best cross-validated score so far against run time, beside the best untuned default's."""
    import sqlite3

    from evoforge.report.plots import pyplot

    report_file = run_dir / "test_report.json"
    if not (run_dir / "best_pipeline.json").is_file():
        return []
    if not report_file.is_file():  # a run made through the Python API: export first
        from evoforge.problems.tabular_export import export

        export(run_dir)
    report = json.loads(report_file.read_text())
    started = json.loads((run_dir / "meta.json").read_text())["created"]
    db = sqlite3.connect(run_dir / "evoforge.sqlite")
    try:
        rows = db.execute(
            "SELECT fitness, created FROM individuals WHERE cached = 0 ORDER BY created"
        ).fetchall()
    finally:
        db.close()
    sign = -1.0 if report["metric"] in ("log_loss", "rmse", "mae") else 1.0
    times, best, so_far = [], [], float("-inf")
    for fitness, created in rows:
        if fitness is not None:
            so_far = max(so_far, fitness)
        if so_far > float("-inf"):
            times.append(created - started)
            best.append(sign * so_far)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.step(times, best, where="post", label="evoforge: best cross-validated so far")
    default = report["defaults"][report["best_default"]]["cv"]
    ax.axhline(
        default, color="grey", linestyle="--", label=f"best untuned default ({report['best_default']})"
    )
    ax.set_xlabel("run time (s)")
    ax.set_ylabel(f"{report['metric']} ({report['search_rows']} rows, cross-validated)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = target / "score_over_time.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    out.print(
        f"test {report['metric']}: {report['test']:.4f} (best untuned default {report['defaults'][report['best_default']]['test']:.4f})",
        highlight=False,
    )
    return [path]


REPORTS["tabular"] = report_pipeline
