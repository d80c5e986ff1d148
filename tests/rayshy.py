"""A user's problem whose module cannot be imported in a Ray worker: it needs something only the
driver has (here an environment variable the test sets in the driver once the Ray instance runs, so
the instance's workers never see it)."""

import os

from evoforge.core.problem import EvalResult, Problem, ProblemConfig

if os.environ.get("EVOFORGE_TEST_DRIVER") != "1":
    raise RuntimeError("no licence server in this process")


class ShyConfig(ProblemConfig):
    kind: str = "rayshy:ShyProblem"


class ShyProblem(Problem):
    kind = "rayshy:ShyProblem"
    config_class = ShyConfig
    direction = "minimize"

    @property
    def dim(self):
        return 2

    def initial_params(self, rng):
        return rng.uniform(-1, 1, 2)

    def evaluate(self, params, seeds, context):
        return [EvalResult(float((x**2).sum())) for x in params]
