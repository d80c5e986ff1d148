import atexit
import gzip
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

# Guard for the whole test session: the folders the dataset readers search by default (Debian's
# system folder and the download cache) are moved to an empty temporary folder, so a test that
# silently reads data this repository does not create fails on every machine, not only on a fresh
# one. Set when pytest loads this file (before any test runs; testpaths puts tests/ first, so the
# doctests are covered too); the subprocesses tests start inherit it through the environment.
_NO_DATA = tempfile.mkdtemp(prefix="evoforge-no-data-")
os.environ["EVOFORGE_SYSTEM_DATA"] = os.path.join(_NO_DATA, "system")
os.environ["EVOFORGE_DATA"] = os.path.join(_NO_DATA, "cache")
atexit.register(shutil.rmtree, _NO_DATA, ignore_errors=True)

#: modules a test loads into worker processes, not tests (shy imports only where its test allows it)
collect_ignore = ["shy.py"]


def pytest_configure(config):
    """Each pytest-xdist worker runs torch on its share of the cores, as the project asks of every
    run: ``make test``'s two workers on torch's default of one thread per core put four busy threads
    on two cores, and a tiny network's ops then wait on each other (a file of cell-space tests took
    176 s so, 110 s on one thread each)."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        import torch

        from evoforge.backends.base import default_workers

        torch.set_num_threads(max(1, default_workers() // int(workers)))


def pytest_collection_modifyitems(config, items):
    """``make test`` runs the suite on two pytest-xdist workers (``--dist loadgroup``): the tests that
    start a Ray instance share one group, so two never start at once on a 2-core machine."""
    for item in items:
        if "ray" in Path(str(item.fspath)).name or "ray" in item.name:
            item.add_marker(pytest.mark.xdist_group("ray"))
    # Long tests are handed out first (the scheduler takes tests in this order; the Ray group, the
    # largest, goes before all): a minute-long test collected last otherwise ran alone at the end
    # while the other worker waited (the README's recipe, 73 s, was the suite's last but one).
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def run_dir(tmp_path):
    return tmp_path / "run"


def function_config(
    strategy: dict, name: str = "sphere", dim: int = 5, generations: int = 20, seed: int = 0, **kw
):
    from evoforge import RunConfig

    return RunConfig(
        seed=seed,
        generations=generations,
        strategy=strategy,
        problem={"kind": "function", "name": name, "dim": dim},
        **kw,
    )


def cartpole_config(strategy: dict, generations: int = 30, seed: int = 0, **kw):
    from evoforge import RunConfig

    problem = {"kind": "gym", "env_id": "CartPole-v1", "episodes": 10, "policy": {"hidden": [16]}}
    problem.update(kw.pop("problem", {}))
    return RunConfig(
        seed=seed,
        generations=generations,
        strategy=strategy,
        problem=problem,
        stop={"fitness": 500},
        validation_episodes=20,
        **kw,
    )


TIME_FIELDS = {"eval_seconds", "wall_seconds"}


def cli(*args) -> subprocess.CompletedProcess:
    """``evoforge ARGS`` in a fresh interpreter, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "evoforge.cli", *map(str, args)], capture_output=True, text=True
    )


def outcome(run_dir: Path) -> dict:
    """Everything a run decides, without wall times."""
    from evoforge.store.run_store import RunStore

    store = RunStore.open(run_dir)
    stats = [{k: v for k, v in s.items() if k not in TIME_FIELDS} for s in store.generation_stats()]
    rows = store.db.execute(
        "SELECT generation, idx, genome_id, cached, fitness, error FROM individuals ORDER BY generation, idx"
    ).fetchall()
    store.close()
    result = json.loads((run_dir / "result.json").read_text())
    result = {k: v for k, v in result.items() if k not in TIME_FIELDS | {"run_dir"}}
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())
    return {"stats": stats, "individuals": rows, "result": result, "hof": hof}


def individuals(run_dir: Path, columns: str, fresh_only: bool = False) -> list[tuple]:
    """Rows of the run store's individuals table, in (generation, idx) order."""
    from evoforge.store.run_store import RunStore

    store = RunStore.open(run_dir)
    where = "WHERE cached = 0 " if fresh_only else ""
    out = store.db.execute(f"SELECT {columns} FROM individuals {where}ORDER BY generation, idx").fetchall()
    store.close()
    return out


