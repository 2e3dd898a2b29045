import numpy as np

from nivalis.face.io import encode_image
from tests.cli_helpers import assert_user_error, invoke


def test_verify_bin_end_to_end(arcface_run, small_bin):
    path, _, _ = small_bin
    res = invoke("face", "verify", "--bin", str(path), "--checkpoint", arcface_run.result["checkpoint"], "--json",
                 "--roc", str(path.parent / "roc.csv"))
    assert res.code == 0, res.err
    out = res.json()
    roc = np.loadtxt(out["roc"], delimiter=",", skiprows=1)
    assert roc.shape == (400, 3) and (np.diff(roc[:, 2]) >= 0).all()
    assert {"accuracy", "accuracy_std", "tar_at_far", "folds"} <= set(out) and out["folds"] == 10
    assert 0.0 <= out["accuracy"] <= 1.0 and out["pairs"] == 40 and out["stand_in"] is True


def test_verify_reads_build_eval_pack_bins_of_both_protocols(arcface_run, small_bin, tmp_path):
    """The same pairs as cv2.imencode arrays with NumPy bool flags, pickled at protocol 2 and 5: same metrics."""
    import pickle

    import cv2

    path, images, issame = small_bin
    ckpt = arcface_run.result["checkpoint"]
    ref = invoke("face", "verify", "--bin", str(path), "--checkpoint", ckpt, "--json").json()
    bins = [cv2.imencode(".png", cv2.cvtColor(im, cv2.COLOR_RGB2BGR))[1] for im in images]
    for protocol in (2, 5):
        new = tmp_path / f"lfw{protocol}.bin"
        new.write_bytes(pickle.dumps((bins, [np.bool_(s) for s in issame]), protocol=protocol))
        res = invoke("face", "verify", "--bin", str(new), "--checkpoint", ckpt, "--json")
        assert res.code == 0, res.err
        assert res.json()["accuracy"] == ref["accuracy"] and res.json()["tar_at_far"] == ref["tar_at_far"]


def test_embed_writes_npy_and_csv(arcface_run, tmp_path, small_bin):
    _, images, _ = small_bin
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.png")
        files[-1].write_bytes(encode_image(images[i]))
    ckpt = arcface_run.result["checkpoint"]
    res = invoke("face", "embed", "--checkpoint", ckpt, *map(str, files), "--out", str(tmp_path / "e.npy"), "--json")
    assert res.code == 0, res.err
    emb = np.load(tmp_path / "e.npy")
    assert emb.shape == (3, 128) == (res.json()["count"], res.json()["dim"])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    res = invoke("face", "embed", "--checkpoint", ckpt, str(files[0]), "--out", str(tmp_path / "e.csv"), "--quiet")
    assert res.code == 0 and (tmp_path / "e.csv").read_text().count("\n") == 2


def test_train_json_on_the_stand_in(tmp_path):
    out = tmp_path / "run"
    res = invoke("face", "train", "--data", "digits", "--loss", "softmax", "--epochs", "1", "--out", str(out), "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert set(r["verification"]) >= {"accuracy", "accuracy_std", "tar_at_far", "far", "folds"}
    assert "roc" not in r["verification"] and r["stand_in"] and "not faces" in r["note"]
    assert (out / "checkpoint.pt").is_file() and r["checkpoint"] == str(out / "checkpoint.pt")


def test_user_errors(tmp_path, small_bin, arcface_run):
    path, _, _ = small_bin
    ckpt = arcface_run.result["checkpoint"]
    assert_user_error(invoke("face", "train", "--loss", "triplet", "--out", str(tmp_path / "a")), "--loss")
    assert_user_error(invoke("face", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "b")),
                      "not found")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert_user_error(invoke("face", "verify", "--bin", str(tmp_path / "x.bin"), "--checkpoint", ckpt), "x.bin")
    assert_user_error(invoke("face", "verify", "--bin", str(path), "--checkpoint", str(path)), "lfw.bin")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    assert_user_error(invoke("face", "embed", "--checkpoint", ckpt, str(bad), "--out", str(tmp_path / "e.npy")),
                      "bad.png")
    assert not (tmp_path / "e.npy").exists()
    assert_user_error(invoke("face", "embed", "--checkpoint", ckpt, str(bad), "--out", str(tmp_path / "e.txt")),
                      "--out")


