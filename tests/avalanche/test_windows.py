"""Windows are the seed's np.pad(reflect) windows; the stream is balanced, reproducible and bounded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from nivalis.avalanche.io import Scene
from nivalis.avalanche.windows import WindowStream, extract_windows, pad_image, pad_widths, window_at
from nivalis.errors import UserError

from .conftest import random_image


@pytest.mark.parametrize("window", [17, 33, 76])
def test_windows_match_the_seed_definition_at_borders(window):
    image = random_image(23, 19, 3)
    padded = pad_image(image, window)
    assert padded.shape == (23 + window - 1, 19 + window - 1, 3)
    rows = np.array([0, 0, 22, 22, 11, 5])
    cols = np.array([0, 18, 0, 18, 9, 17])
    windows = extract_windows(padded, rows, cols, window)
    for k, (i, j) in enumerate(zip(rows, cols)):
        if window % 2:
            b = (window - 1) // 2
            expected = np.pad(image, ((b, b), (b, b), (0, 0)), mode="reflect")[i:i + window, j:j + window]
        else:
            expected = window_at(image, i, j, window)
        np.testing.assert_array_equal(windows[k], expected)
        # the centre pixel of the window is the pixel itself
        c = pad_widths(window)[0]
        np.testing.assert_array_equal(windows[k][c, c], image[i, j])


def _scenes():
    rng = np.random.default_rng(1)
    scenes = []
    for k in range(3):
        mask = np.zeros((40, 50), bool)
        if k < 2:
            mask[5 + k:15, 10:20 + k] = True  # rare positives (~5%)
        scenes.append(Scene(f"s{k}", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8), mask))
    return scenes


def _prepare_identity(windows):
    return torch.from_numpy(windows).permute(0, 3, 1, 2).float()


def test_stream_is_balanced_labels_are_centre_pixels_and_epochs_differ():
    scenes = _scenes()
    stream = WindowStream(scenes, 9, 3, 1000, prepare=_prepare_identity, positive_fraction=0.5, seed=0, chunk=300)
    assert len(stream) == 1000
    xs, ys = zip(*stream)
    y = torch.stack(ys)
    assert y.mean().item() == pytest.approx(0.5, abs=0.01)
    # every label is the mask value at the window's centre: find each window's centre pixel in the scenes
    x = torch.stack(xs)
    centres = x[:, :, 4, 4]
    assert x.shape == (1000, 3, 9, 9)
    first = centres[:50]
    for c, lbl in zip(first, y[:50]):
        hits = [s.avalanche_mask[(s.image == c.numpy().astype(np.uint8)).all(-1)] for s in scenes]
        labels = np.concatenate(hits)
        assert lbl.item() in labels.astype(float)
    stream.set_epoch(0)
    again = torch.stack([b for b, _ in stream])
    np.testing.assert_array_equal(again.numpy(), x.numpy())
    stream.set_epoch(1)
    other = torch.stack([b for b, _ in stream])
    assert not torch.equal(other, x)


def test_fixed_stream_ignores_epoch_and_batches_through_a_dataloader():
    stream = WindowStream(_scenes(), 17, 1 if False else 3, 130, prepare=_prepare_identity, seed=5, fixed=True)
    a = [y for _, y in DataLoader(stream, batch_size=64)]
    stream.set_epoch(7)
    b = [y for _, y in DataLoader(stream, batch_size=64)]
    assert [len(t) for t in a] == [64, 64, 2]
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_stream_needs_both_classes():
    scenes = _scenes()[2:]  # no avalanche
    with pytest.raises(UserError, match="no avalanche pixel"):
        WindowStream(scenes, 9, 3, 10, prepare=_prepare_identity)
