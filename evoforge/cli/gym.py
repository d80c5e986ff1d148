"""Commands of gym runs: ``play`` the best policy (and render it as a GIF)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import typer

from evoforge.cli.app import REPORTS, app, fail, out
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


#: a GIF keeps every second step of the episode, each frame shown 70 ms (GIF counts hundredths of a
#: second: about real time at 30 steps a second)
GIF_EVERY, GIF_FRAME_MS = 2, 70


def save_gif(frames: list, path: Path, frame_ms: int = GIF_FRAME_MS, scale: float = 0.5) -> None:
    from PIL import Image

    images = []
    for frame in frames:
        img = Image.fromarray(frame)
        if scale != 1.0:
            img = img.resize((int(img.width * scale), int(img.height * scale)))
        images.append(img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
    if not images:
        fail("nothing to render")
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=frame_ms, loop=0)


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
    try:
        with (
            warnings.catch_warnings()
        ):  # GLFW warns before it fails without a display: the line below says it
            warnings.filterwarnings("ignore", module="glfw")
            returns, frames = problem.play(params, seed, episodes, best.context, GIF_EVERY if gif else 0)
    except Exception as exc:
        if gif is None:
            raise
        env_id = problem.config.env_id
        hint = ""
        if "mujoco" in type(exc).__module__ + repr(exc).lower() or os.environ.get("MUJOCO_GL"):
            hint = (
                f" (MuJoCo renders headless through MUJOCO_GL={os.environ.get('MUJOCO_GL', 'egl')}: "
                "install EGL, Debian's libegl1, or set MUJOCO_GL=osmesa with libosmesa6)"
            )
        fail(f"cannot render {env_id}: {type(exc).__name__}: {exc}{hint}")
    for k, r in enumerate(returns):
        out.print(f"episode {k}: return {_fmt(r)}")
    out.print(f"mean return {_fmt(sum(returns) / len(returns))} over {episodes} episodes")
    if gif is not None:
        save_gif(frames, gif)
        out.print(f"wrote {gif}")


def report_gym(run_dir: Path, target: Path) -> list[Path]:
    """Fitness against environment steps, with the validation and test scores and the stop target;
    for locomotion the distance the best policy of each generation travelled."""
    import math

    from evoforge.engine.records import load_run_config, read_result
    from evoforge.report.plots import plot_env_steps

    store = _open_store(run_dir)
    try:
        stats = store.generation_stats()
        config = load_run_config(store)
        result = read_result(store)
        best = store.generation_best_metrics()
    finally:
        store.close()
    distance = None
    if any("distance" in m for m in best.values()):
        distance = [best.get(s["generation"], {}).get("distance", math.nan) for s in stats]
    shift = float(getattr(config.problem, "reward_shift", 0.0))
    returns = None
    if shift:  # the fitness is shifted; the environment's return of the same individuals beside it
        returns = [best.get(s["generation"], {}).get("return", math.nan) for s in stats]
    lines = {
        "validation score": None if result is None else result.validation_score,
        result.test_label if result is not None else "test score": None
        if result is None
        else result.test_score,
        "stop target": config.stop.fitness,
    }
    if shift:  # validation and test episodes score the environment's own return
        lines = {(name if name == "stop target" else f"{name} (the environment's return)"): value
                 for name, value in lines.items()}  # fmt: skip
    return [plot_env_steps(stats, target / "env_steps.png", lines, distance, shift, returns)]


REPORTS["gym"] = report_gym
