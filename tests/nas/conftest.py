"""NAR tests run on one intra-op thread (tests/conftest.py) on tiny backbones."""

import pytest

from nivalis.nas.space import SearchSpace

#: a ResNet-18 with 4 channels in stage 1: the real topology at a tiny fraction of the cost
TINY = {"stem": "cifar", "width_mult": 0.0625}


@pytest.fixture(scope="session")
def tiny_space() -> SearchSpace:
    return SearchSpace("resnet18", "block", input_shape=(1, 16, 16), num_classes=10, model_kwargs=TINY)


@pytest.fixture(scope="session")
def tiny_layer_space() -> SearchSpace:
    return SearchSpace("resnet18", "layer", input_shape=(1, 16, 16), num_classes=10, model_kwargs=TINY)
