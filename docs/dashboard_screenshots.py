"""Make the dashboard screenshots of the README (docs/figures/dashboard-*.png) from example runs.

    .venv/bin/python docs/dashboard_screenshots.py

runs examples/neat-xor.yaml (seeds 0 and 1) and examples/cartpole-es.yaml into a temporary folder,
serves `evoforge dashboard` on them and photographs its pages in headless Chromium (Debian's
``chromium``, as the browser tests use it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no chromium (Debian: apt-get install chromium)")
    folder = Path(tempfile.mkdtemp())
    evoforge = [sys.executable, "-m", "evoforge.cli"]
    for name, example, seed in (("neat-xor-0", "neat-xor.yaml", 0), ("neat-xor-1", "neat-xor.yaml", 1),
                                ("cartpole-es", "cartpole-es.yaml", 0)):  # fmt: skip
        subprocess.run([*evoforge, "run", str(ROOT / "examples" / example), "--seed", str(seed),
                        "--out", str(folder / name), "--quiet"], check=True)  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*evoforge, "dashboard", str(folder), "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/api/runs", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(base + "/")
            page.wait_for_selector("#runs tbody tr >> nth=2")
            page.screenshot(path=str(OUT / "dashboard-runs.png"))
            page.goto(base + "/run/1")
            page.wait_for_function("Number(document.body.dataset.points || 0) > 0")
            page.click("#hall-of-fame tbody tr >> nth=0")
            page.wait_for_selector("#genome-section:not([hidden]) #lineage tbody tr")
            page.screenshot(path=str(OUT / "dashboard-run.png"), full_page=True)
            page.goto(base + "/compare?runs=1,2")
            page.wait_for_selector("#compare-generation .main-svg")
            page.screenshot(path=str(OUT / "dashboard-compare.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
