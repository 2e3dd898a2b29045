"""ONNX export: parity with PyTorch through onnxruntime, atomic writes, onnxruntime latency."""

import onnx
import pytest
import torch.nn as nn

from nivalis.models import create_model
from nivalis.profile import export_onnx, onnx_latency_ms


def test_onnx_export_matches_pytorch(tmp_path):
    result = export_onnx(create_model("lenet5"), (1, 32, 32), tmp_path / "lenet5.onnx")
    assert result["max_abs_diff"] < 1e-4
    onnx.checker.check_model(onnx.load(result["onnx"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet5.onnx"]  # no temp file left


def test_failed_export_leaves_the_old_file(tmp_path, monkeypatch):
    from nivalis.profile import onnx as profile_onnx

    path = tmp_path / "out" / "model.onnx"
    export_onnx(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (1, 2, 2), path)
    before = path.read_bytes()

    def broken_write(self, data):
        raise OSError("disk full")

    monkeypatch.setattr(profile_onnx.Path, "write_bytes", broken_write)
    with pytest.raises(OSError, match="disk full"):
        export_onnx(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), (1, 2, 2), path)
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]


def test_onnx_latency_is_measured():
    assert 0 < onnx_latency_ms(create_model("lenet5"), (1, 32, 32), runs=5, threads=1) < 1000
