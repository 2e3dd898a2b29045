"""GTSRB folders: ROI crop + resize, track-disjoint validation, test annotations, wrong layouts."""

import numpy as np
import pytest

from nivalis.data import load_classification
from nivalis.data.gtsrb import read_training
from nivalis.errors import UserError


def test_roi_crop_removes_background(gtsrb_dir):
    images, labels, tracks = read_training(gtsrb_dir / "GTSRB")
    assert images.shape == (36, 32, 32, 3) and labels.tolist() == sorted(labels.tolist())
    # the fixture paints the background blue (200) and the ROI without blue: a correct crop has none
    assert images[..., 2].max() < 10
    expected_red = 40 + 80 * (labels % 3)
    assert np.abs(images[..., 0].mean(axis=(1, 2)) - expected_red).max() < 2
    assert len(np.unique(tracks)) == 12


def test_load_gtsrb_holds_out_whole_tracks(gtsrb_dir):
    data = load_classification("gtsrb", gtsrb_dir)
    assert data.num_classes == 43 and data.input_shape == (3, 32, 32)
    assert len(data.test) == 9 and len(data.train) + len(data.val) == 36
    assert len(data.val) % 3 == 0 and len(data.val) > 0  # whole 3-frame tracks, at least one per class
    assert sorted(set(data.val.tensors[1].tolist())) == [0, 1, 2]
    assert data.test.tensors[1].tolist() == [i % 3 for i in range(9)]


def test_wrong_layouts_name_what_is_expected(gtsrb_dir, tmp_path):
    with pytest.raises(UserError, match="Final_Training/Images"):
        load_classification("gtsrb", tmp_path)
    (gtsrb_dir / "GT-final_test.csv").unlink()
    with pytest.raises(UserError, match="GT-final_test.csv"):
        load_classification("gtsrb", gtsrb_dir)


def test_bad_annotation_and_missing_image(gtsrb_dir):
    gt = gtsrb_dir / "GTSRB" / "Final_Training" / "Images" / "00001" / "GT-00001.csv"
    text = gt.read_text()
    gt.write_text(text.replace("Roi.X1", "X1"))
    with pytest.raises(UserError, match="Roi.X1"):
        load_classification("gtsrb", gtsrb_dir)
    gt.write_text(text)
    (gt.parent / "00002_00001.ppm").unlink()
    with pytest.raises(UserError, match="00002_00001.ppm"):
        load_classification("gtsrb", gtsrb_dir)