def after_checkpoints(run_dir: Path, action, count: int = 2, timeout: float = 60.0, ready=lambda: True):
    """Start a thread that calls ``action()`` once ``run_dir`` holds ``count`` checkpoints (and
    ``ready()`` holds): a fault injected in the middle of a run. Returns (thread, done list)."""
    done: list[bool] = []

    def watch() -> None:
        checkpoints = run_dir / "checkpoints"
        deadline = time.time() + timeout
        while time.time() < deadline:
            if checkpoints.exists() and len(list(checkpoints.glob("gen_*.npz"))) >= count and ready():
                time.sleep(0.1)  # let a chunk get under way
                action()
                done.append(True)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread, done


# ``evoforge`` whose run never writes result.json: a run killed by kill_then_resume cannot have
# finished first, however fast the machine (a 12-generation search once did, between two polls).
_UNFINISHABLE_CLI = """
import sys, time
from evoforge.store.run_store import RunStore
write_json = RunStore.write_json
def held(self, name, data):
    if name == "result.json":
        time.sleep(3600)
    write_json(self, name, data)
RunStore.write_json = held
from evoforge.cli import main
sys.argv[0] = "evoforge"
main()
"""


class StopRunError(Exception):
    """What a test's callback raises to stop a run part-way, as a crash would."""


def stop_after(generation: int):
    """A run callback that stops the run (raises :class:`StopRunError`) once ``generation`` is done."""

    def callback(event, data):
        if event == "generation" and data["generation"] == generation:
            raise StopRunError

    return callback


def interrupted_run(config: dict, run_dir: Path, generation: int = 0) -> None:
    """``evoforge.run`` of ``config`` into ``run_dir``, stopped after ``generation``: a run to resume."""
    import evoforge

    with pytest.raises(StopRunError):
        evoforge.run(evoforge.RunConfig.model_validate(config), run_dir, callback=stop_after(generation))


def kill_then_resume(config_path: Path, killed: Path, checkpoints: int = 2, settle: float = 0.05) -> None:
    """``evoforge run`` the config into ``killed``, SIGKILL it once ``checkpoints`` checkpoints exist
    (after ``settle`` seconds, so that work is under way; a run that gets to its end first waits
    there, before its result is written), then ``evoforge resume`` it to the end."""
    exe = [sys.executable, "-m", "evoforge.cli"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _UNFINISHABLE_CLI, "run", str(config_path), "--out", str(killed), "--quiet"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        found = list((killed / "checkpoints").glob("gen_*.npz")) if (killed / "checkpoints").exists() else []
        if len(found) >= checkpoints:
            break
        time.sleep(0.02)
    time.sleep(settle)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "result.json").exists(), "the run finished before it could be killed"
    subprocess.run([*exe, "resume", str(killed), "--quiet"], check=True, stdout=subprocess.DEVNULL)


def write_idx(path, array, magic_type=0x08, gz=True):
    """``array`` as an IDX file (gzipped unless ``gz`` is False), as MNIST-style datasets ship."""
    header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def write_idx_folder(folder, n_train=30, n_test=10, labels_train=None):
    """A small Fashion-MNIST-shaped IDX dataset (random 28x28 images, labels 0-9) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(
        folder / "train-labels-idx1-ubyte.gz",
        labels_train if labels_train is not None else np.arange(n_train) % 10,
    )
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)), gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10, gz=False)
    return folder


def mixed_csv(path, rows: int = 160, seed: int = 0) -> str:
    """A table with numbers (some missing), strings (some missing), a boolean and a constant column;
    the string target depends on a number and a string."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.uniform(0, 10, size=rows)
    colour = rng.choice(["red", "green", "blue"], size=rows)
    size = rng.choice(["S", "M", "L", "XL"], size=rows)
    flag = rng.random(rows) < 0.5
    label = np.where(x1 + (colour == "red") * 1.5 + 0.3 * rng.normal(size=rows) > 0.5, "yes", "no")
    lines = ["x1,colour,x2,size,flag,constant,label"]
    for i in range(rows):
        a = "" if i % 9 == 0 else f"{x1[i]:.4f}"
        c = "" if i % 11 == 0 else colour[i]
        b = "" if i % 13 == 0 else f"{x2[i]:.3f}"
        lines.append(f"{a},{c},{b},{size[i]},{str(flag[i])},1,{label[i]}")
    file = path / "mixed.csv"
    file.write_text("\n".join(lines) + "\n")
    return str(file)
