"""Counts: FlopCounterMode FLOPs (multiply-add = 2) and parameters against hand computations."""

import pytest
import torch
import torch.nn as nn

from nivalis.errors import UserError
from nivalis.models import create_model
from nivalis.profile import count, parse_input_shape
from nivalis.profile.counts import count_flops


def test_lenet5_published_size():
    assert count(create_model("lenet5"), (1, 32, 32))["params"] == 61_706


def test_flops_are_two_per_multiply_add():
    conv = nn.Conv2d(3, 8, 3, bias=False)  # output 8×6×6, each from 3·3·3 MACs
    assert count(conv, (3, 8, 8)) == {"params": 216, "flops": 2 * 8 * 6 * 6 * 27}
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    assert count(net, (3, 2, 2))["flops"] == 2 * 12 * 5


def test_strided_grouped_conv_by_hand():
    conv = nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4)  # 16×4×4 outputs, each from (8/4)·3·3 MACs
    assert count(conv, (8, 8, 8)) == {"params": 16 * 2 * 9 + 16, "flops": 2 * 16 * 4 * 4 * 2 * 9}


def test_counting_restores_the_training_mode():
    model = create_model("lenet5").train()
    count_flops(model, (1, 32, 32))
    assert model.training
    model.eval()
    count_flops(model, (1, 32, 32))
    assert not model.training


def test_meta_device_model_is_counted_from_shapes():
    with torch.device("meta"):
        conv = nn.Conv2d(3, 8, 3, bias=False)
    assert count(conv, (3, 8, 8)) == {"params": 216, "flops": 2 * 8 * 6 * 6 * 27}


@pytest.mark.parametrize("text, shape", [("3x224x224", (3, 224, 224)), ("1×32×32", (1, 32, 32)), ("3X8X8", (3, 8, 8))])
def test_input_shape(text, shape):
    assert parse_input_shape(text) == shape


@pytest.mark.parametrize("text", ["3x224", "ax3x3", "0x4x4", ""])
def test_bad_input_shape(text):
    with pytest.raises(UserError, match="bad input shape"):
        parse_input_shape(text)
