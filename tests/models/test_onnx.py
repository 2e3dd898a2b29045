"""ONNX export of one model per family: onnxruntime must reproduce PyTorch within 1e-4."""

import pytest
import torch

from nivalis.models import create_model, list_models, model_family
from nivalis.profile import export_onnx

# (model, keywords, input CxHxW): small inputs and few classes keep each export around a second.
CASES = [
    ("lenet5", {}, (1, 32, 32)),
    ("alexnet", {"num_classes": 5, "lrn": True, "pool_size": 1}, (3, 64, 64)),
    ("vgg11_bn", {"num_classes": 5, "pool_size": 1}, (3, 32, 32)),
    ("googlenet", {"num_classes": 5}, (3, 64, 64)),
    ("allcnn_c", {}, (3, 32, 32)),
    ("resnet18", {"num_classes": 5, "stem": "cifar"}, (3, 32, 32)),
    ("seresnet18", {"num_classes": 5}, (3, 64, 64)),
    ("densenet121", {"num_classes": 5}, (3, 32, 32)),
    ("mobilenet_v3_small", {"num_classes": 5}, (3, 64, 64)),
    ("shufflenet_v1_g3", {"num_classes": 5}, (3, 64, 64)),
    ("shufflenet_v2_x0_5", {"num_classes": 5}, (3, 64, 64)),
    ("efficientnet_b0", {"num_classes": 5, "stem": "cifar"}, (3, 32, 32)),
    ("convnext_tiny", {"num_classes": 5}, (3, 32, 32)),
    ("repvgg_a0", {"num_classes": 5}, (3, 64, 64)),
    ("unet", {"in_chans": 1, "num_classes": 2, "widths": (8, 16, 32, 64, 128)}, (1, 40, 40)),
]
# Families exported here; the EffNet and IR-face families are exported by their own tests.
OTHER_OWNERS = {"effnet", "iresnet"}


def test_every_zoo_family_is_covered():
    covered = {model_family(name) for name, _, _ in CASES}
    families = {model_family(name) for name in list_models()} - OTHER_OWNERS
    assert families <= covered, f"no ONNX check for {sorted(families - covered)}"


@torch.no_grad()
def _calibrate_batch_norm(model, shape):
    """Give every BN the statistics of real activations, so eval-mode outputs are O(1), not ~0 or huge,
    and an absolute tolerance of 1e-4 means something."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    model.train()
    for _ in range(2):
        model(torch.randn(8, *shape))
    model.eval()


@pytest.mark.parametrize("name,kwargs,shape", CASES, ids=[c[0] for c in CASES])
def test_onnx_matches_pytorch(name, kwargs, shape, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, **kwargs)
    _calibrate_batch_norm(model, shape)
    if name == "repvgg_a0":
        model.reparameterize()  # the deploy form is what one exports
    with torch.no_grad():
        scale = model(torch.randn(2, *shape)).abs().max().item()
    assert 5e-3 < scale < 1e3, f"uninformative output scale {scale}"
    result = export_onnx(model, shape, tmp_path / f"{name}.onnx")
    assert result["max_abs_diff"] < 1e-4
    assert (tmp_path / f"{name}.onnx").stat().st_size > 0
