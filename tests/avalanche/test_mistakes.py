"""What a new user gets wrong with `nivalis avalanche train/evaluate/histogram`: one `error:` line, exit 2, nothing
saved as if it were good (empty image files, a learning rate that diverges, windows and batches no machine holds)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.io import Scene
from nivalis.avalanche.train import check_training_memory, physical_memory
from nivalis.cli.app import main
from nivalis.errors import UserError


def run(capsys, *argv):
    with pytest.raises(SystemExit) as exc:
        main(["avalanche", *argv])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def checkpoint(scene_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    with pytest.raises(SystemExit) as exc:
        main(["avalanche", "train", "--data", str(scene_dir), "--window", "9", "--epochs", "1",
              "--windows-per-epoch", "64", "--out", str(out), "--quiet", "--json"])
    assert exc.value.code == 0
    return out / "checkpoint.pt"


@pytest.mark.parametrize("where", ["images", "masks"])
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_zero_byte_images_are_one_error_line_in_every_command(capsys, scene_dir, checkpoint, tmp_path, where, suffix):
    data = tmp_path / "data"
    shutil.copytree(scene_dir, data)
    victim = sorted((data / where).iterdir())[0]
    victim.unlink()
    empty = victim.with_suffix(suffix)
    empty.write_bytes(b"")
    commands = [["train", "--data", str(data), "--window", "9", "--epochs", "1", "--windows-per-epoch", "64",
                 "--out", str(tmp_path / "run")],
                ["evaluate", "--data", str(data), "--checkpoint", str(checkpoint)]]
    if where == "images":
        commands.append(["histogram", "--data", str(data), "--out", str(tmp_path / "h")])
    for argv in commands:
        code, _, err = run(capsys, *argv, "--quiet")
        assert code == 2, argv
        assert _one_line(err) == f"error: cannot read image {empty}: the file is empty (0 bytes)"
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_diverging_learning_rate_is_refused_and_leaves_no_checkpoint(capsys, scene_dir, tmp_path):
    """One step at --lr 1e30 ends the only epoch with a finite training loss and a model that outputs NaN: the
    run is refused, its checkpoint removed (it used to be saved with NaN loss and F1 0, exit 0)."""
    code, out, err = run(capsys, "train", "--data", str(scene_dir), "--window", "9", "--epochs", "1",
                         "--windows-per-epoch", "64", "--lr", "1e30", "--out", str(tmp_path / "run"), "--quiet")
    line = _one_line(err)
    assert code == 2 and out == ""
    assert line.startswith("error: training diverged at epoch 1 (") and "lower the learning rate" in line
    assert not (tmp_path / "run" / "checkpoint.pt").exists() and not (tmp_path / "run" / "metrics.json").exists()


def test_windows_and_batches_no_machine_holds_are_refused_before_allocating(capsys, scene_dir, tmp_path):
    scenes = [Scene("s", np.zeros((100, 80, 3), np.uint8), np.zeros((100, 80), bool))]
    check_training_memory(scenes, 33, 3, AvalancheConfig())  # the seed's window: fits anywhere
    with pytest.raises(UserError, match=r"--window 100001 with --batch-size 64 needs about [\d,.]+ TiB") as exc:
        check_training_memory(scenes, 100_001, 3, AvalancheConfig())
    assert "more than this machine's" in str(exc.value)
    # the smallest batch that cannot fit: its activations alone exceed the machine's memory
    batch = physical_memory() // (33 * 33 * 3 * 64) + 1
    with pytest.raises(UserError, match=f"--batch-size {batch} needs about"):
        check_training_memory(scenes, 33, 3, AvalancheConfig(batch_size=batch))
    for argv, said in ((["--window", "1000001"], "more than this machine's"),
                       (["--batch-size", "1000000000"], "larger than --windows-per-epoch 64")):
        code, _, err = run(capsys, "train", "--data", str(scene_dir), "--epochs", "1", "--windows-per-epoch", "64",
                           "--out", str(tmp_path / "run"), "--quiet", *argv)
        assert code == 2 and said in _one_line(err)
