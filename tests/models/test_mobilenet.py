import pytest
import torch

from nivalis.models import create_model

from .conftest import forward_backward, meta_counts

# Exact counts: torchvision's ImageNet models (num_classes=1000); mobilenet_v1 is timm's mobilenetv1_100.
# FLOP references (multiply-adds at 224 × 2): V1 paper Table 8 569 M; torchvision docs mobilenet_v2 0.30 G,
# mobilenet_v3_large 0.22 G, mobilenet_v3_small 0.06 G (V3 paper Table 3: 217 M and 56 M).
MOBILENETS = {
    "mobilenet_v1": (4_231_976, 569e6),
    "mobilenet_v2": (3_504_872, 300e6),
    "mobilenet_v3_large": (5_483_032, 217e6),
    "mobilenet_v3_small": (2_542_856, 56e6),
}


@pytest.mark.parametrize("name", list(MOBILENETS))
def test_imagenet_params_exact_and_flops(name):
    params, macs = MOBILENETS[name]
    got_params, got_flops = meta_counts(name, (3, 224, 224))
    assert got_params == params
    assert got_flops == pytest.approx(2 * macs, rel=0.02)


@pytest.mark.parametrize("name", list(MOBILENETS))
def test_forward_backward_small(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=7, in_chans=1)
    forward_backward(model, torch.randn(2, 1, 32, 32), (2, 7))


def test_width_multiplier_thins_quadratically():
    # MobileNet V1 §3.3: cost and parameters fall roughly with α².
    full = meta_counts("mobilenet_v1", (3, 224, 224))
    half = meta_counts("mobilenet_v1", (3, 224, 224), width_mult=0.5)
    assert half[1] / full[1] == pytest.approx(0.25, abs=0.03)
    model = create_model("mobilenet_v2", width_mult=0.5, num_classes=10)
    assert model.stem[0].out_channels == 16 and model.num_features == 1280  # V2 keeps its 1280 head
    assert create_model("mobilenet_v3_small", width_mult=0.75).stem[0].out_channels == 16  # multiple of 8


def test_cifar_stem():
    model = create_model("mobilenet_v2", num_classes=10, stem="cifar").eval()
    assert model.forward_features(torch.randn(1, 3, 32, 32)).shape[-1] == 2  # 32 / 16
    assert create_model("mobilenet_v2", num_classes=10).eval().forward_features(
        torch.randn(1, 3, 32, 32)).shape[-1] == 1
