import pytest
import torch

from nivalis.models import create_model

from .conftest import forward_backward, meta_counts

# torchvision counts; GMACs at 224 from the torchvision docs (7.61, 15.47, 19.63, 15.47).
VGGS = {
    "vgg11": (132_863_336, 7.61e9),
    "vgg16": (138_357_544, 15.47e9),
    "vgg19": (143_667_240, 19.63e9),
    "vgg16_bn": (138_365_992, 15.47e9),
}


@pytest.mark.parametrize("name", list(VGGS))
def test_imagenet_params_exact_and_flops(name):
    params, macs = VGGS[name]
    got_params, got_flops = meta_counts(name, (3, 224, 224))
    assert got_params == params
    assert got_flops == pytest.approx(2 * macs, rel=0.02)


def test_weight_layer_counts():
    for name, layers in (("vgg11", 11), ("vgg16", 16), ("vgg19", 19)):
        with torch.device("meta"):
            model = create_model(name)
        assert sum(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in model.modules()) == layers


def test_forward_backward_small():
    torch.manual_seed(0)
    model = create_model("vgg11_bn", num_classes=10, pool_size=1)
    forward_backward(model, torch.randn(2, 3, 32, 32), (2, 10))
