import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nivalis.layers import ConvBnAct, DepthwiseSeparableConv


def _flops(module, x):
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module.eval()(x)
    return counter.get_total_flops()


@pytest.mark.parametrize("k", [3, 5])
def test_cost_ratio_matches_paper(k):
    # MobileNet V1 §3.1: separable / standard = 1/N + 1/k² in multiply-adds (and in weights).
    m, n = 32, 64
    x = torch.randn(1, m, 14, 14)
    separable = DepthwiseSeparableConv(m, n, k)
    full = ConvBnAct(m, n, k)
    assert _flops(separable, x) / _flops(full, x) == pytest.approx(1 / n + 1 / k**2, rel=1e-9)
    conv_weights = separable.conv_dw[0].weight.numel() + separable.conv_pw[0].weight.numel()
    assert conv_weights == m * k * k + m * n


def test_stride_linear_output_and_residual():
    block = DepthwiseSeparableConv(16, 24, stride=2, pw_act=None)
    assert block(torch.randn(2, 16, 15, 15)).shape == (2, 24, 8, 8)
    assert isinstance(block.conv_pw[2], torch.nn.Identity)
    skip = DepthwiseSeparableConv(16, 16, residual=True, se_ratio=0.25).eval()
    torch.nn.init.zeros_(skip.conv_pw[1].weight)
    torch.nn.init.zeros_(skip.conv_pw[1].bias)
    x = torch.randn(1, 16, 6, 6)
    assert torch.allclose(skip(x), x)  # zero branch + skip = input
