"""The zoo report section's figure (the section itself runs in the demo test)."""

from nivalis.report.sections import zoo


def test_scatter_figure_is_written(tmp_path):
    rows = [{"family": "resnet", "model": "resnet18", "gflops": 3.6, "latency_ms": 90.0, "params": 11_689_512},
            {"family": "lenet", "model": "lenet5", "gflops": 0.0008, "latency_ms": 0.2, "params": 61_706}]
    points = [{k: r[k] for k in ("model", "family", "params", "gflops")} for r in rows]
    path = zoo._scatter(points, rows, tmp_path / "figures" / "zoo.png")
    assert path.stat().st_size > 10_000 and path.read_bytes()[:4] == b"\x89PNG"
