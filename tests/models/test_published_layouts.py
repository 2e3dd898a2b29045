"""Every family with published weights against the reference's own names and nesting (`published_layouts`).

Two checks per family: the name map sends nivalis's k-th tensor to the k-th name of the reference's module tree
(shape-only builds, so full-size models cost nothing), and a file written in the reference's names (a small
build, random values including BN statistics) loads to outputs identical to the same tensors put into the
model in order, with the reference's BN eps, input transform and activation.
"""

from __future__ import annotations

import os
import re

import pytest
import torch
import torch.nn as nn

from nivalis.errors import UserError
from nivalis.models import create_model, list_models, load_pretrained
from nivalis.models.configs import default_cfg
from nivalis.models.convnext import ConvNeXt
from nivalis.models.weights import reference_names
from nivalis.profile.meta import build_meta
from tests.cli_helpers import invoke

from . import published_layouts as ref
from .published_layouts import randomise


def write_reference_file(model: nn.Module, name: str, source: str, path, safetensors: bool | None = None) -> None:
    """`model`'s tensors in order under the names of `name`'s reference layout in `LAYOUTS` (the one with as many
    tensors: with or without auxiliary heads), saved as the reference distributes them."""
    count = len(model.state_dict())
    names = next((names for n, s, _, layout in LAYOUTS if (n, s) == (name, source)
                  for names in [layout()] if len(names) == count), None)
    assert names is not None, f"no {source} layout of {name} with {count} tensors"
    ref.save_reference(model, names, path, safetensors)

R50 = (3, 4, 6, 3)
LAYOUTS = [
    ("resnet18", "torchvision", {}, lambda: ref.torchvision_resnet((2, 2, 2, 2), False)),
    ("resnet34", "torchvision", {}, lambda: ref.torchvision_resnet(R50, False)),
    ("resnet50", "torchvision", {}, lambda: ref.torchvision_resnet(R50, True)),
    ("resnet50", "timm", {}, lambda: ref.torchvision_resnet(R50, True)),
    ("resnet101", "torchvision", {}, lambda: ref.torchvision_resnet((3, 4, 23, 3), True)),
    ("resnet152", "torchvision", {}, lambda: ref.torchvision_resnet((3, 8, 36, 3), True)),
    ("wide_resnet50_2", "torchvision", {}, lambda: ref.torchvision_resnet(R50, True)),
    ("resnext50_32x4d", "torchvision", {}, lambda: ref.torchvision_resnet(R50, True)),
    ("seresnet50", "timm", {}, lambda: ref.torchvision_resnet(R50, True, se=True)),
    ("seresnext50_32x4d", "timm", {}, lambda: ref.torchvision_resnet(R50, True, se=True)),
    *[(f"{cfg}{bn}", "torchvision", {}, lambda cfg=cfg, bn=bn: ref.torchvision_vgg(ref.VGG_CFGS[cfg], bool(bn)))
      for cfg in ref.VGG_CFGS for bn in ("", "_bn") if f"{cfg}{bn}" in list_models()],
    ("alexnet", "torchvision", {}, ref.torchvision_alexnet),
    ("densenet121", "torchvision", {}, lambda: ref.torchvision_densenet((6, 12, 24, 16))),
    ("densenet169", "torchvision", {}, lambda: ref.torchvision_densenet((6, 12, 32, 32))),
    ("densenet201", "torchvision", {}, lambda: ref.torchvision_densenet((6, 12, 48, 32))),
    ("googlenet", "torchvision", {"aux_logits": True}, lambda: ref.torchvision_googlenet(True)),
    ("googlenet", "torchvision", {}, lambda: ref.torchvision_googlenet(False)),
    ("inception_v3", "torchvision", {}, lambda: ref.torchvision_inception_v3(True)),
    ("inception_v3", "torchvision", {"aux_logits": False}, lambda: ref.torchvision_inception_v3(False)),
    ("mobilenet_v2", "torchvision", {}, ref.torchvision_mobilenet_v2),
    ("mobilenet_v3_large", "torchvision", {}, lambda: ref.torchvision_mobilenet_v3(ref.TV_V3_LARGE)),
    ("mobilenet_v3_small", "torchvision", {}, lambda: ref.torchvision_mobilenet_v3(ref.TV_V3_SMALL)),
    ("efficientnet_b0", "torchvision", {}, ref.torchvision_efficientnet_b0),
    ("shufflenet_v2_x0_5", "torchvision", {}, ref.torchvision_shufflenet_v2),
    ("shufflenet_v2_x1_0", "torchvision", {}, ref.torchvision_shufflenet_v2),
    ("shufflenet_v2_x2_0", "torchvision", {}, ref.torchvision_shufflenet_v2),
    ("convnext_tiny", "torchvision", {}, lambda: ref.torchvision_convnext((3, 3, 9, 3))),
    ("convnext_small", "torchvision", {}, lambda: ref.torchvision_convnext((3, 3, 27, 3))),
    ("convnext_tiny", "timm", {}, lambda: ref.timm_convnext((3, 3, 9, 3))),
    ("inception_resnet_v2", "timm", {}, ref.timm_inception_resnet_v2),
    ("mobilenet_v1", "timm", {}, ref.timm_mobilenetv1_100),
    ("repvgg_a0", "timm", {}, lambda: ref.timm_repvgg((2, 4, 14, 1))),
    ("repvgg_a1", "timm", {}, lambda: ref.timm_repvgg((2, 4, 14, 1))),
    ("repvgg_b0", "timm", {}, lambda: ref.timm_repvgg((4, 6, 16, 1))),
    ("lresnet34e_ir", "insightface", {}, lambda: ref.insightface_iresnet((3, 4, 6, 3))),
    ("lresnet50e_ir", "insightface", {}, lambda: ref.insightface_iresnet((3, 4, 14, 3))),
    ("lresnet100e_ir", "insightface", {}, lambda: ref.insightface_iresnet((3, 13, 30, 3))),
]


