"""Neural Architecture Refinement (seed 004): search which operator each layer of a zoo backbone uses, skips fixed."""

# eager, unlike the other domain packages: `search` and `retrain` name both a function and its module here, and a
# lazy lookup would hand out the module once Python binds the imported submodule on the package
from nivalis.nas.config import budget_config
from nivalis.nas.controller import OperatorController, Reinforce
from nivalis.nas.cost_table import space_costs
from nivalis.nas.search import NARConfig, budget, load_arch, make_proxy, retrain, retrain_config, reward, search
from nivalis.nas.space import SearchSpace, Slot, build_refined
from nivalis.nas.supernet import MixedOperator, Supernet, evaluate_arch

__all__ = ["MixedOperator", "NARConfig", "OperatorController", "Reinforce", "SearchSpace", "Slot", "Supernet",
           "budget", "budget_config", "build_refined", "evaluate_arch", "load_arch", "make_proxy", "retrain",
           "retrain_config", "reward", "search", "space_costs"]
