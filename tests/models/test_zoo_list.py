"""`nivalis zoo list`: exact parameter counts from shape-only builds, user errors."""

from tests.cli_helpers import assert_user_error, invoke


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
