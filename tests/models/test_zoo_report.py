"""The zoo's report section pieces and the `nivalis zoo list` command."""

from nivalis.models import list_models, model_family
from nivalis.profile import zoo_table
from tests.cli_helpers import assert_user_error, invoke


def test_representatives_cover_every_zoo_family():
    families = {model_family(n) for n in list_models()} - zoo_table.OTHER_SECTIONS
    assert {model_family(n) for n in zoo_table.REPRESENTATIVES} == families


def test_native_inputs():
    assert zoo_table.native_input("inception_v3") == (3, 299, 299)
    assert zoo_table.native_input("efficientnet_b1") == (3, 240, 240)  # γ^0.5 · 224, from the scaling rule
    assert zoo_table.native_input("unet") == (1, 224, 224)
    assert zoo_table.native_input("resnet18") == (3, 224, 224)


def test_scatter_figure_is_written(tmp_path):
    rows = [{"family": "resnet", "model": "resnet18", "gflops": 3.6, "latency_ms": 90.0, "params": 11_689_512},
            {"family": "lenet", "model": "lenet5", "gflops": 0.0008, "latency_ms": 0.2, "params": 61_706}]
    points = [{k: r[k] for k in ("model", "family", "params", "gflops")} for r in rows]
    path = zoo_table._scatter(points, rows, tmp_path / "figures" / "zoo.png")
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"


def test_zoo_list_json_has_exact_params():
    result = invoke("zoo", "list", "resnet*", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["models"] == ["resnet101", "resnet152", "resnet18", "resnet34", "resnet50"]
    assert data["params"]["resnet50"] == 25_557_032
    assert {row["family"] for row in data["rows"]} == {"resnet"}


def test_zoo_list_human_and_unknown_pattern():
    result = invoke("zoo", "list", "vgg16*")
    assert result.code == 0 and "138,357,544" in result.out and "138,365,992" in result.out
    assert_user_error(invoke("zoo", "list", "nosuchnet*"), "nosuchnet")
