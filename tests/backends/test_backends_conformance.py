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
