"""The README's recipes run as written: the block after a ``<!-- ... tests/test_readme.py -->`` marker
(its shell commands, then the Python block that follows), in a fresh folder."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "evoforge"
        proc = subprocess.run([sys.executable, "-m", "evoforge.cli", *argv[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)  # fmt: skip
        assert proc.returncode == 0, (command, proc.stderr)
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
