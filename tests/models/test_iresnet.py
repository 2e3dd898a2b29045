"""ArcFace's LResNet-E-IR face backbones: exact size, IR block layout, NAR operators on its 3×3 slots."""

import torch

from nivalis.models import create_model, model_family
from nivalis.models.iresnet import IRBlock
from nivalis.nas.operators import SeparableOperator
from nivalis.nas.space import build_refined

from .conftest import forward_backward, meta_counts


def _expected_lresnet50e_ir_params() -> int:
    """Count by hand from the architecture (stem, 24 IR blocks, E head), independent of the module code."""
    total = 3 * 64 * 9 + 2 * 64 + 64  # stem conv, BN, PReLU
    in_chs = 64
    for depth, c in zip((3, 4, 14, 3), (64, 128, 256, 512)):
        for i in range(depth):
            total += 2 * in_chs + in_chs * c * 9 + 2 * c + c + c * c * 9 + 2 * c  # BN, conv, BN, PReLU, conv, BN
            if i == 0:
                total += in_chs * c + 2 * c  # strided 1×1 shortcut + BN
            in_chs = c
    total += 2 * 512 + 512 * 7 * 7 * 512 + 512 + 2 * 512  # BN, FC, embedding BN1d
    return total


def test_lresnet50e_ir_size_and_flops():
    params, flops = meta_counts("lresnet50e_ir", (3, 112, 112))
    assert params == _expected_lresnet50e_ir_params() == 43_590_848  # ArcFace's r50: 43.6 M
    assert abs(flops / 2 - 6.31e9) / 6.31e9 < 0.01  # 6.3 G multiply-adds at 112×112
    assert model_family("lresnet50e_ir") == "iresnet"


def test_ir_block_layout_and_embedding():
    model = create_model("lresnet34e_ir", num_classes=0, width_mult=0.125, input_size=32)
    blocks = [m for m in model.modules() if isinstance(m, IRBlock)]
    assert len(blocks) == 16
    first = blocks[0]
    assert first.conv1[0].stride == (1, 1) and first.conv2[0].stride == (2, 2)  # ArcFace: stride on the 2nd conv
    model.eval()
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    assert not model.features.weight.requires_grad


def test_ops_on_ir_slots_train():
    ops = [1, 0, 2, 3] * 6  # 24 blocks → block granularity
    model = build_refined("lresnet50e_ir", ops, num_classes=5, in_chans=1, width_mult=0.0625, input_size=16)
    assert sum(isinstance(m, SeparableOperator) for m in model.modules()) == 12
    forward_backward(model, torch.randn(3, 1, 16, 16), (3, 5))
