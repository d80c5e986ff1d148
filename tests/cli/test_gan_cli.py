"""A GAN search from the command line: the report saves the winner's generator (state dict and
TorchScript) and its samples, ``sample`` draws from it, and a killed search resumes identically."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from conftest import cli, kill_then_resume, outcome

#: image GANs held small, so the test trains in seconds
_SMALL = {"g_channels": 8, "d_channels": 8, "batch_size": 32, "d_steps": 1}


def _config(tmp_path, problem=None, **extra):
    raw = {
        "seed": 1,
        "generations": 2,
        "strategy": {"name": "regularized_evolution", "population_size": 4, "sample_size": 2},
        "problem": {"kind": "gan", "steps": 20, "samples": 400, **(problem or {})},
        "test_episodes": 2,
        **extra,
    }
    path = tmp_path / "gan.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "problem, width",
    [({}, 2), ({"data": "digits", "feature_steps": 100, "space": {"fixed": _SMALL}}, 64)],
    ids=["ring", "digits"],
)
def test_search_report_and_sample(tmp_path, problem, width):
    import torch

    config = _config(tmp_path, problem)
    assert cli("run", config, "--out", tmp_path / "run", "--quiet").returncode == 0
    done = cli("report", tmp_path / "run", "--out", tmp_path / "report")
    assert done.returncode == 0, done.stderr
    run = tmp_path / "run"
    for name in (
        "best_gan.json",
        "best_generator.pt",
        "best_generator.ts",
        "best_samples.png",
        "generations.png",
    ):
        assert (run / name).is_file(), name
    from evoforge.problems.gan_export import load_generator, sample

    # the TorchScript file and the state dict are the same generator
    scripted = torch.jit.load(str(run / "best_generator.ts"))
    generator = load_generator(run / "best_generator.pt")
    z = torch.randn(16, generator[0].in_features)  # the first layer is dense in both kinds
    torch.testing.assert_close(scripted(z), generator(z))
    done = cli("sample", run, "--n", "50", "--out", tmp_path / "new" / "points.csv")  # a new folder
    assert done.returncode == 0, done.stderr
    points = np.loadtxt(tmp_path / "new" / "points.csv", delimiter=",", skiprows=1)
    assert points.shape == (50, width)
    np.testing.assert_allclose(
        points, sample(run / "best_generator.pt", 50).reshape(50, -1), rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
def test_killed_gan_search_resumes_identically(tmp_path):
    config = _config(tmp_path, generations=5, checkpoint_interval=0)
    assert cli("run", config, "--out", tmp_path / "straight", "--quiet").returncode == 0
    kill_then_resume(config, tmp_path / "killed", checkpoints=2)
    assert outcome(tmp_path / "killed") == outcome(tmp_path / "straight")
    # a search not yet reported has no generator saved: sample says what to run first (a run of another
    # kind, or no run at all, is refused in tests/cli/test_bad_input.py)
    done = cli("sample", tmp_path / "straight")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "no saved generator (best_generator.pt): run 'evoforge report" in done.stderr
