"""Image classification through the engine: model built for the data, trained for real, tested, recorded."""

from __future__ import annotations

import json

import pytest

from nivalis.data import load_classification
from nivalis.engine import TrainConfig
from nivalis.engine.classify import DIGITS_RECIPE, build_model, train_classifier
from nivalis.errors import UserError


@pytest.fixture(scope="module")
def digits():
    return load_classification("digits")


def test_build_model_fits_the_data_and_counts_lenet5(digits):
    model, counts = build_model("lenet5", digits)
    assert counts["params"] == 61_706            # LeNet-5 at 1×32×32 with 10 classes (LeCun et al. 1998)
    assert counts["params"] == sum(p.numel() for p in model.parameters())
    assert counts["flops"] > 0


def test_build_model_refuses_an_image_size_the_model_cannot_take(digits):
    with pytest.raises(UserError, match="cannot take 1x32x32"):
        build_model("alexnet", digits)


def test_training_moves_test_accuracy_and_writes_the_run(digits, tmp_path):
    cfg = TrainConfig(epochs=3, seed=0, **DIGITS_RECIPE)
    run = train_classifier("lenet5", digits, config=cfg, out_dir=tmp_path)
    # an untrained 10-class net sits near 0.1; three epochs of the recipe must clearly learn
    assert run.result["test_accuracy"] > 0.8
    assert run.confusion.sum() == len(digits.test) and run.confusion.trace() / run.confusion.sum() == pytest.approx(
        run.result["test_accuracy"], abs=1e-6)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test_accuracy"] == run.result["test_accuracy"] and (tmp_path / "checkpoint.pt").is_file()
    assert saved["precision"] == "fp32" and (tmp_path / "history.csv").is_file()
