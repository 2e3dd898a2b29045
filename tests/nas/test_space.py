"""Search space: slot discovery per backbone, decisions per granularity, exact cost tables."""

import pytest
import torch

from nivalis.errors import UserError
from nivalis.nas.space import SearchSpace, parse_candidates
from nivalis.profile import count

from .conftest import TINY


def test_resnet18_slots_and_decisions(tiny_space, tiny_layer_space):
    assert len(tiny_space.slots) == 16 and tiny_space.num_decisions == 8  # ResNet-18-8
    assert tiny_layer_space.num_decisions == 16  # ResNet-18-16
    first = tiny_space.slots[4]
    assert first.name == "layer2.0.conv1" and first.stride == 2 and first.out_chs == 2 * first.in_chs
    assert tiny_space.slots[0].input_hw == (16, 16) and tiny_space.slots[-1].input_hw == (2, 2)
    assert tiny_space.decisions[2] == [4, 5]
    assert tiny_space.choices == [[0, 1, 2, 3]] * 8
    assert tiny_space.size() == 4 ** 8


@pytest.mark.parametrize("backbone,kwargs,blocks,slots", [
    ("resnet50", {"stem": "cifar", "width_mult": 0.0625}, 16, 16),
    ("lresnet50e_ir", {"input_size": 16, "width_mult": 0.0625}, 24, 48),
])
def test_other_backbones(backbone, kwargs, blocks, slots):
    block = SearchSpace(backbone, "block", input_shape=(3, 16, 16), model_kwargs=kwargs)
    assert block.num_decisions == blocks and len(block.slots) == slots


@pytest.mark.parametrize("space_name", ["tiny_space", "tiny_layer_space"])
def test_cost_tables_equal_the_built_model(space_name, request):
    space = request.getfixturevalue(space_name)
    gen = torch.Generator().manual_seed(0)
    for arch in [space.baseline()] + [space.random_arch(gen) for _ in range(3)]:
        counted = count(space.build(arch), space.input_shape)
        assert space.cost(arch, "flops") == counted["flops"]
        assert space.cost(arch, "params") == counted["params"]


def test_parameter_rule_and_extended_candidates():
    space = SearchSpace("resnet18", "layer", input_shape=(1, 16, 16), model_kwargs={"stem": "cifar", "width_mult": 0.25},
                        candidates=parse_candidates("0,1,2,3,4,5"))
    assert all(c == [0, 1, 2, 3, 5] for c in space.choices)  # conv 5×5 has more parameters than conv 3×3
    free = SearchSpace("resnet18", "layer", input_shape=(1, 16, 16), model_kwargs={"stem": "cifar", "width_mult": 0.25},
                       candidates=(0, 4), param_rule=False)
    assert free.cost([4] * 16, "flops") > free.cost(free.baseline(), "flops")


def test_user_errors(tiny_space):
    with pytest.raises(UserError, match="takes 8"):
        tiny_space.check([0] * 6)  # 7 is the seed's printing (tests/nas/test_seed_tables.py)
    with pytest.raises(UserError, match="not a candidate"):
        tiny_space.check([4] + [0] * 7)
    with pytest.raises(UserError, match="no searchable"):
        SearchSpace("lenet5", input_shape=(1, 32, 32))
    with pytest.raises(UserError, match="unknown granularity"):
        SearchSpace("resnet18", "cell", input_shape=(1, 32, 32), model_kwargs=TINY)
    with pytest.raises(UserError, match="bad candidate list"):
        parse_candidates("0,a")


def test_expand_and_build(tiny_space):
    arch = [1, 0, 2, 0, 3, 0, 0, 0]
    assert tiny_space.expand(arch)[:6] == [1, 1, 0, 0, 2, 2]
    model = tiny_space.build(arch)
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 10)
