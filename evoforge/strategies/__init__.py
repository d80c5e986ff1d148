"""Search strategies, one module per algorithm; importing this fills the registry."""

from evoforge.strategies.cma_es import CMAES, CMAESConfig, SepCMAES
from evoforge.strategies.ga import GA, GAConfig
from evoforge.strategies.neat import NEAT, NEATConfig
from evoforge.strategies.nsga2 import NSGA2, NSGA2Config
from evoforge.strategies.open_es import OpenES, OpenESConfig
from evoforge.strategies.random_search import RandomSearch, RandomSearchConfig
from evoforge.strategies.regularized_evolution import RegularizedEvolution, RegularizedEvolutionConfig
from evoforge.strategies.steady_state import SteadyStateGA, SteadyStateGAConfig
from evoforge.strategies.tournament_ga import CrossoverMutation, Elitist, TournamentGA, TournamentGAConfig

__all__ = [
    "CMAES",
    "CMAESConfig",
    "GA",
    "GAConfig",
    "NEAT",
    "NEATConfig",
    "NSGA2",
    "NSGA2Config",
    "OpenES",
    "OpenESConfig",
    "RandomSearch",
    "RandomSearchConfig",
    "RegularizedEvolution",
    "RegularizedEvolutionConfig",
    "SepCMAES",
    "SteadyStateGA",
    "SteadyStateGAConfig",
    "TournamentGA",
    "TournamentGAConfig",
    "CrossoverMutation",
    "Elitist",
]
