"""Window classifiers: architecture (exact parameter counts), input preparation, zoo backbones, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.models import WindowCNN, WindowCNN1d, build_classifier, classifier_meta, load_classifier
from nivalis.engine import save_checkpoint
from nivalis.errors import UserError


def _params(m):
    return sum(p.numel() for p in m.parameters())


def test_cnn_parameter_counts_are_the_designed_ones():
    conv_bn = lambda cin, cout: cin * cout * 9 + 2 * cout  # noqa: E731  (conv without bias + BN γ, β)
    stages = conv_bn(3, 16) + conv_bn(16, 16) + conv_bn(16, 32) + conv_bn(32, 32)
    # 33 → 31 → 29 → pool 14 → 12 → 10 → pool 5: head sees 32 × 5 × 5
    assert _params(WindowCNN(33, 3)) == stages + (32 * 25 * 32 + 32) + (32 + 1)
    # 17 → 15 → 13 → pool 6 → 4 → 2 → pool 1
    assert _params(WindowCNN(17, 3)) == stages + (32 * 32 + 32) + 33
    assert WindowCNN(76, 3).feature_shape == (32, 6, 6)  # a third stage instead of a 16 × 16 head


def test_cnn1d_reads_rows_as_a_sequence():
    net = WindowCNN1d(17, 3, widths=(8, 8, 16, 16))
    first = net.features[0][0]
    assert tuple(first.kernel_size) == (3, 17) and first.in_channels == 3  # Conv1D over rows, h·d features
    assert net(torch.zeros(4, 3, 17, 17)).shape == (4, 1)
    assert net.feature_shape[2] == 1


def test_prepare_and_call_give_one_logit_per_window():
    clf = build_classifier("cnn", 17, 3, mean=[0.5, 0.4, 0.3], std=[0.2, 0.2, 0.1])
    windows = np.full((5, 17, 17, 3), 255, np.uint8)
    x = clf.prepare(windows)
    assert x.shape == (5, 3, 17, 17) and x.dtype == torch.float32
    assert torch.allclose(x[0, :, 0, 0], torch.tensor([2.5, 3.0, 7.0]))
    assert clf(x).shape == (5,)
    with pytest.raises(TypeError):
        clf.prepare(windows.astype(np.float32))
    with pytest.raises(ValueError):
        clf.prepare(windows[..., :1])


def test_bad_model_choices_are_user_errors():
    with pytest.raises(UserError, match="unknown model"):
        build_classifier("no_such_net", 33, 3)
    with pytest.raises(UserError, match="too small"):
        build_classifier("cnn", 5, 3)
    with pytest.raises(UserError, match="at least one band"):
        build_classifier("cnn", 17, 0)
    assert build_classifier("cnn", 17, 4, dtype="uint16").channels == 4  # e.g. red,green,blue,nir


def test_zoo_backbone_gives_one_logit():
    clf = build_classifier("resnet18", 33, 3)
    assert clf(torch.zeros(2, 3, 33, 33)).shape == (2,)
    assert not clf.exact_dense


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    clf = build_classifier("cnn1d", 17, 1, mean=[0.3], std=[0.2]).eval()
    cfg = AvalancheConfig(window=17, channels=1)
    save_checkpoint(tmp_path / "c.pt", {"model": clf.state_dict(), "meta": classifier_meta(clf, cfg)})
    back = load_classifier(tmp_path / "c.pt")
    x = torch.randn(3, 1, 17, 17)
    assert torch.equal(back(x), clf(x)) and back.window == 17 and back.channels == 1
    save_checkpoint(tmp_path / "other.pt", {"model": {}, "meta": {"task": "classification"}})
    with pytest.raises(UserError, match="not an avalanche"):
        load_classifier(tmp_path / "other.pt")
