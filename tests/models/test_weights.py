"""Published weights through explicit name maps: names of the references, identical outputs, errors.

The reference names below are facts of the published architectures (torchvision's and timm's state dicts),
written out by hand; the state dicts are generated from a nivalis model with random values through the name
map, saved as the reference would distribute them, and loaded back into a fresh model.
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn as nn
from safetensors.torch import save_file

from nivalis.errors import UserError
from nivalis.models import create_model, load_pretrained
from nivalis.models.convnext import ConvNeXt
from nivalis.models.weights import reference_names
from nivalis.profile.meta import build_meta

BN_LEAVES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _torchvision_resnet50_names() -> set[str]:
    names = {"conv1.weight", "fc.weight", "fc.bias"} | {f"bn1.{leaf}" for leaf in BN_LEAVES}
    for layer, blocks in enumerate((3, 4, 6, 3), start=1):
        for b in range(blocks):
            for k in (1, 2, 3):
                names.add(f"layer{layer}.{b}.conv{k}.weight")
                names |= {f"layer{layer}.{b}.bn{k}.{leaf}" for leaf in BN_LEAVES}
        names.add(f"layer{layer}.0.downsample.0.weight")
        names |= {f"layer{layer}.0.downsample.1.{leaf}" for leaf in BN_LEAVES}
    return names


def _torchvision_vgg16_names() -> set[str]:
    convs = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
    return {f"features.{i}.{p}" for i in convs for p in ("weight", "bias")} | {
        f"classifier.{i}.{p}" for i in (0, 3, 6) for p in ("weight", "bias")}


def test_resnet50_and_vgg16_maps_give_exactly_torchvisions_names():
    assert set(reference_names(build_meta("resnet50"), "torchvision").values()) == _torchvision_resnet50_names()
    assert set(reference_names(build_meta("vgg16"), "torchvision").values()) == _torchvision_vgg16_names()


@pytest.mark.parametrize("name, source, expected", [
    ("mobilenet_v2", "torchvision", {"features.0.0.weight", "features.1.conv.0.0.weight", "features.1.conv.1.weight",
                                     "features.1.conv.2.running_var", "features.2.conv.0.0.weight",
                                     "features.2.conv.3.bias", "features.17.conv.2.weight", "features.18.0.weight",
                                     "features.18.1.running_mean", "classifier.1.weight"}),
    ("efficientnet_b0", "torchvision", {"features.0.0.weight", "features.1.0.block.0.0.weight",
                                        "features.1.0.block.1.fc1.weight", "features.1.0.block.2.1.running_var",
                                        "features.2.0.block.0.0.weight", "features.2.1.block.2.fc2.bias",
                                        "features.6.3.block.3.0.weight", "features.7.0.block.3.1.weight",
                                        "features.8.0.weight", "classifier.1.bias"}),
    ("convnext_tiny", "torchvision", {"features.0.0.weight", "features.0.1.bias", "features.1.0.block.0.weight",
                                      "features.1.2.layer_scale", "features.2.0.weight", "features.2.1.weight",
                                      "features.5.8.block.5.bias", "features.7.2.block.3.weight",
                                      "classifier.0.weight", "classifier.2.weight"}),
    ("convnext_tiny", "timm", {"stem.0.weight", "stages.1.downsample.1.weight", "stages.2.blocks.8.mlp.fc2.bias",
                               "stages.3.blocks.2.gamma", "head.norm.weight", "head.fc.weight"}),
    ("densenet121", "torchvision", {"features.conv0.weight", "features.norm0.running_var",
                                    "features.denseblock1.denselayer1.norm1.weight",
                                    "features.denseblock1.denselayer6.conv2.weight",
                                    "features.transition1.norm.bias", "features.transition3.conv.weight",
                                    "features.denseblock4.denselayer16.conv2.weight", "features.norm5.bias",
                                    "classifier.weight"}),
    ("mobilenet_v3_large", "torchvision", {"features.0.0.weight", "features.1.block.0.0.weight",
                                           "features.1.block.1.1.running_var", "features.2.block.0.0.weight",
                                           "features.4.block.2.fc1.weight", "features.4.block.3.0.weight",
                                           "features.15.block.3.1.bias", "features.16.0.weight",
                                           "classifier.0.weight", "classifier.3.bias"}),
    ("mobilenet_v3_small", "torchvision", {"features.1.block.1.fc2.weight", "features.1.block.2.0.weight",
                                           "features.11.block.2.fc1.bias", "features.12.1.weight",
                                           "classifier.0.weight", "classifier.3.weight"}),
    ("alexnet", "torchvision", {"features.0.weight", "features.3.bias", "features.6.weight", "features.8.weight",
                                "features.10.bias", "classifier.1.weight", "classifier.4.bias", "classifier.6.weight"}),
    ("shufflenet_v2_x1_0", "torchvision", {"conv1.0.weight", "conv1.1.running_var", "stage2.0.branch1.0.weight",
                                           "stage2.0.branch1.1.bias", "stage2.0.branch1.2.weight",
                                           "stage2.0.branch1.3.running_mean", "stage2.0.branch2.0.weight",
                                           "stage2.3.branch2.3.weight", "stage3.7.branch2.4.bias",
                                           "stage4.3.branch2.5.weight", "stage4.3.branch2.6.running_var",
                                           "conv5.0.weight", "conv5.1.bias", "fc.weight"}),
    ("googlenet", "torchvision", {"conv1.conv.weight", "conv3.bn.running_var", "inception3a.branch1.conv.weight",
                                  "inception3a.branch2.1.bn.bias", "inception4e.branch4.1.conv.weight",
                                  "inception5b.branch3.1.conv.weight", "aux1.conv.conv.weight", "aux2.fc1.weight",
                                  "aux2.fc2.bias", "fc.weight"}),
    ("inception_v3", "torchvision", {"Conv2d_1a_3x3.conv.weight", "Conv2d_4a_3x3.bn.running_var",
                                     "Mixed_5b.branch5x5_2.conv.weight", "Mixed_5d.branch3x3dbl_3.bn.bias",
                                     "Mixed_5b.branch3x3dbl_1.conv.weight", "Mixed_5b.branch3x3dbl_1.bn.weight",
                                     "Mixed_5b.branch_pool.conv.weight", "Mixed_6a.branch3x3.conv.weight",
                                     "Mixed_6a.branch3x3dbl_3.conv.weight", "Mixed_6e.branch7x7dbl_5.bn.weight",
                                     "Mixed_6b.branch7x7_3.conv.weight", "AuxLogits.conv0.conv.weight",
                                     "AuxLogits.conv1.bn.bias", "AuxLogits.fc.weight",
                                     "Mixed_7a.branch3x3_2.conv.weight",
                                     "Mixed_7a.branch7x7x3_4.bn.weight", "Mixed_7b.branch3x3_2a.conv.weight",
                                     "Mixed_7c.branch3x3dbl_3b.bn.running_mean", "Mixed_7b.branch3x3dbl_2.conv.weight",
                                     "Mixed_7c.branch3x3dbl_1.conv.weight", "fc.weight"}),
    ("inception_resnet_v2", "timm", {"conv2d_1a.conv.weight", "conv2d_1a.bn.running_var", "conv2d_4a.conv.weight",
                                     "mixed_5b.branch3.1.conv.weight", "repeat.9.conv2d.bias",
                                     "mixed_6a.branch1.2.bn.weight", "repeat_1.19.branch1.2.conv.weight",
                                     "mixed_7a.branch2.2.conv.weight", "repeat_2.8.conv2d.weight",
                                     "block8.conv2d.weight", "conv2d_7b.bn.running_mean", "classif.weight"}),
])
def test_published_names_are_produced(name, source, expected):
    names = set(reference_names(build_meta(name, **({"aux_logits": True} if name == "googlenet" else {})),
                                source).values())
    assert expected <= names, sorted(expected - names)
    if name == "alexnet":
        assert len(names) == 16
    if name == "shufflenet_v2_x1_0":
        assert "stage2.1.branch1.0.weight" not in names and "stage4.4.branch2.0.weight" not in names
    if name == "densenet121":
        assert "features.denseblock4.denselayer17.conv2.weight" not in names and len(names) == 727
    if name == "efficientnet_b0":
        assert "features.6.4.block.0.0.weight" not in names  # stage 6 has four blocks
    if name == "inception_resnet_v2":
        assert "repeat_2.9.conv2d.weight" not in names  # the tenth Block8 is `block8`


def _randomise(model: nn.Module) -> nn.Module:
    """Random values everywhere (BN statistics included) so that a misplaced tensor changes the output."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
                if name.endswith("running_var"):
                    t.abs_().add_(0.5)
    return model.eval()


