"""`refine search --retrain-seeds/--seeds`, `refine ablate` and the face:/avalanche: data specs, at tiny budgets."""

import csv
import json
import statistics

import numpy as np
import pytest
import torch
from scipy import stats

from tests.cli_helpers import assert_user_error, invoke
from tests.nas.test_cli import TINY

SMALL = [*TINY, "--image-size", "16", "--quiet"]
FAST = [*SMALL, "--samples-per-update", "4", "--derive-finetune-steps", "2"]  # `refine search` at a smaller budget


def test_paired_comparison_matches_scipy():
    from nivalis.experiments.nar import format_mean_std, paired_comparison

    a, b = [0.91, 0.88, 0.93, 0.90], [0.89, 0.88, 0.90, 0.91]
    c = paired_comparison(a, b)
    ref = stats.ttest_rel(a, b)
    assert c["t"] == pytest.approx(ref.statistic) and c["p"] == pytest.approx(ref.pvalue)
    assert (c["wins"], c["losses"], c["ties"]) == (2, 1, 1)
    assert c["sign_p"] == pytest.approx(stats.binomtest(2, 3).pvalue)
    one = paired_comparison([0.5], [0.4])
    assert one["std"] is None and one["t"] is None and one["mean"] == pytest.approx(0.1)
    assert format_mean_std(0.5, None) == "0.5000" and "±" in format_mean_std(0.5, 0.01)


def test_search_config_and_ablation_csv():
    from nivalis.experiments.nar import ablation_csv, paired_comparison
    from nivalis.experiments.nar_runs import search_config

    face = search_config("face:/nowhere", quick=True)  # the spec alone decides the proxy split; nothing is read
    assert (face.proxy_per_class, face.proxy_val_per_class, face.epochs) == (36, 4, 9)
    assert search_config("face:/nowhere", proxy_val_per_class=8).proxy_val_per_class == 8
    assert (search_config("digits").proxy_per_class, search_config("digits").epochs) == (60, 60)
    row = {"variant": "pretrain-controller", "pretrain": True, "strategy": "controller", "arch": [1, 0], "macs": 5,
           "proxy_accuracy": 0.5, "test_acc_mean": 0.75, "test_acc_std": None, "macs_reduction": 0.1, "params": 9,
           "vs_original": paired_comparison([0.75], [0.7]), "shared_epochs": 2, "children": 8, "search_seconds": 1.0}
    header, line = ablation_csv([row]).splitlines()
    cells = dict(zip(header.split(","), line.split(",")))
    assert cells["arch"] == "1 0" and cells["test_acc_std"] == "" and cells["vs_original_t"] == ""
    assert float(cells["vs_original_mean_pt"]) == pytest.approx(5.0)


def test_retrain_seeds_json_and_paired_stats(tmp_path):
    r = invoke("refine", "search", *FAST, "--retrain-seeds", "2", "--retrain-epochs", "1", "--out",
               str(tmp_path / "s"), "--json").json()
    t = r["retrain"]
    assert t["seeds"] == 2 and t["epochs"] == 1 and t["test_images"] > 0
    rows = {row["role"]: row for row in t["rows"]}
    assert set(rows) == {"found", "original", "random"}
    assert rows["found"]["arch"] == r["arch"] and rows["original"]["arch"] == [0] * len(r["arch"])
    assert rows["random"]["arch"] == t["random_search"]["arch"]
    for row in rows.values():
        assert len(row["accuracies"]) == 2 and row["seeds"] == [0, 1]
        assert row["acc_mean"] == pytest.approx(statistics.fmean(row["accuracies"]))
        assert row["acc_std"] == pytest.approx(statistics.stdev(row["accuracies"]))
    for other in ("original", "random"):
        c = t["paired"][f"found_minus_{other}"]
        d = [x - y for x, y in zip(rows["found"]["accuracies"], rows[other]["accuracies"])]
        assert c["differences"] == pytest.approx(d) and c["n"] == 2
        assert c["mean"] == pytest.approx(statistics.fmean(d)) and c["std"] == pytest.approx(statistics.stdev(d))
        if c["std"] > 0:
            assert c["t"] == pytest.approx(stats.ttest_rel(rows["found"]["accuracies"],
                                                           rows[other]["accuracies"]).statistic)
        assert c["wins"] + c["losses"] + c["ties"] == 2
    assert "paired t" in t["paired_test"] and "sign test" in t["paired_test"]
    assert (tmp_path / "s" / "retrain-random-s1" / "checkpoint.pt").is_file()


