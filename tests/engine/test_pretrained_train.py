"""`nivalis train --pretrained`: training starts from the file's weights, which stay out of model_kwargs."""

from __future__ import annotations

import torch
from tests.cli_helpers import assert_user_error, invoke

from nivalis.engine import TrainConfig, load_checkpoint
from nivalis.engine.classify import train_classifier


def test_train_from_pretrained_weights(tmp_path):
    first = train_classifier("lenet5", "digits", config=TrainConfig(epochs=1, seed=0), out_dir=tmp_path / "a")
    start = first.result["checkpoint"]
    result = invoke("train", "--model", "lenet5", "--pretrained", start, "--epochs", "1", "--lr", "0",
                    "--out", str(tmp_path / "b"), "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["pretrained"]["source"] == "nivalis" and data["pretrained"]["reinitialised"] == []
    # lr 0: the weights are the file's, so the accuracy is the first run's
    assert data["test_accuracy"] == first.result["test_accuracy"]
    saved = load_checkpoint(data["checkpoint"])
    assert "pretrained" not in saved["meta"]["model_kwargs"] and saved["meta"]["pretrained"] == start
    start_weights = load_checkpoint(start)["model"]["features.0.weight"]
    torch.testing.assert_close(saved["model"]["features.0.weight"], start_weights)
    exported = invoke("zoo", "export", "--checkpoint", data["checkpoint"], "--onnx", str(tmp_path / "m.onnx"), "--json")
    assert exported.code == 0, exported.err


def test_train_pretrained_missing_file_is_a_user_error(tmp_path):
    result = invoke("train", "--model", "resnet18", "--pretrained", str(tmp_path / "none.pth"), "--epochs", "1",
                    "--out", str(tmp_path / "o"))
    assert_user_error(result, "resnet18-f37072fd.pth")
