"""Task definitions: a loss and a torchmetrics collection per kind of target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
import torchmetrics
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryF1Score,
    BinaryJaccardIndex,
    BinaryPrecision,
    BinaryRecall,
    MulticlassAccuracy,
)
from torchmetrics.regression import MeanSquaredError


@dataclass
class Task:
    """What a model learns: `loss(output, target)` and a factory of metrics fed with `(output, target)`."""

    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metrics: Callable[[], MetricCollection] = field(default=lambda: MetricCollection({}))
    #: turns (output, target) into what the metrics take, e.g. logits → probabilities
    metric_inputs: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] = field(
        default=lambda out, y: (out, y))


def classification_task(num_classes: int) -> Task:
    """Cross-entropy on logits; metric `accuracy` (micro, i.e. fraction of correct samples)."""
    return Task(
        loss=F.cross_entropy,
        metrics=lambda: MetricCollection({"accuracy": MulticlassAccuracy(num_classes=num_classes, average="micro")}),
    )


def binary_task(pos_weight: float | None = None) -> Task:
    """BCE with logits; metrics accuracy, iou, f1, pod (recall), ppv (precision) at probability 0.5."""
    weight = None if pos_weight is None else torch.tensor(pos_weight)

    def loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(out.reshape(y.shape), y.float(), pos_weight=weight)

    return Task(
        loss=loss,
        metrics=lambda: MetricCollection({
            "accuracy": BinaryAccuracy(), "iou": BinaryJaccardIndex(), "f1": BinaryF1Score(),
            "pod": BinaryRecall(), "ppv": BinaryPrecision(),
        }),
        metric_inputs=lambda out, y: (torch.sigmoid(out.reshape(y.shape).float()), y.long()),
    )


def regression_task() -> Task:
    """Mean squared error loss; metric `rmse` over all target values."""
    return Task(
        loss=F.mse_loss,
        metrics=lambda: MetricCollection({"rmse": MeanSquaredError(squared=False)}),
        metric_inputs=lambda out, y: (out.reshape(-1).float(), y.reshape(-1).float()),
    )


__all__ = ["Task", "binary_task", "classification_task", "regression_task", "torchmetrics"]
