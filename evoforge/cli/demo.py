"""``evoforge demo`` (what ``make run`` runs): evolve a CartPole controller and show it."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer
from rich.console import Console

from evoforge.cli.app import app, out

DEMO_CONFIG = {
    "name": "demo-cartpole",
    "seed": 0,
    "generations": 30,
    "strategy": {"name": "open_es", "population_size": 64, "sigma": 0.5, "learning_rate": 0.2},
    "problem": {"kind": "gym", "env_id": "CartPole-v1", "episodes": 10, "policy": {"hidden": [16]}},
    "stop": {"fitness": 500.0},
    "test_episodes": 10,
    "validation_episodes": 20,
}


def run_demo(out_dir: Path, console: Console) -> None:
    from rich.panel import Panel
    from rich.table import Table

    from evoforge.cli.gym import GIF_EVERY, _best_policy, save_gif
    from evoforge.cli.runs import _fmt, summarise
    from evoforge.core.rng import derive_seed
    from evoforge.engine.config import RunConfig
    from evoforge.engine.loop import run

    config = RunConfig.model_validate(DEMO_CONFIG)
    console.print(
        Panel.fit(
            "[bold]evoforge demo[/]: evolving the weights of a 4-16-2 MLP that balances CartPole-v1 "
            "with OpenAI-ES (Salimans et al. 2017): 64 perturbed policies a generation, each scored on "
            "10 episodes, all 640 episodes stepped together in one vectorised environment.",
            border_style="cyan",
        )
    )
    if (out_dir / "config.yaml").exists():
        shutil.rmtree(out_dir)
    lines: list[str] = []

    def show(event: str, data: dict) -> None:
        if event == "generation":
            lines.append(
                f"gen {data['generation']:>3}  best {_fmt(data['best']):>6}  mean {_fmt(data['mean']):>7}  "
                f"centre {_fmt(data['centre']):>6}  env steps {int(data['env_steps']):>7}"
            )
            console.print(lines[-1])

    result = run(config, out_dir, callback=show)
    table = Table(title="best policy on 10 fresh test episodes")
    table.add_column("episode")
    table.add_column("return")
    for k, score in enumerate(result.test_scores):
        table.add_row(str(k), _fmt(score))
    console.print(table)
    summary = summarise(out_dir)
    console.print(
        f"[bold green]test score {_fmt(result.test_score)}[/] (solved means >= 475) "
        f"after {summary['generations']} generations, {summary['evaluations']} evaluations, "
        f"{int(summary['env_steps'])} environment steps, "
        f"{summary['wall_seconds']:.2f} s"
    )
    problem, params, best, _ = _best_policy(out_dir)
    returns, frames = problem.play(params, derive_seed(0, "demo"), 1, best.context, GIF_EVERY)
    gif = out_dir / "cartpole.gif"
    save_gif(frames, gif)
    console.print(f"rendered one episode (return {_fmt(returns[0])}) to {gif}")
    console.print(
        Panel.fit(
            f"evoforge show {out_dir}          summary and hall of fame\n"
            f"evoforge play {out_dir} --gif x.gif   watch the best policy\n"
            "evoforge run examples/cartpole-ga.yaml   the same with a genetic algorithm\n"
            "evoforge run examples/pendulum-cmaes.yaml   continuous actions with CMA-ES",
            title="next",
            border_style="cyan",
        )
    )


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("runs/demo"), "--out", help="Where the demo run goes (replaced)."),
) -> None:
    """A short tour: evolve a CartPole controller with OpenAI-ES, test it, render it."""
    run_demo(out_dir, out)
