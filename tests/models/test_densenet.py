import pytest
import torch

from nivalis.models import create_model
from nivalis.models.densenet import DenseNet

from .conftest import forward_backward, meta_counts

# torchvision counts; GMACs at 224 from the torchvision docs (2.83, 3.36, 4.29).
DENSENETS = {
    "densenet121": (7_978_856, 2.83e9),
    "densenet169": (14_149_480, 3.36e9),
    "densenet201": (20_013_928, 4.29e9),
}


@pytest.mark.parametrize("name", list(DENSENETS))
def test_imagenet_params_exact_and_flops(name):
    params, macs = DENSENETS[name]
    got_params, got_flops = meta_counts(name, (3, 224, 224))
    assert got_params == params
    assert got_flops == pytest.approx(2 * macs, rel=0.02)


def test_channel_growth_and_compression():
    with torch.device("meta"):
        model = create_model("densenet121")
    # Block 1: 64 + 6·32 = 256 channels, halved by the transition to 128; the last block ends at 1024.
    assert model.features[1][2].in_channels == 256 and model.features[1][2].out_channels == 128
    assert model.num_features == 1024


def test_forward_backward_small():
    torch.manual_seed(0)
    model = create_model("densenet121", num_classes=3, in_chans=1)
    forward_backward(model, torch.randn(2, 1, 32, 32), (2, 3))
    cifar = DenseNet(num_classes=3, stem="cifar", growth_rate=12, block_config=(2, 2, 2, 2))
    forward_backward(cifar, torch.randn(2, 3, 32, 32), (2, 3))
