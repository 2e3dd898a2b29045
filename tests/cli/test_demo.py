"""`nivalis demo`: the README's main job writes a report with its sections and figures."""

import base64

from tests.cli_helpers import assert_user_error, invoke, run_cli


def test_demo_classification_section(tmp_path):
    result = run_cli("demo", "--quick", "--only", "classification", "--out", str(tmp_path), "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["report"] == str(tmp_path / "report.html")
    assert data["sections"] == ["Image classification: LeNet-5 on digits"]
    html = (tmp_path / "report.html").read_text()
    for png in ("lenet5_learning_curve.png", "lenet5_confusion.png"):
        assert base64.b64encode((tmp_path / "figures" / png).read_bytes()).decode()[:100] in html
    assert "test accuracy" in (tmp_path / "report.md").read_text()


def test_demo_unknown_section(tmp_path):
    assert_user_error(invoke("demo", "--only", "weather", "--out", str(tmp_path)), "unknown demo section")
