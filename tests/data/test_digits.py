"""The embedded digits set: real sklearn digits, 32×32, fixed stratified split, train-only statistics."""

import numpy as np
import pytest

from nivalis.data import list_datasets, load_classification
from nivalis.errors import UserError


def test_digits_split_and_shapes():
    data = load_classification("digits")
    assert (len(data.train), len(data.val), len(data.test)) == (1077, 360, 360)
    assert data.train.tensors[0].shape[1:] == (1, 32, 32)
    for part in (data.train, data.val, data.test):
        counts = np.bincount(part.tensors[1].numpy(), minlength=10)
        assert counts.min() >= 0.8 * counts.max()  # stratified: every class in proportion
    x = data.train.tensors[0]
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3


def test_split_is_fixed_and_disjoint():
    a, b = load_classification("digits"), load_classification("digits")
    assert (a.test.tensors[0] == b.test.tensors[0]).all()
    train = {tuple(v) for v in a.train.tensors[0].flatten(1)[:, ::7].numpy().round(4).tolist()}
    test = {tuple(v) for v in a.test.tensors[0].flatten(1)[:, ::7].numpy().round(4).tolist()}
    assert len(train & test) <= 2  # sklearn digits hold a couple of exact duplicates


def test_three_channel_variant():
    assert load_classification("digits", in_chans=3).train.tensors[0].shape[1] == 3


def test_unknown_and_dir_errors(tmp_path):
    assert "digits" in list_datasets()
    with pytest.raises(UserError, match="unknown data set"):
        load_classification("imagenet")
