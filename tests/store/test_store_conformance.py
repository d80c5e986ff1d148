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
