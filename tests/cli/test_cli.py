"""The CLI as a user meets it: help, --json, one-line errors with exit 2, the acceptance commands."""

import math

import torch
from tests.cli_helpers import assert_user_error, invoke, run_cli


def test_help_lists_command_groups():
    result = invoke("--help")
    assert result.code == 0
    for group in ("train", "zoo", "demo"):
        assert group in result.out
    for args in (["train", "--help"], ["zoo", "profile", "--help"], ["zoo", "export", "--help"], ["demo", "--help"]):
        assert invoke(*args).code == 0, args


def test_zoo_profile_lenet5_json():
    data = run_cli("zoo", "profile", "lenet5", "--input", "1x32x32", "--num-classes", "10", "--json").json()
    assert data["params"] == 61706
    assert data["flops"] > 0 and data["latency_ms"] > 0
    assert data["dataflow"][0] == {"layer": "features.0", "type": "Conv2d", "shape": [6, 28, 28], "floats": 4704}


def test_train_acceptance_and_repeatability(tmp_path):
    args = ["train", "--model", "lenet5", "--data", "digits", "--epochs", "15", "--seed", "0", "--json", "--quiet"]
    first = run_cli(*args, "--out", str(tmp_path / "a")).json()
    second = run_cli(*args, "--out", str(tmp_path / "b")).json()
    assert first["test_accuracy"] >= 0.97
    assert first["params"] == 61706 and first["flops"] > 0
    assert (tmp_path / "a" / "checkpoint.pt").is_file() and first["checkpoint"].endswith("checkpoint.pt")
    for key in ("test_accuracy", "test_loss", "val_accuracy"):
        assert first[key] == second[key]
    assert (tmp_path / "a" / "metrics.json").is_file() and (tmp_path / "a" / "history.csv").is_file()


def test_user_mistakes_exit_2_with_one_line(tmp_path):
    assert_user_error(invoke("train", "--model", "nope", "--out", str(tmp_path / "x")), "unknown model")
    assert not (tmp_path / "x").exists()
    assert_user_error(invoke("train", "--model", "lenet5", "--data", "mnist"), "unknown data set")
    assert_user_error(invoke("train", "--model", "lenet5", "--epochs", "0"), "--epochs")
    assert_user_error(invoke("train", "--model", "lenet5", "--bogus"), "no such option")
    assert_user_error(invoke("zoo", "profile", "lenet5", "--input", "1x32"), "input shape")
    assert_user_error(invoke("train", "--model", "lenet5", "--resume", "--out", str(tmp_path / "empty")),
                      "nothing to resume")


def test_export_checkpoint_errors_and_success(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    out = tmp_path / "m.onnx"
    assert_user_error(invoke("zoo", "export", "lenet5", "--onnx", str(out), "--checkpoint", str(bad)), "checkpoint")
    assert not out.exists()
    ok = run_cli("zoo", "export", "lenet5", "--onnx", str(out), "--input", "1x32x32", "--num-classes", "10", "--json")
    assert ok.code == 0, ok.err
    assert ok.json()["max_abs_diff"] < 1e-4 and out.is_file()


def test_resume_a_finished_run_keeps_its_result(tmp_path):
    args = ["train", "--model", "lenet5", "--epochs", "2", "--json", "--quiet", "--out", str(tmp_path)]
    first = run_cli(*args).json()
    again = run_cli(*args, "--resume").json()
    assert again["test_accuracy"] == first["test_accuracy"]
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 2


def _without_extras(tmp_path, *args: str, hide: tuple[str, ...] | None = None):
    """Run the CLI in a fresh process in which the optional stacks cannot be imported (a core install)."""
    import subprocess
    import sys

    from nivalis.extras import EXTRAS

    hidden = sorted({m for mods in EXTRAS.values() for m in mods}) if hide is None else list(hide)
    # every finder answers "not installed" for the hidden packages, as on a machine without them
    code = ("import sys\n"
            f"hidden = {hidden!r}\n"
            "gone = {*hidden, 'opencv_python_headless', 'opencv_python'}\n"
            "class Hide:\n"
            "    def __init__(self, finder): self.finder = finder\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in hidden: return None\n"
            "        return self.finder.find_spec(name, path, target)\n"
            "    def find_distributions(self, *a, **kw):\n"  # package metadata too (torchmetrics asks it)
            "        dists = getattr(self.finder, 'find_distributions', lambda *a, **kw: [])(*a, **kw)\n"
            "        return [d for d in dists if d.metadata['Name'].lower().replace('-', '_') not in gone]\n"
            "    def __getattr__(self, attr): return getattr(self.finder, attr)\n"
            "sys.meta_path[:] = [Hide(f) if hasattr(f, 'find_spec') else f for f in sys.meta_path]\n"
            "from nivalis.cli.app import main\n"
            f"main({list(args)!r})")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)


