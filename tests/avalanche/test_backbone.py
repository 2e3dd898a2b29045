"""Cut zoo backbones as avalanche window classifiers: exact dense form, published weights, frozen and fine-tuned."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nivalis.avalanche.backbone import BackboneWindowNet, DenseBackboneNet, build_backbone_net, geometry
from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import dense_net, predict_probability, predict_windows
from nivalis.avalanche.models import build_classifier, load_classifier
from nivalis.avalanche.train import train_window_classifier
from nivalis.avalanche.windows import pad_image, window_view
from nivalis.errors import UserError
from nivalis.models import create_model, default_cfg
from nivalis.models.weights import reference_names
from tests.avalanche.conftest import random_image, randomize_batchnorm
from tests.cli_helpers import invoke

# (model, reach left, reach right, window) from the architectures: ResNet-50 3 + 2 + 3·4 + 4 + 3·8 = 45 each side
GEOMETRY = [("resnet50", 45, 45, 97), ("vgg16", 18, 25, 65), ("inception_resnet_v2", 42, 68, 145)]


@pytest.mark.parametrize("model,left,right,window", GEOMETRY)
def test_geometry_of_the_stride_8_cut(model, left, right, window):
    net = build_backbone_net(model, None, 3)
    assert (net.geo["stride"], net.geo["left"], net.geo["right"], net.window) == (8, left, right, window)
    assert net.feature_channels == {"resnet50": 512, "vgg16": 256, "inception_resnet_v2": 320}[model]


@pytest.mark.parametrize("model", [g[0] for g in GEOMETRY])
def test_dense_equals_window_by_window(model):
    torch.manual_seed(0)
    net = build_backbone_net(model, None, 3)
    randomize_batchnorm(net)
    with torch.no_grad():  # a head whose logits are not all ≈ 0
        net.head[3].weight.mul_(50.0)
    net.eval()
    img = np.random.default_rng(1).normal(0.0, 1.0, (9, 11, 3)).astype(np.float32)
    padded = pad_image(img, net.window)
    x = torch.from_numpy(padded).permute(2, 0, 1)[None].contiguous()
    with torch.no_grad():
        dense = DenseBackboneNet(net, 3)(x)[0, 0].numpy()
        wins = torch.from_numpy(np.ascontiguousarray(window_view(padded, net.window).reshape(-1, net.window,
                                                                                             net.window, 3)))
        windowed = net(wins.permute(0, 3, 1, 2).contiguous())[:, 0].numpy().reshape(9, 11)
    assert dense.shape == (9, 11)
    assert np.abs(windowed).max() > 0.05
    np.testing.assert_allclose(dense, windowed, atol=1e-4)


def test_a_window_below_the_reach_is_refused():
    backbone = build_backbone_net("resnet50", None, 3).features
    with pytest.raises(UserError, match="97 or more"):
        BackboneWindowNet(backbone, 81, 3)
    assert build_backbone_net("resnet50", 100, 3).window == 113  # rounded up to the next exact window


def test_geometry_probe_leaves_training_mode():
    backbone = build_backbone_net("vgg11", None, 3).features.train()
    geometry(backbone, 3)
    assert backbone.training


@pytest.fixture(scope="module")
def torchvision_resnet50(tmp_path_factory):
    """A resnet50 weights file in torchvision's layout (names and shapes of the published model)."""
    torch.manual_seed(0)
    model = create_model("resnet50", num_classes=1000)
    randomize_batchnorm(model, seed=2)
    names = reference_names(model, "torchvision")
    state = {names[k]: v.clone() for k, v in model.state_dict().items()}
    path = tmp_path_factory.mktemp("weights") / "resnet50-0676ba61.pth"
    torch.save(state, path)
    return path, state


def _small(**kw) -> AvalancheConfig:
    return AvalancheConfig(**{"epochs": 2, "windows_per_epoch": 128, "val_windows": 64, "batch_size": 32, **kw})


def test_frozen_pretrained_resnet50_trains_the_head_only(scene_dir, tmp_path, torchvision_resnet50):
    path, state = torchvision_resnet50
    run = train_window_classifier(scene_dir, "resnet50", config=_small(lr=3e-3), out_dir=tmp_path / "run",
                                  calibrate=False, pretrained=path, freeze_backbone=True)
    clf = run.classifier
    assert isinstance(clf.net, BackboneWindowNet) and clf.window == 97 and run.result["dense"]
    # the backbone holds the file's weights, through the name map, untouched by training
    np.testing.assert_array_equal(clf.net.features.layer2[3].conv2[0].weight.detach().numpy(),
                                  state["layer2.3.conv2.weight"].numpy())
    np.testing.assert_array_equal(clf.net.features.stem[0][1].running_mean.numpy(), state["bn1.running_mean"].numpy())
    # uint8 RGB with published weights: the weights' own normalisation (ImageNet mean/std)
    np.testing.assert_allclose(clf.mean.numpy(), default_cfg("resnet50").mean, rtol=1e-6)
    losses = [h["train_loss"] for h in run.history]
    assert losses[-1] < losses[0]
    reloaded = load_classifier(run.result["checkpoint"])
    assert reloaded.backbone == {"pretrained": "resnet50-0676ba61.pth", "frozen": True, "stride": 8}
    for k, v in clf.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[k], v)
    image = random_image(8, 8, 3, seed=5)
    assert dense_net(reloaded) is not None
    np.testing.assert_allclose(predict_probability(reloaded, image), predict_windows(reloaded, image), atol=1e-4)


def test_fine_tuning_changes_the_backbone_and_freezing_does_not(scene_dir):
    from nivalis.engine import seed_everything

    cfg = _small(seed=1, epochs=1, windows_per_epoch=64, val_windows=32)  # one step of 32 windows changes weights
    seed_everything(cfg.seed)  # train_window_classifier builds its model right after this call
    initial = build_classifier("vgg11", 3, 3, cfg, backbone={"pretrained": None, "frozen": True}).net.features
    for frozen in (True, False):
        run = train_window_classifier(scene_dir, "vgg11", config=cfg, calibrate=False, freeze_backbone=frozen)
        after = run.classifier.net.features
        same = all(torch.equal(a, b) for a, b in zip(initial.state_dict().values(), after.state_dict().values()))
        assert same == frozen


def test_cli_backbone_mistakes_exit_2(scene_dir, tmp_path, torchvision_resnet50):
    path, _ = torchvision_resnet50
    r = invoke("avalanche", "train", "--data", str(scene_dir), "--model", "cnn", "--freeze-backbone",
               "--out", str(tmp_path / "a"))
    assert r.code == 2 and "zoo backbone" in r.err
    r = invoke("avalanche", "train", "--data", str(scene_dir), "--model", "resnet50", "--pretrained",
               str(tmp_path / "missing.pth"), "--out", str(tmp_path / "b"))
    assert r.code == 2 and "not found" in r.err
    r = invoke("avalanche", "train", "--data", str(scene_dir), "--model", "resnet50", "--pretrained", str(path),
               "--channels", "1", "--out", str(tmp_path / "c"))
    assert r.code == 2 and "3 bands" in r.err
