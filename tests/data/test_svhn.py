"""SVHN .mat files: [32, 32, 3, N] layout, label 10 → digit 0, wrong files."""

import numpy as np
import pytest
import scipy.io

from nivalis.data import load_classification
from nivalis.data.svhn import read_mat
from nivalis.errors import UserError


def test_read_mat_layout_and_zero_label(svhn_dir):
    raw = scipy.io.loadmat(svhn_dir / "train_32x32.mat")
    images, labels = read_mat(svhn_dir / "train_32x32.mat")
    assert images.shape == (100, 32, 32, 3)
    assert (images[7] == raw["X"][:, :, :, 7]).all()
    assert raw["y"][10, 0] == 10 and labels[10] == 0
    assert labels.tolist() == (np.arange(100) % 10).tolist()


def test_load_svhn_splits(svhn_dir):
    data = load_classification("svhn", svhn_dir)
    assert (len(data.train), len(data.val), len(data.test)) == (90, 10, 20)
    assert data.input_shape == (3, 32, 32)
    assert sorted(data.val.tensors[1].tolist()) == list(range(10))  # stratified: one image per digit


def test_missing_and_wrong_files(svhn_dir, tmp_path):
    (svhn_dir / "test_32x32.mat").unlink()
    with pytest.raises(UserError, match="test_32x32.mat"):
        load_classification("svhn", svhn_dir)
    scipy.io.savemat(svhn_dir / "test_32x32.mat", {"images": np.zeros((2, 2))})
    with pytest.raises(UserError, match="'X'"):
        load_classification("svhn", svhn_dir)
    (svhn_dir / "test_32x32.mat").write_text("not a mat file")
    with pytest.raises(UserError, match="not a readable MATLAB"):
        load_classification("svhn", svhn_dir)
