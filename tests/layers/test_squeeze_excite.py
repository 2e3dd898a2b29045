import torch

from nivalis.layers import SqueezeExcite


def test_gate_matches_formula():
    torch.manual_seed(0)
    se = SqueezeExcite(32, rd_ratio=1 / 16)
    x = torch.randn(3, 32, 5, 7)
    z = x.mean((2, 3))
    w1, b1 = se.fc1.weight.flatten(1), se.fc1.bias
    w2, b2 = se.fc2.weight.flatten(1), se.fc2.bias
    s = torch.sigmoid(torch.relu(z @ w1.T + b1) @ w2.T + b2)
    torch.testing.assert_close(se(x), x * s[:, :, None, None])
    assert se.fc1.out_channels == 2


def test_explicit_width_and_hard_gate():
    se = SqueezeExcite(40, rd_channels=16, act="relu", gate="hardsigmoid")
    assert se.fc1.out_channels == 16 and isinstance(se.gate, torch.nn.Hardsigmoid)
    assert se(torch.randn(1, 40, 4, 4)).shape == (1, 40, 4, 4)
