"""Commands of runs that evolve NEAT networks (xor, double_pole, gym with NEAT): ``draw`` and
``export`` a network."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from evoforge.cli.app import app, fail, out
from evoforge.cli.runs import _check_writable, _open_store


def _network_of(run_dir: Path, genome: str | None):
    """A NEAT genome of a run: ``genome`` (an id) or the run's best; one-line errors otherwise."""
    from evoforge.engine.records import read_hall_of_fame, read_result
    from evoforge.spaces.neat import NeatGenome

    store = _open_store(run_dir)
    try:
        result = read_result(store)
        hof = read_hall_of_fame(store)
        chosen = (
            genome
            or (result.best_genome_id if result else None)
            or next((e["genome_id"] for e in hof["entries"]), None)
        )
        if chosen is None:
            fail(f"{run_dir} has no evaluated individual yet")
        found = store.genome_of(chosen)
    finally:
        store.close()
    if found is None:
        fail(f"no genome {chosen} in {run_dir}")
    if not isinstance(found, NeatGenome):
        fail(f"this command needs a NEAT run; the individuals of {run_dir} are not networks")
    return chosen, found


@app.command()
def draw(
    run_dir: Path = typer.Argument(..., help="A NEAT run directory."),
    out_file: Path = typer.Option(Path("net.png"), "--out", help="PNG file to write."),
    genome: str | None = typer.Option(None, "--genome", help="Genome id (default: the run's best)."),
) -> None:
    """Draw a NEAT network of a run (the best one unless --genome): layers, connections, weights."""
    from evoforge.report.plots import draw_network

    chosen, found = _network_of(run_dir, genome)
    _check_writable(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    draw_network(found, out_file, title=f"genome {chosen}")
    out.print(f"wrote {out_file}")


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="A NEAT run directory."),
    out_file: Path = typer.Option(Path("best_network.json"), "--out", help="JSON file to write."),
    genome: str | None = typer.Option(None, "--genome", help="Genome id (default: the run's best)."),
) -> None:
    """Write a NEAT network of a run as JSON. In Python, ``evoforge.spaces.neat.load_genome(path)``
    reads it back and ``evoforge.spaces.neat_torch.to_torch(genome)`` makes it a torch.nn.Module."""
    from evoforge.core.files import atomic_write_text

    chosen, found = _network_of(run_dir, genome)
    _check_writable(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_file, json.dumps({"genome_id": chosen, **found.to_json()}, indent=1))
    out.print(f"wrote {out_file}")
