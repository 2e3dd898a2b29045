"""`nivalis avalanche ...` as a user runs it: --help, --json keys, files written, mistakes → `error:` and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nivalis.avalanche.io import write_image
from nivalis.cli.app import main


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.mark.parametrize("command", ["simulate", "train", "predict", "evaluate", "histogram"])
def test_help(capsys, command):
    code, out, _ = run(capsys, "avalanche", command, "--help")
    assert code == 0 and "--json" in out


def test_simulate_json(capsys, tmp_path):
    code, out, err = run(capsys, "avalanche", "simulate", "--out", str(tmp_path / "d"), "--scenes", "3", "--size", "64",
                         "--seed", "4", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["images"] == 3 and len(list((tmp_path / "d" / "masks").iterdir())) == 3


@pytest.fixture(scope="module")
def checkpoint(scene_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-run")
    with pytest.raises(SystemExit) as exc:
        main(["avalanche", "train", "--data", str(scene_dir), "--model", "cnn", "--window", "17", "--channels", "3",
              "--epochs", "1", "--windows-per-epoch", "256", "--out", str(out), "--json", "--quiet"])
    assert exc.value.code == 0
    return out / "checkpoint.pt"


def test_train_predict_evaluate_histogram(capsys, checkpoint, scene_dir, tmp_path):
    capsys.readouterr()
    metrics = json.loads((checkpoint.parent / "metrics.json").read_text())
    assert {"accuracy", "loss", "seconds", "checkpoint"} <= set(metrics) and metrics["window"] == 17
    image = sorted((scene_dir / "images").iterdir())[0]
    code, out, _ = run(capsys, "avalanche", "predict", str(image), "--checkpoint", str(checkpoint), "--out",
                       str(tmp_path / "p"), "--json")
    assert code == 0
    result = json.loads(out)
    assert {"probability", "mask", "polygons", "gpkg", "seconds"} <= set(result)
    assert all((tmp_path / "p" / f"{image.stem}_{k}").exists() for k in ("probability.tif", "mask.tif", "overlay.png",
                                                                          "polygons.gpkg"))
    # a JPEG has no CRS: pixel-coordinate GeoPackage, no GeoJSON claiming WGS 84
    assert image.suffix == ".jpg" and result["georeferenced"] is False and result["polygons"] is None
    code, out, _ = run(capsys, "avalanche", "evaluate", "--data", str(scene_dir), "--checkpoint", str(checkpoint),
                       "--json")
    result = json.loads(out)
    assert code == 0 and {"accuracy", "iou", "f1", "pod", "ppv"} <= set(result) and len(result["images"]) == 6
    assert {"pixel_f1", "pixel_ppv", "object_pod", "object_ppv", "object_f1", "object_pod_70",
            "object_f1_80"} <= set(result)
    code, out, _ = run(capsys, "avalanche", "histogram", "--data", str(scene_dir), "--out", str(tmp_path / "h"), "--json")
    assert code == 0 and (tmp_path / "h" / "histograms.png").stat().st_size > 0
    assert set(json.loads(out)["summary"]) <= {"sunny", "shady"}


def test_user_mistakes_exit_2(capsys, checkpoint, scene_dir, tmp_path):
    code, _, err = run(capsys, "avalanche", "predict", str(tmp_path / "none.jpg"), "--checkpoint", str(checkpoint))
    assert code == 2 and err.startswith("error:") and "none.jpg" in err
    write_image(tmp_path / "gray.png", np.zeros((32, 32), np.uint8) + 90)
    code, _, err = run(capsys, "avalanche", "predict", str(tmp_path / "gray.png"), "--checkpoint", str(checkpoint),
                       "--out", str(tmp_path / "o"))
    assert code == 2 and "channel" in err and "Traceback" not in err
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    code, _, err = run(capsys, "avalanche", "predict", str(tmp_path / "bad.jpg"), "--checkpoint", str(checkpoint))
    assert code == 2 and ("cannot read image" in err or "truncated" in err)
    bad = tmp_path / "bad_data"
    write_image(bad / "images" / "a.png", np.zeros((20, 20, 3), np.uint8) + np.array([1, 2, 3], np.uint8))
    write_image(bad / "masks" / "a.png", np.zeros((21, 20), np.uint8))
    code, _, err = run(capsys, "avalanche", "evaluate", "--data", str(bad), "--checkpoint", str(checkpoint))
    assert code == 2 and "21×20" in err
    code, _, err = run(capsys, "avalanche", "train", "--data", str(scene_dir), "--channels", "2")
    assert code == 2 and err.startswith("error:")
    code, _, err = run(capsys, "avalanche", "predict", str(tmp_path / "gray.png"), "--checkpoint", str(tmp_path / "x.pt"))
    assert code == 2 and "checkpoint not found" in err
