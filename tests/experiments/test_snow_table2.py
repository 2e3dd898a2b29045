"""The Table II protocol on a small simulated campaign: splits, learning, determinism, checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nivalis.engine import fit, regression_task
from nivalis.experiments.snow_table2 import run_paper
from nivalis.layers import native_lstm
from nivalis.snow.config import SnowConfig
from nivalis.snow.graphs import SnowGraphs, fit_graph_stats, load_dataset
from nivalis.snow.metrics import rmse_per_year
from nivalis.snow.predict import predict_thickness
from nivalis.snow.train import _train_config, build_model, split_indices


def test_splits_are_seeded_disjoint_4_to_1():
    cfg = SnowConfig(seed=4)
    splits = split_indices(568, cfg)
    assert len(splits) == 5
    for train, test in splits:
        assert (len(train), len(test)) == (454, 114)               # seed 000 §III
        assert not set(train) & set(test) and len(set(train) | set(test)) == 568
    again = split_indices(568, SnowConfig(seed=4))
    assert all((a[1] == b[1]).all() for a, b in zip(splits, again))
    assert not (split_indices(568, SnowConfig(seed=5))[0][1] == splits[0][1]).all()


def test_rmse_per_year():
    target = torch.zeros(2, 3, 2)
    pred = torch.zeros(2, 3, 2)
    pred[..., 1] = 2.0
    per_year, total = rmse_per_year(pred, target)
    assert per_year == [0.0, 2.0] and total == pytest.approx(np.sqrt(2.0))


def test_rmse_in_water_equivalent_scales_each_node_and_skips_unknown_ones():
    target = torch.zeros(1, 4, 2, dtype=torch.float64)
    pred = torch.tensor([[[1.0, 2.0], [1.0, 2.0], [1.0, 2.0], [3.0, 2.0]]])
    scale = np.array([[[0.01, 0.02], [0.03, 0.02], [0.01, np.nan], [np.nan, np.nan]]])
    per_year, total = rmse_per_year(pred, target, scale)
    assert per_year[0] == pytest.approx(np.sqrt((0.01 ** 2 + 0.03 ** 2 + 0.01 ** 2) / 3))  # node 4: no scale
    assert per_year[1] == pytest.approx(0.04)
    assert total == pytest.approx(np.sqrt((0.01 ** 2 + 0.03 ** 2 + 0.01 ** 2 + 2 * 0.04 ** 2) / 5))
    assert np.isnan(rmse_per_year(pred, target, np.full((1, 4, 2), np.nan))[0]).all()


def test_water_equivalent_per_pixel_is_what_inspect_reports(campaign):
    from nivalis.snow.graphs import load_usable, radargram_arrays
    from nivalis.snow.units import FirnModel

    cfg = SnowConfig()
    firn = FirnModel(pixel_m=0.0136)
    arrays, _ = load_dataset(campaign, cfg, firn)
    assert load_dataset(campaign, cfg)[0].mwe_per_px is None
    radargram = load_usable(campaign, cfg)[0][0]
    # `snow inspect`'s m w.e. of the five target layers (top-down 2011 → 2007; the arrays are oldest first)
    inspected = np.asarray(radargram.summary(rows_needed=cfg.rows_needed, columns=256, firn=firn)["thickness_mwe"][:5])
    assert radargram_arrays([radargram], cfg).targets.shape == arrays.targets[:1].shape
    mwe = arrays.mwe_per_px[0] * arrays.targets[0]
    np.testing.assert_allclose(mwe.mean(0)[::-1], inspected, rtol=2e-3)
    assert "pixel size 0.0136 m" in arrays.mwe_source and "curr_dens" in arrays.mwe_source
    assert arrays.subset([0]).mwe_per_px.shape == (1, *arrays.mwe_per_px.shape[1:])


def test_gcn_lstm_learns_on_simulated_radargrams(campaign):
    cfg = SnowConfig(epochs=8, batch_size=4)
    arrays, summary = load_dataset(campaign, cfg)
    assert summary.usable == len(arrays) >= 16
    train_idx, test_idx = split_indices(len(arrays), cfg)[0]
    stats = fit_graph_stats(arrays.subset(train_idx))
    train = SnowGraphs.build(arrays.subset(train_idx), stats)
    test = SnowGraphs.build(arrays.subset(test_idx), stats)
    model, _ = build_model("gcn_lstm", stats, cfg, seed=0)
    before = rmse_per_year(predict_thickness(model, test), test.targets)[1]
    result = fit(model, train, None, config=_train_config(cfg, 0), task=regression_task(), out_dir=None)
    after = rmse_per_year(predict_thickness(model, test), test.targets)[1]
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.75 * losses[0], losses
    assert after < 0.85 * before, (before, after)


def test_same_seed_same_table_with_one_or_two_workers(campaign, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("NIVALIS_LOG_SECONDS", "0")             # stderr is no terminal here: a log line per batch
    monkeypatch.setenv("NIVALIS_QUIET", "0")
    cfg = SnowConfig(epochs=1, splits=2, batch_size=16, seed=7)
    first = run_paper(campaign, cfg, tmp_path / "a", threads=1)
    logged = capfd.readouterr().err
    second = run_paper(campaign, SnowConfig(epochs=1, splits=2, batch_size=16, seed=7), None, workers=2, threads=1)
    # the worker processes log too (they write to the same stderr), each line naming its model, split and epoch
    logged_by_workers = capfd.readouterr().err
    for log in (logged, logged_by_workers):
        for model in ("lstm", "gcn", "gcn_lstm"):
            for split in (1, 2):
                assert f"] {model} split {split}/2 epoch 1/1: " in log, (model, split, log[-2000:])
    assert "Table II (2 workers): " in logged_by_workers
    monkeypatch.setenv("NIVALIS_QUIET", "1")                   # --quiet reaches the workers through the environment
    run_paper(campaign, SnowConfig(epochs=1, splits=1, batch_size=16, seed=7, models=("gcn",)), None, workers=2,
              threads=1)
    assert "[nivalis" not in capfd.readouterr().err
    monkeypatch.setenv("NIVALIS_QUIET", "0")
    assert first.table == second.table and first.table_mwe == second.table_mwe
    assert set(first.table_mwe) == set(first.table) and first.mwe_source
    for model, entry in first.table_mwe.items():  # the same predictions: m w.e. are px times ~1-2 cm w.e.
        assert 0.001 < entry["total"][0] / first.table[model]["total"][0] < 0.05, (model, entry)
    assert [(r.model, r.split) for r in first.runs] == [(r.model, r.split) for r in second.runs]
    other = run_paper(campaign, SnowConfig(epochs=1, splits=1, batch_size=16, seed=8, models=("gcn",)), None)
    assert other.table["GCN"]["total"] != first.table["GCN"]["total"]
    assert set(first.table) == {"LSTM", "GCN", "GCN-LSTM", "Climatology", "Ridge (per trace)"}   # + baselines (#21)
    assert set(first.table["GCN"]) == {"2007", "2008", "2009", "2010", "2011", "total"}
    for name in ("table_ii.md", "table_ii.csv", "table_ii_mwe.md", "table_ii_mwe.csv", "results.json",
                 "fig3_overlay.png", "fig4_true_vs_predicted.png"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert "± " in (tmp_path / "a" / "table_ii.md").read_text()
    results = json.loads((tmp_path / "a" / "results.json").read_text())
    assert results["lstm_cell"] == ("compiled" if native_lstm.enabled() else "pytorch")  # the C cell is opt-in
    assert results["table_mwe"] == first.table_mwe and "total_mwe" in results["runs"][0]


def test_ordering_sentence_compares_with_the_seed():
    from nivalis.experiments.snow_table2 import ordering_text

    seed_like = {"LSTM": {"total": [7.3, 1.2]}, "GCN": {"total": [6.0, 0.5]}, "GCN-LSTM": {"total": [4.7, 0.4]}}
    text = ordering_text(seed_like)
    assert "GCN-LSTM (4.700) < GCN (6.000) < LSTM (7.300)" in text and "the same order" in text
    assert "do not separate" not in text
    tied = {"LSTM": {"total": [1.70, 0.10]}, "GCN": {"total": [1.75, 0.06]}, "GCN-LSTM": {"total": [1.77, 0.16]}}
    text = ordering_text(tied)
    assert "a different order" in text and "do not separate" in text
    one_split = {m: {"total": [v["total"][0], 0.0]} for m, v in tied.items()}
    assert "With one split" in ordering_text(one_split)


def test_table_markdown_shows_a_spread_only_over_several_splits():
    from nivalis.experiments.snow_table2 import PaperResult, SplitResult, table_markdown

    table = {"GCN": {"2011": [1.5, 0.25], "total": [2.0, 0.125]}}
    one = PaperResult(table, [SplitResult("gcn", 0, [1.5], 2.0, 0.0)], ["2011"], {}, 0.0, {})
    assert table_markdown(one).splitlines()[2] == "| GCN | 1.500 | 2.000 |"
    two = PaperResult(table, [SplitResult("gcn", k, [1.5], 2.0, 0.0) for k in (0, 1)], ["2011"], {}, 0.0, {})
    assert table_markdown(two, digits=2).splitlines()[2] == "| GCN | 1.50 ± 0.25 | 2.00 ± 0.12 |"


def test_paired_differences_count_the_splits_each_pair_goes_the_seeds_way():
    from nivalis.experiments.snow_table2 import SplitResult, ordering_text, paired_differences

    totals = {"lstm": [2.0, 3.0, 2.5], "gcn": [1.9, 2.7, 2.6], "gcn_lstm": [1.8, 2.6, 2.2]}
    runs = [SplitResult(m, k, [], v, 0.0) for m, values in totals.items() for k, v in enumerate(values)]
    pairs = paired_differences(runs)
    assert list(pairs) == ["GCN-LSTM - GCN", "GCN - LSTM", "GCN-LSTM - LSTM"]
    gcn_vs_lstm = pairs["GCN - LSTM"]
    assert (gcn_vs_lstm["wins"], gcn_vs_lstm["splits"]) == (2, 3)  # split 2: GCN 2.6 > LSTM 2.5
    assert np.isclose(gcn_vs_lstm["mean"], np.mean([-0.1, -0.3, 0.1]))
    assert np.isclose(gcn_vs_lstm["std"], np.std([-0.1, -0.3, 0.1], ddof=1))
    assert pairs["GCN-LSTM - GCN"]["wins"] == 3
    table = {"LSTM": {"total": [2.5, 0.5]}, "GCN": {"total": [2.4, 0.4]}, "GCN-LSTM": {"total": [2.2, 0.4]}}
    text = ordering_text(table, runs)
    assert "GCN beats LSTM on 2 of 3" in text and "GCN-LSTM beats GCN on 3 of 3" in text
    only_two = paired_differences([r for r in runs if r.model != "gcn"])
    assert list(only_two) == ["GCN-LSTM - LSTM"]
