"""`nivalis train --data cifar10|svhn|gtsrb --data-dir DIR` trains on each real format; wrong folders exit 2."""

import pytest
from tests.cli_helpers import assert_user_error, invoke


@pytest.mark.parametrize("data, fixture", [("cifar10", "cifar_dir"), ("svhn", "svhn_dir"), ("gtsrb", "gtsrb_dir")])
def test_train_effnet_on_each_format(data, fixture, request, tmp_path):
    data_dir = request.getfixturevalue(fixture)
    result = invoke("train", "--model", "effnet_cifar", "--data", data, "--data-dir", str(data_dir), "--epochs", "1",
                    "--out", str(tmp_path / "run"), "--json", "--quiet")
    assert result.code == 0, result.err
    payload = result.json()
    assert 0.0 <= payload["test_accuracy"] <= 1.0 and payload["flops"] > 0
    assert (tmp_path / "run" / "checkpoint.pt").is_file()


@pytest.mark.parametrize("data, expected", [("cifar10", "data_batch_1"), ("svhn", "train_32x32.mat"),
                                            ("gtsrb", "Final_Training/Images")])
def test_wrong_directory_names_the_expected_files(data, expected, tmp_path):
    (tmp_path / "readme.txt").write_text("not a data set")
    assert_user_error(invoke("train", "--model", "effnet_cifar", "--data", data, "--data-dir", str(tmp_path),
                             "--epochs", "1", "--out", str(tmp_path / "run")), expected)
