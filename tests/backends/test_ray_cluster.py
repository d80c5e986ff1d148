"""Losing a whole node: a 3-node Ray cluster on this machine (a head with no CPUs, two workers'
nodes with one CPU each); one worker node is removed during a run, which must still end with
every candidate accounted for and the same result as a serial run."""

import os
from pathlib import Path

import pytest
from conftest import after_checkpoints, outcome
from faulty import faulty_config

import evoforge
from evoforge.backends.serial import SerialBackend

pytestmark = pytest.mark.slow  # a Ray cluster of several processes

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from evoforge.backends.ray import RayBackend  # noqa: E402

TESTS = str(Path(__file__).resolve().parents[1])


class WatchedRayBackend(RayBackend):
    """Counts the chunks it had to recover."""

    recovered = 0

    def _recover(self, task, exc):
        self.recovered += 1
        return super()._recover(task, exc)


def test_losing_a_node_mid_run_loses_nothing(tmp_path):
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")]))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        cluster.add_node(num_cpus=1)
        doomed = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        cfg = faulty_config(tmp_path, generations=8, seconds=0.05, checkpoint_interval=0)
        evoforge.run(cfg, tmp_path / "serial", backend=SerialBackend())
        with WatchedRayBackend(address=cluster.address) as backend:
            assert backend.slots == 2
            thread, removed = after_checkpoints(tmp_path / "ray", lambda: cluster.remove_node(doomed))
            result = evoforge.run(cfg, tmp_path / "ray", backend=backend)
            thread.join()
        assert removed, "the node was not removed during the run"
        assert backend.recovered >= 1, "no chunk was lost with the node"
        assert result.failed == 0
        assert outcome(tmp_path / "ray") == outcome(tmp_path / "serial")
    finally:
        ray.shutdown()
        cluster.shutdown()
