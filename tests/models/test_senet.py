import pytest
import torch

from nivalis.layers import SqueezeExcite
from nivalis.models import create_model, model_family

from .conftest import forward_backward, meta_counts

# Exact counts: timm seresnet50 (SE r=16 on torchvision's ResNet-50) and seresnext50_32x4d. FLOPs: the SE gates
# add < 1 % to ResNet-50's 4.09 GMACs (Hu et al. Table 2: 3.87 vs 3.86 GFLOPs for the v1 layout);
# timm lists 4.11 / 4.26 GMACs.
SENETS = {"seresnet50": (28_088_024, 4.11e9), "seresnext50_32x4d": (27_559_896, 4.26e9)}


@pytest.mark.parametrize("name", list(SENETS))
def test_imagenet_params_exact_and_flops(name):
    params, macs = SENETS[name]
    got_params, got_flops = meta_counts(name, (3, 224, 224))
    assert got_params == params
    assert got_flops == pytest.approx(2 * macs, rel=0.02)
    assert model_family(name) == "senet"


def test_every_block_is_gated_with_r16():
    with torch.device("meta"):
        model = create_model("seresnet50")
    gates = [m for m in model.modules() if isinstance(m, SqueezeExcite)]
    assert len(gates) == 16
    assert all(g.fc1.out_channels * 16 == g.fc1.in_channels for g in gates)


def test_forward_backward_small():
    torch.manual_seed(0)
    model = create_model("seresnet18", num_classes=4, stem="cifar")
    forward_backward(model, torch.randn(2, 3, 32, 32), (2, 4))
