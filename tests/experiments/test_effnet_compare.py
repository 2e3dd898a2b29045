"""`nivalis zoo compare`: the seed 003 protocol end to end on digits, outputs, reuse of finished runs, errors."""

import csv
import json
import statistics

import pytest
from tests.cli_helpers import assert_user_error, invoke, run_cli

from nivalis.data import load_classification
from nivalis.errors import UserError
from nivalis.experiments import effnet_compare as compare_mod
from nivalis.experiments.effnet_compare import (
    PRESETS,
    CompareConfig,
    ModelSpec,
    compare_models,
    efficiency_note,
    parse_models,
)
from nivalis.models import list_models


def test_presets_list_registered_networks_and_follow_the_tables():
    for name, (_data, models) in PRESETS.items():
        assert set(models) <= set(list_models()), name
    assert PRESETS["effnet-cifar"][1][0] == "effnet_cifar_baseline"  # the factor's reference
    assert len(PRESETS["effnet-v2-gtsrb"][1]) == 8  # baseline, 3 rates × 2 networks, mob_imp
    specs, data = parse_models("resnet18:effnet", "effnet-svhn")
    assert data == "svhn" and specs[-1] == ModelSpec("resnet18:effnet", "resnet18", "effnet")


@pytest.mark.parametrize("models, preset, message", [
    (None, "effnet-imagenet", "unknown preset"), ("effnet_cifar,nosuchnet", None, "unknown model"),
    ("effnet_cifar,effnet_cifar", None, "listed twice"), (None, None, "no networks"),
])
def test_parse_models_errors(models, preset, message):
    with pytest.raises(UserError, match=message):
        parse_models(models, preset)


def test_protocol_on_digits(tmp_path, monkeypatch):
    data = load_classification("digits")
    cfg = CompareConfig(runs=2, epochs=3, latency_runs=5)
    specs = [ModelSpec.parse("mobilenet_svhn"), ModelSpec.parse("effnet_svhn")]
    result = compare_models(specs, data, cfg, out_dir=tmp_path)
    base, eff = result.rows
    assert cfg.train_config(1).betas == (0.75, 0.999) and cfg.train_config(1).seed == 1
    assert base["factor"] == 1.0 and eff["factor"] == pytest.approx(eff["flops"] / base["flops"])
    assert 1.3 < eff["factor"] < 1.7 and (base["kind"], eff["kind"]) == ("mobilenet", "effnet")
    for row in result.rows:
        assert len(row["accs"]) == 2 and row["acc_std"] == pytest.approx(statistics.stdev(row["accs"]))
        assert row["latency_ms"] > 0 and row["torch_latency_ms"] > 0
    assert eff["acc_mean"] > 0.5  # learned well beyond chance (0.1) in 3 epochs
    assert eff["accs"][0] != eff["accs"][1]  # different seeds per run

    saved = json.loads((tmp_path / "compare.json").read_text())
    assert [r["model"] for r in saved["rows"]] == ["mobilenet_svhn", "effnet_svhn"]
    with open(tmp_path / "compare.csv") as f:
        table = list(csv.DictReader(f))
    assert float(table[1]["acc_mean"]) == pytest.approx(eff["acc_mean"]) and int(table[1]["flops"]) == eff["flops"]
    assert "| effnet_svhn |" in (tmp_path / "compare.md").read_text()
    assert (tmp_path / "accuracy_vs_flops.png").stat().st_size > 10_000

    # a second call reuses the finished runs instead of training again
    def no_training(*args, **kwargs):
        raise AssertionError("retrained a finished run")

    monkeypatch.setattr("nivalis.engine.classify.train_classifier", no_training)
    again = compare_models(specs, data, cfg, out_dir=tmp_path)
    assert [r["accs"] for r in again.rows] == [r["accs"] for r in result.rows]


def _row(model, kind, accs, flops, latency):
    return {"model": model, "kind": kind, "accs": accs, "acc_mean": statistics.fmean(accs),
            "acc_std": statistics.stdev(accs), "flops": flops, "latency_ms": latency, "torch_latency_ms": latency}


