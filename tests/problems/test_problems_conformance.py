"""Every registered problem kind and each search space it offers, through the conformance suite
(evoforge.testing.problems), from the example config each problem states."""

import pytest

from evoforge.testing import problems as suite

# problems whose example trains networks: seconds, not milliseconds
SLOW = {"classification", "optimizer_search"}
CASES = [pytest.param(k, i, marks=pytest.mark.slow) if k in SLOW else (k, i) for k, i in suite.cases()]


@pytest.mark.parametrize(("kind", "index"), CASES)
def test_problem_space(kind, index):
    suite.check_space(kind, index)


@pytest.mark.parametrize(("kind", "index"), CASES)
def test_problem_evaluation(kind, index):
    suite.check_evaluation(kind, index)
