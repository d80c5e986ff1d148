"""The dashboard on a large run: how long the run list and a run page take to load.

A run of ``individuals`` individuals (a genetic algorithm on the 10-dimensional Rastrigin function,
``population`` per generation) is made once; `evoforge dashboard` serves it in its own process, and
each request a page makes is timed from this process over HTTP (``repeats`` times, median). A run
page is the HTML plus the three requests its script makes on load (the run, its curve, its failures);
opening a genome adds two (the genome, its lineage). Goal (issue 25): the run list and a run page
each load in under a second.

    python benchmarks/harness.py dashboard
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _made_run(folder: Path, individuals: int, population: int) -> Path:
    import evoforge

    run_dir = folder / "large"
    config = evoforge.RunConfig.model_validate({
        "seed": 0, "generations": individuals // population, "test_episodes": 1,
        "strategy": {"name": "ga", "population_size": population},
        "problem": {"kind": "function", "name": "rastrigin", "dim": 10},
    })  # fmt: skip
    evoforge.run(config, run_dir)
    return run_dir


def _timed(url: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as response:
            response.read()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _in_browser(base: str, repeats: int) -> dict | None:
    """Seconds from navigation until the run list's rows, and a run page's fitness chart, are drawn in
    headless Chromium (median of ``repeats``); None where there is no Chromium or Playwright."""
    import shutil

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    out: dict[str, list[float]] = {"run list": [], "run page": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page()
        for _ in range(repeats):
            start = time.perf_counter()
            page.goto(base + "/")
            page.wait_for_selector("#runs tbody tr")
            out["run list"].append(time.perf_counter() - start)
            start = time.perf_counter()
            page.goto(base + "/run/0")
            page.wait_for_selector("#by-generation .main-svg")
            page.wait_for_selector("#hall-of-fame tbody tr")
            out["run page"].append(time.perf_counter() - start)
        browser.close()
    return {k: statistics.median(v) for k, v in out.items()}


def run(settings: dict, save) -> dict:
    folder = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    run_dir = _made_run(folder, int(settings["individuals"]), int(settings["population"]))
    made = time.perf_counter() - start
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "evoforge.cli", "dashboard", str(run_dir), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/api/runs", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        import json

        best = json.loads(urllib.request.urlopen(base + "/api/runs/0").read())["hall_of_fame"][0]["genome_id"]
        repeats = int(settings["repeats"])
        requests = {
            "/": "run list page (HTML)", "/api/runs": "run list data",
            "/run/0": "run page (HTML)", "/api/runs/0": "the run (summary, hall of fame, config)",
            "/api/runs/0/curve": "its curve (every generation)", "/api/runs/0/failures": "its failed candidates",
            f"/api/runs/0/genomes/{best}": "a genome", f"/api/runs/0/genomes/{best}/lineage": "its lineage",
        }  # fmt: skip
        seconds = {path: _timed(base + path, repeats) for path in requests}
        browser = _in_browser(base, repeats)
    finally:
        server.terminate()
        server.wait()
    return {"individuals": int(settings["individuals"]), "made_seconds": made, "requests": requests,
            "seconds": seconds, "browser": browser}  # fmt: skip


def table(results: dict, settings: dict) -> str:
    s, names = results["seconds"], results["requests"]
    paths = list(names)
    run_list = s["/"] + s["/api/runs"]
    run_page = s["/run/0"] + s["/api/runs/0"] + s["/api/runs/0/curve"] + s["/api/runs/0/failures"]
    lines = [
        f"A run of {results['individuals']:,} individuals (made in {results['made_seconds']:.0f} s); each request "
        f"timed over HTTP, median of {settings['repeats']}.",
        "",
        "| request | what | seconds |",
        "|---|---|---|",
        *[f"| `{p}` | {names[p]} | {s[p]:.4f} |" for p in paths],
        "",
        f"Run list (page + data): {run_list:.3f} s; run page (page + run + curve + failures): {run_page:.3f} s. "
        "Goal (each under 1 s): " + ("met." if max(run_list, run_page) < 1.0 else "**missed**."),
    ]
    browser = results.get("browser")
    if browser:
        lines.append(
            f"In headless Chromium, from navigation until drawn: the run list {browser['run list']:.3f} s, a run "
            f"page (its fitness chart and hall of fame) {browser['run page']:.3f} s."
        )
    return "\n".join(lines)