def test_note_is_computed_from_the_rows():
    rows = [_row("base", "baseline", [0.95, 0.96, 0.97], 3e6, 0.05), _row("mob", "mobilenet", [0.90, 0.91, 0.92], 7e5, 0.03),
            _row("shuf", "shufflenet", [0.94, 0.96, 0.98], 6e5, 0.04), _row("eff", "effnet", [0.94, 0.95, 0.96], 5e5, 0.06)]
    note = efficiency_note(rows)
    assert "eff is above mob" in note and "eff is level with" in note and "shuf" in note
    assert "0.71× its FLOPs" in note  # 5e5 / 7e5
    assert "FLOPs are not speed: eff has the fewest FLOPs" in note
    rows[3]["accs"] = [0.80, 0.81, 0.82]
    rows[3].update(acc_mean=0.81)
    assert "eff is below mob" in efficiency_note(rows)
    assert efficiency_note(rows[:2]) == "No EffNet v1 network in this comparison."


def test_gtsrb_dropout_is_passed_where_the_model_takes_it():
    class Data:
        name, num_classes, in_chans = "gtsrb", 43, 3

    kwargs, note = compare_mod._model_kwargs(ModelSpec.parse("effnet_cifar"), Data, CompareConfig())
    assert kwargs == {"drop_rate": 0.5} and note is None
    kwargs, note = compare_mod._model_kwargs(ModelSpec.parse("lenet5"), Data, CompareConfig())
    assert kwargs == {} and "without the seed's GTSRB dropout" in note


def test_cli_json_and_errors(tmp_path):
    result = run_cli("zoo", "compare", "--models", "mobilenet_gtsrb,effnet_gtsrb", "--runs", "1", "--epochs", "1",
                     "--out", str(tmp_path), "--json")
    assert result.code == 0, result.err
    payload = result.json()
    assert [r["model"] for r in payload["rows"]] == ["mobilenet_gtsrb", "effnet_gtsrb"]
    assert set(payload["rows"][0]) >= {"model", "acc_mean", "acc_std", "flops", "factor", "latency_ms"}
    assert payload["plot"].endswith("accuracy_vs_flops.png")
    assert_user_error(invoke("zoo", "compare", "--preset", "effnet-imagenet"), "unknown preset")
    assert_user_error(invoke("zoo", "compare", "--preset", "effnet-cifar", "--data-dir", str(tmp_path / "none")),
                      "data directory not found")
    assert_user_error(invoke("zoo", "compare", "--models", "effnet_svhn", "--download"), "no download")
    assert_user_error(invoke("zoo", "compare", "--preset", "effnet-svhn", "--download"), "needs --data-dir")


def test_note_explains_the_one_channel_cost():
    rows = [_row("mob", "mobilenet", [0.90, 0.91, 0.92], 3e5, 0.03), _row("eff", "effnet", [0.90, 0.91, 0.93], 5e5, 0.04)]
    assert "one input channel" in efficiency_note(rows, in_chans=1)
    assert "one input channel" not in efficiency_note(rows, in_chans=3)


def test_train_with_a_block_swap_and_export_its_checkpoint(tmp_path):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = invoke("train", "--model", "effnet_svhn_baseline", "--block", "effnet", "--epochs", "1",
                        "--out", str(tmp_path / "run"), "--json", "--quiet")
    finally:
        torch.set_num_threads(before)
    assert result.code == 0, result.err
    assert result.json()["flops"] == 493_056  # effnet_svhn's FLOPs at 1×32×32: the swap happened
    exported = invoke("zoo", "export", "effnet_svhn_baseline", "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"),
                      "--onnx", str(tmp_path / "m.onnx"), "--json")
    assert exported.code == 0, exported.err
    assert exported.json()["max_abs_diff"] < 1e-4
    assert_user_error(invoke("train", "--model", "lenet5", "--block", "effnet", "--out", str(tmp_path / "x")),
                      "no vanilla 3×3")
