"""NAR candidate operators: shapes kept on every slot geometry, the parameter rule, the ops= length rule."""

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nivalis.errors import UserError
from nivalis.layers.residual import conv3x3_bn, output_norms
from nivalis.models import create_model
from nivalis.nas.operators import (
    ALL_CANDIDATES,
    OperatorChoice,
    allowed_operators,
    expand_ops,
    make_operator,
    operator_params,
)
from nivalis.nas.space import build_refined


@pytest.mark.parametrize("code", ALL_CANDIDATES)
@pytest.mark.parametrize("in_chs,out_chs,stride", [(8, 8, 1), (8, 16, 2), (8, 16, 1), (6, 6, 2)])
def test_every_candidate_keeps_the_conv_shape(code, in_chs, out_chs, stride):
    x = torch.randn(2, in_chs, 9, 9)  # odd side: the strided output must round up like the conv
    expected = conv3x3_bn(in_chs, out_chs, stride=stride)(x).shape
    unit = make_operator(code, in_chs, out_chs, stride=stride)
    y = unit(x)
    assert y.shape == expected
    y.sum().backward()
    assert len(output_norms(unit)) == 1


def test_pooling_is_parameter_free_unless_channels_change():
    # BN only when the channel count stays; a 1×1 projection (in·out) + BN when it changes
    assert operator_params(2, 16, 16) == 2 * 16
    assert operator_params(3, 16, 32, stride=2) == 16 * 32 + 2 * 32
    assert operator_params(1, 16, 32) == 16 * 9 + 2 * 16 + 16 * 32 + 2 * 32
    assert operator_params(0, 16, 32) == 16 * 32 * 9 + 2 * 32


def test_parameter_rule_drops_conv5x5_keeps_sep5x5():
    assert allowed_operators(64, 64, candidates=ALL_CANDIDATES) == [0, 1, 2, 3, 5]
    assert allowed_operators(64, 64, candidates=ALL_CANDIDATES, param_rule=False) == [0, 1, 2, 3, 4, 5]
    assert allowed_operators(64, 128, candidates=(1, 2)) == [0, 1, 2]  # 0 is always a candidate


def test_all_zero_ops_is_the_original_network():
    torch.manual_seed(3)
    a = create_model("resnet18", num_classes=10, in_chans=1, stem="cifar", width_mult=0.25)
    torch.manual_seed(3)
    b = build_refined("resnet18", [0] * 16, num_classes=10, in_chans=1, stem="cifar", width_mult=0.25)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def _meta_count(ops=None) -> dict[str, int]:
    with torch.device("meta"):
        model = (create_model("resnet18", num_classes=1000) if ops is None
                 else build_refined("resnet18", ops, num_classes=1000))
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, 224, 224, device="meta"))
    return {"params": sum(p.numel() for p in model.parameters()), "flops": int(counter.get_total_flops())}


def test_ops_length_selects_granularity_and_the_seed_table4_reduction():
    base = _meta_count()
    cb, cl = _meta_count(ops=[1, 0, 0, 0, 0, 0, 0, 0]), _meta_count(ops=[1, 1] + [0] * 14)
    assert cb == cl  # block 0 as separable = its two slots as separable
    # seed Table 4: ResNet-18-8 with the first block separable has 11 % fewer FLOPs, 1.16e7 params
    assert 0.10 < 1 - cb["flops"] / base["flops"] < 0.12
    assert round(cb["params"] / 1e7, 2) == 1.16


def test_ops_errors_name_the_counts():
    with pytest.raises(UserError, match="takes 8 .* or 16"):
        build_refined("resnet18", [0] * 9)
    with pytest.raises(UserError, match="unknown operator code 7"):
        build_refined("resnet18", [7] * 8)
    assert expand_ops([1, 2], [2, 1]) == ([1, 1, 2], "block")
    assert expand_ops([1, 2, 3], [2, 1]) == ([1, 2, 3], "layer")


def test_zero_init_reaches_swapped_slots():
    model = build_refined("resnet18", [1, 2, 3, 0, 1, 2, 3, 0], num_classes=10, width_mult=0.25)
    for block in [m for m in model.modules() if type(m).__name__ == "BasicBlock"]:
        assert all(float(bn.weight.detach().abs().sum()) == 0 for bn in output_norms(block.conv2))


def test_per_block_factories_record_slots():
    choice = OperatorChoice([2, 0], num_blocks=2)
    f0, f1 = choice.for_block(0), choice.for_block(1)
    f0(4, 4), f0(4, 4), f1(4, 8, stride=2)
    choice.finish()
    assert choice.codes == [2, 2, 0] and choice.slots_per_block == [2, 1]
