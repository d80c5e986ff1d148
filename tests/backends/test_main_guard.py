"""Worker processes start with ``spawn``, which runs the user's script again in every worker: a script
that starts a run at its top level, outside ``if __name__ == "__main__":``, made every worker start
the run again (Python's bootstrapping error, 2,000 lines of it), every candidate failed as "worker
lost" and the workers' runs littered the folder. Such a script is stopped before any run directory
is made, with what to change; the same script with the guard runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow  # scripts in fresh interpreters, with worker processes

BODY = """
import evoforge
config = evoforge.RunConfig(generations=2, backend="process", workers=2, strategy={{"name": "cma_es"}},
                            problem={{"kind": "function", "name": "sphere", "dim": 3}})
{call}
"""


def _script(tmp_path, call: str):
    path = tmp_path / "search.py"
    path.write_text(textwrap.dedent(BODY.format(call=call)))
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )


def test_a_script_starting_workers_outside_the_main_guard_is_stopped_with_what_to_change(tmp_path):
    proc = _script(tmp_path, "evoforge.run(config, 'r')")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert "search.py, line 5: worker processes run this script again" in last, proc.stderr[-2000:]
    assert 'if __name__ == "__main__":' in last and "backend='serial'" in last
    assert len(proc.stderr.splitlines()) < 40 and not (tmp_path / "r").exists()


def test_the_same_script_under_the_guard_runs(tmp_path):
    proc = _script(
        tmp_path, "def main():\n    evoforge.run(config, 'r')\n\nif \"__main__\" == __name__:\n    main()"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "r" / "result.json").is_file()


def test_an_unguarded_pipeline_search_leaves_no_folder_behind(tmp_path):
    script = tmp_path / "fit.py"
    script.write_text(
        "from sklearn.datasets import load_iris\n"
        "from evoforge.pipelines import PipelineSearch\n"
        "X, y = load_iris(return_X_y=True)\n"
        "PipelineSearch(generations=1, population_size=4, run_dir='ps').fit(X, y)\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 1 and "fit.py, line 4: worker processes run this script again" in proc.stderr
    assert list((tmp_path / "ps").iterdir()) == []