def _first_difference(got: list[str], want: list[str]) -> str:
    for k, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"tensor {k}: map gives {g!r}, the reference has {w!r}"
    return f"{len(got)} names from the map, {len(want)} in the reference"


@pytest.mark.parametrize("name, source, kwargs, layout", LAYOUTS,
                         ids=[f"{c[0]}-{c[1]}{'-' + '-'.join(f'{k}{v}' for k, v in c[2].items()) if c[2] else ''}"
                              for c in LAYOUTS])
def test_map_pairs_every_tensor_with_the_references_name(name, source, kwargs, layout):
    got = list(reference_names(build_meta(name, **kwargs), source).values())
    want = layout()
    assert got == want, _first_difference(got, want)


def test_every_model_with_published_weights_has_a_reference_layout():
    covered = {name for name, *_ in LAYOUTS}
    published = {n for n in list_models() if default_cfg(n).weights}
    assert published <= covered, sorted(published - covered)
    assert default_cfg("lresnet50e_ir").weights == "insightface:iresnet50"


# The references' settings that the same tensors need for the same outputs: BN eps, torchvision's
# `transform_input` (TF-ported Inception weights), timm's ReLU6 in MobileNet V1.
TF_PORT = {"eps": 1e-3, "transform_input": True}
OUTPUTS = [
    ("resnet50", "torchvision", lambda: create_model("resnet50", num_classes=10, width_mult=0.25), {}),
    ("seresnet50", "timm", lambda: create_model("seresnet50", num_classes=10, width_mult=0.25), {}),
    ("vgg11_bn", "torchvision", lambda: create_model("vgg11_bn", num_classes=10, pool_size=1), {}),
    ("alexnet", "torchvision", lambda: create_model("alexnet", num_classes=10, pool_size=1), {}),
    ("densenet121", "torchvision", lambda: create_model("densenet121", num_classes=10), {}),
    ("googlenet", "torchvision", lambda: create_model("googlenet", num_classes=10, aux_logits=True), TF_PORT),
    ("inception_v3", "torchvision", lambda: create_model("inception_v3", num_classes=10), TF_PORT),
    ("mobilenet_v2", "torchvision", lambda: create_model("mobilenet_v2", num_classes=10, width_mult=0.5), {}),
    ("mobilenet_v3_small", "torchvision", lambda: create_model("mobilenet_v3_small", num_classes=10),
     {"eps": 1e-3, "momentum": 0.01}),
    ("efficientnet_b0", "torchvision", lambda: create_model("efficientnet_b0", num_classes=10), {}),
    ("shufflenet_v2_x0_5", "torchvision", lambda: create_model("shufflenet_v2_x0_5", num_classes=10), {}),
    ("convnext_tiny", "torchvision", lambda: ConvNeXt((3, 3, 9, 3), (16, 32, 64, 128), num_classes=10), {}),
    ("convnext_tiny", "timm", lambda: ConvNeXt((3, 3, 9, 3), (16, 32, 64, 128), num_classes=10), {}),
    ("mobilenet_v1", "timm", lambda: create_model("mobilenet_v1", num_classes=10, width_mult=0.5), {"act": nn.ReLU6}),
    ("repvgg_a0", "timm", lambda: create_model("repvgg_a0", num_classes=10), {}),
    *[(name, "insightface", lambda name=name: create_model(name, width_mult=0.125, input_size=32), {})
      for name in ("lresnet34e_ir", "lresnet50e_ir", "lresnet100e_ir")],
]


