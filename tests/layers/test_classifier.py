"""ClassifierHead: pool → flatten → dropout → linear against hand computations; names, reset, identity."""

import pytest
import torch
import torch.nn as nn

from nivalis.layers import ClassifierHead, get_classifier
from nivalis.models import create_model, list_models
from nivalis.profile.meta import build_meta


def test_matches_pool_flatten_linear_by_hand():
    torch.manual_seed(0)
    head = ClassifierHead(4, 3).eval()
    x = torch.randn(2, 4, 5, 6)
    expected = x.mean(dim=(2, 3)) @ head.weight.T + head.bias
    torch.testing.assert_close(head(x), expected)
    max_head = ClassifierHead(4, 3, pool="max").eval()
    torch.testing.assert_close(max_head(x), x.amax(dim=(2, 3)) @ max_head.weight.T + max_head.bias)


def test_flat_input_without_pooling_reads_the_whole_map():
    head = ClassifierHead(2 * 3 * 3, 5, pool="").eval()
    x = torch.randn(4, 2, 3, 3)
    torch.testing.assert_close(head(x), x.flatten(1) @ head.weight.T + head.bias)


def test_same_init_and_random_stream_as_nn_linear():
    torch.manual_seed(3)
    linear = nn.Linear(8, 4)
    after_linear = torch.rand(1)
    torch.manual_seed(3)
    head = ClassifierHead(8, 4)
    assert torch.equal(head.weight, linear.weight) and torch.equal(head.bias, linear.bias)
    assert torch.equal(torch.rand(1), after_linear)


def test_dropout_only_in_training():
    head = ClassifierHead(16, 0, drop_rate=0.5)
    x = torch.ones(64, 16, 2, 2)
    assert torch.equal(head.eval()(x), torch.ones(64, 16))
    y = head.train()(x)
    assert set(y.unique().tolist()) == {0.0, 2.0}  # inverted dropout: kept values scaled by 1 / (1 - p)


def test_zero_classes_is_the_pooled_features_with_no_parameters():
    head = ClassifierHead(6, 0)
    x = torch.randn(3, 6, 4, 4)
    torch.testing.assert_close(head(x), x.mean(dim=(2, 3)))
    assert list(head.state_dict()) == [] and sum(p.numel() for p in head.parameters()) == 0


def test_reset_changes_the_outputs_and_keeps_names():
    model = create_model("resnet18", num_classes=10).eval()
    model.fc.reset(3)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    assert [k for k in model.state_dict() if k.startswith("fc.")] == ["fc.weight", "fc.bias"]
    model.fc.reset(0)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 512)


@pytest.mark.parametrize("bad", [{"pool": "mean"}, {"drop_rate": 1.0}, {"num_classes": -1}])
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        ClassifierHead(**{"in_features": 4, "num_classes": 2, **bad})


def test_every_zoo_model_names_its_classifier():
    for name in list_models():
        model = build_meta(name, num_classes=7)
        out = get_classifier(model)
        width = getattr(out, "out_features", None) or getattr(out, "out_channels", None)
        assert width == 7, name


def test_published_state_dict_names_are_kept():
    names = {"resnet18": "fc", "mobilenet_v2": "classifier", "efficientnet_b0": "classifier",
             "densenet121": "classifier", "shufflenet_v2_x1_0": "fc", "googlenet": "fc", "repvgg_a0": "fc",
             "convnext_tiny": "head"}
    for model_name, attr in names.items():
        keys = list(build_meta(model_name).state_dict())
        assert f"{attr}.weight" in keys and f"{attr}.bias" in keys, model_name
        assert not any(k.startswith(f"{attr}.") and k.count(".") > 1 for k in keys), model_name
    assert "norm.weight" in build_meta("convnext_tiny").state_dict()


def test_slimnet_loads_checkpoints_from_before_the_shared_head():
    model = create_model("effnet_svhn")
    old = {(k.replace("classifier.", "classifier.2.") if k.startswith("classifier.") else k): v
           for k, v in model.state_dict().items()}
    fresh = create_model("effnet_svhn")
    fresh.load_state_dict(old)
    assert torch.equal(fresh.classifier.weight, model.classifier.weight)
