"""`nivalis.face.commands`: the face commands as Python calls, their checks before any work and their files."""

import numpy as np
import pytest

from nivalis.errors import UserError
from nivalis.face.commands import train_config, verify_file, verify_text
from nivalis.face.train import verify_bin


def test_train_config_checks_before_any_work(tmp_path):
    standin = train_config("digits", loss=" CosFace ", epochs=2, width=None)
    assert standin.loss == "cosface" and standin.epochs == 2 and standin.width == 0.125  # the stand-in's width
    faces = tmp_path / "faces"
    faces.mkdir()
    assert train_config(faces, input_size=32, lr=None).input_size == 32 and train_config(faces).lr == 0.1
    for kwargs, message in [({"loss": "triplet"}, "--loss"), ({"input_size": 20}, "multiple of 16"),
                            ({"precision": "fp16"}, "--precision"), ({"bins": [tmp_path / "x.bin"]}, "x.bin")]:
        with pytest.raises(UserError, match=message):
            train_config(faces, **kwargs)
    with pytest.raises(UserError, match="not found"):
        train_config(tmp_path / "none")
    (tmp_path / "lfw.bin").write_bytes(b"")
    with pytest.raises(UserError, match="stand-in"):
        train_config("digits", bins=[tmp_path / "lfw.bin"])


def test_verify_file_writes_the_roc(arcface_run, small_bin, tmp_path):
    path, _, _ = small_bin
    ckpt = arcface_run.result["checkpoint"]
    with pytest.raises(UserError, match=r"\.csv"):
        verify_file(path, ckpt, roc=tmp_path / "roc.txt")
    r = verify_file(path, ckpt, roc=tmp_path / "roc.csv")
    full = verify_bin(path, ckpt)
    roc = np.loadtxt(r["roc"], delimiter=",", skiprows=1)
    assert np.allclose(roc[:, 1], full["roc"]["fpr"], atol=1e-5) and np.allclose(roc[:, 2], full["roc"]["tpr"],
                                                                                 atol=1e-5)
    assert r["accuracy"] == full["accuracy"] and r["bin"] == str(path)
    assert verify_text(r).startswith(f"{path}: accuracy {r['accuracy']:.4f}") and "stand-in" in verify_text(r)
