"""`space_costs`: the table `refine space` prints, its arch counts checked against the built network."""

import pytest

from nivalis.errors import UserError
from nivalis.nas.config import budget, budget_config
from nivalis.nas.cost_table import parse_arch, space_costs, space_costs_text
from nivalis.nas.space import build_refined
from nivalis.profile import count


def test_rows_and_arch_counts_match_the_built_network():
    r = space_costs("resnet18", "block", "1x16x16", width=0.0625, arch="1,0,2,0,3,0,0")
    assert r["decisions"] == 8 and len(r["rows"]) == 8 and r["input_shape"] == [1, 16, 16]
    assert all(row["macs_change"]["conv3x3"] == 0 and row["flops_change"]["sep3x3"] < 0 for row in r["rows"])
    assert r["baseline_flops"] == 2 * r["baseline_macs"]
    a = r["arch"]
    assert a["given"] == [1, 0, 2, 0, 3, 0, 0] and a["arch"] == [1, 0, 2, 0, 3, 0, 0, 0] and "appended" in a["note"]
    built = count(build_refined("resnet18", a["arch"], num_classes=10, in_chans=1, **r["model_kwargs"]), (1, 16, 16))
    assert (a["params"], a["flops"]) == (built["params"], built["flops"]) and a["flops"] == 2 * a["macs"]
    text = space_costs_text(r, "1x16x16")
    assert text.startswith("resnet18 (block) at 1x16x16: 8 decisions over 16 slots, 65,536 architectures")
    assert f"{a['macs']:,} MACs" in text.splitlines()[-1]


def test_parse_arch_and_mistakes():
    assert parse_arch("[1, 0,2]") == [1, 0, 2]
    with pytest.raises(UserError, match="bad --arch"):
        parse_arch("x,y")
    with pytest.raises(UserError, match="bad input shape"):
        space_costs(input_shape="3x0x32")


def test_budget_config_keeps_the_preset_where_not_given():
    cfg = budget_config(True, epochs=3, controller_steps=None, reward="acc-flops")
    quick = budget(True)
    assert (cfg.epochs, cfg.pretrain_epochs, cfg.controller_steps) == (3, quick["pretrain_epochs"],
                                                                      quick["controller_steps"])
    assert cfg.baseline_decay == quick["baseline_decay"] and cfg.reward == "acc-flops"
    assert budget_config().epochs == budget(False)["epochs"]
