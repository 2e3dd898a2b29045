import pytest
import torch

from nivalis.models import create_model

from .conftest import forward_backward, meta_counts


def test_imagenet_params_exact_and_flops():
    # torchvision alexnet: 61,100,840 parameters, 0.71 GMACs at 224.
    params, flops = meta_counts("alexnet", (3, 224, 224))
    assert params == 61_100_840
    assert flops == pytest.approx(2 * 0.714e9, rel=0.02)


def test_lrn_option_and_overlapping_pooling():
    model = create_model("alexnet", lrn=True)
    norms = [m for m in model.features if isinstance(m, torch.nn.LocalResponseNorm)]
    assert len(norms) == 2 and norms[0].k == 2.0 and norms[0].size == 5
    pools = [m for m in model.features if isinstance(m, torch.nn.MaxPool2d)]
    assert all(p.kernel_size == 3 and p.stride == 2 for p in pools)  # overlapping: window > stride


def test_forward_backward_small():
    torch.manual_seed(0)
    model = create_model("alexnet", num_classes=5, lrn=True, pool_size=1)
    forward_backward(model, torch.randn(2, 3, 64, 64), (2, 5))