def _save_reference(model: nn.Module, source: str, path, *, layer_scale_chw: bool = False) -> None:
    names = reference_names(model, source)
    state = {names[k]: v.clone() for k, v in model.state_dict().items()}
    # torchvision's distributed DenseNet files keep the legacy names `denselayerL.norm.1`, `conv.2`
    state = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in state.items()}
    if layer_scale_chw:  # torchvision stores ConvNeXt's γ as (C, 1, 1)
        state = {k: v.reshape(-1, 1, 1) if k.endswith("layer_scale") else v for k, v in state.items()}
    if str(path).endswith(".safetensors"):
        save_file(state, str(path))
    else:
        torch.save(state, path)


CASES = [
    ("resnet50", "torchvision", lambda: create_model("resnet50", num_classes=10, width_mult=0.25), ".pth"),
    ("resnet18", "torchvision", lambda: create_model("resnet18", num_classes=10, width_mult=0.25), ".pth"),
    ("vgg11_bn", "torchvision", lambda: create_model("vgg11_bn", num_classes=10, pool_size=1), ".pth"),
    ("mobilenet_v2", "torchvision", lambda: create_model("mobilenet_v2", num_classes=10), ".pth"),
    ("efficientnet_b0", "torchvision", lambda: create_model("efficientnet_b0", num_classes=10), ".pth"),
    ("convnext_tiny", "torchvision", lambda: ConvNeXt((3, 3, 9, 3), (16, 32, 64, 128), num_classes=10), ".pth"),
    ("mobilenet_v3_small", "torchvision", lambda: create_model("mobilenet_v3_small", num_classes=10), ".pth"),
    ("densenet121", "torchvision", lambda: create_model("densenet121", num_classes=10), ".pth"),
    ("alexnet", "torchvision", lambda: create_model("alexnet", num_classes=10, pool_size=1), ".pth"),
    ("googlenet", "torchvision", lambda: create_model("googlenet", num_classes=10, aux_logits=True), ".pth"),
    ("inception_v3", "torchvision", lambda: create_model("inception_v3", num_classes=10), ".pth"),
    ("shufflenet_v2_x0_5", "torchvision", lambda: create_model("shufflenet_v2_x0_5", num_classes=10), ".pth"),
    ("convnext_tiny", "timm", lambda: ConvNeXt((3, 3, 9, 3), (16, 32, 64, 128), num_classes=10), ".safetensors"),
]


