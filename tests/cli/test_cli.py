"""The command line: bad input gives one line and exit code 2; the commands work end to end."""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

EXE = [sys.executable, "-m", "evoforge.cli"]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def cli(*args, cwd=None):
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


GOOD = {
    "generations": 2,
    "strategy": {"name": "open_es", "population_size": 8},
    "problem": {"kind": "gym", "env_id": "CartPole-v1", "policy": {"hidden": [4]}},
}


def write(tmp_path, data, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def with_(change):
    data = json.loads(json.dumps(GOOD))
    change(data)
    return data


BAD = {
    "unknown strategy": (
        with_(lambda d: d["strategy"].update(name="bogus")),
        "unknown strategy 'bogus'",
    ),
    "unknown env": (
        with_(lambda d: d["problem"].update(env_id="NoSuchEnv-v9")),
        "unknown environment id 'NoSuchEnv-v9'",
    ),
    "bad value": (
        with_(lambda d: d["strategy"].update(sigma=-1)),
        "strategy.sigma: Input should be greater than 0",
    ),
    "unknown field": (with_(lambda d: d.update(generatoins=3)), "generatoins: unknown field"),
    "unknown problem": (with_(lambda d: d["problem"].update(kind="chess")), "problem"),
    "odd es population": (
        with_(lambda d: d["strategy"].update(population_size=7)),
        "population_size must be even",
    ),
    "custom problem not importable": (
        with_(lambda d: d.update(problem={"kind": "nowhere.mod:Thing"})),
        "problem: problem kind 'nowhere.mod:Thing' cannot be imported",
    ),
    "bad ray address": (with_(lambda d: d.update(ray_address="nonsense")), "ray_address"),
    "asynchronous generational strategy": (
        with_(lambda d: d.update(asynchronous=True)),
        "asynchronous: strategy 'open_es' is generational",
    ),
    "negative retries": (with_(lambda d: d.update(evaluation={"retries": -1})), "evaluation.retries"),
    "not a mapping": ("- 1\n- 2\n", "must be a YAML mapping"),
    "broken yaml": ("strategy: [unclosed\n", "not valid YAML at line"),
    # YAML lets the last of two equal keys win, silently: a config with a section given twice ran the
    # second and ignored the first
    "key given twice": (
        "generations: 3\nstrategy: {name: cma_es}\nproblem:\n  kind: function\n  name: sphere\n  kind: gym\n",
        "not valid YAML at line 6: 'kind' given twice (lines 4 and 6)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_one_line_exit_2_nothing_written(tmp_path, case):
    data, needle = BAD[case]
    out = tmp_path / "out"
    proc = cli("run", write(tmp_path, data), "--out", out, "--quiet")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evoforge: error:"), proc.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_other_bad_input_exit_2(tmp_path):
    cases = [
        (("run", tmp_path / "missing.yaml"), "config file not found"),
        (("run", write(tmp_path, GOOD), "--set", "novalue"), "--set expects key=value"),
        (("run", write(tmp_path, GOOD), "--set", "strategy.sigma=abc"), "sigma"),
        (("run", write(tmp_path, GOOD), "--backend", "gpu"), "backend"),
        (
            ("run", write(tmp_path, GOOD), "--backend", "ray", "--ray-address", "127.0.0.1:1"),
            "no Ray cluster answers at 127.0.0.1:1",
        ),
        (("resume", tmp_path / "nowhere"), "not an evoforge run directory"),
        (("show", tmp_path / "nowhere"), "not an evoforge run directory"),
        (("bogus-command",), "No such command"),
    ]
    for args, needle in cases:
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr, (
            args,
            proc.stderr,
        )


@pytest.mark.slow
def test_run_show_play_end_to_end(tmp_path):
    out = tmp_path / "r"
    proc = cli(
        "run",
        EXAMPLES / "cartpole-cmaes.yaml",
        "--out",
        out,
        "--seed",
        "1",
        "--quiet",
        "--set",
        "generations=30",
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(cli("show", out, "--json").stdout)
    for key in (
        "status",
        "best_fitness",
        "test_score",
        "generations",
        "evaluations",
        "env_steps",
        "wall_seconds",
    ):
        assert key in summary
    assert summary["status"] == "finished" and summary["test_score"] >= 475
    assert summary["evaluations"] > 0 and summary["env_steps"] > 0
    human = cli("show", out)
    assert human.returncode == 0 and "hall of fame" in human.stdout and "env_steps" in human.stdout
    gif = tmp_path / "best.gif"
    played = cli("play", out, "--episodes", "2", "--gif", gif)
    assert played.returncode == 0, played.stderr
    assert "mean return" in played.stdout and gif.stat().st_size > 1000
    with open(gif, "rb") as handle:
        assert handle.read(6) in (b"GIF87a", b"GIF89a")


def test_process_backend_and_overrides_from_the_cli(tmp_path):
    out = tmp_path / "r"
    proc = cli(
        "run",
        write(tmp_path, GOOD),
        "--out",
        out,
        "--backend",
        "process",
        "--workers",
        "2",
        "--quiet",
        "--set",
        "strategy.sigma=0.3",
        "--seed",
        "4",
    )
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["strategy"]["sigma"] == 0.3 and resolved["seed"] == 4 and resolved["backend"] == "process"


def test_progress_is_plain_lines_when_not_a_terminal_and_names_the_stop_that_ends_the_run(tmp_path):
    # progress to a pipe (stderr): a line per generation, with the time left to the evaluation budget
    # (16 of the 5 generations' 45 evaluations, the centre included), which is what ends the run
    cfg = write(tmp_path, with_(lambda d: d.update(generations=5, stop={"evaluations": 16})))
    proc = cli("run", cfg, "--out", tmp_path / "r", "--seed", "2")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("gen ")]
    assert [line.split()[1] for line in lines] == ["1", "2"]  # not out of 5: the budget ends it
    assert "evaluations 9/16 " in lines[0] and "(evaluation budget)" in lines[0]
    assert "not reproducible" not in proc.stdout
    # a time budget says that it makes the run load-dependent
    timed = write(tmp_path, with_(lambda d: d.update(generations=10**6, stop={"seconds": 2})), "t.yaml")
    proc = cli("run", timed, "--out", tmp_path / "t", "--seed", "2")
    assert proc.returncode == 0, proc.stderr
    assert "(time budget)" in proc.stderr and "not reproducible from its seed" in proc.stdout
    assert json.loads(cli("show", tmp_path / "t", "--json").stdout)["stopped_by"] == "seconds"
    assert "env_steps" in cli("show", tmp_path / "t").stdout


def test_progress_follows_the_stop_that_ends_the_run_first(monkeypatch):
    """The generations out of their total only when they end the run; the time left and the bar's
    share from the nearest stop, environment steps included (an RL run on a step budget showed
    "gen 3/10000000", its bar at 0% and no time left)."""
    import io

    from rich.console import Console

    from evoforge.cli import runs

    out = io.StringIO()
    monkeypatch.setattr(runs, "console", Console(file=out, force_terminal=False, width=300))
    view = runs._ProgressView(quiet=False)
    start = {"generation": 0, "generations": 10**7, "wall_seconds": 0.0, "evaluations": 0, "env_steps": 0.0,
             "stop_seconds": None, "stop_evaluations": None, "stop_env_steps": 100_000}  # fmt: skip
    view("start", start)
    for gen in range(2):
        view("generation", {"generation": gen, "wall_seconds": 10.0 * (gen + 1), "evaluations": 8,
                            "env_steps": 20_000.0, "best_ever": 1.0, "mean": 0.5})  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("gen 2  ") and "evaluations 16  env steps 40,000/100,000  " in lines[1]
    assert lines[1].endswith("left 0:00:30 (env-step budget)")  # 3 more generations of 10 s
    assert view._first_stop()[:1] == (0.4,)
    # a time budget nearer than the steps takes over; generations nearer still are shown out of total
    view.plan.update(stop_seconds=35.0)
    assert view._first_stop() == (20 / 35, "0:00:15 (time budget)", "time budget")
    view.plan.update(generations=3)
    assert view._first_stop() == (2 / 3, "0:00:10 (generations)", "generations")
    assert view._generations("generations") == "2/3"


def test_show_lists_environment_steps_only_for_a_run_that_has_them(tmp_path):
    cfg = write(tmp_path, {"generations": 2, "strategy": {"name": "cma_es"},
                           "problem": {"kind": "function", "name": "sphere", "dim": 3}})  # fmt: skip
    assert cli("run", cfg, "--out", tmp_path / "f", "--quiet").returncode == 0
    shown = cli("show", tmp_path / "f").stdout
    assert "stopped_by" in shown and "env_steps" not in shown
    assert json.loads(cli("show", tmp_path / "f", "--json").stdout)["env_steps"] == 0


def test_play_renders_the_first_episode_alone_into_the_gif(tmp_path):
    """--gif renders the first episode, as its help says (every episode played was rendered, and
    the GIF held them all), and only the frames the GIF keeps (every second step)."""
    from PIL import Image

    cfg = write(tmp_path, with_(lambda d: d.update(generations=3)))
    assert cli("run", cfg, "--out", tmp_path / "r", "--seed", "1", "--quiet").returncode == 0
    played = cli("play", tmp_path / "r", "--episodes", "3", "--gif", tmp_path / "p.gif")
    assert played.returncode == 0, played.stderr
    first = float(re.search(r"episode 0: return ([0-9.]+)", played.stdout).group(1))  # CartPole: 1 a step
    with Image.open(tmp_path / "p.gif") as gif:  # Pillow merges equal neighbours, adding their durations
        shown = 0
        for frame in range(gif.n_frames):
            gif.seek(frame)
            shown += gif.info["duration"]
    assert shown == math.ceil(first / 2) * 70


def test_demo_runs(tmp_path):
    proc = cli("demo", "--out", tmp_path / "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "test score 500" in proc.stdout
    assert (tmp_path / "demo" / "cartpole.gif").stat().st_size > 1000


def test_a_run_where_every_evaluation_fails_ends_with_one_line_and_exit_1(tmp_path):
    import os

    cfg = {
        "generations": 2,
        "strategy": {"name": "cma_es", "population_size": 6},
        "problem": {"kind": "faulty:FaultyProblem", "mode": "raise", "above": -100.0},
        "evaluation": {"retries": 0},
    }
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.run(
        [*EXE, "run", str(write(tmp_path, cfg)), "--out", str(tmp_path / "r"), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert len(lines) == 1 and "every evaluation failed" in lines[0] and "Traceback" not in proc.stderr
    # show names the run as failed, not as interrupted, and gives the errors
    shown = subprocess.run(
        [*EXE, "show", str(tmp_path / "r"), "--json"], capture_output=True, text=True, env=env, timeout=60
    )
    summary = json.loads(shown.stdout)
    assert summary["status"] == "failed" and "every evaluation failed" in summary["failure"]
    assert [e["count"] for e in summary["first_errors"]] == [summary["failed"]] == [summary["evaluations"]]
    assert "candidate blew up" in summary["first_errors"][0]["error"]


@pytest.mark.slow
def test_report_and_draw_a_neat_run(tmp_path):
    run_dir = tmp_path / "neat"
    proc = cli("run", EXAMPLES / "neat-xor.yaml", "--set", "generations=5", "--out", run_dir, "--quiet")
    assert proc.returncode == 0, proc.stderr
    proc = cli("draw", run_dir, "--out", tmp_path / "net.png")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "net.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = cli("report", run_dir)
    assert proc.returncode == 0, proc.stderr
    for name in ("fitness.png", "species.png"):
        assert (run_dir / "report" / name).read_bytes()[:4] == b"\x89PNG"
    stats = json.loads(cli("show", run_dir, "--json").stdout)
    assert stats["generations"] == 5
    proc = cli("export", run_dir, "--out", tmp_path / "best.json")
    assert proc.returncode == 0, proc.stderr
    import torch

    from evoforge.spaces.neat import load_genome
    from evoforge.spaces.neat_network import reference_activate
    from evoforge.spaces.neat_torch import to_torch

    genome = load_genome(tmp_path / "best.json")
    inputs = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    assert torch.allclose(to_torch(genome)(inputs), torch.tensor(reference_activate(genome, inputs.numpy())))


def test_draw_needs_a_neat_run(tmp_path):
    run_dir = tmp_path / "es"
    assert cli("run", write(tmp_path, GOOD), "--out", run_dir, "--quiet").returncode == 0
    proc = cli("draw", run_dir, "--out", tmp_path / "net.png")
    assert proc.returncode == 2 and "needs a NEAT run" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "net.png").exists()


@pytest.mark.slow  # several CLI processes
def test_mujoco_runs_and_plays_headless_to_a_gif(tmp_path):
    """MuJoCo with no display: the GIF renders through EGL; a renderer that cannot work here (GLFW
    needs a display) is one line and exit 2, with nothing written."""
    import os

    cfg = {
        "generations": 1,
        "strategy": {"name": "ars", "population_size": 4},
        "problem": {"kind": "gym", "env_id": "Swimmer-v5", "max_episode_steps": 20, "policy": {"hidden": []}},
        "test_episodes": 1,
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MUJOCO_GL")}

    def run(*args, **extra):
        return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, timeout=300,
                              env={**env, **extra})  # fmt: skip

    assert run("run", tmp_path / "cfg.yaml", "--out", tmp_path / "r", "--quiet").returncode == 0
    proc = run("play", tmp_path / "r", "--episodes", "1", "--gif", tmp_path / "a.gif")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a.gif").read_bytes()[:6] == b"GIF89a"
    proc = run("play", tmp_path / "r", "--episodes", "1", "--gif", tmp_path / "b.gif", MUJOCO_GL="glfw")
    lines = [line for line in proc.stderr.splitlines() if "settotalmass" not in line and line.strip()]
    assert (
        proc.returncode == 2
        and len(lines) == 1
        and lines[0].startswith("evoforge: error: cannot render Swimmer-v5")
    )
    assert "MUJOCO_GL=glfw" in lines[0] and not (tmp_path / "b.gif").exists()


@pytest.mark.slow  # several CLI processes
def test_report_draws_a_quality_diversity_archive_and_the_steps_of_a_policy_search(tmp_path):
    maze = {
        "generations": 3,
        "strategy": {"name": "map_elites", "population_size": 8, "descriptor_bounds": [[0, 200], [0, 200]],
                     "cells": [4, 4]},
        "problem": {"kind": "maze", "maze": "hard", "steps": 30, "policy": {"hidden": [2]}},
        "test_episodes": 1,
    }  # fmt: skip
    (tmp_path / "maze.yaml").write_text(yaml.safe_dump(maze))
    assert cli("run", tmp_path / "maze.yaml", "--out", tmp_path / "m", "--quiet").returncode == 0
    proc = cli("report", tmp_path / "m")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m" / "report" / "archive.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "m" / "report" / "behaviours.png").read_bytes()[:4] == b"\x89PNG"  # over the maze
    (tmp_path / "cp.yaml").write_text(
        yaml.safe_dump({**GOOD, "validation_episodes": 2, "stop": {"fitness": 400}})
    )
    assert cli("run", tmp_path / "cp.yaml", "--out", tmp_path / "c", "--quiet").returncode == 0
    proc = cli("report", tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "c" / "report" / "env_steps.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "c" / "report" / "archive.png").exists()
    assert not (tmp_path / "c" / "report" / "behaviours.png").exists()  # it recorded no descriptors


def test_command_help_is_reflowed_not_broken_where_the_source_breaks():
    """The command list shows each docstring as one paragraph filled to the terminal: no line of it
    ends early where the docstring's source line ended (rich's default mode kept those breaks)."""
    import os

    done = subprocess.run(
        [sys.executable, "-m", "evoforge", "--help"],  # python -m evoforge: the same command line
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80", "TERM": "dumb"},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "│ report " in line)
    description = []  # report's lines in the command list, up to the next command
    for line in lines[start:]:
        if description and not line.startswith("│    "):
            break
        description.append(line.strip("│ "))
    # 80 columns leave 61 for the text: every line but the last is filled (the source broke one at 34)
    assert len(description) > 2 and all(len(line) > 50 for line in description[:-1]), description


@pytest.mark.slow  # three command-line processes each
@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_ends_a_run_saying_how_to_resume_and_it_resumes_exactly(tmp_path, how):
    """Ctrl-C exited 0 in silence (typer turns it into an exit code that it returns, not raises,
    outside standalone mode): a script went on as if the run had finished. SIGTERM (what a batch
    scheduler sends at its time limit) ended the process where it stood, without a word; now both
    close the store and the workers and name the resume command (exit 130 and 143)."""
    import signal
    import time

    from conftest import _UNFINISHABLE_CLI, outcome

    cfg = write(tmp_path, {"generations": 4, "backend": "serial", "strategy": {"name": "cma_es"},
                           "problem": {"kind": "function", "name": "sphere", "dim": 3}})  # fmt: skip
    assert cli("run", cfg, "--out", tmp_path / "straight", "--quiet").returncode == 0
    run_dir = tmp_path / "r"
    held = subprocess.Popen(  # gets to its end and waits there, before writing its result
        [sys.executable, "-c", _UNFINISHABLE_CLI, "run", str(cfg), "--out", str(run_dir), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's Ctrl-C
    )
    deadline = time.time() + 60
    while not (run_dir / "hall_of_fame.json").exists():
        assert time.time() < deadline and held.poll() is None, "the run did not get to its end"
        time.sleep(0.05)
    time.sleep(0.2)
    held.send_signal(getattr(signal, how))
    out, err = held.communicate(timeout=60)
    code, word = {"SIGINT": (130, "interrupted"), "SIGTERM": (143, "terminated")}[how]
    assert held.returncode == code, (out, err)
    assert f"{word}: continue it with 'evoforge resume {run_dir}'" in out + err
    assert cli("resume", run_dir, "--quiet").returncode == 0
    assert outcome(run_dir) == outcome(tmp_path / "straight")


def test_ctrl_c_ends_any_command_with_exit_130(tmp_path):
    import signal
    import time

    demo = subprocess.Popen(
        [*EXE, "demo", "--out", str(tmp_path / "demo")],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while not (tmp_path / "demo" / "config.yaml").exists():  # under way
        assert time.time() < deadline and demo.poll() is None, "the demo did not start"
        time.sleep(0.02)
    demo.send_signal(signal.SIGINT)
    out, err = demo.communicate(timeout=60)
    assert demo.returncode == 130 and "interrupted" in err, (out, err)


def test_a_ray_address_that_answers_but_is_no_ray_cluster_is_one_line_at_once(tmp_path):
    """Ray kept trying such an address for more than ten minutes, printing a warning every few
    seconds (found with a web server on the port)."""
    import socket
    import threading
    import time

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:  # a web server's reply to anything
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.0 400 Bad request\r\n\r\n")

    threading.Thread(target=answer, daemon=True).start()
    started = time.time()
    try:
        proc = cli("run", write(tmp_path, GOOD), "--backend", "ray", "--ray-address", f"127.0.0.1:{port}")
    finally:
        server.close()
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"127.0.0.1:{port} answers, but not as a Ray cluster" in proc.stderr
    assert time.time() - started < 30 and not (tmp_path / "runs").exists()


def test_the_report_of_a_shifted_run_shows_the_environments_return_beside_the_fitness(tmp_path, monkeypatch):
    """With reward_shift the fitness is the return less the shift a step: the report draws each
    generation's best with its environment's return beside it and labels the test scores as that."""
    import evoforge
    from evoforge.cli import gym as gym_cli
    from evoforge.report import plots

    config = {"seed": 0, "generations": 3, "strategy": {"name": "open_es", "population_size": 6},
              "problem": {"kind": "gym", "env_id": "CartPole-v1", "reward_shift": 0.5}}  # fmt: skip
    evoforge.run(config, tmp_path / "r")
    drawn = {}
    monkeypatch.setattr(plots, "plot_env_steps", lambda *args: drawn.update(args=args) or args[1])
    gym_cli.report_gym(tmp_path / "r", tmp_path)
    stats, _, lines, _, shift, returns = drawn["args"]
    assert shift == 0.5 and returns == [2 * s["best"] for s in stats]  # CartPole pays 1 a step
    assert "test score (the environment's return)" in lines


def test_the_command_line_starts_without_the_numerical_libraries():
    """`evoforge --help` (and every command's start) loads the command modules of every problem kind;
    none of them may import numpy, torch or pandas at module level (a top-level numpy import in three of
    them took `evoforge --help` from 0.17 s to 0.32 s of CPU)."""
    code = (
        "import sys; from typer.main import get_command; from evoforge.cli.app import app; "
        "get_command(app); print(sorted({'numpy', 'torch', 'pandas', 'sklearn', 'gymnasium'} & set(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
