import numpy as np
import pytest
import torch

from nivalis.engine import load_checkpoint
from nivalis.errors import UserError
from nivalis.face.io import encode_image, write_recordio
from nivalis.face.train import draw_pairs, folder_data, load_face_model, standin_config, to_input
from tests.face.conftest import digit_faces


def test_arcface_improves_verification_over_its_untrained_start(arcface_run):
    r = arcface_run.result
    before, after = r["untrained"]["accuracy"], r["verification"]["accuracy"]
    assert after > before + 0.03, (before, after)
    assert r["verification"]["folds"] == 10 and r["stand_in"] and "not faces" in r["note"]
    assert "roc" not in r["verification"] and "roc" in arcface_run.verification["digits"]


def test_checkpoint_names_the_backbone_and_rebuilds_it(arcface_run):
    payload = load_checkpoint(arcface_run.result["checkpoint"])
    meta = payload["meta"]
    assert meta["kind"] == "face" and meta["backbone"] == "lresnet34e_ir" and meta["loss"] == "arcface"
    assert meta["backbone_kwargs"]["width_mult"] == 0.125 and meta["verification"]["digits"]["folds"] == 10
    backbone, _ = load_face_model(arcface_run.result["checkpoint"])
    x = torch.randn(2, 1, 16, 16)
    arcface_run.model.backbone.eval()
    assert torch.allclose(backbone(x), arcface_run.model.backbone(x), atol=1e-5)


def test_pairs_are_drawn_as_lfw_draws_them():
    labels = np.repeat(np.arange(5), 30)
    pairs, issame = draw_pairs(labels, folds=10, per_fold=20, seed=0)
    assert pairs.shape == (400, 2)
    fold = issame.reshape(10, 40)
    assert (fold[:, :20].all()) and (~fold[:, 20:]).all()  # each fold: same pairs, then different pairs
    assert np.array_equal(labels[pairs[:, 0]] == labels[pairs[:, 1]], issame)
    assert len({tuple(sorted(p)) for p in pairs.tolist()}) == 400  # no pair twice
    with pytest.raises(UserError):
        draw_pairs(np.arange(5), per_fold=10)


def test_to_input_scales_and_converts_channels():
    gray = np.full((2, 8, 8), 255, dtype=np.uint8)
    x = to_input(gray, 16, 3)
    assert x.shape == (2, 3, 16, 16) and torch.allclose(x, torch.ones_like(x))
    rgb = np.zeros((1, 20, 20, 3), dtype=np.uint8)
    assert to_input(rgb, 16, 1).shape == (1, 1, 16, 16) and to_input(rgb, 16, 1).min() == -1


def test_recordio_and_folder_training_data(tmp_path):
    images, labels = digit_faces(60, size=32)
    order = np.argsort(labels, kind="stable")
    write_recordio(tmp_path / "rec" / "train.rec", images[order], labels[order])
    cfg = standin_config(input_size=16, pairs_per_fold=2)
    fd = folder_data(tmp_path / "rec", cfg)
    assert fd.num_classes == 8 and "held-out" in fd.verification  # 10 digits, 2 identities held out
    (x, y), y2 = fd.train[0]
    assert x.shape == (3, 16, 16) and int(y) == int(y2)
    for k in range(3):
        (tmp_path / "dir" / f"id{k}").mkdir(parents=True)
        for j in range(2):
            (tmp_path / "dir" / f"id{k}" / f"{j}.png").write_bytes(encode_image(images[2 * k + j]))
    with pytest.raises(UserError, match="too few"):
        folder_data(tmp_path / "dir", cfg)


def test_proxy_takes_identities_times_40_split_36_4(tmp_path):
    from nivalis.face.proxy import face_proxy

    images, _ = digit_faces(8, size=16)
    labels = np.repeat(np.arange(3), 41)[:-1]  # identities 0, 1 with 41 images, identity 2 with 40
    write_recordio(tmp_path / "train.rec", [images[i % 8] for i in range(len(labels))], labels)
    data = face_proxy(tmp_path, identities=2, input_size=16)
    assert (len(data.train), len(data.val), data.num_classes) == (72, 8, 2)
    assert data.train.tensors[0].shape == (72, 3, 16, 16)
    assert np.bincount(data.train.tensors[1].numpy()).tolist() == [36, 36]
    with pytest.raises(UserError, match="only 3 identities"):
        face_proxy(tmp_path, identities=4, input_size=16)



def test_a_refined_backbone_trains_and_reloads_with_its_operators(tmp_path):
    """A `refine search` result's operators in the IR backbone: trained on the stand-in, recorded, rebuilt."""
    from nivalis.face.train import build_backbone, train_face
    from nivalis.nas.operators import OPERATOR_NAMES
    from nivalis.profile.counts import count_params

    code = {name: c for c, name in OPERATOR_NAMES.items()}
    ops = [code["avg3x3"], code["sep3x3"]] + [0] * 14  # one code per IR-34 block
    run = train_face("digits", standin_config(epochs=1, pairs_per_fold=30, ops=tuple(ops)), tmp_path)
    meta = load_checkpoint(run.result["checkpoint"])["meta"]
    assert meta["backbone_kwargs"]["ops"] == ops and 0.0 <= run.result["verification"]["accuracy"] <= 1.0
    backbone, _ = load_face_model(run.result["checkpoint"])
    assert count_params(backbone) < count_params(build_backbone(standin_config(), 1))  # the published IR-34
    x = torch.randn(2, 1, 16, 16)
    run.model.backbone.eval()
    assert torch.allclose(backbone(x), run.model.backbone(x), atol=1e-5)


def test_one_channel_inputs_have_nchw_strides():
    """A channel stride of 1 in a one-channel batch makes torch run every conv channels-last, whose 1-thread
    weight gradient of the IR shortcut corrupts the heap (torch 2.13): inputs are plain NCHW."""
    x = to_input(np.zeros((3, 16, 16), np.uint8), 16, 1)
    assert x.stride() == (256, 256, 16, 1)
    assert torch.nn.Conv2d(1, 4, 3)(x).is_contiguous()
