import pytest
import torch

from nivalis.models import create_model

from .conftest import forward_backward, meta_counts


def test_imagenet_params_exact_and_flops():
    # torchvision/timm convnext_tiny: 28,589,128 parameters, 4.46 GMACs at 224.
    params, flops = meta_counts("convnext_tiny", (3, 224, 224))
    assert params == 28_589_128
    assert flops == pytest.approx(2 * 4.46e9, rel=0.02)


def test_large_kernel_option():
    k7, _ = meta_counts("convnext_tiny")
    k31, _ = meta_counts("convnext_tiny", kernel_size=31)
    # Only the depthwise kernels grow: Σ over 18 blocks of C·(31² − 7²) extra weights.
    dims = [96] * 3 + [192] * 3 + [384] * 9 + [768] * 3
    assert k31 - k7 == sum(dims) * (31**2 - 7**2)
    model = create_model("convnext_tiny", kernel_size=31, num_classes=3)
    assert model.stages[0][1].conv_dw.kernel_size == (31, 31)
    with pytest.raises(ValueError):
        create_model("convnext_tiny", kernel_size=8)


def test_layer_scale_starts_small():
    model = create_model("convnext_tiny", num_classes=3)
    assert torch.all(model.stages[2][3].gamma == 1e-6)


def test_forward_backward_small():
    torch.manual_seed(0)
    model = create_model("convnext_tiny", num_classes=4, drop_path_rate=0.1)
    forward_backward(model, torch.randn(2, 3, 32, 32), (2, 4))
