"""A model family is one file: its builders, default configs and published-weight name map, found by discovery."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from nivalis.models import create_model, default_cfg, discover_families, model_family, registry
from tests.cli_helpers import invoke

# The whole family, as a user would write it: nothing else in nivalis is edited to add it.
TOY_FAMILY = '''
"""Toy family: two convolutions and a linear class layer, published elsewhere as `body.*` / `logits`."""

import torch.nn as nn

from nivalis.layers.classifier import ClassifierMixin
from nivalis.models.configs import DefaultCfg
from nivalis.models.registry import register_model
from nivalis.models.weights import PublishedWeights


class ToyNet(ClassifierMixin, nn.Module):
    classifier_name = "fc"

    def __init__(self, num_classes=7, in_chans=2, width=4):
        super().__init__()
        self.stem = nn.Conv2d(in_chans, width, 3, padding=1)
        self.conv = nn.Conv2d(width, width, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)
        self.num_features, self.num_classes = width, num_classes

    def forward_features(self, x):
        return self.conv(self.stem(x).relu()).relu()

    def forward_head(self, x, pre_logits=False):
        x = self.pool(x).flatten(1)
        return x if pre_logits else self.fc(x)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


@register_model
def toynet_small(num_classes=7, in_chans=2, **kwargs):
    return ToyNet(num_classes=num_classes, in_chans=in_chans, **kwargs)


default_cfgs = {"toynet_small": DefaultCfg(input_size=(2, 12, 10), num_classes=7, mean=None, std=None,
                                           weights="toyhub:toynet_small", file="toynet_small.pth")}

published_weights = {ToyNet: PublishedWeights({"toyhub": (
    ((r"^stem\\.", "body.0."), (r"^conv\\.", "body.1."), (r"^fc\\.", "logits.")), {})})}
'''


@pytest.fixture
def toy_family(tmp_path, monkeypatch):
    """The toy family written as one module of a plugin package in a temporary folder, discovered from there."""
    package = tmp_path / "nivalis_toy_plugins"
    package.mkdir()
    (package / "toy.py").write_text(textwrap.dedent(TOY_FAMILY), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_FAMILY", dict(registry._FAMILY))
    try:
        assert discover_families("nivalis_toy_plugins") == ["nivalis_toy_plugins.toy"]
        yield sys.modules["nivalis_toy_plugins.toy"]
    finally:
        for name in ("nivalis_toy_plugins.toy", "nivalis_toy_plugins"):
            sys.modules.pop(name, None)


def test_one_module_registers_builders_configs_and_weight_names(toy_family):
    assert model_family("toynet_small") == "toy"
    assert default_cfg("toynet_small").input_size == (2, 12, 10)
    listed = invoke("zoo", "list", "toy*", "--json")
    assert listed.code == 0, listed.err
    data = listed.json()
    assert data["models"] == ["toynet_small"] and data["families"] == {"toynet_small": "toy"}
    # stem 2·4·9 + 4, conv 4·4·9 + 4, fc 4·7 + 7
    assert data["params"]["toynet_small"] == 76 + 148 + 35
    assert data["default_cfg"]["toynet_small"]["file"] == "toynet_small.pth"


def test_zoo_profile_takes_the_input_of_the_familys_config(toy_family):
    result = invoke("zoo", "profile", "toynet_small", "--json", "--runs", "1")
    assert result.code == 0, result.err
    data = result.json()
    assert data["input"] == [2, 12, 10] and data["params"] == 259
    assert data["dataflow"][0]["shape"][-2:] == [12, 10]


def test_pretrained_file_in_the_published_names_loads_through_the_familys_map(toy_family, tmp_path):
    reference = create_model("toynet_small")
    published = {name.replace("stem.", "body.0.").replace("conv.", "body.1.").replace("fc.", "logits."): tensor
                 for name, tensor in reference.state_dict().items()}
    assert set(published) == {"body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias", "logits.weight",
                              "logits.bias"}
    path = tmp_path / "toynet_small.pth"
    torch.save(published, path)
    model = create_model("toynet_small", pretrained=path)
    assert model.pretrained_report["source"] == "toyhub" and model.pretrained_report["reinitialised"] == []
    x = torch.randn(2, 2, 12, 10)
    torch.testing.assert_close(model.eval()(x), reference.eval()(x))
    # other classes: the class layer starts fresh, the body is the file's
    five = create_model("toynet_small", pretrained=path, num_classes=5)
    assert five.pretrained_report["reinitialised"] == ["fc.bias", "fc.weight"]
    torch.testing.assert_close(five.stem.weight, reference.stem.weight)
