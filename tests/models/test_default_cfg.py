"""Per-model default configuration and the classifier interface every family shares (timm's)."""

import pytest
import torch

from nivalis.models import create_model, default_cfg, list_models
from nivalis.models.configs import models_without_cfg
from nivalis.profile.meta import shape_only
from tests.cli_helpers import invoke


def test_every_model_has_a_row_and_its_classifier_path_is_the_models():
    assert models_without_cfg() == []
    cfg = default_cfg("resnet50")
    assert (cfg.weights, cfg.file, cfg.input_size) == ("torchvision:resnet50", "resnet50-0676ba61.pth", (3, 224, 224))
    irv2 = default_cfg("inception_resnet_v2")
    assert irv2.input_size == (3, 299, 299) and irv2.mean == irv2.std == (0.5, 0.5, 0.5)
    assert default_cfg("lenet5").input_size == (1, 32, 32) and default_cfg("effnet_gtsrb").num_classes == 43


@pytest.mark.parametrize("name", list_models())
def test_num_classes_zero_gives_pooled_features_and_reset_restores_scores(name):
    """Shape-only (meta) builds at the native input: forward_head ∘ forward_features = forward, features at 0."""
    cfg = default_cfg(name)
    with shape_only():
        model = create_model(name, num_classes=0, in_chans=cfg.input_size[0]).eval()
        x = torch.empty(2, *cfg.input_size)
        assert model.classifier_name == cfg.classifier
        features = model(x)
        assert model.forward_head(model.forward_features(x)).shape == features.shape
        model.reset_classifier(5)
        scores = model(x)
        assert model.forward_head(model.forward_features(x), pre_logits=True).shape == features.shape
    if name == "unet":  # a dense model: per-pixel features and scores
        assert features.shape == (2, model.num_features, *cfg.input_size[1:]) and scores.shape[:2] == (2, 5)
    else:
        assert features.shape == (2, model.num_features) and scores.shape == (2, 5)


def test_reset_classifier_on_real_weights_keeps_device_and_trains():
    model = create_model("lenet5")
    model.reset_classifier(0)
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 84)
    model.reset_classifier(3)
    assert model(torch.zeros(1, 1, 32, 32)).shape == (1, 3) and model.num_classes == 3


def test_zoo_profile_uses_the_default_config():
    result = invoke("zoo", "profile", "lenet5", "--json", "--runs", "1")
    assert result.code == 0, result.err
    data = result.json()
    assert data["params"] == 61_706 and data["input"] == [1, 32, 32]


def test_zoo_list_json_shows_default_cfg():
    result = invoke("zoo", "list", "vgg16", "--json")
    assert result.code == 0, result.err
    cfg = result.json()["default_cfg"]["vgg16"]
    assert cfg["file"] == "vgg16-397923af.pth" and cfg["classifier"] == "classifier.6"
    assert cfg["input_size"] == [3, 224, 224] and cfg["num_classes"] == 1000
