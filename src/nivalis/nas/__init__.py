"""Neural Architecture Refinement (seed 004): search which operator each layer of a zoo backbone uses, skips fixed."""

from nivalis.nas.controller import OperatorController, Reinforce
from nivalis.nas.search import NARConfig, budget, load_arch, make_proxy, retrain, retrain_config, reward, search
from nivalis.nas.space import SearchSpace, Slot, build_refined
from nivalis.nas.supernet import MixedOperator, Supernet, evaluate_arch

__all__ = ["MixedOperator", "NARConfig", "OperatorController", "Reinforce", "SearchSpace", "Slot", "Supernet",
           "budget", "build_refined", "evaluate_arch", "load_arch", "make_proxy", "retrain", "retrain_config", "reward",
           "search"]
