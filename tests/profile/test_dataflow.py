"""Data flow: one row per layer in call order, floats = product of the output shape, Table 1 grouping."""

import math

import torch.nn as nn

from nivalis.models import create_model
from nivalis.profile import dataflow
from nivalis.profile.dataflow import table1_dataflow


def test_dataflow_lists_each_layer_output():
    rows = dataflow(create_model("lenet5"), (1, 32, 32))
    assert [r["shape"] for r in rows if r["type"] == "Conv2d"] == [[6, 28, 28], [16, 10, 10]]
    assert [r["floats"] for r in rows if r["type"] == "MaxPool2d"] == [1176, 400]
    assert rows[-1]["floats"] == 10
    assert all(r["type"] not in ("Tanh", "ReLU", "BatchNorm2d") for r in rows)


def test_floats_are_the_product_of_the_shape_and_elementwise_layers_are_folded():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Dropout(0.1), nn.Linear(4 * 5 * 5, 7))
    rows = dataflow(net, (3, 10, 10))
    assert [(r["layer"], r["shape"]) for r in rows] == [("0", [4, 10, 10]), ("3", [4, 5, 5]), ("4", [100]),
                                                        ("6", [7])]
    assert all(r["floats"] == math.prod(r["shape"]) for r in rows)
    assert net.training  # the mode is restored


def test_zoo_classifier_head_is_one_row_of_logits():
    rows = dataflow(create_model("resnet18", num_classes=10), (3, 32, 32))
    assert rows[-1] == {"layer": "fc", "type": "ClassifierHead", "shape": [10], "floats": 10}


def test_table1_groups_pooling_with_the_layer_before():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 2))
    rows = table1_dataflow(net, (3, 8, 8))
    assert [(r["layer"], r["floats"]) for r in rows] == [("0 + 2", 64), ("4", 2)]
