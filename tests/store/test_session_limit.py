"""The run store's in-memory index of this session's evaluations is bounded: past ``session_limit``
it is committed and dropped, and lookups go to the database, with the same decisions."""

from conftest import outcome

import evoforge
from evoforge.store.run_store import RunStore

CONFIG = {
    "seed": 3,
    "generations": 12,
    # elites: every generation repeats genomes seen before, found by lookup
    "strategy": {"name": "ga", "population_size": 12, "sigma": 0.3, "elite_size": 3},
    "problem": {"kind": "function", "name": "sphere", "dim": 4},
    "checkpoint_interval": 0,
}


def test_a_bounded_index_decides_as_an_unbounded_one(tmp_path, monkeypatch):
    config = evoforge.RunConfig.model_validate(CONFIG)
    evoforge.run(config, tmp_path / "unbounded")
    sizes = []
    lookup = RunStore.lookup

    def watched(self, genome_ids):
        found = lookup(self, genome_ids)
        sizes.append(len(self._session))
        return found

    monkeypatch.setattr(RunStore, "session_limit", 10, raising=False)
    monkeypatch.setattr(RunStore, "lookup", watched)
    evoforge.run(config, tmp_path / "bounded")
    assert max(sizes) <= 10 + CONFIG["strategy"]["population_size"]
    assert outcome(tmp_path / "bounded") == outcome(tmp_path / "unbounded")
    cached = sum(row[3] for row in outcome(tmp_path / "bounded")["individuals"])
    assert cached >= 12  # the database answered lookups after the index was dropped
