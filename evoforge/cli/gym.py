"""Commands of gym runs: ``play`` the best policy (and render it as a GIF)."""

from __future__ import annotations

from pathlib import Path

import typer

from evoforge.cli.app import app, fail, out
from evoforge.cli.runs import _check_writable, _fmt, _open_store


def _best_policy(run_dir: Path):
    """The problem and the best individual's parameters and context of a gym run."""
    import numpy as np

    from evoforge.core.genome import SeedChainDecoder
    from evoforge.core.hall_of_fame import HallOfFame
    from evoforge.engine.evaluation import build_problem
    from evoforge.engine.records import load_run_config
    from evoforge.problems.gym import GymProblem

    store = _open_store(run_dir)
    damaged: list[str] = []
    try:
        cfg = load_run_config(store)
        tree = store.load_checkpoint(damaged)
    finally:
        store.close()
    if tree is None:
        fail(damaged[0] if damaged else f"{run_dir} has no finished generation yet")
    hof = HallOfFame.from_tree(tree["hof"])
    if hof.best is None:
        fail(f"{run_dir} has no successful evaluation")
    problem = build_problem(cfg.problem)
    if not isinstance(problem, GymProblem):
        fail(f"play needs a gym run; {run_dir} is a '{cfg.problem.kind}' run")
    params = np.asarray(SeedChainDecoder(problem.initial_params)(hof.best.genome))
    return problem, params, hof.best, cfg


def save_gif(frames: list, path: Path, fps: int = 30, every: int = 2, scale: float = 0.5) -> None:
    from PIL import Image

    images = []
    for frame in frames[::every]:
        img = Image.fromarray(frame)
        if scale != 1.0:
            img = img.resize((int(img.width * scale), int(img.height * scale)))
        images.append(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
    if not images:
        fail("nothing to render")
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 * every / fps), loop=0)


@app.command()
def play(
    run_dir: Path = typer.Argument(..., help="A gym run directory."),
    episodes: int = typer.Option(3, "--episodes", min=1, help="Episodes to play."),
    gif: Path | None = typer.Option(None, "--gif", help="Render the first episode to this GIF file."),
    seed: int = typer.Option(0, "--seed", help="Seed of the played episodes."),
) -> None:
    """Run the best policy of a run and print its returns; optionally render a GIF."""
    if gif is not None:
        _check_writable(gif)
    problem, params, best, _ = _best_policy(run_dir)
    returns, frames = problem.play(params, seed, episodes, best.context, render=gif is not None)
    for k, r in enumerate(returns):
        out.print(f"episode {k}: return {_fmt(r)}")
    out.print(f"mean return {_fmt(sum(returns) / len(returns))} over {episodes} episodes")
    if gif is not None:
        save_gif(frames, gif)
        out.print(f"wrote {gif}")
