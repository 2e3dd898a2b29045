"""`nivalis snow ...` end to end as a user runs it: --json output, files, one-line errors with exit 2."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from nivalis.cli.app import main
from nivalis.snow import load_radargram, write_radargram
from nivalis.snow.simulate import SimulatorConfig


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def run_json(capsys, *args: str) -> dict:
    code, out, err = run(capsys, *args, "--json", "--quiet")
    assert code == 0, err
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert len(lines) == 1, out
    return json.loads(lines[0])


def assert_user_error(code: int, out: str, err: str, fragment: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert "Traceback" not in err


def test_simulate_and_inspect(capsys, tmp_path):
    sim = run_json(capsys, "snow", "simulate", "--out", str(tmp_path / "d"), "--radargrams", "6", "--seed", "1",
                   "--format", "v5")
    assert sim["files"] == 6 and 0 <= sim["usable"] <= 6
    assert sim["pixel_m"] == SimulatorConfig().pixel_m   # what to give inspect/paper/predict as --pixel-m
    files = sorted((tmp_path / "d").glob("*.mat"))
    assert len(files) == 6
    info = run_json(capsys, "snow", "inspect", str(files[0]))
    r = load_radargram(files[0])
    assert info["layers"] == r.n_layers and info["columns"] == 256
    assert info["usable"] == r.usability()[0]
    assert len(info["thickness_px"]) == r.n_layers - 1
    first = np.nanmean(r.layers[1] - r.layers[0])
    assert info["thickness_px"][0] == pytest.approx(first, abs=1e-3)
    folder = run_json(capsys, "snow", "inspect", str(tmp_path / "d"))
    assert folder["files"] == 6 and folder["usable"] == sim["usable"]
    code, out, err = run(capsys, "snow", "inspect", str(files[0]))
    assert code == 0 and "layer rows" in out


def test_simulate_echo_quality_sets_how_many_radargrams_are_usable(capsys, tmp_path):
    usable = {}
    for quality in ("4", "40"):
        usable[quality] = run_json(capsys, "snow", "simulate", "--out", str(tmp_path / quality), "--radargrams", "12",
                                   "--quality-db", quality, "--format", "v5")["usable"]
    assert usable["4"] < usable["40"]   # poor echoes lose the deep layers the seed needs; strong ones keep them


def test_paper_train_predict(capsys, campaign, tmp_path):
    table = run_json(capsys, "snow", "paper", "--data", str(campaign), "--epochs", "1", "--splits", "2",
                     "--batch-size", "16", "--pixel-m", "0.0136", "--out", str(tmp_path / "paper"))
    assert list(table["table"]) == ["LSTM", "GCN", "GCN-LSTM", "Climatology", "Ridge (per trace)"]
    mean, std = table["table"]["GCN-LSTM"]["total"]
    assert mean > 0 and std >= 0 and table["seconds"] > 0
    assert (tmp_path / "paper" / "fig3_overlay.png").is_file()
    assert list(table["table_mwe"]) == list(table["table"]) and "pixel size 0.0136 m" in table["mwe_source"]
    # simulated files carry curr_dens: m w.e. = px × 0.0136 m × density, so the ratio is a firn density (g/cm³)
    ratio = table["table_mwe"]["GCN-LSTM"]["total"][0] / mean / 0.0136
    assert 0.3 < ratio < 0.7, ratio
    assert "m w.e." in (tmp_path / "paper" / "table_ii_mwe.md").read_text()

    run_dir = tmp_path / "train"
    trained = run_json(capsys, "snow", "train", "--data", str(campaign), "--model", "gcn", "--epochs", "2",
                       "--out", str(run_dir))
    assert set(trained["rmse"]) == {"2007", "2008", "2009", "2010", "2011"}
    assert (run_dir / "checkpoint.pt").is_file()
    with open(run_dir / "history.csv", newline="") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1, 2]       # one row per epoch, like every trainer
    resumed = run_json(capsys, "snow", "train", "--data", str(campaign), "--model", "gcn", "--epochs", "3",
                       "--out", str(run_dir), "--resume")
    assert resumed["epochs"] == 3

    usable = next(p for p in sorted(campaign.glob("*.mat")) if load_radargram(p).usability()[0])
    pred = run_json(capsys, "snow", "predict", str(usable), "--checkpoint", str(run_dir / "checkpoint.pt"),
                    "--csv", str(tmp_path / "pred.csv"))
    thickness = np.asarray(pred["thickness_px"])
    assert thickness.shape == (5, 256) and np.isfinite(thickness).all()
    assert pred["years"] == ["2007", "2008", "2009", "2010", "2011"]
    # the per-trace CSV carries the file's own positions and the same numbers as the JSON
    with open(pred["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    # MATLAB keeps a column name that starts with a letter; a DBF field keeps 10 characters
    assert all(name[0].isalpha() and len(name) <= 10 for name in rows[0])
    radargram = load_radargram(usable)
    assert len(rows) == 256 and {r["file"] for r in rows} == {usable.stem}
    np.testing.assert_allclose([float(r["latitude"]) for r in rows], radargram.latitude, atol=1e-7)
    np.testing.assert_allclose([float(r["longitude"]) for r in rows], radargram.longitude, atol=1e-7)
    np.testing.assert_allclose([[float(r[f"pred{y}"]) for r in rows] for y in pred["years"]], thickness,
                               atol=1e-4)
    tracked = radargram.thickness()[pred["layer_index"]]  # the target layers, oldest year first
    np.testing.assert_allclose([[float(r[f"trk{y}"]) for r in rows] for y in pred["years"]], tracked,
                               atol=1e-4)

    # a folder: every usable file predicted in batches, the others counted; the same numbers per file
    folder = run_json(capsys, "snow", "predict", str(campaign), "--checkpoint", str(run_dir / "checkpoint.pt"),
                      "--csv", str(tmp_path / "all.csv"))
    n_usable = sum(load_radargram(p).usability()[0] for p in campaign.glob("*.mat"))
    assert folder["predicted"] == folder["data"]["usable"] == n_usable
    assert folder["data"]["unusable"] == folder["data"]["files"] - n_usable
    with open(folder["csv"], newline="") as fh:
        all_rows = list(csv.DictReader(fh))
    assert len(all_rows) == 256 * n_usable
    mine = [r for r in all_rows if r["file"] == usable.stem]
    assert [r["trace"] for r in mine] == [r["trace"] for r in rows]
    np.testing.assert_allclose([[float(r[k]) for k in r if k.endswith("_px")] for r in mine],
                               [[float(r[k]) for k in r if k.endswith("_px")] for r in rows], atol=2e-4)
    assert folder["file_rmse_px"][usable.stem] == pytest.approx(pred["total_rmse_px"], abs=1e-4)
    # roles from the checkpoint's split: the held-out RMSE is the one `snow train` measured on its test set
    roles = {r["file"]: r["role"] for r in all_rows}
    assert folder["roles"] == {"train": resumed["train_radargrams"], "test": resumed["test_radargrams"], "new": 0}
    assert roles[usable.stem] == pred["role"] and {r["role"] for r in mine} == {pred["role"]}
    assert folder["held_out"]["radargrams"] == resumed["test_radargrams"]
    assert folder["held_out"]["total_rmse_px"] == pytest.approx(resumed["total_rmse"], rel=1e-5)

    unusable = next(p for p in sorted(campaign.glob("*.mat")) if not load_radargram(p).usability()[0])
    assert_user_error(*run(capsys, "snow", "predict", str(unusable), "--checkpoint", str(run_dir / "checkpoint.pt")),
                      "not usable")


def test_user_errors(capsys, tmp_path):
    (tmp_path / "notes.mat").write_text("hello")
    assert_user_error(*run(capsys, "snow", "inspect", str(tmp_path / "notes.mat")), "not a MATLAB")
    assert_user_error(*run(capsys, "snow", "inspect", str(tmp_path / "missing.mat")), "not found")
    lat = np.linspace(70, 70.01, 256).reshape(-1, 1)
    write_radargram(tmp_path / "nolayers.mat", {"Latitude": lat, "Longitude": lat})
    assert_user_error(*run(capsys, "snow", "inspect", str(tmp_path / "nolayers.mat")), "missing field layers_vector")
    assert_user_error(*run(capsys, "snow", "paper", "--data", str(tmp_path / "nowhere")), "not found")
    assert_user_error(*run(capsys, "snow", "train", "--data", str(tmp_path), "--model", "transformer"),
                      "unknown snow model")
    assert_user_error(*run(capsys, "snow", "predict", str(tmp_path / "notes.mat"), "--checkpoint",
                           str(tmp_path / "none.pt")), "checkpoint not found")
    assert_user_error(*run(capsys, "snow", "predict", str(tmp_path / "notes.mat"), "--checkpoint",
                           str(tmp_path / "none.pt"), "--csv", str(tmp_path)), "is a folder")
    assert_user_error(*run(capsys, "snow", "simulate", "--out", str(tmp_path / "x"), "--format", "v4"),
                      "unknown MAT format")
    assert_user_error(*run(capsys, "snow", "paper", "--data", str(tmp_path), "--device", "tpu"), "unknown device")
    long = "x" * 300                  # a name the file system cannot hold: refused by option, before any work
    for args, option in ((("inspect", str(tmp_path / long)), "PATH"),
                         (("simulate", "--out", str(tmp_path / long)), "--out"),
                         (("paper", "--data", str(tmp_path), "--out", str(tmp_path / long / "t")), "--out"),
                         (("paper", "--data", str(tmp_path / long)), "--data"),
                         (("train", "--data", str(tmp_path / long)), "--data"),
                         (("predict", str(tmp_path / "notes.mat"), "--checkpoint", str(tmp_path / "none.pt"), "--csv",
                           str(tmp_path / f"{long}.csv")), "--csv"),
                         (("predict", str(tmp_path / long), "--checkpoint", str(tmp_path / "none.pt")), "PATH")):
        assert_user_error(*run(capsys, "snow", *args), f"{option}: the name xxxx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nolayers.mat", "notes.mat"]      # nothing left behind
    layers = np.vstack([np.full((1, 256), 5.0 + 40 * k) for k in range(17)])
    write_radargram(tmp_path / "r.mat", {"layers_vector": layers, "Latitude": lat, "Longitude": lat})
    assert_user_error(*run(capsys, "snow", "inspect", str(tmp_path / "r.mat"), "--pixel-m", "1e30"), "--pixel-m")
    code, out, err = run(capsys, "snow", "inspect", str(tmp_path / "r.mat"), "--pixel-m", "4", "--json")
    assert code == 0 and json.loads(out)["thickness_m"][0] == pytest.approx(160.0)
    assert err.startswith("warning: --pixel-m 4: ") and "--pixel-m 0.04" in err
    if not torch.cuda.is_available():  # asking for a GPU that is not there fails before any data is read
        assert_user_error(*run(capsys, "snow", "train", "--data", str(tmp_path), "--device", "cuda"), "no CUDA GPU")


def test_train_under_torchrun_two_processes(campaign, tmp_path):
    """`nivalis snow train` under torchrun (gloo, 2 CPU ranks): one JSON line from rank 0, one checkpoint."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from nivalis.engine import load_checkpoint

    torchrun = Path(sys.executable).with_name("torchrun")
    torchrun = str(torchrun) if torchrun.exists() else shutil.which("torchrun")
    assert torchrun, "torchrun not found next to the interpreter"
    out = tmp_path / "ddp"
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "nivalis", "snow", "train",
                           "--data", str(campaign), "--model", "gcn_lstm", "--epochs", "2", "--batch-size", "4",
                           "--out", str(out), "--json", "--quiet"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    result = json.loads(lines[0])
    assert result["epochs"] == 2 and np.isfinite(result["total_rmse"])
    ckpt = load_checkpoint(out / "checkpoint.pt")
    assert ckpt["epoch"] == 2 and ckpt["meta"]["model"] == "gcn_lstm"
    assert ckpt["history"][-1]["train_loss"] < ckpt["history"][0]["train_loss"]  # the ranks trained together


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_train_then_predict_on_the_cpu(capsys, campaign, tmp_path):
    """A GCN-LSTM trained on the GPU under bf16 autocast learns, and its checkpoint predicts on a CPU machine."""
    run_dir = tmp_path / "gpu"
    first = run_json(capsys, "snow", "train", "--data", str(campaign), "--model", "gcn_lstm", "--epochs", "1",
                     "--device", "cuda", "--precision", "bf16", "--out", str(run_dir))
    later = run_json(capsys, "snow", "train", "--data", str(campaign), "--model", "gcn_lstm", "--epochs", "20",
                     "--device", "cuda", "--precision", "bf16", "--out", str(run_dir), "--resume")
    assert later["epochs"] == 20 and later["total_rmse"] < first["total_rmse"]
    usable = next(p for p in sorted(campaign.glob("*.mat")) if load_radargram(p).usability()[0])
    pred = run_json(capsys, "snow", "predict", str(usable), "--checkpoint", str(run_dir / "checkpoint.pt"))
    assert np.isfinite(np.asarray(pred["thickness_px"])).all()


