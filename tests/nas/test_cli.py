"""`nivalis refine` as a user meets it: search → arch.json → retrain, --json, one-line errors."""

import json

from tests.cli_helpers import assert_user_error, invoke

TINY = ["--width", "0.0625", "--epochs", "1", "--pretrain-epochs", "1", "--controller-steps", "2",
        "--proxy-per-class", "8", "--proxy-val-per-class", "3"]


def test_search_then_retrain(tmp_path):
    out = tmp_path / "s"
    # in-process (the DDP test runs the package in fresh processes); same entry point as the `nivalis` script
    run = invoke("refine", "search", "--backbone", "resnet18", "--granularity", "layer", "--data", "digits",
                 *TINY, "--samples-per-update", "4", "--derive-finetune-steps", "2", "--out", str(out), "--json")
    found = run.json()
    # two epochs on 50 images: the shared weights cannot fit 10 classes, and the user is told so on stderr
    assert found["proxy_fit"]["chance"] == 0.1 and found["proxy_fit"]["original_path_accuracy"] < 0.325
    warning = [ln for ln in run.err.splitlines() if ln.startswith("warning: ")]
    assert len(warning) == 1 and "barely fit the proxy task" in warning[0] and "--epochs" in warning[0]
    assert found["warnings"] == [warning[0].removeprefix("warning: ")]
    for key in ("backbone", "granularity", "arch", "macs", "baseline_macs", "flops", "baseline_flops", "params",
                "accuracy"):
        assert key in found
    assert found["flops"] == 2 * found["macs"] and found["baseline_flops"] == 2 * found["baseline_macs"]
    assert found["granularity"] == "layer" and len(found["arch"]) == 16
    assert json.loads((out / "arch.json").read_text())["arch"] == found["arch"]
    trained = invoke("refine", "retrain", str(out / "arch.json"), "--epochs", "1", "--json", "--quiet").json()
    assert trained["flops"] == found["flops"] and trained["macs"] == found["macs"] and 0 <= trained["accuracy"] <= 1
    assert "arch_note" not in trained
    assert (out / "retrain-s0" / "checkpoint.pt").is_file()
    # the seed's printing of Table 4: 15 codes for 16 slots, the last slot keeps conv3x3 and the JSON says so
    spec = json.loads((out / "arch.json").read_text())
    spec["arch"] = [1, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2]
    (out / "seed.json").write_text(json.dumps(spec))
    printed = invoke("refine", "retrain", str(out / "seed.json"), "--epochs", "1", "--out", str(tmp_path / "r"),
                     "--json", "--quiet").json()
    assert printed["arch"] == spec["arch"] + [0] and printed["arch_given"] == spec["arch"]
    assert "code 0 appended" in printed["arch_note"] and printed["flops"] == 2 * printed["macs"]
    human = invoke("refine", "space", "--backbone", "resnet18", "--input", "1x32x32", "--width", "0.25")
    assert human.code == 0 and "8 decisions over 16 slots" in human.out


def test_user_mistakes(tmp_path):
    assert_user_error(invoke("refine", "retrain", str(tmp_path / "none.json")), "not found")
    assert_user_error(invoke("refine", "search", "--granularity", "cell", "--out", str(tmp_path / "x")),
                      "granularity")
    assert_user_error(invoke("refine", "search", "--backbone", "lenet5", "--out", str(tmp_path / "x")),
                      "no searchable")
    assert_user_error(invoke("refine", "search", "--candidates", "0,9", "--out", str(tmp_path / "x")), "code 9")
    assert_user_error(invoke("refine", "search", "--resume", "--out", str(tmp_path / "empty")), "nothing to resume")
    assert_user_error(invoke("refine", "search", "--pretrained", str(tmp_path / "resnet18-f37072fd.pth"), "--out",
                             str(tmp_path / "y")), "not found")
    assert invoke("refine", "search", "--help").code == 0


def test_quick_search_on_digits_runs_at_16_px_and_says_so(tmp_path):
    out = tmp_path / "q"
    found = invoke("refine", "search", "--quick", "--data", "digits", *TINY, "--samples-per-update", "4",
                   "--derive-finetune-steps", "1", "--out", str(out), "--json", "--quiet").json()
    assert "on 16x16 digits" in found["budget_note"] and "--image-size 32" in found["budget_note"]
    assert found["data_options"] == {"image_size": 16}
    assert json.loads((out / "arch.json").read_text())["data_options"]["image_size"] == 16
    given = invoke("refine", "search", "--quick", "--data", "digits", "--image-size", "24", *TINY,
                   "--samples-per-update", "4", "--derive-finetune-steps", "1", "--out", str(tmp_path / "g"),
                   "--json", "--quiet").json()
    assert given["data_options"] == {"image_size": 24} and "digits" not in given.get("budget_note", "")
