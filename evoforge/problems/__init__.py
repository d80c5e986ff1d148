"""Problems: what fitness means. Importing this fills the registry."""

from evoforge.problems.base import PROBLEMS, EvalResult, Problem, ProblemConfig, TestResult
from evoforge.problems.classification import ClassificationConfig, ClassificationProblem
from evoforge.problems.double_pole import DoublePoleConfig, DoublePoleProblem
from evoforge.problems.functions import FunctionConfig, FunctionProblem
from evoforge.problems.gym import GymConfig, GymProblem
from evoforge.problems.optimizer_search import OptimizerSearchConfig, OptimizerSearchProblem
from evoforge.problems.xor import XORConfig, XORProblem

__all__ = [
    "PROBLEMS",
    "ClassificationConfig",
    "ClassificationProblem",
    "DoublePoleConfig",
    "DoublePoleProblem",
    "EvalResult",
    "FunctionConfig",
    "FunctionProblem",
    "GymConfig",
    "GymProblem",
    "OptimizerSearchConfig",
    "OptimizerSearchProblem",
    "Problem",
    "ProblemConfig",
    "TestResult",
    "XORConfig",
    "XORProblem",
]
