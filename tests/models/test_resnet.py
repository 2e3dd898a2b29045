import pytest
import torch

from nivalis.models import create_model, model_family
from nivalis.profile import count

from .conftest import forward_backward, meta_counts

# Parameter counts of torchvision's ImageNet models (num_classes=1000), the acceptance numbers.
# FLOPs references: published multiply-adds at 224×224 × 2 (torchvision model docs "GFLOPS":
# resnet18 1.81, resnet34 3.66, resnet50 4.09, resnet101 7.80, resnet152 11.51, wide_resnet50_2 11.40,
# resnext50_32x4d 4.23 GMACs). SE-ResNets are in test_senet.py.
RESNETS = {
    "resnet18": (11_689_512, 1.81e9),
    "resnet34": (21_797_672, 3.66e9),
    "resnet50": (25_557_032, 4.09e9),
    "resnet101": (44_549_160, 7.80e9),
    "resnet152": (60_192_808, 11.51e9),
    "wide_resnet50_2": (68_883_240, 11.40e9),
    "resnext50_32x4d": (25_028_904, 4.23e9),
}


@pytest.mark.parametrize("name", list(RESNETS))
def test_imagenet_params_exact_and_flops(name):
    params, macs = RESNETS[name]
    got_params, got_flops = meta_counts(name, (3, 224, 224))
    assert got_params == params
    assert got_flops == pytest.approx(2 * macs, rel=0.02)
    assert model_family(name) == "resnet"


def test_profile_agrees_with_meta():
    model = create_model("resnet18", num_classes=10)
    assert count(model, (3, 64, 64)) == dict(zip(("params", "flops"), meta_counts("resnet18", (3, 64, 64),
                                                                                   num_classes=10)))


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_forward_backward_small(name):
    # Grouped (ResNeXt) and SE bottlenecks are trained block-by-block in tests/layers/test_residual.py.
    torch.manual_seed(0)
    model = create_model(name, num_classes=5, in_chans=2)
    forward_backward(model, torch.randn(2, 2, 32, 32), (2, 5))


def test_cifar_stem_keeps_resolution():
    model = create_model("resnet18", num_classes=10, stem="cifar")
    assert model.stem_type == "cifar"
    feats = model.forward_features(torch.randn(1, 3, 32, 32))
    assert feats.shape == (1, 512, 4, 4)  # 32 / 8: only stages 2-4 downsample
    imagenet = create_model("resnet18", num_classes=10).eval()
    assert imagenet.forward_features(torch.randn(1, 3, 32, 32)).shape == (1, 512, 1, 1)
    forward_backward(model, torch.randn(2, 3, 32, 32), (2, 10))


def test_blocks_expose_swappable_3x3_slots():
    calls = []

    def slot(in_chs, out_chs, *, stride=1, groups=1, act="relu"):
        calls.append((in_chs, out_chs, stride, groups))
        return torch.nn.Conv2d(in_chs, out_chs, 3, stride, 1, groups=groups)

    model = create_model("resnet18", num_classes=3, conv3x3_for_block=lambda block: slot)
    assert len(calls) == 16  # 8 BasicBlocks × (conv1, conv2)
    assert isinstance(model.layer2[0].conv1, torch.nn.Conv2d) and model.layer2[0].conv1.stride == (2, 2)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 3)


def test_bad_stem_is_rejected():
    with pytest.raises(ValueError, match="stem"):
        create_model("resnet18", stem="tiny")
