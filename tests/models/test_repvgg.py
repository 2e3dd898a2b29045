import pytest
import torch

from nivalis.layers.repvgg_block import RepVGGBlock
from nivalis.models import create_model
from nivalis.profile import count

from .conftest import forward_backward, meta_counts


def test_params_exact_train_and_fused():
    # timm repvgg_a0: 9,108,968 train-time parameters, 8,309,384 after fusing (one 3×3 conv + bias per layer).
    params, flops = meta_counts("repvgg_a0", (3, 224, 224))
    assert params == 9_108_968
    # timm profiles repvgg_a0 as built (3×3 + 1×1 branches) at 1.52 GMACs, the figure of the paper's Table 4.
    assert flops == pytest.approx(2 * 1.52e9, rel=0.02)


def _randomise_bn(model):
    # Non-trivial statistics so the fusion of mean, variance, scale and shift is really tested.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)


def test_reparameterize_matches_train_time_model():
    torch.manual_seed(0)
    model = create_model("repvgg_a0").eval()
    _randomise_bn(model)
    x = torch.randn(2, 3, 64, 64)
    train_flops = count(model, (3, 64, 64))["flops"]
    with torch.no_grad():
        before = model(x)
        model.reparameterize()
        after = model(x)
    # Only the 3×3 convolutions remain; each 1×1 branch cost 1/9 of its 3×3 sibling.
    assert count(model, (3, 64, 64))["flops"] / train_flops == pytest.approx(9 / 10, rel=0.01)
    assert sum(p.numel() for p in model.parameters()) == 8_309_384
    blocks = [m for m in model.modules() if isinstance(m, RepVGGBlock)]
    assert len(blocks) == 22 and all(b.fused is not None and b.conv1x1 is None for b in blocks)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert (before - after).abs().max() < 1e-3


def test_grouped_block_fuses():
    block = RepVGGBlock(8, 8, groups=2).eval()
    _randomise_bn(block)
    x = torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        expected = block(x)
        block.reparameterize()
        torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_forward_backward_small():
    torch.manual_seed(0)
    model = create_model("repvgg_a0", num_classes=5, stem="cifar")
    forward_backward(model, torch.randn(2, 3, 32, 32), (2, 5))