def test_train_on_recordio_with_bin_beside_it(tmp_path, small_bin):
    """insightface's faces_emore layout: train.rec + train.idx with lfw.bin beside them."""
    import shutil

    from nivalis.face.io import write_recordio
    from tests.face.conftest import digit_faces

    images, labels = digit_faces(48, size=32, seed=2)
    order = np.argsort(labels, kind="stable")
    write_recordio(tmp_path / "emore" / "train.rec", images[order], labels[order])
    shutil.copy(small_bin[0], tmp_path / "emore" / "lfw.bin")
    res = invoke("face", "train", "--data", str(tmp_path / "emore"), "--backbone", "lresnet34e_ir", "--width", "0.125",
                 "--input", "16", "--embedding-size", "16", "--epochs", "1", "--batch-size", "16", "--lr", "0.01",
                 "--out", str(tmp_path / "run"), "--json")
    assert res.code == 0, res.err
    r = res.json()
    assert r["stand_in"] is False and "note" not in r and r["num_classes"] == len(set(labels.tolist()))
    assert r["verification"]["pairs"] == 40 and r["verification"]["folds"] == 10
    assert list(r["verification_sets"]) == ["lfw"]


def test_sizes_and_margins_out_of_range_are_refused_before_anything_is_built(tmp_path):
    out = str(tmp_path / "run")
    cases = [(["--width", "1e30"], "--width"), (["--input", "100000"], "--input"),
             (["--input", "1024", "--batch-size", "4096"], "GiB"), (["--margin", "1e30"], "π/2"),
             (["--margin", "-5"], "arcface"), (["--loss", "cosface", "--margin", "1.5"], "[0, 1]"),
             (["--loss", "softmax", "--margin", "0.3"], "softmax"), (["--sample-rate", "0"], "--sample-rate"),
             (["--sample-rate", "1.5"], "--sample-rate")]
    for args, fragment in cases:
        assert_user_error(invoke("face", "train", *args, "--out", out), fragment)
    assert not (tmp_path / "run").exists()


def test_truncated_files_give_one_line(tmp_path, arcface_run, capfd):
    import cv2

    from nivalis.errors import UserError
    from nivalis.face.io import decode_image

    ok, buf = cv2.imencode(".tif", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = buf.tobytes()[: buf.size // 2]
    capfd.readouterr()
    try:
        decode_image(data, "half.tif")
    except UserError as exc:
        assert "half.tif" in str(exc)
    else:
        raise AssertionError("a truncated TIFF decoded")
    assert capfd.readouterr().err == ""  # no OpenCV/libtiff lines before our error
    ckpt = arcface_run.result["checkpoint"]
    half = tmp_path / "half.pt"
    with open(ckpt, "rb") as f:
        half.write_bytes(f.read()[:2000])
    assert_user_error(invoke("face", "verify", "--bin", str(half), "--checkpoint", ckpt), "half.pt")
    assert_user_error(invoke("face", "verify", "--bin", str(ckpt), "--checkpoint", ckpt), "not an insightface")


def test_train_takes_the_operators_of_a_refine_search(tmp_path):
    import json

    from nivalis.engine import load_checkpoint

    ops = [3, 1] + [0] * 14  # avg pool and a separable conv in the first two IR-34 blocks
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps({"backbone": "lresnet34e_ir", "granularity": "block", "arch": ops}))
    res = invoke("face", "train", "--data", "digits", "--epochs", "1", "--arch", str(arch), "--out",
                 str(tmp_path / "run"), "--json")
    assert res.code == 0, res.err
    meta = load_checkpoint(res.json()["checkpoint"])["meta"]
    assert meta["backbone_kwargs"]["ops"] == ops and meta["backbone"] == "lresnet34e_ir"
    arch.write_text(json.dumps({"backbone": "resnet18", "granularity": "block", "arch": [0] * 8}))
    assert_user_error(invoke("face", "train", "--data", "digits", "--arch", str(arch), "--out", str(tmp_path / "r2")),
                      "not a face backbone")
    assert not (tmp_path / "r2").exists()
