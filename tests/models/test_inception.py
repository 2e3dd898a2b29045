import pytest
import torch

from nivalis.models import create_model

from .conftest import forward_backward, meta_counts

# Exact counts: torchvision googlenet (aux off) and inception_v3 (aux on), timm inception_resnet_v2.
# GMACs: torchvision docs googlenet 1.50 @224, inception_v3 5.71 @299; timm inception_resnet_v2 13.2 @299.
INCEPTIONS = {
    "googlenet": (6_624_904, 224, 1.50e9),
    "inception_v3": (27_161_264, 299, 5.71e9),
    "inception_resnet_v2": (55_843_464, 299, 13.2e9),
}


@pytest.mark.parametrize("name", list(INCEPTIONS))
def test_imagenet_params_exact_and_flops(name):
    params, side, macs = INCEPTIONS[name]
    got_params, got_flops = meta_counts(name, (3, side, side))
    assert got_params == params
    assert got_flops == pytest.approx(2 * macs, rel=0.02)


def test_googlenet_aux_and_paper_kernel():
    with torch.device("meta"):
        aux = create_model("googlenet", aux_logits=True)
        paper = create_model("googlenet", wide_kernel=5)
    assert sum(p.numel() for p in aux.parameters()) > 6_624_904
    assert paper.stage3[0].branch3[1][0].kernel_size == (5, 5)


def test_forward_backward_small():
    torch.manual_seed(0)
    model = create_model("googlenet", num_classes=3, aux_logits=True)
    x = torch.randn(2, 3, 64, 64)
    logits, aux = model.forward_with_aux(x)
    assert logits.shape == (2, 3) and [a.shape for a in aux] == [(2, 3), (2, 3)]
    (logits.sum() + 0.3 * sum(a.sum() for a in aux)).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert model(x).shape == (2, 3)


@pytest.mark.parametrize("name", ["inception_v3", "inception_resnet_v2"])
def test_smallest_input_trains(name):
    # 75×75 is the smallest grid the valid-padded stems allow (seed 002 uses IRNv2 on 76×76 windows).
    torch.manual_seed(0)
    kwargs = {"aux_logits": False} if name == "inception_v3" else {}
    model = create_model(name, num_classes=2, **kwargs)
    forward_backward(model, torch.randn(2, 3, 76, 76), (2, 2))
