"""Neural Architecture Refinement (seed 004): search which operator each layer of a zoo backbone uses, skips fixed."""

from nivalis.nas.controller import OperatorController, Reinforce
from nivalis.nas.rewrite import swap_blocks, swap_conv3x3
from nivalis.nas.search import NARConfig, budget, load_arch, make_proxy, retrain, retrain_config, reward, search
from nivalis.nas.space import SearchSpace, Slot, build_refined
from nivalis.nas.supernet import MixedOperator, Supernet, evaluate_arch
from nivalis.nas.variants import create_variant

__all__ = ["MixedOperator", "NARConfig", "OperatorController", "Reinforce", "SearchSpace", "Slot", "Supernet",
           "budget", "build_refined", "create_variant", "evaluate_arch", "load_arch", "make_proxy", "retrain",
           "retrain_config", "reward", "search", "swap_blocks", "swap_conv3x3"]