def _as_reference(model: nn.Module, settings: dict) -> nn.Module:
    """The same tensors in the reference's settings: its BN eps, input transform and activation."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and "eps" in settings:
            m.eps = settings["eps"]
        for child_name, child in m.named_children():
            if type(child) is nn.ReLU and "act" in settings:
                setattr(m, child_name, settings["act"]())
    if "transform_input" in settings:
        model.transform_input = settings["transform_input"]
    return model


@pytest.mark.parametrize("name, source, build, settings", OUTPUTS, ids=[f"{c[0]}-{c[1]}" for c in OUTPUTS])
def test_reference_file_loads_to_the_outputs_of_the_same_tensors_in_order(tmp_path, name, source, build, settings):
    torch.manual_seed(0)
    original = randomise(build())
    path = tmp_path / f"{name}{'.safetensors' if source == 'timm' else '.pth'}"
    write_reference_file(original, name, source, path)
    torch.manual_seed(1)
    loaded = build()
    report = load_pretrained(loaded, name, path)
    assert report["source"] == source and report["reinitialised"] == []
    expected = _as_reference(original, settings)
    side = 32 if source == "insightface" else 75
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), expected(x), rtol=0, atol=0)
        if name == "googlenet":  # the auxiliary heads are mapped too
            torch.testing.assert_close(loaded.forward_with_aux(x)[1][1], expected.forward_with_aux(x)[1][1])
    norms = [m for m in loaded.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert {m.eps for m in norms} <= {settings.get("eps", 1e-5)}
    assert {m.momentum for m in norms} <= {settings.get("momentum", 0.1)}
    assert getattr(loaded, "transform_input", False) == settings.get("transform_input", False)
    if "act" in settings:
        assert not any(type(m) is nn.ReLU for m in loaded.modules()) and "relu6" in report["note"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lresnet50e_ir", "lresnet100e_ir"])
def test_insightface_backbone_at_full_size(tmp_path, name):
    """insightface's `backbone.pth` of iresnet50/100: full widths, the 512·7·7 → 512 embedding FC, 112×112 input."""
    original = randomise(create_model(name))
    write_reference_file(original, name, "insightface", tmp_path / "backbone.pth")
    state = torch.load(tmp_path / "backbone.pth", weights_only=True)
    assert state["fc.weight"].shape == (512, 512 * 7 * 7) and state["conv1.weight"].shape == (64, 3, 3, 3)
    assert state["layer1.0.downsample.0.weight"].shape == (64, 64, 1, 1) and "features.running_var" in state
    loaded = create_model(name, pretrained=tmp_path / "backbone.pth")
    x = torch.randn(1, 3, 112, 112)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), original(x), rtol=0, atol=0)
    assert loaded.pretrained_report["source"] == "insightface"


