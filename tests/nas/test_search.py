"""NAR search end to end on a tiny ResNet-18: outputs, exact resume, proxy task, rewards, retraining via fit."""

import json
import math

import pytest
import torch

from nivalis.data import load_classification
from nivalis.engine import load_checkpoint
from nivalis.errors import UserError
from nivalis.nas.search import NARConfig, load_arch, make_proxy, retrain, retrain_config, reward, search

TINY = dict(width=0.0625, proxy_per_class=12, proxy_val_per_class=4, pretrain_epochs=1, sgdr_t0=1,
            controller_steps=3, samples_per_update=4, reward_batch_size=16, derive_samples=2, batch_size=32,
            derive_finetune_steps=2)


@pytest.fixture(scope="module")
def digits():
    return load_classification("digits")


def test_proxy_task_is_class_balanced(digits):
    proxy = make_proxy(digits, 40, 4, seed=0)
    assert torch.bincount(proxy.train_labels).tolist() == [36] * 10  # the seed's 36 + 4 per identity
    assert torch.bincount(proxy.val_labels).tolist() == [4] * 10
    assert proxy.summary() == {"train": 360, "val": 40, "per_class": 40}
    again = make_proxy(digits, 40, 4, seed=0)
    assert torch.equal(proxy.val_images, again.val_images)


def test_reward_forms():
    assert reward(0.9, 0.5, "acc") == 0.9
    assert reward(0.9, 1.0, "acc-flops") == pytest.approx(0.9)
    assert reward(0.9, 0.5, "acc-flops") == pytest.approx(0.9 * 0.5 ** -0.07)  # cheaper → higher


def test_search_writes_outputs_and_resume_repeats_it(digits, tmp_path):
    full = search(NARConfig(epochs=2, **TINY), digits, out_dir=tmp_path / "a")
    r = full.result
    for key in ("backbone", "granularity", "arch", "flops", "baseline_flops", "params", "accuracy"):
        assert key in r
    assert len(r["arch"]) == 8 and r["flops"] <= r["baseline_flops"]
    assert r["flops"] == full.space.cost(r["arch"], "flops")
    assert json.loads((tmp_path / "a" / "arch.json").read_text())["arch"] == r["arch"]
    history = json.loads((tmp_path / "a" / "search_history.json").read_text())
    assert [h["phase"] for h in history["epochs"]] == ["pretrain", "search", "search"]
    # 2 search epochs × 3 updates × 4 children, the children of one update share its baseline
    assert len(history["steps"]) == 24 and all("baseline" in s for s in history["steps"])
    assert len({s["update"] for s in history["steps"]}) == 6
    for update in range(1, 7):
        assert len({s["baseline"] for s in history["steps"] if s["update"] == update}) == 1
    assert len(r["entropy"]) == 3 and r["entropy_max"] == pytest.approx(
        sum(math.log(len(c)) for c in full.space.choices), abs=1e-4)
    assert all(0 < h <= r["entropy_max"] + 1e-6 for h in r["entropy"])
    for h in history["epochs"]:  # per decision: π and sampling frequencies are distributions over the codes
        assert len(h["probabilities"]) == len(h["frequencies"]) == 8
        assert all(sum(row) == pytest.approx(1, abs=1e-3) for row in h["probabilities"] + h["frequencies"])
        # each operator's homogeneous path scored on the proxy-validation split every epoch
        assert set(h["operator_paths"]) == {"conv3x3", "sep3x3", "max3x3", "avg3x3"}
        assert all(0 <= v <= 1 for v in h["operator_paths"].values())
        assert h["seconds_shared"] > 0 and h["seconds_controller"] >= 0
    assert len(r["operator_paths"]) == 3 and set(r["timing"]) == {"shared", "controller", "derive"}

    search(NARConfig(epochs=1, **TINY), digits, out_dir=tmp_path / "b")  # "interrupted" after epoch 2 of 3
    resumed = search(NARConfig(epochs=2, **TINY), digits, out_dir=tmp_path / "b", resume=True)
    assert resumed.result["arch"] == r["arch"] and resumed.steps == full.steps
    a, b = load_checkpoint(tmp_path / "a" / "search.pt"), load_checkpoint(tmp_path / "b" / "search.pt")
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    with pytest.raises(UserError, match="different search"):
        search(NARConfig(epochs=2, **{**TINY, "width": 0.125}), digits, out_dir=tmp_path / "b", resume=True)


def test_random_strategy_and_retrain(digits, tmp_path):
    res = search(NARConfig(epochs=1, strategy="random", reward="acc-flops", **TINY), digits,
                 out_dir=tmp_path / "r").result
    assert res["strategy"] == "random" and len(res["derived_from"]) <= 3
    spec = load_arch(tmp_path / "r" / "arch.json")
    out = retrain(spec, digits, config=retrain_config(epochs=1, batch_size=128), out_dir=tmp_path / "rt")
    assert out["flops"] == res["flops"] and out["params"] == res["params"]
    assert 0.0 <= out["accuracy"] <= 1.0 and (tmp_path / "rt" / "checkpoint.pt").is_file()


