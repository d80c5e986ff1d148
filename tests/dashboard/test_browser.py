"""The dashboard end to end, in a real headless Chromium (Debian's ``chromium``, driven by Playwright):
a search is started, the dashboard opened on it, the run seen in the list, its fitness chart seen
gaining points while it runs, the hall of fame opened; the run ends exactly as one nobody watched.
(The README's screenshots come from example runs: ``docs/dashboard_screenshots.py``.)"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from conftest import outcome
from faulty import faulty_config

import evoforge

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (make test installs it)"
)
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on this machine (Debian: apt-get install chromium; make test installs it)",
)
TESTS = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _evoforge(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evoforge.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(TESTS)},  # the faulty problem of the search
    )


def _wait_until_served(url: str, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"the dashboard exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing served at {url}")


@contextmanager
def _dashboard_page(*run_dirs: Path, refresh: str | None = None):
    """A dashboard served on ``run_dirs`` and a headless Chromium page: ``(page, base URL)``."""
    port = _free_port()
    every = ["--refresh", refresh] if refresh else []
    server = _evoforge("dashboard", *map(str, run_dirs), "--port", str(port), *every)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_served(base + "/api/runs", server)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
            yield browser.new_page(viewport={"width": 1280, "height": 900}), base
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_a_user_watches_a_search_in_the_browser(tmp_path):
    config = faulty_config(tmp_path, seconds=0.05, generations=30)  # about 12 s of work
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config.model_dump(mode="json")))
    run_dir = tmp_path / "watched"
    search = _evoforge("run", str(tmp_path / "run.yaml"), "--out", str(run_dir), "--quiet")
    deadline = time.monotonic() + 60
    while not (run_dir / "config.yaml").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with _dashboard_page(run_dir, refresh="0.5") as (page, base):
            page.goto(base + "/")
            page.wait_for_selector("#runs tbody tr a:text('watched')", timeout=20_000)
            assert "ga" in page.inner_text("#runs tbody tr") and "faulty" in page.inner_text("#runs tbody tr")
            page.click("#runs tbody tr a:text('watched')")
            page.wait_for_url(base + "/run/0")
            page.wait_for_function("Number(document.body.dataset.points || 0) >= 1", timeout=20_000)
            first = int(page.evaluate("document.body.dataset.points"))
            assert search.poll() is None, "the search ended before the chart could be seen growing"
            page.wait_for_function(f"Number(document.body.dataset.points) > {first}", timeout=30_000)
            assert page.locator("#by-generation .main-svg").count() >= 1  # Plotly drew the chart
            assert search.wait(timeout=120) == 0, search.stderr.read() if search.stderr else ""
            page.wait_for_function(
                "document.querySelector('#summary').innerText.includes('finished')", timeout=20_000
            )
            page.click("#hall-of-fame tbody tr >> nth=0")
            page.wait_for_selector("#genome-section:not([hidden]) #lineage tbody tr", timeout=20_000)
            best = page.inner_text("#hall-of-fame tbody tr >> nth=0 >> td >> nth=3")
            assert best in page.inner_text("#genome-id") and best in page.inner_text("#genome")
    finally:
        if search.poll() is None:
            search.kill()
    evoforge.run(config, tmp_path / "alone")
    assert outcome(run_dir) == outcome(tmp_path / "alone")


@pytest.mark.slow
def test_a_shifted_runs_chart_draws_the_environments_return_beside_the_fitness(tmp_path):
    """A gym run with reward_shift searches on its return less the shift a step: its chart draws the
    best's own return as a line of its own; a run without a shift has no such line."""
    config = {"seed": 0, "generations": 3, "strategy": {"name": "open_es", "population_size": 6},
              "problem": {"kind": "gym", "env_id": "CartPole-v1", "reward_shift": 0.5}}  # fmt: skip
    evoforge.run(config, tmp_path / "shifted")
    evoforge.run({**config, "problem": {"kind": "gym", "env_id": "CartPole-v1"}}, tmp_path / "plain")
    legends = []
    with _dashboard_page(tmp_path / "shifted", tmp_path / "plain") as (page, base):
        for run in (0, 1):
            page.goto(f"{base}/run/{run}")
            page.wait_for_function("Number(document.body.dataset.points || 0) >= 3", timeout=20_000)
            legends.append(page.evaluate("document.getElementById('by-generation').data.map((t) => t.name)"))
    shifted, plain = ([name.split(" (")[0] for name in names] for names in legends)
    assert shifted == ["best", "mean", "best ever", "best's environment return"]
    assert plain == ["best", "mean", "best ever"]


@pytest.mark.slow
def test_a_maze_runs_page_draws_every_behaviour_over_the_maze(tmp_path):
    """The behaviours chart: every robot's final position over the maze's walls, its start and goal
    and the best so far; a run whose descriptors are not positions shows no such chart."""
    from evoforge.problems.maze import MAZES

    maze = {"seed": 2, "generations": 3, "strategy": {"name": "novelty_search", "population_size": 12},
            "problem": {"kind": "maze", "maze": "medium", "steps": 40, "policy": {"hidden": [2]}},
            "test_episodes": 1}  # fmt: skip
    evoforge.run(maze, tmp_path / "maze")
    evoforge.run(
        {
            **maze,
            "strategy": {"name": "ga", "population_size": 6},
            "problem": {"kind": "function", "name": "sphere", "dim": 3},
        },
        tmp_path / "sphere",
    )
    with _dashboard_page(tmp_path / "maze", tmp_path / "sphere") as (page, base):
        page.goto(f"{base}/run/0")
        page.wait_for_function("Number(document.body.dataset.behaviours || 0) >= 36", timeout=20_000)
        traces = page.evaluate(
            "document.getElementById('behaviours').data.map((t) => [t.name, t.x.filter((v) => v !== null).length])"
        )
        assert traces == [["walls", 2 * len(MAZES["medium"].walls)], ["behaviours (early dark, late bright)", 36],
                          ["start", 1], ["goal", 1], ["best so far", 1]]  # fmt: skip
        assert page.locator("#behaviours-section").is_visible()
        page.goto(f"{base}/run/1")
        page.wait_for_function("Number(document.body.dataset.points || 0) >= 3", timeout=20_000)
        assert page.locator("#behaviours-section").is_hidden()
