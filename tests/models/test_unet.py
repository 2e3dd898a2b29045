import pytest
import torch

from nivalis.models import create_model

from .conftest import forward_backward, meta_counts


def test_params_exact():
    # Ronneberger et al.: 64 → 1024, padded 3×3 convolutions, no BN, 2×2 up-convolutions, 1 channel in, 2 out.
    assert meta_counts("unet")[0] == 31_030_658


@pytest.mark.parametrize("side", [32, 37])
def test_forward_backward_keeps_size(side):
    torch.manual_seed(0)
    model = create_model("unet", in_chans=3, num_classes=2, widths=(8, 16, 32, 64, 128))
    forward_backward(model, torch.randn(2, 3, side, side), (2, 2, side, side))


def test_skip_connections_carry_fine_detail():
    # The first decoder level sees the first encoder level: perturbing one input pixel changes the output
    # mostly near that pixel even though the bottleneck is 16× coarser.
    torch.manual_seed(0)
    model = create_model("unet", widths=(8, 16, 32, 64, 128)).eval()
    x = torch.zeros(1, 1, 64, 64)
    base = model(x)
    x[0, 0, 40, 20] = 10.0
    change = (model(x) - base).abs().sum(1)[0]
    assert change[37:44, 17:24].sum() > 0.5 * change.sum()
