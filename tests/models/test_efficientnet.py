import math

import pytest
import torch

from nivalis.models import create_model
from nivalis.models.efficientnet import B0_STAGES, PHI, CompoundScaling

from .conftest import forward_backward, meta_counts

# Exact counts of torchvision's efficientnet_b0..b3 (num_classes=1000). FLOP references: torchvision docs
# GMACs at each model's native resolution (b0 0.39 @224, b1 0.69 @240, b3 1.83 @300).
EFFICIENTNETS = {
    "efficientnet_b0": (5_288_548, 224, 0.39e9),
    "efficientnet_b1": (7_794_184, 240, 0.69e9),
    "efficientnet_b2": (9_109_994, None, None),
    "efficientnet_b3": (12_233_232, 300, 1.83e9),
}


@pytest.mark.parametrize("name", list(EFFICIENTNETS))
def test_imagenet_params_exact_and_flops(name):
    params, side, macs = EFFICIENTNETS[name]
    got_params, got_flops = meta_counts(name, (3, side, side) if side else None)
    assert got_params == params
    if macs:
        assert got_flops == pytest.approx(2 * macs, rel=0.02)


def test_variants_follow_compound_rule():
    rule = CompoundScaling()
    assert rule.alpha * rule.beta**2 * rule.gamma**2 == pytest.approx(1.92, abs=0.01)  # ≈ 2
    for variant, phi in PHI.items():
        depth, width, resolution, _ = rule.coefficients(phi)
        with torch.device("meta"):
            model = create_model(f"efficientnet_{variant}", num_classes=10)
        assert len(model.blocks) == sum(math.ceil(depth * n) for *_, n in B0_STAGES)
        assert model.resolution == resolution
        assert depth == round(1.2**phi, 1) and width == round(1.1**phi, 1)
    assert rule.coefficients(1.0)[:3] == (1.2, 1.1, 256)
    # One step of φ should about double the FLOPs (α β² γ² ≈ 2): B0 (φ=0) → B2 (φ=1) → B3 (φ=2).
    flops = {v: meta_counts(f"efficientnet_{v}", (3, r, r), num_classes=10)[1]
             for v in ("b0", "b2", "b3") for r in [rule.coefficients(PHI[v])[2]]}
    assert flops["b2"] / flops["b0"] == pytest.approx(2.0, rel=0.2)
    assert flops["b3"] / flops["b2"] == pytest.approx(2.0, rel=0.2)


def test_forward_backward_small():
    torch.manual_seed(0)
    model = create_model("efficientnet_b0", num_classes=3, in_chans=4)
    forward_backward(model, torch.randn(2, 4, 32, 32), (2, 3))


def test_cifar_stem():
    model = create_model("efficientnet_b0", num_classes=10, stem="cifar").eval()
    assert model.forward_features(torch.randn(1, 3, 32, 32)).shape[-1] == 2
