"""The bad-input corpus: configs, ``--set`` overrides, datasets, damaged run directories of every file
kind, and misuse of every subcommand. Each case must end with exit code 2 and one line on stderr
naming the problem, print no traceback, leave no run directory behind and change no existing one.

The commands run in this process through ``evoforge.cli.main`` (the console entry point), so the
corpus costs seconds; ``tests/cli/test_cli.py`` runs a sample of the same in fresh interpreters.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import write_idx_folder

import evoforge

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

GYM = {
    "name": "gym",
    "generations": 2,
    "strategy": {"name": "open_es", "population_size": 8},
    "problem": {"kind": "gym", "env_id": "CartPole-v1", "episodes": 2, "policy": {"hidden": [4]}},
    "test_episodes": 2,
}
NEAT = {
    "name": "neat",
    "generations": 2,
    "strategy": {"name": "neat", "population_size": 20},
    "problem": {"kind": "xor"},
    "test_episodes": 1,
}


def main(*args: object) -> int:
    """``evoforge ARGS`` in this process; its exit code."""
    from evoforge import cli

    saved = sys.argv
    sys.argv = ["evoforge", *map(str, args)]
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved
    return code


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with a hash of its bytes."""
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def check(capsys, args: list, message: str, watched: Path | None = None, absent: Path | None = None):
    """Run ``args``; assert exit 2, one stderr line containing ``message``, no traceback, ``watched``
    unchanged and ``absent`` not created."""
    before = snapshot(watched) if watched is not None else None
    capsys.readouterr()
    code = main(*args)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
    assert len(lines) == 1, err
    assert "Traceback" not in out + err
    assert message in lines[0], (message, lines[0])
    if watched is not None:
        assert snapshot(watched) == before, "the command changed the run directory"
    if absent is not None:
        assert not absent.exists(), f"{absent} was left behind"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished gym run, a finished NEAT run and an interrupted gym run to copy and damage."""
    root = tmp_path_factory.mktemp("runs")
    evoforge.run(evoforge.RunConfig.model_validate(GYM), root / "gym")
    evoforge.run(evoforge.RunConfig.model_validate(NEAT), root / "neat")
    # interrupted: a finished run of 4 generations without its result, as a kill after the 2nd leaves it
    interrupted = dict(GYM, generations=4, checkpoint_interval=0)
    evoforge.run(evoforge.RunConfig.model_validate(interrupted), root / "interrupted")
    db = sqlite3.connect(root / "interrupted" / "evoforge.sqlite")
    with db:
        db.execute("DELETE FROM generations WHERE generation >= 2")
        db.execute("DELETE FROM individuals WHERE generation >= 2")
    db.close()
    for name in ("result.json", "hall_of_fame.json"):
        (root / "interrupted" / name).unlink()
    for ckpt in (root / "interrupted" / "checkpoints").glob("gen_*.npz"):
        if int(ckpt.stem[4:]) > 2:
            ckpt.unlink()
    return root


# -- configs ----------------------------------------------------------------------------------------
def _config(change=None, base=GYM):
    import copy

    data = copy.deepcopy(base)
    if change is not None:
        change(data)
    return data


def _set(path: str, value):
    def change(data):
        node = data
        *parents, last = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return change


def _drop(key: str):
    return lambda data: data.pop(key)


CONFIGS = {
    "unknown top-level field": (_config(_set("generatoins", 3)), "generatoins: unknown field"),
    "missing strategy": (_config(_drop("strategy")), "strategy: Field required"),
    "missing problem": (_config(_drop("problem")), "problem: Field required"),
    "strategy without name": (_config(_set("strategy", {"sigma": 1})), "strategy needs a 'name'"),
    "unknown strategy": (_config(_set("strategy.name", "bogus")), "unknown strategy 'bogus'"),
    "problem without kind": (_config(_set("problem", {"env_id": "x"})), "problem needs a 'kind'"),
    "unknown problem kind": (_config(_set("problem.kind", "chess")), "unknown problem kind 'chess'"),
    "custom problem not importable": (
        _config(_set("problem", {"kind": "nowhere.mod:Thing"})),
        "cannot be imported",
    ),
    "custom problem not a Problem": (
        _config(_set("problem", {"kind": "pathlib:Path"})),
        "is not a Problem subclass",
    ),
    "unknown environment": (_config(_set("problem.env_id", "NoSuchEnv-v9")), "NoSuchEnv-v9"),
    "environment needing mujoco or a bad version": (
        _config(_set("problem.env_id", "CartPole-v99")),
        "CartPole-v99",
    ),
    "generations 0": (
        _config(_set("generations", 0)),
        "generations: Input should be greater than or equal to 1",
    ),
    "generations text": (
        _config(_set("generations", "many")),
        "generations: Input should be a valid integer",
    ),
    "negative seed": (_config(_set("seed", -1)), "seed: Input should be greater than or equal to 0"),
    "population 1": (_config(_set("strategy.population_size", 1)), "population_size"),
    "odd ES population": (_config(_set("strategy.population_size", 7)), "population_size must be even"),
    "population beyond memory": (
        _config(_set("strategy.population_size", 1_000_000_000)),
        "GiB of memory",
    ),
    "negative sigma": (_config(_set("strategy.sigma", -1)), "strategy.sigma: Input should be greater than 0"),
    "unknown strategy field": (_config(_set("strategy.sigmaa", 1)), "strategy.sigmaa: unknown field"),
    "negative hidden width": (_config(_set("problem.policy.hidden", [-4])), "problem.policy.hidden.0"),
    "hidden not a list": (_config(_set("problem.policy.hidden", "wide")), "problem.policy.hidden"),
    "unknown activation": (_config(_set("problem.policy.activation", "swish")), "problem.policy.activation"),
    "episodes 0": (_config(_set("problem.episodes", 0)), "problem.episodes"),
    "unknown backend": (_config(_set("backend", "gpu")), "backend: Input should be"),
    "workers 0": (_config(_set("workers", 0)), "workers: Input should be greater than or equal to 1"),
    "bad ray address": (_config(_set("ray_address", "nowhere")), "is not auto, HOST:PORT"),
    "strategy for another genome kind": (
        _config(_set("problem", {"kind": "xor"})),
        "problem 'xor' evolves networks",
    ),
    "asynchronous generational strategy": (_config(_set("asynchronous", True)), "asynchronous"),
    "negative checkpoint interval": (_config(_set("checkpoint_interval", -1)), "checkpoint_interval"),
    "stop after 0 evaluations": (_config(_set("stop", {"evaluations": 0})), "stop.evaluations"),
    "timeout 0": (_config(_set("evaluation", {"timeout": 0})), "evaluation.timeout"),
    "negative retries": (_config(_set("evaluation", {"retries": -1})), "evaluation.retries"),
    "test episodes 0": (_config(_set("test_episodes", 0)), "test_episodes"),
    "hall of fame 0": (_config(_set("hall_of_fame", 0)), "hall_of_fame"),
    "unknown function": (
        _config(_set("problem", {"kind": "function", "name": "nope", "dim": 3})),
        "problem.name",
    ),
    "function of dimension 0": (
        _config(_set("problem", {"kind": "function", "name": "sphere", "dim": 0})),
        "problem.dim",
    ),
    "objective a problem does not record": (
        _config(
            lambda d: d.update(
                strategy={"name": "nsga2", "objectives": ["nonsense"]},
                problem={"kind": "classification", "dataset": {"name": "digits"}},
            )
        ),
        "objective 'nonsense' is not a metric",
    ),
    "strategy as a list": (_config(_set("strategy", ["open_es"])), "strategy needs a 'name'"),
    "stop as a number": (_config(_set("stop", 5)), "stop"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_a_bad_config_is_one_line_and_exit_2(case, tmp_path, capsys):
    data, message = CONFIGS[case]
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(data))
    check(capsys, ["run", path, "--out", tmp_path / "run"], message, absent=tmp_path / "run")


RAW_FILES = {
    "not YAML": ("a: [1, 2\n", "not valid YAML at line"),
    "a YAML list": ("- 1\n- 2\n", "the config must be a YAML mapping"),
    "empty file": ("", "the config must be a YAML mapping"),
    "a YAML string": ("hello\n", "the config must be a YAML mapping"),
    "tab-indented YAML": ("a:\n\tb: 1\n", "not valid YAML"),
    "binary garbage": (b"\xff\xfe\x00garbage\x80", "cannot read"),
}


@pytest.mark.parametrize("case", sorted(RAW_FILES))
def test_an_unreadable_config_file_is_one_line_and_exit_2(case, tmp_path, capsys):
    content, message = RAW_FILES[case]
    path = tmp_path / "cfg.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    check(capsys, ["run", path, "--out", tmp_path / "run"], message, absent=tmp_path / "run")


def test_a_missing_config_or_a_folder_is_one_line_and_exit_2(tmp_path, capsys):
    check(capsys, ["run", tmp_path / "none.yaml"], "config file not found")
    check(capsys, ["run", tmp_path], "is a directory, not a config file")


OVERRIDES = {
    "no equals sign": ("generations", "--set expects key=value"),
    "empty key": ("strategy..sigma=1", "--set has an empty key"),
    "value not YAML": ("strategy.sigma=[1", "is not valid YAML"),
    "into a value": ("generations.x=1", "'generations' is not a section"),
    "unknown key": ("strategy.bogus=1", "strategy.bogus: unknown field"),
    "wrong type": ("generations=abc", "generations: Input should be a valid integer"),
    "out of range": ("strategy.sigma=0", "strategy.sigma"),
    "unknown env by override": ("problem.env_id=Nope-v0", "Nope-v0"),
    "hidden negative by override": ("problem.policy.hidden=[-4]", "problem.policy.hidden.0"),
}


@pytest.mark.parametrize("case", sorted(OVERRIDES))
def test_a_bad_override_is_one_line_and_exit_2(case, tmp_path, capsys):
    override, message = OVERRIDES[case]
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(GYM))
    check(
        capsys, ["run", path, "--set", override, "--out", tmp_path / "run"], message, absent=tmp_path / "run"
    )


OPTIONS = {
    "unknown option": (["--bogus"], "No such option"),
    "negative --seed": (["--seed", "-1"], "seed"),
    "--workers 0": (["--workers", "0"], "workers"),
    "--workers text": (["--workers", "two"], "Invalid value for '--workers'"),
    "unknown --backend": (["--backend", "gpu"], "backend"),
    "bad --ray-address": (["--ray-address", "nowhere"], "is not auto, HOST:PORT"),
}


@pytest.mark.parametrize("case", sorted(OPTIONS))
def test_a_bad_run_option_is_one_line_and_exit_2(case, tmp_path, capsys):
    extra, message = OPTIONS[case]
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(GYM))
    check(capsys, ["run", path, *extra, "--out", tmp_path / "run"], message, absent=tmp_path / "run")


def test_run_into_an_unwritable_place_or_an_existing_run_is_refused(runs, tmp_path, capsys):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(GYM))
    check(capsys, ["run", path, "--out", "/proc/evoforge-x"], "cannot create the run directory")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    check(
        capsys,
        ["run", path, "--out", blocker / "run"],
        "cannot create the run directory",
        absent=blocker / "run",
    )
    assert blocker.read_text() == "x"
    gym = tmp_path / "gym"
    shutil.copytree(runs / "gym", gym)
    check(capsys, ["run", path, "--out", gym], "already holds a run", watched=gym)


# -- datasets -----------------------------------------------------------------------------------
def _dataset(kind: str, tmp_path: Path) -> tuple[dict, str]:
    """A classification dataset section that cannot be used, and the message it must give."""
    if kind == "missing folder":
        return {"name": "mnist", "path": str(tmp_path / "nothing")}, "train-images-idx3-ubyte[.gz] not found"
    if kind == "fashion without the package":
        return {"name": "fashion-mnist"}, "apt-get install dataset-fashion-mnist"
    if kind == "labels do not match":
        folder = write_idx_folder(tmp_path / "idx", labels_train=np.arange(29) % 10)
        return {"name": "mnist", "path": str(folder)}, "30 train images but 29 labels"
    if kind == "truncated IDX":
        folder = write_idx_folder(tmp_path / "idx")
        target = folder / "t10k-images-idx3-ubyte"
        target.write_bytes(target.read_bytes()[:-10])
        return {"name": "mnist", "path": str(folder)}, "IDX data holds"
    if kind == "csv with text":
        (tmp_path / "t.csv").write_text("a,label\n1,x\nhello,y\n")
        return {"name": "csv", "path": str(tmp_path / "t.csv")}, "'hello' is not a number"
    if kind == "csv ragged":
        (tmp_path / "t.csv").write_text("a,b,label\n1,2,x\n3,y\n")
        return {"name": "csv", "path": str(tmp_path / "t.csv")}, "2 fields, the header has 3"
    if kind == "csv missing":
        return {"name": "csv", "path": str(tmp_path / "none.csv")}, "none.csv"
    if kind == "csv unknown label column":
        (tmp_path / "t.csv").write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
        return {"name": "csv", "path": str(tmp_path / "t.csv"), "label_column": "y"}, "'y'"
    if kind == "npz without arrays":
        np.savez(tmp_path / "d.npz", images=np.zeros((4, 2)))
        return {"name": "npz", "path": str(tmp_path / "d.npz")}, "needs arrays x_train"
    if kind == "npz not a zip":
        (tmp_path / "d.npz").write_bytes(b"garbage")
        return {"name": "npz", "path": str(tmp_path / "d.npz")}, "d.npz"
    if kind == "cifar folder empty":
        (tmp_path / "cifar").mkdir()
        return {"name": "cifar10", "path": str(tmp_path / "cifar")}, "not found"
    if kind == "unknown dataset name":
        return {"name": "imagenet"}, "problem.dataset.name: Input should be 'digits'"
    raise AssertionError(kind)


DATASETS = [
    "missing folder",
    "fashion without the package",
    "labels do not match",
    "truncated IDX",
    "csv with text",
    "csv ragged",
    "csv missing",
    "csv unknown label column",
    "npz without arrays",
    "npz not a zip",
    "cifar folder empty",
    "unknown dataset name",
]


@pytest.mark.parametrize("kind", DATASETS)
def test_a_bad_dataset_is_one_line_and_exit_2(kind, tmp_path, capsys):
    dataset, message = _dataset(kind, tmp_path)
    config = {
        "generations": 1,
        "strategy": {"name": "regularized_evolution", "population_size": 4},
        "problem": {"kind": "classification", "dataset": dataset},
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    check(capsys, ["run", path, "--out", tmp_path / "run"], message, absent=tmp_path / "run")


# -- damaged run directories ------------------------------------------------------------------------
def _damage(run: Path, kind: str) -> str:
    """Damage one file of ``run`` as ``kind`` says; returns the message the commands must give."""
    db = run / "evoforge.sqlite"
    if kind == "config garbage":
        (run / "config.yaml").write_text("strategy: [\n")
        return "config.yaml: not readable YAML"
    if kind == "config not a config":
        (run / "config.yaml").write_text("generations: 3\n")
        return "config.yaml: not a valid config"
    if kind == "database empty":
        for p in run.glob("evoforge.sqlite*"):
            p.unlink()
        db.write_bytes(b"")
        return "evoforge.sqlite: holds no run history"
    if kind == "database garbage":
        for p in run.glob("evoforge.sqlite*"):
            p.unlink()
        db.write_bytes(b"this is not a database" * 100)
        return "evoforge.sqlite: not a readable run store"
    if kind == "database truncated":
        for p in run.glob("evoforge.sqlite-*"):
            p.unlink()
        raw = db.read_bytes()
        db.write_bytes(raw[: len(raw) // 2])
        return "evoforge.sqlite"
    if kind == "database missing":
        for p in run.glob("evoforge.sqlite*"):
            p.unlink()
        return "evoforge.sqlite: missing"
    if kind == "result garbage":
        (run / "result.json").write_text("{not json")
        return "result.json: not readable JSON"
    if kind == "result truncated":
        raw = (run / "result.json").read_text()
        (run / "result.json").write_text(raw[: len(raw) // 2])
        return "result.json: not readable JSON"
    if kind == "result a list":
        (run / "result.json").write_text("[1, 2]")
        return "result.json: expected a JSON object, found list"
    if kind == "result missing fields":
        (run / "result.json").write_text('{"status": "finished"}')
        return "result.json: not a run result"
    if kind == "hall of fame garbage":
        (run / "hall_of_fame.json").write_bytes(b"\x00\xff garbage")
        return "hall_of_fame.json: not readable JSON"
    if kind == "hall of fame truncated":
        raw = (run / "hall_of_fame.json").read_text()
        (run / "hall_of_fame.json").write_text(raw[: len(raw) // 2])
        return "hall_of_fame.json: not readable JSON"
    if kind == "hall of fame a list":
        (run / "hall_of_fame.json").write_text("[]")
        return "hall_of_fame.json: expected a JSON object"
    if kind == "hall of fame entries broken":
        (run / "hall_of_fame.json").write_text('{"entries": [{"rank": 1}]}')
        return "hall_of_fame.json: its entries are not hall-of-fame entries"
    raise AssertionError(kind)


#: which commands read which file of a finished run (a command that never reads a file cannot notice
#: its damage): show reads them all; resume the config, database and result; report the config,
#: database and hall of fame; draw and export the database, result and hall of fame.
READERS = {
    "config garbage": ("show", "resume", "report"),
    "config not a config": ("show", "resume", "report"),
    "database empty": ("show", "resume", "report", "draw", "export"),
    "database garbage": ("show", "resume", "report", "draw", "export"),
    "database truncated": ("show", "resume", "report", "draw", "export"),
    "database missing": ("show", "resume", "report", "draw", "export"),
    "result garbage": ("show", "resume", "draw", "export"),
    "result truncated": ("show", "resume", "draw", "export"),
    "result a list": ("show", "resume", "draw", "export"),
    "result missing fields": ("show", "resume", "draw", "export"),
    "hall of fame garbage": ("show", "report", "draw", "export"),
    "hall of fame truncated": ("show", "report", "draw", "export"),
    "hall of fame a list": ("show", "report", "draw", "export"),
    "hall of fame entries broken": ("show", "report", "draw", "export"),
}
DAMAGED = [(kind, command) for kind, commands in READERS.items() for command in commands]


@pytest.mark.parametrize("kind,command", DAMAGED, ids=[f"{k}-{c}" for k, c in DAMAGED])
def test_a_damaged_run_directory_is_one_line_and_exit_2_and_untouched(kind, command, runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs / "neat", run)
    message = _damage(run, kind)
    args = {
        "show": ["show", run, "--json"],
        "resume": ["resume", run, "--quiet"],
        "report": ["report", run],
        "draw": ["draw", run, "--out", tmp_path / "net.png"],
        "export": ["export", run, "--out", tmp_path / "net.json"],
    }[command]
    check(capsys, args, message, watched=run)
    assert not (tmp_path / "net.png").exists() and not (tmp_path / "net.json").exists()


def test_an_interrupted_run_whose_history_was_lost_is_not_resumed(runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs / "interrupted", run)
    db = sqlite3.connect(run / "evoforge.sqlite")
    with db:  # the database of a fresh run: the schema, no history
        db.execute("DELETE FROM generations")
        db.execute("DELETE FROM individuals")
    db.close()
    check(capsys, ["resume", run, "--quiet"], "holds 0 generations and 0 evaluations", watched=run)


def test_a_gym_run_whose_checkpoints_are_all_damaged_cannot_be_played(runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs / "gym", run)
    for ckpt in (run / "checkpoints").glob("gen_*.npz"):
        ckpt.write_bytes(ckpt.read_bytes()[:50])
    check(capsys, ["play", run, "--episodes", "1"], "unreadable (BadZipFile", watched=run)


# -- every subcommand misused -----------------------------------------------------------------------
def test_subcommands_misused(runs, tmp_path, capsys):
    gym, neat = tmp_path / "gym", tmp_path / "neat"
    shutil.copytree(runs / "gym", gym)
    shutil.copytree(runs / "neat", neat)
    nowhere = tmp_path / "nowhere"
    dense = tmp_path / "dense.json"  # a valid architecture: the device is checked after the files
    dense.write_text('{"layers": [{"type": "dense", "units": 8}]}')
    cases = [
        (["bogus-command"], "No such command"),
        (["show", nowhere], "not an evoforge run directory (no such directory)"),
        (["show", gym / "config.yaml"], "not an evoforge run directory (a file, not a directory)"),
        (["show", tmp_path], "not an evoforge run directory (no config.yaml)"),
        (["resume", nowhere], "not an evoforge run directory"),
        (["report", nowhere], "not an evoforge run directory"),
        (["play", nowhere], "not an evoforge run directory"),
        (["draw", nowhere], "not an evoforge run directory"),
        (["export", nowhere], "not an evoforge run directory"),
        (["play", neat], "play needs a gym run"),
        (["play", gym, "--episodes", "0"], "episodes"),
        (["play", gym, "--gif", "/proc/evoforge/x.gif"], "cannot write /proc/evoforge/x.gif"),
        (["play", gym, "--gif", tmp_path], "is a directory; give a file name"),
        (["draw", gym, "--out", tmp_path / "n.png"], "needs a NEAT run"),
        (["export", gym, "--out", tmp_path / "n.json"], "needs a NEAT run"),
        (["draw", neat, "--genome", "0123", "--out", tmp_path / "n.png"], "no genome 0123"),
        (["export", neat, "--genome", "0123", "--out", tmp_path / "n.json"], "no genome 0123"),
        (["draw", neat, "--out", "/proc/evoforge/n.png"], "cannot write /proc/evoforge/n.png"),
        (["export", neat, "--out", tmp_path], "is a directory; give a file name"),
        (["sample", neat], f"sample needs a GAN search; {neat} is a 'xor' run"),
        (["sample", nowhere], "not an evoforge run directory (no such directory)"),
        (
            ["report", neat, "--out", "/proc/evoforge/report"],
            "cannot write /proc/evoforge/report/fitness.png",
        ),
        (["train-final"], "give a run directory or --arch FILE"),
        (["train-final", neat], "is not an architecture search ('xor' run)"),
        (["train-final", nowhere], "is not a run directory"),
        (
            ["train-final", "--arch", tmp_path / "none.json", "--dataset", "digits"],
            "architecture file not found",
        ),
        (["nas", "--strategy", "bogus", "--output", tmp_path / "nas"], "bogus"),
        (["nas", "--search-space", "bogus", "--output", tmp_path / "nas"], "bogus"),
        (
            ["nas", "--dataset", "imagenet", "--output", tmp_path / "nas"],
            "problem.dataset.name: Input should be",
        ),
        (["nas", "--metric", "speed", "--output", tmp_path / "nas"], "problem.metric: Input should be"),
        (["nas", "--config", tmp_path / "none.yaml", "--output", tmp_path / "nas"], "none.yaml"),
        # a device this machine lacks (a GPU machine has no 99th GPU either) or that is no device
        (
            ["nas", "--set", "problem.device=cuda:99", "--output", tmp_path / "nas"],
            "problem.device: device 'cuda:99'",
        ),
        (
            ["nas", "--set", "problem.device=gpu", "--output", tmp_path / "nas"],
            "device 'gpu' is not cpu, cuda",
        ),
        (
            ["train-final", "--arch", dense, "--dataset", "digits", "--device", "cuda:99"],
            "--device: device 'cuda:99'",
        ),
        (
            ["run", EXAMPLES / "gan-ring.yaml", "--set", "problem.device=cuda:99", "--out", tmp_path / "nas"],
            "problem.device: device 'cuda:99'",
        ),
        (["demo", "--bogus"], "No such option"),
    ]
    for args, message in cases:
        check(capsys, args, message, watched=tmp_path)
    assert not (tmp_path / "nas").exists() and not (tmp_path / "n.png").exists()
