"""Problems: what fitness means. Importing this fills the registry."""

from evoforge.problems.base import PROBLEMS, EvalResult, Problem, ProblemConfig, TestResult
from evoforge.problems.functions import FunctionConfig, FunctionProblem
from evoforge.problems.gym import GymConfig, GymProblem
from evoforge.problems.xor import XORConfig, XORProblem

__all__ = [
    "PROBLEMS",
    "EvalResult",
    "FunctionConfig",
    "FunctionProblem",
    "GymConfig",
    "GymProblem",
    "Problem",
    "ProblemConfig",
    "TestResult",
    "XORConfig",
    "XORProblem",
]
