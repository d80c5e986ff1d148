"""Every registered strategy through the conformance suite (evoforge.testing): a new strategy is
picked up from the registry, with the budgets it states."""

import pytest

from evoforge.testing import strategies as suite


@pytest.mark.parametrize("name", suite.strategy_names())
def test_strategy_contract(name):
    suite.check_contract(name)


@pytest.mark.parametrize("name", suite.strategy_names())
def test_strategy_reproducibility(name):
    suite.check_reproducible(name)


@pytest.mark.parametrize(("name", "index"), suite.budgets())
def test_strategy_convergence(name, index):
    suite.check_convergence(name, index)


def test_every_strategy_states_a_budget():
    assert [n for n in suite.strategy_names() if not suite.STRATEGIES[n].convergence] == []
