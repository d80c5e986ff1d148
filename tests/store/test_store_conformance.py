"""The SQLite run store through the store conformance suite (evoforge.testing.stores)."""

import pytest

from evoforge.store.run_store import RunStore
from evoforge.testing import stores as suite


def create(path):
    return RunStore.create(path, "name: conformance\n", {"seed": 0})


@pytest.mark.parametrize(
    "check",
    [
        suite.check_records,
        suite.check_lost_workers,
        suite.check_checkpoints,
        suite.check_uncommitted_work_is_redone,
    ],
)
def test_sqlite_store(check, tmp_path):
    check(create, RunStore.open, tmp_path)


@pytest.mark.parametrize(
    "metrics",
    [
        {"error": 0.1 + 0.2, "solved": 1.0, "tiny": 5e-324, "big": -1.7976931348623157e308},
        {"env_steps": 500.0, 'ünïcode "name"': 2.5},
        {"nan": float("nan")},
        {"inf": float("inf"), "x": 1.0},
        {"count": 3, "flag": True, "x": 1.0},
        {"nested": {"a": 1.0}},
        {1: 2.0},
    ],
)
def test_metrics_are_stored_as_the_json_encoder_writes_them(metrics):
    import json

    from evoforge.store.run_store import _metrics_json

    assert _metrics_json(metrics) == json.dumps(metrics)
