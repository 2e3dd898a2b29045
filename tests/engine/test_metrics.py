"""Task metrics and losses against hand computations."""

import math

import pytest
import torch
import torch.nn.functional as F

from nivalis.engine.metrics import binary_task, classification_task, regression_task


def _compute(task, out, y):
    metrics = task.metrics()
    metrics.update(*task.metric_inputs(out, y))
    return {k: float(v) for k, v in metrics.compute().items()}


def test_classification_accuracy_is_the_fraction_correct():
    task = classification_task(3)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [2.0, 0.0, 0.0]])
    y = torch.tensor([0, 1, 0, 0])
    assert _compute(task, logits, y) == {"accuracy": pytest.approx(0.75)}
    expected = -sum(math.log(math.exp(2) / (math.exp(2) + 2)) if ok else math.log(1 / (math.exp(2) + 2))
                    for ok in (True, True, False, True)) / 4
    assert float(task.loss(logits, y)) == pytest.approx(expected, rel=1e-6)


def test_binary_metrics_from_a_confusion_table():
    task = binary_task()
    # probabilities > 0.5 where logits > 0: predictions 1,1,0,0,1 against targets 1,0,1,0,1
    logits = torch.tensor([3.0, 1.0, -2.0, -1.0, 0.5])
    y = torch.tensor([1, 0, 1, 0, 1])
    tp, fp, fn, tn = 2, 1, 1, 1
    got = _compute(task, logits, y)
    assert got["accuracy"] == pytest.approx((tp + tn) / 5)
    assert got["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert got["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert got["pod"] == pytest.approx(tp / (tp + fn))
    assert got["ppv"] == pytest.approx(tp / (tp + fp))


def test_binary_loss_weights_positives():
    logits, y = torch.tensor([[0.3], [-0.2]]), torch.tensor([1, 0])
    plain = F.binary_cross_entropy_with_logits(logits.reshape(-1), y.float())
    assert float(binary_task().loss(logits, y)) == pytest.approx(float(plain))
    weighted = (3 * F.softplus(-logits[0, 0]) + F.softplus(logits[1, 0])) / 2
    assert float(binary_task(pos_weight=3.0).loss(logits, y)) == pytest.approx(float(weighted), rel=1e-6)


def test_regression_rmse_over_all_values():
    task = regression_task()
    out, y = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 0.0], [3.0, 8.0]])
    assert _compute(task, out, y)["rmse"] == pytest.approx(math.sqrt((4 + 16) / 4))
    assert float(task.loss(out, y)) == pytest.approx(20 / 4)
