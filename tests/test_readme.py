"""The README's recipes run as written: the block after a ``<!-- ... tests/test_readme.py -->`` marker
(its shell commands, then the Python block that follows), in a fresh folder."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

README = Path(__file__).resolve().parent.parent / "README.md"


def recipe() -> tuple[list[str], str]:
    """(shell commands, Python code) of the README's tested recipe."""
    text = README.read_text()
    start = text.index("tests/test_readme.py -->")
    shell, python = re.findall(r"```(?:python)?\n(.*?)```", text[start:], flags=re.S)[:2]
    commands = [line.split("  #")[0].strip() for line in shell.splitlines() if line.strip()]
    return commands, python


@pytest.mark.slow
def test_using_the_model_recipe_runs_as_written(tmp_path):
    from sklearn.datasets import load_digits

    commands, python = recipe()
    assert commands[0].startswith("evoforge nas ") and "load_model" in python
    # the user's new data: 20 raw digits, 64 values each
    np.savetxt(
        tmp_path / "new_digits.csv", load_digits().images[:20].reshape(20, 64), delimiter=",", fmt="%g"
    )
    env = dict(os.environ, COLUMNS="200")

    def evoforge(*argv):
        return subprocess.run([sys.executable, "-m", "evoforge.cli", *map(str, argv)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)  # fmt: skip

    said = {}
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "evoforge"
        proc = evoforge(*argv[1:])
        assert proc.returncode == 0, (command, proc.stderr)
        said[argv[1]] = said.get(argv[1], "") + proc.stdout
    run, final = tmp_path / "runs" / "t3", tmp_path / "runs" / "t3-final"
    # the search's last number is measured on the validation split, and says so
    assert "validation score of the proxy retrained" in " ".join(said["nas"].split())
    assert "test score" not in said["nas"]
    assert json.loads((run / "result.json").read_text())["test_label"].startswith("validation score")
    # candidates spread over a worker per core by default
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["backend"] == "process" and config["workers"] is None
    # the winner taken out of the hall of fame trains to the same result as train-final RUN
    # (into a folder not made yet)
    assert evoforge("export-arch", run, "--rank", 1, "--output", "archs/winner.json").returncode == 0
    assert json.loads((tmp_path / "archs" / "winner.json").read_text()) == json.loads(
        (run / "best_arch.json").read_text()
    )
    proc = evoforge(
        "train-final", "--arch", "archs/winner.json", "--dataset", "digits", "--output", "winner-final"
    )
    assert proc.returncode == 0, proc.stderr
    single, again = (
        json.loads((folder / "metrics.json").read_text()) for folder in (final, tmp_path / "winner-final")
    )
    assert again["accuracy"] == single["accuracy"] and again["confusion"] == single["confusion"]
    # the population ensemble: member 1 is train-final RUN's model, the rest average in
    ensemble = json.loads((tmp_path / "runs" / "t3-ensemble" / "metrics.json").read_text())
    assert ensemble["ensemble"] == 3 and ensemble["members"][0]["accuracy"] == single["accuracy"]
    assert ensemble["gain_over_member_1"] == ensemble["accuracy"] - single["accuracy"]
    import evoforge as api
    from evoforge.data.datasets import DatasetSpec, load_dataset

    data = load_dataset(DatasetSpec(name="digits"))
    members = api.load_model(tmp_path / "runs" / "t3-ensemble")
    assert len(members.members) == 3
    assert (members.predict(data.x_test, scaled=True) == data.y_test).mean() == ensemble["accuracy"]
    # no such member, no front: one line, exit 2, nothing written
    for args, message in (
        (["--rank", "11"], "no member 11"),
        (["--front-member", "1"], "has no Pareto front"),
        (["--rank", "1", "--front-member", "1"], "not both"),
    ):
        proc = evoforge("export-arch", run, *args, "--output", "x.json")
        assert proc.returncode == 2 and message in proc.stderr and not (tmp_path / "x.json").exists()
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    assert len(rows) == 21 and rows[0].startswith("input,predicted,p_0")
    assert (
        sum(r.split(",")[1] == str(d) for r, d in zip(rows[1:], load_digits().target[:20], strict=True)) >= 18
    )
    proc = subprocess.run(
        [sys.executable, "-c", python], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['0', '1', '2', '3', '4']"


def test_the_ask_tell_block_runs_as_written(tmp_path, monkeypatch):
    """The README's ask/tell example: it optimises (the sphere's best from about -10 to near 0), and
    the state it saves and restores asks for exactly what the same block's unsaved state asks for."""
    text = README.read_text()
    start = text.index("<!-- the ask/tell block runs in tests/test_readme.py as written -->")
    block = re.findall(r"```python\n(.*?)```", text[start:], flags=re.S)[0]
    unsaved = "\n".join(line for line in block.splitlines() if "_state(" not in line)
    monkeypatch.chdir(tmp_path)
    saved, plain = {}, {}
    exec(compile(block, "README.md", "exec"), saved)
    exec(compile(unsaved, "README.md", "exec"), plain)
    assert max(saved["fitness"]) > -0.5 and (tmp_path / "es.npz").is_file()
    a = saved["es"].ask(saved["state"], np.random.default_rng(7))[1]
    b = plain["es"].ask(plain["state"], np.random.default_rng(7))[1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
