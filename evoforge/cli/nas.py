"""``evoforge nas`` (architecture search in the flag form other NAS tools use) and ``evoforge
train-final`` (train the winner from scratch and test it). Registered on :data:`evoforge.cli.app`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from evoforge.cli.app import app, console, fail, out
from evoforge.cli.runs import _check_writable, _open_store, launch, load_config, run_problem
from evoforge.core.files import atomic_write_text


@app.command()
def nas(
    config: Path | None = typer.Option(
        None, "--config", help="A YAML config to start from (flags override it)."
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="digits, fashion-mnist, mnist, cifar10, cifar100, folder, npz or csv."
    ),
    data_path: str | None = typer.Option(None, "--data-path", help="File or folder of the dataset."),
    search_space: str | None = typer.Option(
        None,
        "--search-space",
        help="chain (layers in sequence; the default), cell (DARTS-like cells) or tree (GP trees).",
    ),
    strategy: str | None = typer.Option(
        None,
        "--strategy",
        help="regularized-evolution (default), tournament, elitist, crossover-mutation, random, cmaes, nsga2.",
    ),
    generations: int | None = typer.Option(None, "--generations", help="Generations to run."),
    popsize: int | None = typer.Option(None, "--popsize", help="Population size."),
    proxy_epochs: int | None = typer.Option(None, "--proxy-epochs", help="Epochs per candidate."),
    proxy_fraction: float | None = typer.Option(
        None, "--proxy-fraction", help="Share of the training data per candidate."
    ),
    metric: str | None = typer.Option(None, "--metric", help="accuracy, f1, precision or recall."),
    max_params: int | None = typer.Option(None, "--max-params", help="Most parameters per candidate."),
    max_layers: int | None = typer.Option(None, "--max-layers", help="Most layers per candidate."),
    max_flops: int | None = typer.Option(None, "--max-flops", help="Most FLOPs per input."),
    max_seconds: float | None = typer.Option(None, "--max-seconds", help="Training seconds per candidate."),
    objectives: str | None = typer.Option(
        None, "--objectives", help="nsga2: metrics minimised beside the fitness, e.g. params,latency_ms."
    ),
    small_data: bool = typer.Option(
        False,
        "--small-data",
        help="A handful of images per class: cross-validated fitness, small batches, heavy "
        "augmentation (problem.small_data).",
    ),
    inherit_weights: bool = typer.Option(
        False,
        "--inherit-weights",
        help="Children start from their parent's trained weights where layers match "
        "(problem.inherit_weights).",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Run seed."),
    output: Path | None = typer.Option(None, "--output", "--out", help="Run directory."),
    backend: str | None = typer.Option(None, "--backend", help="serial, process or ray."),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes, or local Ray CPUs (default: one per core)."
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Torch CPU threads per candidate (default: the cores divided among the workers).",
    ),
    set_: list[str] = typer.Option([], "--set", help="Override any config value: key.sub=value."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Evolve a classifier (architecture and training recipe) on a dataset.

    The flags are overrides of the one config path every command uses: ``--config`` (or nothing: a
    classification problem searched by regularized evolution) read and validated like ``evoforge
    run``'s, each flag set as ``--set`` would set it."""
    flags = {
        "problem.dataset.name": dataset,
        "problem.dataset.path": data_path,
        "problem.proxy_epochs": proxy_epochs,
        "problem.proxy_fraction": proxy_fraction,
        "problem.metric": metric,
        "problem.max_seconds": max_seconds,
        "problem.space.kind": search_space,
        "problem.space.max_params": max_params,
        "problem.space.max_layers": max_layers,
        "problem.space.max_flops": max_flops,
        "generations": generations,
        "strategy.name": strategy,
        "strategy.population_size": popsize,
        "strategy.objectives": None
        if objectives is None
        else [o.strip() for o in objectives.split(",") if o.strip()],
        "backend": backend,
        "workers": workers,
        "problem.threads": threads,
        "problem.small_data": True if small_data else None,
        "problem.inherit_weights": True if inherit_weights else None,
    }
    overrides = [f"{key}={json.dumps(value)}" for key, value in flags.items() if value is not None]
    defaults = {
        "problem": {"kind": "classification"},
        "strategy": {"name": "regularized_evolution"},
        "backend": "process",
        "test_episodes": 1,
    }
    cfg = load_config(config, [*overrides, *set_], seed, defaults=defaults, name=_nas_name)
    run_dir = launch(cfg, output, quiet)
    out.print(f"best architecture: {run_dir / 'best_arch.json'}")


def _nas_name(raw: dict[str, Any]) -> str:
    dataset = raw.get("problem", {}).get("dataset", {})
    return f"nas-{dataset.get('name', 'digits') if isinstance(dataset, dict) else 'digits'}"