def test_a_missing_extra_names_it_in_one_line(tmp_path):
    proc = _without_extras(tmp_path, "avalanche", "simulate", "--out", str(tmp_path / "scenes"), "--scenes", "1",
                           hide=("rasterio",))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: nivalis avalanche needs the geo extra (rasterio is not installed): pip install 'nivalis[geo]'"]
    assert not (tmp_path / "scenes").exists()


def test_a_core_install_starts_and_names_each_missing_extra(tmp_path):
    """No optional stack importable: help, zoo list/profile and digits training work; every domain command says which
    extra it needs in one line, exit 2, before it writes anything."""
    import json

    assert _without_extras(tmp_path, "--help").returncode == 0
    for group in ("avalanche", "snow", "face", "refine", "zoo"):
        assert group in _without_extras(tmp_path, "--help").stdout
        assert _without_extras(tmp_path, group, "--help").returncode == 0
    assert "resnet18" in json.loads(_without_extras(tmp_path, "zoo", "list", "--json").stdout)["models"]
    profile = _without_extras(tmp_path, "zoo", "profile", "resnet18", "--json")
    assert json.loads(profile.stdout)["params"] == 11689512, profile.stderr
    cases = [(("avalanche", "simulate", "--out", "a"), "nivalis avalanche needs the geo extra"),
             (("snow", "simulate", "--out", "s"), "nivalis snow needs the snow extra"),
             (("face", "verify", "--bin", "x.bin", "--checkpoint", "c.pt"), "nivalis face needs the face extra"),
             (("zoo", "export", "lenet5", "--onnx", "m.onnx"), "nivalis zoo export needs the onnx extra"),
             (("demo", "--out", "d"), "the demo's classification section needs the plot extra")]
    for args, start in cases:
        proc = _without_extras(tmp_path, *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1, (args, proc.stderr)
        assert lines[0].startswith("error: " + start) and "pip install 'nivalis[" in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    trained = _without_extras(tmp_path, "train", "--model", "lenet5", "--data", "digits", "--epochs", "1", "--json",
                              "--out", "run")
    assert json.loads(trained.stdout)["test_accuracy"] > 0.5, trained.stderr


def test_unwritable_outputs_and_bad_numbers_fail_before_any_work(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (("train", "--model", "lenet5", "--out", str(a_file)), "existing file"),
        (("train", "--model", "lenet5", "--out", str(a_file / "sub")), "is a file"),
        (("train", "--model", "lenet5", "--out", "/proc/nivalis-run"), "/proc/nivalis-run"),
        (("avalanche", "simulate", "--out", str(tmp_path / "s"), "--size", "100000"), "--size 100000"),
        (("avalanche", "train", "--data", str(tmp_path), "--window", "16", "--out", str(tmp_path / "r")), "odd"),
    ]
    for args, fragment in cases:
        assert_user_error(invoke(*args), fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_resume_cannot_lie(tmp_path):
    """Another run's checkpoint is refused with the difference named; --force continues and says so; a finished
    cosine run extended gets a recomputed schedule instead of training at lr 0."""
    out = str(tmp_path / "run")
    base = ["train", "--model", "lenet5", "--json", "--quiet", "--out", out]
    first = invoke(*base, "--epochs", "2").json()
    assert "resumed" not in first
    assert_user_error(invoke(*base, "--epochs", "1", "--resume"), "more than --epochs 1")
    assert_user_error(invoke(*base, "--epochs", "2", "--resume", "--lr", "0.01"), "lr 0.003 -> 0.01")
    assert_user_error(invoke(*base, "--epochs", "2", "--resume", "--model", "allcnn_c"), "model differs")
    forced = invoke(*base, "--epochs", "3", "--resume", "--lr", "0.01", "--force").json()
    assert forced["resumed"]["forced"] is True and forced["resumed"]["from_epoch"] == 2
    assert any("lr" in d for d in forced["resumed"]["differences"])

    ext = str(tmp_path / "extend")
    invoke("train", "--model", "lenet5", "--epochs", "2", "--quiet", "--json", "--out", ext)
    extended = invoke("train", "--model", "lenet5", "--epochs", "4", "--quiet", "--json", "--out", ext, "--resume").json()
    assert extended["resumed"] == {"from_epoch": 2, "forced": False, "differences": [], "changes": ["epochs 2 -> 4"]}
    history = torch.load(tmp_path / "extend" / "checkpoint.pt", weights_only=True)["history"]
    # cosine over 4 epochs: after epoch 3 the lr is 3e-3 · (1 + cos(3π/4)) / 2, not 0 as the 2-epoch schedule left it
    assert history[2]["lr"] > 1e-4 and abs(history[2]["lr"] - 3e-3 * (1 + math.cos(3 * math.pi / 4)) / 2) < 1e-9
