"""A problem that misbehaves on purpose, for the fault-tolerance tests.

It is used as a custom problem kind (``kind: faulty:FaultyProblem``), so it also
exercises loading a user's own Problem class in worker processes. Fitness is the
sphere function; candidates whose first coordinate exceeds ``above`` misbehave
as ``mode`` says. Every evaluation records the worker's pid in ``marker_dir``.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Literal

import numpy as np

from evoforge.core.genome import genome_id
from evoforge.core.problem import EvalResult, Problem, ProblemConfig


class FaultyConfig(ProblemConfig):
    kind: str = "faulty:FaultyProblem"
    dim: int = 3
    mode: Literal["none", "raise", "nan", "hang", "stuck", "exit", "flaky", "slow", "bare"] = "none"
    above: float = 1.0
    seconds: float = 0.0  # every candidate takes this long
    slow: float = 1.0  # mode "slow": a misbehaving candidate takes this long (and then succeeds)
    marker_dir: str = ""
    needs_shared: bool = False  # fail unless built from shared inputs (the file is gone by then)


class FaultyProblem(Problem):
    kind = "faulty:FaultyProblem"
    config_class = FaultyConfig
    direction = "minimize"
    config: FaultyConfig

    def __init__(self, config: FaultyConfig, shared=None):
        super().__init__(config, shared)
        self.offset = 0.0
        if config.needs_shared:
            if shared is not None:
                self.offset = float(shared["offset"][0])
            else:  # the driver reads it from disk; workers must get it from the object store
                self.offset = float(np.load(Path(config.marker_dir) / "offset.npy")[0])

    def shared_inputs(self):
        return {"offset": np.array([self.offset])} if self.config.needs_shared else {}

    @property
    def dim(self) -> int:
        return self.config.dim

    def initial_params(self, rng):
        return rng.uniform(-2, 2, self.config.dim)

    def evaluate(self, params, seeds, context):
        c = self.config
        if c.marker_dir:
            Path(c.marker_dir, f"pid-{os.getpid()}").touch()
        if c.seconds:
            time.sleep(c.seconds * len(params))
        out = []
        for x in np.atleast_2d(params):
            bad = c.mode != "none" and x[0] > c.above
            if bad and c.mode == "raise":
                raise RuntimeError("candidate blew up")
            if bad and c.mode == "slow":
                time.sleep(c.slow)
            if bad and c.mode == "hang":
                time.sleep(60)
            if bad and c.mode == "stuck":  # deaf to the soft time limit: only a hard stop ends it
                signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
                time.sleep(60)
            if bad and c.mode == "exit":
                os._exit(3)
            if bad and c.mode == "flaky":
                marker = Path(c.marker_dir, "flaky-" + genome_id(np.asarray(x)))
                if not marker.exists():
                    marker.touch()
                    raise RuntimeError("transient failure")
            value = float(np.sum(x * x)) + self.offset
            out.append(EvalResult(float("nan") if bad and c.mode == "nan" else value))
        if c.mode == "bare":  # the contract broken: one EvalResult, not a list of one per candidate
            return out[0]
        return out


def faulty_config(tmp_path, mode="none", strategy=None, generations=4, **problem):
    from evoforge import RunConfig

    marker = tmp_path / "markers"
    marker.mkdir(exist_ok=True)
    extra = {k: problem.pop(k) for k in list(problem) if k in RunConfig.model_fields}
    return RunConfig(
        seed=3,
        generations=generations,
        strategy=strategy or {"name": "ga", "population_size": 8, "sigma": 0.3, "elite_size": 1},
        problem={"kind": "faulty:FaultyProblem", "mode": mode, "marker_dir": str(marker), **problem},
        **extra,
    )