def test_arch_file_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_arch(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"backbone": "resnet18"}')
    with pytest.raises(UserError, match="needs keys"):
        load_arch(bad)
    bad.write_text("not json")
    with pytest.raises(UserError, match="not JSON"):
        load_arch(bad)
    with pytest.raises(UserError, match="unknown reward"):
        NARConfig(reward="speed")


def test_cifar_format_search_and_latency_reward(tmp_path):
    from tests.data.conftest import write_cifar

    root = write_cifar(tmp_path / "cifar", per_batch=20, n_test=20)
    cfg = NARConfig(epochs=1, reward="acc-latency", granularity="layer",
                    **{**TINY, "proxy_per_class": 6, "proxy_val_per_class": 2})
    found = search(cfg, "cifar10", data_dir=str(root), out_dir=tmp_path / "s")
    r = found.result
    assert r["input_shape"] == [3, 32, 32] and len(r["arch"]) == 16 and r["data"] == "cifar10"
    space = found.space
    assert space.cost(space.baseline(), "latency_ms") > 0
    assert all(s["cost_ratio"] > 0 for s in found.steps)
    # measured per-slot latencies (at this tiny width pooling is not faster than a 2-channel conv, so no order
    # between operators is asserted): one entry per allowed candidate of every slot
    table = space._tables["latency_ms"]
    assert [sorted(row) for row in table] == [list(s.candidates) for s in space.slots]
    out = retrain(tmp_path / "s" / "arch.json", "cifar10", data_dir=str(root),
                  config=retrain_config(epochs=1, batch_size=16))
    assert out["flops"] == r["flops"] and out["data"] == "cifar10"


def test_quick_budget_controller_learns(tmp_path):
    """At `refine search --quick`'s budget (1 + 9 epochs, 5 updates of 20 children) the policy entropy falls."""
    from nivalis.nas.search import budget

    data = load_classification("digits", image_size=16)
    r = search(NARConfig(width=0.0625, batch_size=32, derive_finetune_steps=2, **budget(True)), data).result
    assert len(r["entropy"]) == 10
    assert r["entropy"][0] == pytest.approx(r["entropy_max"], rel=0.02)  # -PreTrain leaves the policy uniform
    assert r["entropy_drop"] >= 0.10, r["entropy"]
    # the shared weights fit the task at this budget: the rewards carry signal and nothing is flagged
    assert r["proxy_fit"]["original_path_accuracy"] >= 0.5 and r["warnings"] == []


def test_proxy_fit_flags_rewards_near_chance():
    from nivalis.nas.search import PROXY_FIT_SHARE, proxy_fit

    fit, warnings = proxy_fit(0.2, 7)
    assert fit == {"original_path_accuracy": 0.2, "chance": round(1 / 7, 5)} and len(warnings) == 1
    assert "0.20" in warnings[0] and "0.14 by chance" in warnings[0]
    edge = 1 / 7 + PROXY_FIT_SHARE * (1 - 1 / 7)
    assert proxy_fit(edge + 1e-9, 7)[1] == [] and proxy_fit(edge - 1e-3, 7)[1]
    assert proxy_fit(0.9, 10)[1] == []


def test_search_starts_from_a_trained_backbone(digits, tmp_path):
    """A nivalis checkpoint of the backbone (same width and stem): the search records it and runs from it."""
    from nivalis.models import create_model
    from nivalis.nas.search import model_kwargs_for
    from nivalis.nas.space import SearchSpace

    cfg = NARConfig(epochs=1, **TINY)
    kwargs = model_kwargs_for(cfg, digits.input_shape)
    plain = create_model("resnet18", num_classes=digits.num_classes, in_chans=digits.input_shape[0], **kwargs)
    torch.save({"model": plain.state_dict(), "meta": {"model": "resnet18"}}, tmp_path / "resnet18.pt")
    run = search(NARConfig(epochs=1, pretrained=str(tmp_path / "resnet18.pt"), **TINY), digits, out_dir=tmp_path / "s")
    assert run.result["pretrained"]["source"] == "nivalis" and run.result["pretrained"]["reinitialised"] == []
    assert json.loads((tmp_path / "s" / "arch.json").read_text())["config"]["pretrained"].endswith("resnet18.pt")
    space = SearchSpace("resnet18", "block", input_shape=digits.input_shape, num_classes=digits.num_classes,
                        model_kwargs=kwargs)
    assert run.space.describe() == space.describe()
    with pytest.raises(UserError, match="different search"):  # resuming with other weights is another search
        search(NARConfig(epochs=1, **TINY), digits, out_dir=tmp_path / "s", resume=True)
