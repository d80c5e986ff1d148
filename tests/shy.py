"""A user's problem whose module cannot be imported in a worker process: it needs something only the
driver has. Here: an environment variable its test sets in the driver (a Ray instance started before
never passes it to its workers), and being the main process (the process backend's workers inherit the
variable). ``EVOFORGE_SHY_OFF=1`` lets it load anywhere (the problem fixed)."""

import multiprocessing
import os

from evoforge.core.problem import EvalResult, Problem, ProblemConfig

driver = (
    os.environ.get("EVOFORGE_TEST_DRIVER") == "1" and multiprocessing.current_process().name == "MainProcess"
)
if not driver and os.environ.get("EVOFORGE_SHY_OFF") != "1":
    raise RuntimeError("no licence server in this process")


class ShyConfig(ProblemConfig):
    kind: str = "shy:ShyProblem"


class ShyProblem(Problem):
    kind = "shy:ShyProblem"
    config_class = ShyConfig
    direction = "minimize"

    @property
    def dim(self):
        return 2

    def initial_params(self, rng):
        return rng.uniform(-1, 1, 2)

    def evaluate(self, params, seeds, context):
        return [EvalResult(float((x**2).sum())) for x in params]
