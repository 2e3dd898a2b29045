"""CIFAR-10 python batches: exact pixel layout, splits, bad directories and refused pickles."""

import pickle

import numpy as np
import pytest

from nivalis.data import load_classification
from nivalis.data.cifar import read_batch
from nivalis.errors import UserError


def test_read_batch_restores_channel_planes(cifar_dir):
    images, labels = read_batch(cifar_dir / "cifar-10-batches-py" / "data_batch_2")
    with open(cifar_dir / "cifar-10-batches-py" / "data_batch_2", "rb") as f:
        raw = pickle.load(f, encoding="bytes")
    flat = raw[b"data"]
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    # pixel (y=5, x=7) of channel c sits at c*1024 + 5*32 + 7 in the official row layout
    for c in range(3):
        assert (images[:, 5, 7, c] == flat[:, c * 1024 + 5 * 32 + 7]).all()
    assert labels.tolist() == raw[b"labels"]


@pytest.mark.parametrize("nested", [True, False])
def test_load_cifar10_splits(tmp_path, make_cifar, nested):
    data = load_classification("cifar10", make_cifar(tmp_path, nested=nested))
    assert (len(data.train), len(data.val), len(data.test)) == (90, 10, 20)
    assert data.input_shape == (3, 32, 32) and data.num_classes == 10
    assert data.class_names[3] == "class3"
    assert sorted(data.test.tensors[1].tolist()) == sorted(((np.arange(20) + 5) % 10).tolist())
    x = data.train.tensors[0]
    assert abs(float(x.mean())) < 1e-4  # z-scored with training statistics


def test_missing_batch_is_named(cifar_dir):
    (cifar_dir / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(UserError, match="data_batch_4"):
        load_classification("cifar10", cifar_dir)


def test_wrong_content_and_malicious_pickle(cifar_dir):
    path = cifar_dir / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, f, protocol=2)
    with pytest.raises(UserError, match=r"uint8 \[N, 3072\]"):
        load_classification("cifar10", cifar_dir)

    class Exploit:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(path, "wb") as f:
        pickle.dump({b"data": Exploit(), b"labels": []}, f)
    with pytest.raises(UserError, match="not a CIFAR-10 python batch"):
        load_classification("cifar10", cifar_dir)
