"""``evoforge sample`` (points from a GAN search's saved generator) and what ``evoforge report`` adds
for GAN searches (the generator saved as a state dict and TorchScript, its samples over the modes,
and the best GAN of a few generations side by side)."""

from __future__ import annotations

from pathlib import Path

import typer

from evoforge.cli.app import REPORTS, app, fail, out
from evoforge.cli.runs import _check_writable, run_problem
from evoforge.core.files import atomic_write_text


@app.command()
def sample(
    run_dir: Path = typer.Argument(..., help="A finished GAN search (after evoforge report)."),
    n: int = typer.Option(1000, "--n", min=1, help="Points to generate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the latent draws."),
    output: Path | None = typer.Option(
        None, "--output", "--out", help="A CSV file (default: standard output)."
    ),
) -> None:
    """Generate points with the best generator of a GAN search."""
    from evoforge.problems.gan_export import sample as draw

    path = run_dir / "best_generator.pt"
    if not path.is_file():
        kind = run_problem(run_dir).kind
        if kind != "gan":
            fail(f"sample needs a GAN search; {run_dir} is a '{kind}' run")
        fail(f"{run_dir} holds no saved generator (best_generator.pt): run 'evoforge report {run_dir}' first")
    if output is not None:
        _check_writable(output)
    points = draw(path, n, seed).reshape(n, -1)  # images: one row of pixels each, in [-1, 1]
    header = "x,y" if points.shape[1] == 2 else ",".join(f"p{k}" for k in range(points.shape[1]))
    text = header + "\n" + "".join(",".join(f"{v:.6g}" for v in row) + "\n" for row in points)
    if output is None:
        out.print(text, end="", highlight=False, markup=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(output, text)
        out.print(f"wrote {n} points to {output}", highlight=False)


def report_gan(run_dir: Path, target: Path) -> list[Path]:
    if not (run_dir / "best_gan.json").is_file():
        return []
    from evoforge.problems.gan_export import export, progress

    paths = list(export(run_dir).values())
    shown = progress(run_dir)
    return paths + ([shown] if shown is not None else [])


REPORTS["gan"] = report_gan
