import pytest
import torch

from nivalis.models import create_model

from .conftest import forward_backward, meta_counts


# shufflenet_v2_x1_0 / x2_0: torchvision counts; FLOPs from the torchvision docs (0.14 / 0.58 GMACs) and the
# papers (v2 Table 5: 146 / 591 MFLOPs; v1 Table 2: 140 MFLOPs for 1× g=3 and g=8).
def test_shufflenet_v2_params_exact_and_flops():
    params, flops = meta_counts("shufflenet_v2_x1_0", (3, 224, 224))
    assert params == 2_278_604
    assert flops == pytest.approx(2 * 146e6, rel=0.02)
    params, flops = meta_counts("shufflenet_v2_x2_0", (3, 224, 224))
    assert params == 7_393_996
    assert flops == pytest.approx(2 * 591e6, rel=0.02)


@pytest.mark.parametrize("name", ["shufflenet_v1_g3", "shufflenet_v1_g8"])
def test_shufflenet_v1_flops(name):
    _, flops = meta_counts(name, (3, 224, 224))
    assert flops == pytest.approx(2 * 140e6, rel=0.03)


@pytest.mark.parametrize("name", ["shufflenet_v1_g3", "shufflenet_v2_x1_0"])
def test_forward_backward_small(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, in_chans=3)
    forward_backward(model, torch.randn(2, 3, 32, 32), (2, 4))
    cifar = create_model(name, num_classes=4, stem="cifar")
    forward_backward(cifar, torch.randn(2, 3, 32, 32), (2, 4))