def _nivalis(args: list[str], env: dict[str, str], timeout: int = 300):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "nivalis", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)


def test_trains_without_a_compiler_on_path(campaign, tmp_path):
    """NIVALIS_NATIVE unset, no C compiler anywhere on PATH and CC pointing nowhere: the pipeline trains."""
    import os

    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIVALIS_")}
    env.update(PATH=str(empty), CC=str(tmp_path / "no-such-cc"), NIVALIS_CACHE=str(tmp_path / "cache"),
               OMP_NUM_THREADS="1")
    proc = _nivalis(["snow", "train", "--data", str(campaign), "--model", "gcn_lstm", "--epochs", "1",
                     "--batch-size", "8", "--out", str(tmp_path / "run"), "--json", "--quiet"], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert np.isfinite(json.loads(proc.stdout)["total_rmse"])
    assert not (tmp_path / "cache").exists()                           # nothing built, no cache made


def test_native_cell_refuses_a_cache_folder_others_can_write(campaign, tmp_path):
    """NIVALIS_NATIVE=1 with a world-writable cache: one `error:` line, exit 2, no traceback, nothing built."""
    import os

    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    env = {**os.environ, "NIVALIS_NATIVE": "1", "NIVALIS_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    proc = _nivalis(["snow", "paper", "--data", str(campaign), "--epochs", "1", "--splits", "1", "--json",
                     "--quiet", "--out", str(tmp_path / "paper")], env)
    assert_user_error(proc.returncode, "", proc.stderr, "refusing the native cache folder")
    assert json.loads(proc.stdout) == {"error": proc.stderr.strip().removeprefix("error: "), "code": 2}  # --json
    assert "0777" in proc.stderr and not any(cache.rglob("*.so"))
