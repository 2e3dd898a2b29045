"""Loading published weights: class layers of another size, auxiliary heads, checkpoints, and the errors.

Every family's names and nesting against the reference's, and identical outputs, are `test_published_layouts`.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from nivalis.errors import UserError
from nivalis.models import create_model, load_pretrained
from nivalis.models.weights import reference_names

from .published_layouts import randomise, save_reference


def _save_reference(model: nn.Module, source: str, path) -> None:
    """`model`'s tensors under the names its map gives (the layouts themselves are `test_published_layouts`'s)."""
    save_reference(model, list(reference_names(model, source).values()), path)


def test_other_num_classes_reinitialises_the_class_layer_and_nivalis_checkpoints_load(tmp_path):
    torch.manual_seed(0)
    original = randomise(create_model("resnet18", num_classes=10, width_mult=0.25))
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
    small = randomise(create_model("resnet18", num_classes=10, width_mult=0.25))
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
    original = randomise(create_model("googlenet", num_classes=10, aux_logits=True))
    _save_reference(original, "torchvision", tmp_path / "googlenet.pth")
    plain = create_model("googlenet", num_classes=10, pretrained=tmp_path / "googlenet.pth")  # no aux heads
    assert plain.pretrained_report["reinitialised"] == [] and plain.transform_input
    other = create_model("googlenet", num_classes=3, aux_logits=True, pretrained=tmp_path / "googlenet.pth")
    assert set(other.pretrained_report["reinitialised"]) == {"fc.weight", "fc.bias", "aux1.fc2.weight",
                                                             "aux1.fc2.bias", "aux2.fc2.weight", "aux2.fc2.bias"}
    torch.testing.assert_close(other.aux1.fc1.weight, original.aux1.fc1.weight)
