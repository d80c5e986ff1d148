"""The dashboard's read-only API: what it shows of runs, that no request can write or name a file, and
that watching a running search changes nothing about it."""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import outcome
from faulty import faulty_config

import evoforge
from evoforge.store.run_store import RunStore

starlette = pytest.importorskip("starlette", reason="the dashboard extra is not installed")
from starlette.testclient import TestClient  # noqa: E402

from evoforge.dashboard.app import create_app  # noqa: E402

NEAT = {"seed": 2, "generations": 6, "strategy": {"name": "neat", "population_size": 40},
        "problem": {"kind": "xor"}, "test_episodes": 1}  # fmt: skip


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with a hash of its bytes (SQLite's own -wal and -shm files aside:
    a reader may create them)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished NEAT run, a run with failing candidates, and a run directory whose database is damaged."""
    root = tmp_path_factory.mktemp("runs")
    evoforge.run(evoforge.RunConfig.model_validate(NEAT), root / "neat")
    evoforge.run(faulty_config(root, "raise", above=0.0), root / "faulty")
    damaged = root / "damaged"
    damaged.mkdir()
    (damaged / "config.yaml").write_text((root / "neat" / "config.yaml").read_text())
    (damaged / "evoforge.sqlite").write_bytes(b"not a database at all")
    return [root / "neat", root / "faulty", damaged]


def test_the_run_list_shows_each_run_and_a_damaged_one_in_one_line(runs):
    client = TestClient(create_app(runs))
    listed = client.get("/api/runs").json()
    assert [r["name"] for r in listed] == ["neat", "faulty", "damaged"]
    neat, faulty, damaged = listed
    result = evoforge.RunResult(**yaml.safe_load((runs[0] / "result.json").read_text()))
    assert neat["status"] == "finished" and neat["progress"] == 1.0
    assert (neat["strategy"], neat["problem"], neat["seed"]) == ("neat", "xor", 2)
    assert neat["best"] == result.best_fitness and neat["evaluations"] == result.evaluations
    assert neat["generations"] == result.generations
    assert faulty["failed"] > 0 and faulty["status"] == "finished"
    assert damaged["status"] == "unreadable" and "evoforge.sqlite" in damaged["error"]
    assert "\n" not in damaged["error"]


def test_a_run_page_has_its_curve_hall_of_fame_genomes_lineage_and_failures(runs):
    client = TestClient(create_app(runs))
    curve = client.get("/api/runs/0/curve").json()
    assert [s["generation"] for s in curve] == list(range(6))
    assert [s["generation"] for s in client.get("/api/runs/0/curve?since=4").json()] == [4, 5]
    run = client.get("/api/runs/0").json()
    hof = yaml.safe_load((runs[0] / "hall_of_fame.json").read_text())["entries"]
    assert [e["genome_id"] for e in run["hall_of_fame"]] == [e["genome_id"] for e in hof]
    assert "kind: xor" in run["config"]
    best = hof[0]["genome_id"]
    genome = client.get(f"/api/runs/0/genomes/{best}").json()
    stored = RunStore.open(runs[0]).genome_of(best)
    assert genome["genome"] == stored.to_json() and genome["fitness"] == hof[0]["fitness"]
    lineage = client.get(f"/api/runs/0/genomes/{best}/lineage").json()
    assert lineage[0]["genome_id"] == best
    for child, parent in zip(lineage, lineage[1:], strict=False):  # each step is the first parent
        assert parent["genome_id"] == child["parents"][0] and parent["generation"] < child["generation"]
    assert lineage[-1]["generation"] == 0 or not lineage[-1]["parents"]
    failures = client.get("/api/runs/1/failures").json()
    failed = RunStore.open(runs[1]).counts()["failed"]
    assert len(failures) == min(failed, 200) and all("candidate blew up" in f["error"] for f in failures)


@pytest.mark.parametrize(
    "url",
    [
        "/api/runs/3", "/api/runs/-1", "/run/3", "/api/runs/0/genomes/0000000000000000",
        "/api/runs/0/genomes/..%2F..%2Fconfig.yaml", "/api/runs/0/genomes/%2Fetc%2Fpasswd",
        "/static/..%2Fcatalog.py", "/static/%2Fetc%2Fpasswd", "/static/app.py", "/../../etc/passwd",
        "/api/runs/0/genomes/../../../../etc/passwd",
    ],
)  # fmt: skip
def test_a_request_cannot_name_a_file_or_an_unknown_run(runs, url):
    response = TestClient(create_app(runs)).get(url)
    assert response.status_code == 404
    assert "root:" not in response.text and "import" not in response.text


def test_no_request_writes_and_only_get_is_answered(runs):
    client = TestClient(create_app(runs))
    before = [snapshot(r) for r in runs]
    best = client.get("/api/runs/0").json()["hall_of_fame"][0]["genome_id"]
    urls = ["/api/runs", "/api/runs/0", "/api/runs/0/curve", "/api/runs/0/failures",
            f"/api/runs/0/genomes/{best}", f"/api/runs/0/genomes/{best}/lineage"]  # fmt: skip
    for url in urls:
        assert client.get(url).status_code == 200
        for method in ("post", "put", "patch", "delete"):
            assert getattr(client, method)(url).status_code == 405, (method, url)
    for page in ("/", "/run/0", "/compare?runs=0,1", "/static/plotly.min.js", "/static/app.js"):
        assert client.get(page).status_code == 200
    assert client.get("/api/runs/0/curve?since=x").status_code == 400
    assert [snapshot(r) for r in runs] == before


def test_a_read_only_store_refuses_to_write(runs):
    store = RunStore.open(runs[0], read_only=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            store.db.execute("DELETE FROM individuals")
    finally:
        store.close()


def _start(config_path: Path, run_dir: Path, *command: str) -> subprocess.Popen:
    args = ["run", str(config_path), "--out", str(run_dir)] if not command else [*command, str(run_dir)]
    return subprocess.Popen(
        [sys.executable, "-m", "evoforge.cli", *args, "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},  # the faulty problem
    )


def _watch(run_dir: Path, until, seen: list[int]) -> None:
    """Poll the dashboard's API on ``run_dir`` until ``until()``, noting the curve's length each time."""
    deadline = time.monotonic() + 120
    while not until() and time.monotonic() < deadline:
        if (run_dir / "config.yaml").exists():
            client = TestClient(create_app([run_dir]))
            if client.get("/api/runs").json()[0]["status"] != "unreadable":
                seen.append(len(client.get("/api/runs/0/curve").json()))
                client.get("/api/runs/0")
                client.get("/api/runs/0/failures")
        time.sleep(0.02)


@pytest.mark.slow  # a kill-and-resume loop, as the other slow tests
def test_a_run_killed_and_resumed_under_the_dashboard_ends_as_one_never_watched(tmp_path):
    """The read-only guarantee: a dashboard reading a run while it is killed (SIGKILL, mid-search) and
    resumed never corrupts it: the resumed run ends exactly as an uninterrupted, unwatched one."""
    config = faulty_config(tmp_path, seconds=0.02, generations=25, checkpoint_interval=0)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    watched, seen = tmp_path / "watched", []
    proc = _start(tmp_path / "run.yaml", watched)
    _watch(watched, lambda: len(seen) > 5 and seen[-1] >= 5, seen)
    proc.kill()
    proc.wait()
    assert not (watched / "result.json").exists(), "the run finished before it could be killed"
    resumed = _start(tmp_path / "run.yaml", watched, "resume")
    _watch(watched, lambda: resumed.poll() is not None, seen)
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read() if resumed.stderr else ""
    evoforge.run(config, tmp_path / "alone")
    assert outcome(watched) == outcome(tmp_path / "alone")


def test_watching_a_running_search_changes_nothing(tmp_path):
    """A search watched through the API while it runs (in another process) ends exactly as one nobody
    watched; the watcher sees its curve grow."""
    config = faulty_config(tmp_path, seconds=0.02, generations=25)  # about 4 s of work
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    watched, seen = tmp_path / "watched", []
    proc = _start(tmp_path / "run.yaml", watched)
    _watch(watched, lambda: proc.poll() is not None, seen)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    # the same search unwatched, without the sleep that gave the watcher time to look
    alone = config.model_copy(update={"problem": config.problem.model_copy(update={"seconds": 0.0})})
    evoforge.run(alone, tmp_path / "alone")
    assert outcome(watched) == outcome(tmp_path / "alone")
    assert len(set(seen)) >= 2, seen  # seen growing while it ran


def test_a_genome_comes_with_its_view_and_report_figures_are_served_by_name_only(runs, tmp_path):
    from evoforge.cli import main

    client = TestClient(create_app(runs))
    best = client.get("/api/runs/0").json()["hall_of_fame"][0]["genome_id"]
    view = client.get(f"/api/runs/0/genomes/{best}").json()["view"]
    genome = RunStore.open(runs[0]).genome_of(best)
    assert view["kind"] == "network"
    assert [(e["src"], e["dst"], e["weight"], e["enabled"]) for e in view["edges"]] == [
        (int(s), int(d), float(w), bool(e))
        for s, d, w, e in zip(genome.src, genome.dst, genome.weight, genome.enabled, strict=True)
    ]
    assert {n["id"] for n in view["nodes"]} == {int(n) for n in genome.nodes}
    outputs = [n for n in view["nodes"] if n["role"] == "output"]
    assert all(o["layer"] == max(n["layer"] for n in view["nodes"]) for o in outputs)
    assert (
        client.get(
            "/api/runs/1/genomes/" + client.get("/api/runs/1").json()["hall_of_fame"][0]["genome_id"]
        ).json()["view"]
        is None
    )

    sys_argv, sys.argv = sys.argv, ["evoforge", "report", str(runs[0])]
    try:
        main()
    except SystemExit as exc:
        assert exc.code in (0, None)
    finally:
        sys.argv = sys_argv
    (tmp_path / "secret.png").write_bytes(b"not for the dashboard")
    (runs[0] / "report" / "link.png").symlink_to(tmp_path / "secret.png")
    figures = client.get("/api/runs/0").json()["figures"]
    assert {"fitness.png", "species.png"} <= set(figures) and "link.png" not in figures
    image = client.get("/runs/0/figures/fitness.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content == (runs[0] / "report" / "fitness.png").read_bytes()
    for name in ("link.png", "..%2Fconfig.yaml", "missing.png", "%2Fetc%2Fpasswd"):
        assert client.get(f"/runs/0/figures/{name}").status_code == 404


@pytest.mark.parametrize(
    "args, message",
    [
        (["{missing}"], "is not an evoforge run directory (no such directory)"),
        (["{empty}"], "is not an evoforge run directory and holds none"),
        (["{run}", "--host", "0.0.0.0"], "add --allow-remote"),
        (["{run}", "--port", "70000"], "Invalid value for '--port'"),
        (["{run}", "--port", "{busy}"], ": in use; choose another with --port (0: any free one)"),
        (["{run}", "--host", "nowhere.invalid", "--allow-remote"], "--host nowhere.invalid: not an address"),
    ],
)
def test_bad_dashboard_commands_end_with_one_line_and_exit_code_2(runs, tmp_path, capsys, args, message):
    import socket

    from evoforge import cli

    (tmp_path / "empty").mkdir()
    busy = socket.socket()  # a port another program listens on
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    names = {"missing": tmp_path / "missing", "empty": tmp_path / "empty", "run": runs[0],
             "busy": busy.getsockname()[1]}  # fmt: skip
    saved, sys.argv = sys.argv, ["evoforge", "dashboard", *(a.format(**names) for a in args)]
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.main()
    finally:
        sys.argv = saved
        busy.close()
    err = capsys.readouterr().err.strip()  # one line: no address announced that is not served
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert message in err


def test_port_0_announces_the_port_it_serves_on(runs):
    """``--port 0`` takes any free port, and the line it prints names that port, not 0."""
    import re
    import select
    import urllib.request

    server = subprocess.Popen(
        [sys.executable, "-m", "evoforge.cli", "dashboard", str(runs[0]), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert select.select([server.stderr], [], [], 60)[0], "nothing announced in 60 s"
        line = server.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert url and url.group(1) != "0", line
        with urllib.request.urlopen(url.group(0) + "api/runs", timeout=30) as response:
            assert json.loads(response.read())[0]["path"] == str(runs[0])
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_run_on_an_environment_step_budget_shows_its_progress_toward_it(tmp_path):
    """An RL run stops on its environment steps, its generations set out of reach: the list's progress
    is its share of the step budget (it stayed at 0 until the run ended)."""
    from conftest import interrupted_run

    config = {"seed": 0, "generations": 10**6, "strategy": {"name": "open_es", "population_size": 4},
              "problem": {"kind": "gym", "env_id": "CartPole-v1"}, "stop": {"env_steps": 50_000}}  # fmt: skip
    interrupted_run(config, tmp_path / "rl", generation=1)
    taken = evoforge.read_run(tmp_path / "rl").generations["env_steps"].sum()
    (row,) = TestClient(create_app([tmp_path / "rl"])).get("/api/runs").json()
    assert row["status"] == "interrupted" and 0 < taken < 50_000
    assert row["progress"] == pytest.approx(taken / 50_000)
    # and the time left to that stop at the run's rates, by the command line's rule
    record = evoforge.read_run(tmp_path / "rl")
    gens, wall = len(record.generations), record.generations["wall_seconds"].iloc[-1]
    assert row["first_stop"] == "env-step budget"
    assert row["left_seconds"] == pytest.approx(math.ceil((50_000 - taken) / (taken / gens)) * wall / gens)


def test_a_shifted_gym_runs_curve_carries_each_generations_own_return(runs, tmp_path):
    """With reward_shift the fitness is the return less the shift a step: the curve the run page draws
    carries each generation's best with its environment's return beside it (the number a user knows);
    a run without a shift has no such field."""
    config = {"seed": 0, "generations": 3, "strategy": {"name": "open_es", "population_size": 6},
              "problem": {"kind": "gym", "env_id": "CartPole-v1", "reward_shift": 0.5}}  # fmt: skip
    evoforge.run(config, tmp_path / "shifted")
    client = TestClient(create_app([tmp_path / "shifted", runs[0]]))
    curve = client.get("/api/runs/0/curve").json()
    assert [s["generation"] for s in curve] == [0, 1, 2]
    assert [s["best_return"] for s in curve] == [2 * s["best"] for s in curve]  # CartPole pays 1 a step
    assert [s["generation"] for s in client.get("/api/runs/0/curve?since=2").json()] == [2]
    assert all("best_return" not in s for s in client.get("/api/runs/1/curve").json())


def test_a_maze_searchs_behaviours_come_live_each_once_over_the_maze(runs, tmp_path):
    """The run page's behaviours chart: every evaluated robot's final position and fitness in the order
    evaluated, from finished generations only, each sent once however the page polls, with the maze's
    walls, start and goal on the first request; a run whose descriptors are not positions has none."""
    import numpy as np

    from evoforge.problems.maze import MazeConfig, MazeProblem

    config = {"seed": 2, "generations": 3, "strategy": {"name": "novelty_search", "population_size": 12},
              "problem": {"kind": "maze", "maze": "medium", "steps": 40, "policy": {"hidden": [2]}},
              "test_episodes": 1}  # fmt: skip
    evoforge.run(config, tmp_path / "maze")
    store = RunStore.open(tmp_path / "maze")
    fitness, descriptors = store.behaviours()
    # a robot of a generation not finished yet (a run killed part-way leaves such rows): not sent
    row = {"parents": (), "wall_seconds": 0.0, "aux": {}, "genome": np.zeros(2), "error": None}
    store.record_evaluations(
        3, [dict(row, idx=0, genome_id="ab", fitness=1.0, metrics={"descriptor_0": 1.0, "descriptor_1": 2.0})]
    )
    store.flush()
    store.close()
    client = TestClient(create_app([tmp_path / "maze", runs[0]]))
    first = client.get("/api/runs/0/behaviours").json()
    assert len(first["points"]) == 36 and first["next"] == 3 and first["direction"] == "maximize"
    assert first["points"] == np.column_stack([descriptors, fitness]).tolist()
    world = MazeProblem.behaviour_map(MazeConfig(maze="medium"))
    assert first["map"] == {
        "walls": [list(wall) for wall in world.walls],
        "points": {"start": [30.0, 22.0], "goal": [270.0, 100.0]},
        "bounds": [[5.0, 295.0], [5.0, 135.0]],
    }
    assert client.get("/api/runs/0/behaviours?since=3").json() == {"next": 3, "points": []}
    later = client.get("/api/runs/0/behaviours?since=1").json()
    assert later == {"next": 3, "points": first["points"][12:]}
    assert client.get("/api/runs/1/behaviours").json() == {
        "next": 6,
        "points": [],
        "direction": "maximize",
        "map": None,
    }
