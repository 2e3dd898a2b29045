"""Which data set a folder holds, from the names its real layout has."""

import pytest

from nivalis.data import detect_layout, load_named_or_folder
from nivalis.errors import UserError


def test_each_layout_is_told_by_its_marker_at_any_depth(tmp_path):
    (tmp_path / "c" / "cifar-10-batches-py").mkdir(parents=True)
    (tmp_path / "c" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "train_32x32.mat").write_bytes(b"")
    (tmp_path / "g" / "GTSRB" / "Final_Training").mkdir(parents=True)
    assert [detect_layout(tmp_path / d) for d in ("c", "s", "g")] == ["cifar10", "svhn", "gtsrb"]
    (tmp_path / "empty").mkdir()
    assert detect_layout(tmp_path / "empty") is None


def test_a_folder_without_a_known_layout_is_one_user_error(tmp_path):
    with pytest.raises(UserError, match="holds no CIFAR-10, SVHN or GTSRB files to calibrate with"):
        load_named_or_folder(str(tmp_path), purpose="to calibrate with")
    assert load_named_or_folder("digits").name == "digits"
