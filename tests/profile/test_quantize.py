"""int8 export: ONNX Runtime static quantization of a LeNet-5 trained on digits keeps its accuracy."""

import onnx
import pytest
from tests.cli_helpers import assert_user_error, invoke

from nivalis.engine import TrainConfig
from nivalis.engine.classify import train_classifier


@pytest.fixture(scope="module")
def lenet_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("lenet-digits")
    run = train_classifier("lenet5", "digits", config=TrainConfig(epochs=4, seed=0), out_dir=out)
    return run.result["checkpoint"]


def test_int8_export_keeps_digits_accuracy_within_one_point(lenet_checkpoint, tmp_path):
    out = tmp_path / "lenet.onnx"
    result = invoke("zoo", "export", "--checkpoint", lenet_checkpoint, "--onnx", str(out), "--int8",
                    "--calibrate", "digits", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["model"] == "lenet5" and data["max_abs_diff"] < 1e-4
    assert data["accuracy_fp32"] > 0.8  # a trained model: an unchanged accuracy means something
    assert abs(data["accuracy_fp32"] - data["accuracy_int8"]) <= 0.01
    ops = {node.op_type for node in onnx.load(data["int8"]).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format


def test_int8_user_errors(lenet_checkpoint, tmp_path):
    out = str(tmp_path / "m.onnx")
    assert_user_error(invoke("zoo", "export", "--checkpoint", lenet_checkpoint, "--onnx", out, "--int8"), "--calibrate")
    assert_user_error(invoke("zoo", "export", "--onnx", out), "NAME")
    assert_user_error(invoke("zoo", "export", "--checkpoint", lenet_checkpoint, "--onnx", out, "--int8",
                             "--calibrate", str(tmp_path)), "no CIFAR-10")
    assert_user_error(invoke("zoo", "export", "resnet18", "--onnx", out, "--int8", "--calibrate", "digits"),
                      "the model takes 3x224x224")


def test_int8_comparison_rows_and_side_by_side_table(lenet_checkpoint):
    from nivalis.data import load_classification
    from nivalis.engine import load_checkpoint
    from nivalis.experiments.effnet_compare import int8_table
    from nivalis.models import create_model
    from nivalis.profile.quantize import int8_comparison

    model = create_model("lenet5")
    model.load_state_dict(load_checkpoint(lenet_checkpoint)["model"])
    row = int8_comparison(model, load_classification("digits"), latency_runs=3, threads=1)
    assert abs(row["acc_fp32_onnx"] - row["acc_int8"]) <= 0.01
    assert row["int8_speedup"] == pytest.approx(row["fp32_latency_ms"] / row["int8_latency_ms"])
    table = int8_table([{"model": "lenet5", **row}])
    assert "fp32/int8 latency" in table and f"{row['int8_speedup']:.2f}×" in table