def test_seeds_summary_and_one_retraining_prints_no_std(tmp_path):
    r = invoke("refine", "search", *FAST, "--seeds", "2", "--out", str(tmp_path / "m"), "--json").json()
    runs, summary = r["runs"], r["summary"]
    assert [run["seed"] for run in runs] == [0, 1] == summary["seeds"]
    assert sum(a["count"] for a in summary["architectures"]) == 2
    for d, counts in enumerate(summary["operators_per_slot"]):
        assert sum(counts.values()) == 2
        found = [run["operators"][d] for run in runs]
        assert all(counts[op] == found.count(op) for op in counts)
    assert summary["flops_reduction_mean"] == pytest.approx(statistics.fmean(x["flops_reduction"] for x in runs))
    assert all((tmp_path / "m" / f"seed-{s}" / "arch.json").is_file() for s in (0, 1))
    human = invoke("refine", "search", *FAST, "--retrain-seeds", "1", "--retrain-epochs", "1", "--out",
                   str(tmp_path / "one"))
    assert human.code == 0, human.err
    rows = [ln for ln in human.out.splitlines() if " MACs (" in ln and ln.split()[0] in ("found", "original", "random")]
    assert len(rows) == 3 and "±" not in human.out  # one retraining: no standard deviation, not "± 0.000"
    assert "paired t undefined (one seed)" in human.out


