"""Profiler: FlopCounterMode counts (multiply-add = 2), data flow, latency, ONNX parity."""

import onnx
import pytest
import torch.nn as nn

from nivalis.errors import UserError
from nivalis.models import create_model
from nivalis.profile import count, dataflow, export_onnx, latency_ms, onnx_latency_ms, parse_input_shape


def test_lenet5_published_size():
    assert count(create_model("lenet5"), (1, 32, 32))["params"] == 61_706


def test_flops_are_two_per_multiply_add():
    conv = nn.Conv2d(3, 8, 3, bias=False)  # output 8×6×6, each from 3·3·3 MACs
    assert count(conv, (3, 8, 8)) == {"params": 216, "flops": 2 * 8 * 6 * 6 * 27}
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    assert count(net, (3, 2, 2))["flops"] == 2 * 12 * 5


def test_dataflow_lists_each_layer_output():
    rows = dataflow(create_model("lenet5"), (1, 32, 32))
    assert [r["shape"] for r in rows if r["type"] == "Conv2d"] == [[6, 28, 28], [16, 10, 10]]
    assert [r["floats"] for r in rows if r["type"] == "MaxPool2d"] == [1176, 400]
    assert rows[-1]["floats"] == 10
    assert all(r["type"] not in ("Tanh", "ReLU", "BatchNorm2d") for r in rows)


def test_latency_is_measured():
    model = create_model("lenet5")
    assert 0 < latency_ms(model, (1, 32, 32), runs=5) < 1000
    assert 0 < onnx_latency_ms(model, (1, 32, 32), runs=5) < 1000


def test_onnx_export_matches_pytorch(tmp_path):
    result = export_onnx(create_model("lenet5"), (1, 32, 32), tmp_path / "lenet5.onnx")
    assert result["max_abs_diff"] < 1e-4
    onnx.checker.check_model(onnx.load(result["onnx"]))


@pytest.mark.parametrize("text", ["3x224", "ax3x3", "0x4x4", ""])
def test_bad_input_shape(text):
    with pytest.raises(UserError):
        parse_input_shape(text)