@pytest.mark.parametrize("name, source, build, ext", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_reference_file_loads_to_identical_outputs(tmp_path, name, source, build, ext):
    torch.manual_seed(0)
    original = _randomise(build())
    path = tmp_path / f"{name}{ext}"
    _save_reference(original, source, path, layer_scale_chw=name.startswith("convnext") and source == "torchvision")
    tf_ported = name in ("googlenet", "inception_v3")
    if name.startswith("mobilenet_v3") or tf_ported:  # the same weights by order, in torchvision's BN settings
        for m in original.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = 1e-3
        original.transform_input = tf_ported
    torch.manual_seed(1)
    loaded = build()
    report = load_pretrained(loaded, name, path)
    assert report["source"] == source and report["reinitialised"] == []
    x = torch.randn(2, 3, 75, 75)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), original(x), rtol=0, atol=0)
        if name == "googlenet":  # the auxiliary heads are mapped too
            torch.testing.assert_close(loaded.forward_with_aux(x)[1][1], original.forward_with_aux(x)[1][1])
    assert getattr(loaded, "transform_input", False) == (name in ("googlenet", "inception_v3"))
    bn = {(m.eps, m.momentum) for m in loaded.modules() if isinstance(m, nn.BatchNorm2d)}
    # torchvision's MobileNetV3 uses eps 1e-3 and momentum 0.01; the others PyTorch's defaults
    expected = {(1e-3, 0.01)} if name.startswith("mobilenet_v3") else {(1e-3, 0.1)} if tf_ported else \
        set() if name in ("convnext_tiny", "alexnet") else {(1e-5, 0.1)}
    assert bn == expected


