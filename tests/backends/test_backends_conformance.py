"""Every registered backend through the conformance suite (evoforge.testing.backends); Ray's start-up
makes its cases slow."""

import pytest

from evoforge.testing import backends as suite

NAMES = [pytest.param(n, marks=pytest.mark.slow) if n == "ray" else n for n in suite.backend_names()]


@pytest.mark.parametrize("name", NAMES)
def test_backend_returns_every_result_once(name):
    suite.check_results(name)


@pytest.mark.parametrize("name", NAMES)
def test_backend_loses_only_the_crashing_item(name):
    suite.check_lost_worker(name)


@pytest.mark.parametrize("name", NAMES)
def test_backend_stops_an_item_past_its_hard_limit(name):
    suite.check_hard_limit(name)


def test_a_pool_that_broke_before_it_says_so_loses_the_chunk_and_recovers():
    """concurrent.futures can close a broken pool's queues before it marks the pool broken; a chunk
    submitted in that window raises OSError('handle is closed'). The process backend treats it as a
    chunk lost with a crashed worker and runs it again."""
    from evoforge.backends.base import Job
    from evoforge.backends.process import ProcessBackend

    class Flaky(ProcessBackend):
        broke = False

        def _get_pool(self):
            pool = super()._get_pool()
            if not Flaky.broke:
                Flaky.broke = True

                def closed(*args, **kwargs):
                    raise OSError("handle is closed")

                pool.submit = closed
            return pool

    with Flaky(workers=2) as backend:
        got = {}
        for chunk in backend.run(Job(suite.square, (0,), list(range(8)), on_lost=lambda why: ("lost", why))):
            got.update(zip(chunk.indices, chunk.results, strict=True))
    assert got == {i: i * i for i in range(8)}