def _read_arch(path: Path):
    from evoforge.spaces import architecture_from_json

    if not path.is_file():
        fail(f"architecture file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{path}: not valid JSON ({exc})")
    try:
        return architecture_from_json(data)
    except ValueError as exc:
        fail(f"{path}: {exc}")


@app.command("train-final")
def train_final_command(
    run_dir: Path | None = typer.Argument(None, help="A finished search (its best_arch.json and dataset)."),
    arch: Path | None = typer.Option(None, "--arch", help="An architecture JSON file instead of a run."),
    dataset: str | None = typer.Option(None, "--dataset", help="Dataset (default: the run's)."),
    data_path: str | None = typer.Option(None, "--data-path", help="File or folder of the dataset."),
    epochs: int | None = typer.Option(
        None, "--epochs", min=1, help="Epochs (default: the evolved recipe's)."
    ),
    output: Path = typer.Option(
        Path("final_model"), "--output", "--out", help="Where the model and metrics go."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial weights, batches and augmentation."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help="Torch CPU threads (default: the cores idle when it starts, recorded in metrics.json: the "
        "same count reproduces the result exactly; with --ensemble the cores divided among the members "
        "trained side by side).",
    ),
    seconds: float | None = typer.Option(
        None,
        "--seconds",
        min=1,
        help="Train as many epochs as fit in this many seconds (at most --epochs, or the recipe's), "
        "counted before training from a few timed batches and recorded in metrics.json; --epochs of "
        "that count repeats the training exactly. A time budget depends on the machine.",
    ),
    ensemble: int | None = typer.Option(
        None,
        "--ensemble",
        min=2,
        help="Train the hall of fame's top K (a run only), one per core side by side, and average "
        "their class probabilities; reports the gain over the top one alone.",
    ),
) -> None:
    """Train an architecture from scratch on the full training data, then report test metrics."""
    from pydantic import ValidationError

    from evoforge.data.datasets import DatasetError, DatasetSpec, load_dataset
    from evoforge.problems.classification import train_final

    if (run_dir is None) == (arch is None):
        fail("give a run directory or --arch FILE (one of the two)")
    if ensemble is not None and run_dir is None:
        fail("--ensemble needs a run directory (its hall of fame), not --arch")
    spec: dict[str, Any] = {}
    if run_dir is not None:
        if not (run_dir / "config.yaml").is_file():
            fail(f"{run_dir} is not a run directory (no config.yaml)")
        problem = run_problem(run_dir)
        if problem.kind != "classification":
            fail(f"{run_dir} is not an architecture search ('{problem.kind}' run)")
        spec = problem.dataset.model_dump()  # a classification problem (run_problem: Any)
        if not (run_dir / "best_arch.json").is_file():
            fail(f"{run_dir} has no best_arch.json yet (finish or resume the search first)")
        genome = _read_arch(run_dir / "best_arch.json")
    else:
        if dataset is None or arch is None:
            fail("--arch needs --dataset")
        genome = _read_arch(arch)
    if (output / "metrics.json").exists():
        fail(f"{output} already holds a trained model; choose another --output")
    # torch (for the device) and the data are loaded only once the cheap checks above have passed,
    # so a mistyped path is answered at once, not after seconds of imports
    from evoforge.problems.training import check_device

    try:
        check_device(device)
    except ValueError as exc:
        fail(f"--device: {exc}")
    if dataset is not None:
        spec = {"name": dataset}
    if data_path is not None:
        spec["path"] = data_path
    try:
        data = load_dataset(DatasetSpec.model_validate(spec))
    except ValidationError as exc:
        fail(f"dataset: {exc.errors()[0]['msg']}")
    except DatasetError as exc:
        fail(str(exc))
    if ensemble is not None:
        assert run_dir is not None
        _train_ensemble(run_dir, ensemble, spec, output, epochs, seed, device, threads, seconds)
        return
    n = epochs or genome.recipe.epochs

    def plan(count: int, estimate: float) -> None:
        nonlocal n
        n = count
        console.print(
            f"{count} epoch(s) fit in {seconds:g} s (an epoch estimated at {estimate:.1f} s; at most "
            f"{epochs or genome.recipe.epochs}): --epochs {count} repeats this training exactly",
            highlight=False,
            soft_wrap=True,
        )

    def progress(epoch: int, loss: float) -> None:
        console.print(f"epoch {epoch}/{n}: training loss {loss:.4f}", highlight=False)

    metrics = train_final(
        genome, data, output, epochs=epochs, seed=seed, device=device, threads=threads, seconds=seconds,
        on_epoch=progress, on_plan=plan,
    )  # fmt: skip
    out.print(
        f"[bold green]trained[/] {output}: test accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['f1']:.4f}, "
        f"precision {metrics['precision']:.4f}, recall {metrics['recall']:.4f} on {metrics['test_examples']} "
        f"examples; {metrics['params']:,} parameters; {metrics['train_seconds']:.1f} s"
    )


def _train_ensemble(
    run_dir: Path, k: int, spec: dict[str, Any], output: Path, epochs: int | None, seed: int, device: str,
    threads: int | None, seconds: float | None,
) -> None:  # fmt: skip
    from evoforge.backends.base import default_workers
    from evoforge.engine.records import read_hall_of_fame
    from evoforge.problems.classification import train_ensemble
    from evoforge.spaces import architecture_from_json

    store = _open_store(run_dir)
    try:
        entries = read_hall_of_fame(store)["entries"]
    finally:
        store.close()
    if len(entries) < k:
        fail(f"{run_dir}: the hall of fame has {len(entries)} members, fewer than --ensemble {k}")
    genomes = [architecture_from_json(e.get("genome")) for e in entries[:k]]
    workers = min(k, default_workers())
    share = threads or max(1, default_workers() // workers)
    out.print(f"training the hall of fame's top {k}, {workers} side by side on {share} thread(s) each")
    metrics = train_ensemble(genomes, spec, output, epochs=epochs, seed=seed, device=device, workers=workers,
                             threads=share, seconds=seconds)  # fmt: skip
    for n, member in enumerate(metrics["members"], start=1):
        out.print(
            f"  member {n}: test accuracy {member['accuracy']:.4f}, {member['params']:,} parameters, "
            f"{member['epochs']} epoch(s)"
        )
    out.print(
        f"[bold green]trained[/] {output}: ensemble of {k}, test accuracy {metrics['accuracy']:.4f} "
        f"({metrics['gain_over_member_1']:+.4f} over member 1, the search's winner), macro F1 "
        f"{metrics['f1']:.4f}; {metrics['total_seconds']:.1f} s"
    )


def predict_with_model(folder: Path, source: str):
    """The predictions of the model in ``folder`` (written by train-final) for the inputs in
    ``source``, as a pandas frame: input, predicted class, a probability column per class."""
    import numpy as np
    import pandas as pd

    from evoforge.data.datasets import DatasetError, read_inputs
    from evoforge.problems.trained_model import ModelError, load_model

    try:
        model = load_model(folder)
        names, x = read_inputs(source, model.input_shape, model.divide_by, model.feature_names)
    except (ModelError, DatasetError) as exc:
        fail(str(exc))
    proba = model.predict_proba(x, scaled=True)
    frame = pd.DataFrame({"input": names, "predicted": [model.class_names[k] for k in proba.argmax(axis=1)]})
    for k, name in enumerate(model.class_names):
        frame[f"p_{name}"] = np.round(proba[:, k], 6)
    return frame


@app.command("export-arch")
def export_arch(
    run_dir: Path = typer.Argument(..., help="An architecture search run."),
    rank: int | None = typer.Option(
        None, "--rank", min=1, help="The hall of fame's member N (1: the fittest; the default)."
    ),
    front_member: int | None = typer.Option(
        None,
        "--front-member",
        min=1,
        help="Member N of the Pareto front (multi-objective runs; 1: the fittest).",
    ),
    output: Path = typer.Option(
        Path("arch.json"), "--output", "--out", help="The architecture file to write."
    ),
) -> None:
    """Write one architecture of a search as a file for ``train-final --arch``."""
    from evoforge.engine.records import read_hall_of_fame

    if rank is not None and front_member is not None:
        fail("give --rank or --front-member, not both")
    if not (run_dir / "config.yaml").is_file():
        fail(f"{run_dir} is not a run directory (no config.yaml)")
    store = _open_store(run_dir)
    try:
        hof = read_hall_of_fame(store)
    finally:
        store.close()
    if front_member is not None:
        front = hof.get("pareto_front")
        if not front:
            fail(f"{run_dir} has no Pareto front (a single-objective run, or none evaluated yet); use --rank")
        members, n, what = front, front_member, "Pareto front"
    else:
        members, n, what = hof["entries"], rank or 1, "hall of fame"
    if n > len(members):
        fail(f"{run_dir}: the {what} has {len(members)} members, no member {n}")
    from evoforge.spaces import architecture_from_json

    genome = members[n - 1].get("genome")
    try:
        architecture_from_json(genome)
    except ValueError:
        fail(f"{run_dir} is not an architecture search (its individuals are not architectures)")
    _check_writable(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, json.dumps(dict(genome, genome_id=members[n - 1]["genome_id"]), indent=1))
    out.print(f"wrote {what} member {n} ({members[n - 1]['genome_id']}) to {output}", highlight=False)