@pytest.mark.slow
def test_inception_resnet_v2_from_timm_safetensors(tmp_path):
    """55.8 M parameters: the largest map, and the only family here whose reference BN eps is 1e-3."""
    torch.manual_seed(0)
    original = _randomise(create_model("inception_resnet_v2", num_classes=5))
    path = tmp_path / "model.safetensors"
    _save_reference(original, "timm", path)
    for m in original.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-3  # "the same weights loaded by order" into timm's layout, whose BN eps is 1e-3
    loaded = create_model("inception_resnet_v2", num_classes=5, pretrained=path)
    assert {m.eps for m in loaded.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-3}
    x = torch.randn(1, 3, 75, 75)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), original(x), rtol=0, atol=0)


def test_other_num_classes_reinitialises_the_class_layer_and_nivalis_checkpoints_load(tmp_path):
    torch.manual_seed(0)
    original = _randomise(create_model("resnet18", num_classes=10, width_mult=0.25))
    _save_reference(original, "torchvision", tmp_path / "tv.pth")
    model = create_model("resnet18", num_classes=3, width_mult=0.25, pretrained=tmp_path / "tv.pth")
    assert model.pretrained_report["reinitialised"] == ["fc.bias", "fc.weight"]
    assert "re-initialised" in model.pretrained_report["note"]
    torch.testing.assert_close(model.layer4[1].conv2[0].weight, original.layer4[1].conv2[0].weight)
    features = create_model("resnet18", num_classes=0, width_mult=0.25, pretrained=tmp_path / "tv.pth")
    assert features.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 128)
    torch.save({"model": original.state_dict(), "meta": {"model": "resnet18"}}, tmp_path / "ckpt.pt")
    again = create_model("resnet18", num_classes=10, width_mult=0.25, pretrained=tmp_path / "ckpt.pt")
    assert again.pretrained_report["source"] == "nivalis"
    torch.testing.assert_close(again.fc.weight, original.fc.weight)
    torch.save({"state_dict": {f"module.{k}": v for k, v in original.state_dict().items()}}, tmp_path / "ddp.pth")
    assert load_pretrained(create_model("resnet18", num_classes=10, width_mult=0.25), "resnet18",
                           tmp_path / "ddp.pth")["source"] == "nivalis"


def test_user_errors_name_the_file_or_the_first_mismatch(tmp_path):
    with pytest.raises(UserError, match="resnet50-0676ba61.pth"):
        create_model("resnet50", pretrained=tmp_path / "missing.pth")
    with pytest.raises(UserError, match="downloads nothing"):
        create_model("resnet50", pretrained=True)
    small = _randomise(create_model("resnet18", num_classes=10, width_mult=0.25))
    _save_reference(small, "torchvision", tmp_path / "r18.pth")
    with pytest.raises(UserError, match=r"shape mismatch at stem\.0\.0\.weight \(torchvision 'conv1\.weight'\)"):
        create_model("resnet18", num_classes=10, width_mult=0.5, pretrained=tmp_path / "r18.pth")
    with pytest.raises(UserError, match=r"no tensor 'layer1\.2\.conv1\.weight' \(for layer1\.2\.conv1\.0\.weight\)"):
        create_model("resnet34", num_classes=10, width_mult=0.25, pretrained=tmp_path / "r18.pth")
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "shufflenet.pth")
    with pytest.raises(UserError, match="no name map"):
        create_model("shufflenet_v1_g3", pretrained=tmp_path / "shufflenet.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="junk.pth"):
        create_model("resnet18", pretrained=tmp_path / "junk.pth")


def test_googlenet_auxiliary_heads_are_optional_and_reinitialised_with_the_classifier(tmp_path):
    original = _randomise(create_model("googlenet", num_classes=10, aux_logits=True))
    _save_reference(original, "torchvision", tmp_path / "googlenet.pth")
    plain = create_model("googlenet", num_classes=10, pretrained=tmp_path / "googlenet.pth")  # no aux heads
    assert plain.pretrained_report["reinitialised"] == [] and plain.transform_input
    other = create_model("googlenet", num_classes=3, aux_logits=True, pretrained=tmp_path / "googlenet.pth")
    assert set(other.pretrained_report["reinitialised"]) == {"fc.weight", "fc.bias", "aux1.fc2.weight",
                                                             "aux1.fc2.bias", "aux2.fc2.weight", "aux2.fc2.bias"}
    torch.testing.assert_close(other.aux1.fc1.weight, original.aux1.fc1.weight)
