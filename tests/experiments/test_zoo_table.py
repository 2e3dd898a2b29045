"""The zoo table experiment: one representative per family, native inputs, counts of every zoo model."""

from nivalis.experiments import zoo_table
from nivalis.models import list_models, model_family
from nivalis.profile.meta import meta_counts


def test_representatives_cover_every_zoo_family():
    families = {model_family(n) for n in list_models()} - zoo_table.OTHER_SECTIONS
    assert {model_family(n) for n in zoo_table.REPRESENTATIVES} == families


def test_native_inputs():
    assert zoo_table.native_input("inception_v3") == (3, 299, 299)
    assert zoo_table.native_input("efficientnet_b1") == (3, 240, 240)  # γ^0.5 · 224, from the scaling rule
    assert zoo_table.native_input("unet") == (1, 224, 224)
    assert zoo_table.native_input("resnet18") == (3, 224, 224)


def test_zoo_points_are_the_meta_counts_of_every_zoo_model(monkeypatch):
    monkeypatch.setattr(zoo_table, "list_models", lambda: ["lenet5", "resnet18", "lresnet34e_ir"])
    points = zoo_table.zoo_points()
    assert [p["model"] for p in points] == ["lenet5", "resnet18"]  # the face backbone has its own section
    assert points[0]["params"] == 61_706 and points[1]["params"] == 11_689_512
    assert points[1]["gflops"] == meta_counts("resnet18", (3, 224, 224))["flops"] / 1e9
