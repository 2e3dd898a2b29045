"""Dense evaluation equals window-by-window classification (within 1e-4), on any tiling, borders included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nivalis.avalanche.dense import DenseWindowNet, dense_net, predict_probability, predict_windows
from nivalis.avalanche.models import build_classifier
from nivalis.errors import UserError

from .conftest import random_image, randomize_batchnorm


def _classifier(model, window, channels, seed=0):
    torch.manual_seed(seed)
    clf = build_classifier(model, window, channels, mean=[0.45] * channels, std=[0.25] * channels)
    randomize_batchnorm(clf, seed)
    clf.eval()
    with torch.no_grad():  # rescale the output layer so probabilities spread over (0, 1), not all ≈ 0.5
        windows = np.stack([random_image(window, window, channels, seed=seed + k) for k in range(16)])
        logits = clf(clf.prepare(windows))
        scale = 2.0 / (logits.std() + 1e-6)
        last = clf.net.head[-1]
        last.weight.mul_(scale)
        last.bias.copy_(scale * (last.bias - logits.mean()))
    return clf


@pytest.mark.parametrize("model,window,channels", [("cnn", 17, 1), ("cnn", 17, 3), ("cnn", 33, 3), ("cnn1d", 33, 3),
                                                   ("cnn", 76, 3), ("cnn", 16, 3)])
def test_dense_map_equals_window_by_window_sigmoid(model, window, channels):
    clf = _classifier(model, window, channels)
    height, width = (45, 38) if window < 50 else (21, 18)
    image = random_image(height, width, channels, seed=window)
    dense = predict_probability(clf, image, tile=20)  # tiles smaller than the image: seams must be exact
    windowed = predict_windows(clf, image, batch_size=97)
    assert dense.shape == (height, width)
    assert dense.std() > 0.05  # a map worth comparing
    np.testing.assert_allclose(dense, windowed, atol=1e-4, rtol=0)


def test_tiling_does_not_change_the_map():
    clf = _classifier("cnn", 33, 3, seed=1)
    image = random_image(70, 90, 3, seed=2)
    whole = predict_probability(clf, image, tile=1024)
    for tile in (16, 33, 50):
        np.testing.assert_allclose(predict_probability(clf, image, tile=tile), whole, atol=1e-5, rtol=0)


def test_hidden_features_feed_the_last_layer():
    clf = _classifier("cnn", 17, 3)
    image = random_image(30, 30, 3)
    p, hidden = predict_probability(clf, image, tile=16, features=True)
    last = clf.net.head[-1]
    logits = hidden.reshape(-1, hidden.shape[-1]) @ last.weight.detach().numpy().T + last.bias.detach().numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-logits.reshape(30, 30))), p, atol=1e-5)


def test_bf16_map_stays_close():
    clf = _classifier("cnn", 33, 3)
    image = random_image(40, 40, 3)
    diff = np.abs(predict_probability(clf, image, precision="bf16") - predict_probability(clf, image))
    assert diff.max() < 0.1 and diff.mean() < 0.02


def test_zoo_backbone_falls_back_to_windows():
    torch.manual_seed(0)
    clf = build_classifier("resnet18", 33, 3).eval()
    assert dense_net(clf) is None
    image = random_image(6, 5, 3)
    np.testing.assert_allclose(predict_probability(clf, image), predict_windows(clf, image), atol=1e-6)


def test_strided_or_padded_layers_are_refused():
    net = torch.nn.Module()
    net.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1))
    net.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 9 * 9, 1))
    with pytest.raises(ValueError, match="padded"):
        DenseWindowNet(net, 9, 3)


def test_model_trained_on_rgb_refuses_gray_image():
    clf = _classifier("cnn", 17, 3)
    with pytest.raises(UserError, match="1 channel"):
        predict_probability(clf, random_image(20, 20, 1))
    gray_clf = _classifier("cnn", 17, 1)
    assert predict_probability(gray_clf, random_image(20, 20, 3)).shape == (20, 20)  # RGB → luminance is fine
