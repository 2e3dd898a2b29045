"""The registry: registration, listing with patterns, families, unknown names with a hint, `block=`."""

import pytest
import torch.nn as nn

from nivalis.errors import UserError
from nivalis.models import create_model, list_models, model_family, register_model, registry


@pytest.fixture
def scratch_registry(monkeypatch):
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_FAMILY", dict(registry._FAMILY))


def test_register_list_create_and_family(scratch_registry):
    def tinynet_test(num_classes: int = 3, in_chans: int = 2) -> nn.Module:
        return nn.Conv2d(in_chans, num_classes, 1)

    register_model(tinynet_test)
    assert "tinynet_test" in list_models() and list_models("tinynet_*") == ["tinynet_test"]
    model = create_model("tinynet_test", num_classes=5)
    assert (model.in_channels, model.out_channels) == (2, 5)
    assert model_family("tinynet_test") == "test_registry"  # the defining module's last name
    with pytest.raises(RuntimeError, match="registered twice"):
        register_model(tinynet_test)


def test_list_is_sorted_and_filtered():
    names = list_models()
    assert names == sorted(names) and len(names) == len(set(names)) > 80
    assert list_models("resnet*") == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert list_models("no_such_*") == []


def test_families_are_module_names():
    assert model_family("resnet50") == "resnet"
    assert model_family("seresnet50") == "senet"
    assert model_family("effnet_cifar") == "effnet"
    assert model_family("lresnet50e_ir") == "iresnet"


def test_unknown_name_gives_a_hint():
    with pytest.raises(UserError, match=r"did you mean .*resnet101"):
        create_model("resnet1")
    with pytest.raises(UserError, match=r"did you mean resnet18,"):      # the spelling without '-' comes first
        create_model("resnet-18")
    with pytest.raises(UserError, match=r"did you mean mobilenet_v2,"):
        create_model("MobileNetV2")
    with pytest.raises(UserError, match="see `nivalis zoo list`"):
        model_family("zzzz")
    with pytest.raises(ValueError):  # UserError is a ValueError
        create_model("")


def test_every_builder_takes_num_classes_and_in_chans():
    from nivalis.profile.meta import build_meta

    for name in list_models():
        model = build_meta(name, num_classes=5, in_chans=2)
        first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        assert first.in_channels == 2, name


def test_width_mult_is_the_one_width_keyword():
    from nivalis.profile.meta import param_count

    for name in ("resnet18", "lresnet34e_ir", "mobilenet_v1", "shufflenet_v1_g3"):
        assert param_count(name, width_mult=0.5) < param_count(name), name
    with pytest.raises(TypeError, match="width"):       # the old keyword is gone, not silently ignored
        create_model("resnet18", width=0.5)
    assert create_model("shufflenet_v2_x0_5").fc.in_features == 1024
    from nivalis.models.shufflenet import ShuffleNetV2

    with pytest.raises(ValueError, match="width_mult must be one of"):
        ShuffleNetV2(width_mult=0.7)