def test_ablate_four_rows_equal_budget(tmp_path):
    out = tmp_path / "ab"
    res = invoke("refine", "ablate", *FAST, "--retrain-seeds", "1", "--retrain-epochs", "1", "--out", str(out),
                 "--json").json()
    assert [r["variant"] for r in res["rows"]] == ["pretrain-controller", "pretrain-random",
                                                  "no-pretrain-controller", "no-pretrain-random"]
    assert len({r["shared_epochs"] for r in res["rows"]}) == 1 and len({r["children"] for r in res["rows"]}) == 1
    assert [r["pretrain_epochs"] for r in res["rows"]] == [1, 1, 0, 0]
    for r in res["rows"]:
        assert r["test_acc_std"] is None and len(r["test_accuracies"]) == 1
        assert r["macs_reduction"] == pytest.approx(1 - r["macs"] / res["original"]["macs"])
        assert r["vs_original"]["mean"] == pytest.approx(r["test_acc_mean"] - res["original"]["acc_mean"])
    with open(out / "ablation.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4 and not any(c[0].isdigit() for c in table[0])
    assert [row["variant"] for row in table] == [r["variant"] for r in res["rows"]]
    assert json.loads((out / "ablation.json").read_text())["rows"][0]["arch"] == res["rows"][0]["arch"]
    # PreTrain off must spread the same children over more epochs: 1 step x 2 epochs is not 3 x 1
    assert_user_error(invoke("refine", "ablate", *SMALL, "--controller-steps", "3", "--out", str(tmp_path / "x")),
                      "divisible")


@pytest.fixture(scope="module")
def avalanche_dir(tmp_path_factory):
    from nivalis.avalanche.simulate import simulate_dataset

    out = tmp_path_factory.mktemp("nar_avalanche") / "scenes"
    simulate_dataset(out, scenes=3, seed=3, size=(64, 64))
    return out


def test_avalanche_data_search_and_retrain(avalanche_dir, tmp_path):
    out = tmp_path / "av"
    r = invoke("refine", "search", *TINY, "--quiet", "--data", f"avalanche:{avalanche_dir}", "--image-size", "15",
               "--windows", "64", "--out", str(out), "--json").json()
    assert r["data"] == f"avalanche:{avalanche_dir.resolve()}" and r["num_classes"] == 2
    assert r["input_shape"] == [3, 15, 15] and "split by scene" in r["data_note"]
    spec = json.loads((out / "arch.json").read_text())
    assert spec["data_options"] == {"image_size": 15, "windows": 64}
    t = invoke("refine", "retrain", str(out / "arch.json"), "--epochs", "1", "--json", "--quiet").json()
    assert t["data"] == r["data"] and t["macs"] == r["macs"] and 0 <= t["accuracy"] <= 1


def test_avalanche_windows_use_the_train_pipeline(avalanche_dir, tmp_path):
    from nivalis.avalanche.io import load_scenes
    from nivalis.avalanche.train import radiometry, split_scenes
    from nivalis.experiments.nar_data import resolve_data

    got = resolve_data(f"avalanche:{avalanche_dir}", image_size=9, windows=64)
    x, y = got.data.train.tensors
    assert x.shape == (64, 3, 9, 9) and y.dtype == torch.int64
    assert np.bincount(y.numpy()).tolist() == [32, 32]  # the stream's class balance
    # the per-band standardisation is the training scenes' (radiometry over the scene split of `avalanche train`)
    scenes = load_scenes(avalanche_dir)
    radio = radiometry(split_scenes(scenes).train, 3)
    raw = x.permute(0, 2, 3, 1) * torch.tensor(radio["std"]) + torch.tensor(radio["mean"])
    assert float(raw.min()) >= -1e-4 and float(raw.max()) <= 1 + 1e-4  # undone: uint8 / 255 in [0, 1]
    assert abs(float(raw.mean()) - float(np.mean(radio["mean"]))) < 0.25
    one = tmp_path / "one"
    (one / "images").mkdir(parents=True)
    (one / "masks").mkdir()
    first = sorted((avalanche_dir / "images").iterdir())[0]
    (one / "images" / first.name).write_bytes(first.read_bytes())
    mask = next(p for p in (avalanche_dir / "masks").iterdir() if p.stem == first.stem)
    (one / "masks" / mask.name).write_bytes(mask.read_bytes())
    single = resolve_data(f"avalanche:{one}", image_size=9, windows=32)
    assert "(< 3)" in single.note and len(single.data.test) == 8


def _face_folder(root, identities: int, per: int = 40):
    from nivalis.face.io import encode_image
    from tests.face.conftest import digit_faces

    images, labels = digit_faces(900, size=16)  # about 90 per digit, 40+ for every identity
    for k in range(identities):
        (root / f"id{k}").mkdir(parents=True)
        for j, i in enumerate(np.flatnonzero(labels == k)[:per]):
            (root / f"id{k}" / f"{j}.png").write_bytes(encode_image(images[i]))
    return root


def test_face_data_search_and_retrain(tmp_path):
    faces = _face_folder(tmp_path / "faces", 3)
    out = tmp_path / "fa"
    r = invoke("refine", "search", "--width", "0.0625", "--epochs", "1", "--pretrain-epochs", "1",
               "--controller-steps", "2", "--quiet", "--data", f"face:{faces}", "--image-size", "16",
               "--out", str(out), "--json").json()
    assert r["num_classes"] == 3 and r["input_shape"] == [3, 16, 16]
    assert r["proxy"] == {"train": 3 * 32, "val": 3 * 4, "per_class": 36}  # the search sees the 36 only
    assert r["data_options"] == {"identities": 3, "image_size": 16}
    t = invoke("refine", "retrain", str(out / "arch.json"), "--epochs", "1", "--json", "--quiet").json()
    assert t["data"] == f"face:{faces.resolve()}" and "held-out" in t["data_note"]
    assert_user_error(invoke("refine", "search", "--data", f"face:{faces}", "--identities", "5", "--out",
                             str(tmp_path / "x")), "needs 5")


def test_bad_data_prefix_is_a_user_error(tmp_path):
    for cmd in (["refine", "search"], ["refine", "ablate"]):
        assert_user_error(invoke(*cmd, "--data", "imagenet:/x", "--out", str(tmp_path / "x")), "unknown data prefix")
    assert not (tmp_path / "x").exists()
    spec = tmp_path / "arch.json"
    spec.write_text(json.dumps({"backbone": "resnet18", "granularity": "block", "arch": [0] * 8}))
    assert_user_error(invoke("refine", "retrain", str(spec), "--data", "nope:dir"), "unknown data prefix")
    assert_user_error(invoke("refine", "search", "--data", "avalanche:", "--out", str(tmp_path / "y")), "folder")