@pytest.mark.slow
def test_inception_resnet_v2_from_timm_safetensors(tmp_path):
    """55.8 M parameters: the largest map, and the only family here whose reference BN eps is 1e-3."""
    torch.manual_seed(0)
    original = randomise(create_model("inception_resnet_v2", num_classes=5))
    write_reference_file(original, "inception_resnet_v2", "timm", tmp_path / "model.safetensors")
    loaded = create_model("inception_resnet_v2", num_classes=5, pretrained=tmp_path / "model.safetensors")
    assert {m.eps for m in loaded.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-3}
    x = torch.randn(1, 3, 75, 75)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), _as_reference(original, {"eps": 1e-3})(x), rtol=0, atol=0)


# ---------------------------------------------------------------- hf-hub: the local Hugging Face cache

COMMIT = "3f1c2ab4d5e6f708192a3b4c5d6e7f8091a2b3c4"


def _hub_cache(root, repo: str, write, filename: str) -> None:
    """`root` laid out as huggingface_hub lays out its cache: blobs, a snapshot of links, refs/main."""
    folder = root / f"models--{repo.replace('/', '--')}"
    (folder / "blobs").mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(COMMIT)  # no newline, as huggingface_hub writes it
    blob = folder / "blobs" / "9b8a7c6d5e4f30211e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a87"
    write(blob)
    snapshot = folder / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    os.symlink(os.path.relpath(blob, snapshot), snapshot / filename)


def test_hf_hub_resolves_a_timm_model_in_the_cache(tmp_path, monkeypatch):
    torch.manual_seed(0)
    original = randomise(create_model("mobilenet_v1", num_classes=10, width_mult=0.5))
    repo = "timm/mobilenetv1_100.ra4_e3600_r224_in1k"
    _hub_cache(tmp_path / "hub", repo, lambda p: write_reference_file(original, "mobilenet_v1", "timm", p, True),
               "model.safetensors")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    loaded = create_model("mobilenet_v1", num_classes=10, width_mult=0.5, pretrained=f"hf-hub:{repo}")
    assert loaded.pretrained_report["file"].endswith(f"snapshots/{COMMIT}/model.safetensors")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), _as_reference(original, {"act": nn.ReLU6})(x), rtol=0, atol=0)
    # a revision by commit hash finds the same snapshot
    again = create_model("mobilenet_v1", num_classes=10, width_mult=0.5, pretrained=f"hf-hub:{repo}@{COMMIT}")
    torch.testing.assert_close(again.classifier.weight, loaded.classifier.weight)


def test_hf_hub_under_hf_home_with_a_pytorch_model_bin(tmp_path, monkeypatch):
    original = randomise(create_model("resnet18", num_classes=10, width_mult=0.25))
    _hub_cache(tmp_path / "home" / "hub", "timm/resnet18.a1_in1k",
               lambda p: write_reference_file(original, "resnet18", "torchvision", p, False), "pytorch_model.bin")
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    loaded = create_model("resnet18", num_classes=10, width_mult=0.25, pretrained="hf-hub:timm/resnet18.a1_in1k")
    assert loaded.pretrained_report["source"] == "torchvision"  # timm's ResNet names are torchvision's
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x), original(x), rtol=0, atol=0)


def test_hf_hub_model_not_in_the_cache_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(UserError, match=r"timm/resnet50\.a1_in1k .*not in the Hugging Face cache.*"
                                        + re.escape(str(tmp_path / "hub" / "models--timm--resnet50.a1_in1k"))):
        create_model("resnet50", pretrained="hf-hub:timm/resnet50.a1_in1k")
    with pytest.raises(UserError, match="not a Hugging Face model id"):
        create_model("resnet50", pretrained="hf-hub:../etc")
    result = invoke("zoo", "profile", "resnet18", "--pretrained", "hf-hub:timm/resnet18.a1_in1k", "--runs", "1")
    assert result.code == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "models--timm--resnet18.a1_in1k" in lines[0]
