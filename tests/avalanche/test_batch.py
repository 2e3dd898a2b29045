"""Batch prediction: an archive of GeoTIFFs (one truncated) mapped by 1 process and by torchrun with 2 (gloo), the
manifest, resume after a real kill, the VRT mosaic and merged GeoPackage, STAC/list/glob inputs, broken single scenes;
a scene larger than the rest mapped tile-share by tile-share by both ranks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
import torch
from pyogrio.raw import read
from rasterio.transform import from_origin

from nivalis.avalanche.batch import predict_batch, shared_scenes
from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import predict_probability
from nivalis.avalanche.models import build_classifier, classifier_meta
from nivalis.engine import save_checkpoint
from nivalis.engine.distributed import DistContext, shard

SIZE = 80
BANDS = ("blue", "green", "red", "nir")


def write_scene(path: Path, seed: int, *, described: bool = True, date: str | None = None, x0: float = 300_000.0,
                size: int = SIZE):
    """A 4-band uint16 GeoTIFF (UTM 13N, 2 m) with bright blobs on darker snow and a nodata (0) strip."""
    rng = np.random.default_rng(seed)
    data = rng.normal(5000, 300, (4, size, size))
    yy, xx = np.mgrid[:size, :size]
    for _ in range(3 * (size // SIZE) ** 2 or 3):
        r, c = rng.integers(10, size - 10, 2)
        data[:, (yy - r) ** 2 + (xx - c) ** 2 < 64] += 3000
    data = np.clip(data, 1, 65535).astype(np.uint16)
    data[:, :, :4] = 0
    profile = {"driver": "GTiff", "height": size, "width": size, "count": 4, "dtype": "uint16", "nodata": 0,
               "crs": "EPSG:32613", "transform": from_origin(x0, 4_300_000.0, 2.0, 2.0)}
    with rasterio.open(path, "w", **profile) as ds:
        if described:
            for k, name in enumerate(BANDS):
                ds.set_band_description(k + 1, name)
        if date:
            ds.update_tags(TIFFTAG_DATETIME=date)
        ds.write(data)  # after the tags: GDAL writes the header first, not after the pixels (a cut file opens)
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    scenes = root / "scenes"
    scenes.mkdir()
    for k in range(5):
        write_scene(scenes / f"s{k}.tif", k, date=f"2024:02:{10 + k:02d} 10:30:00", x0=300_000.0 + 120.0 * k)
    whole = (scenes / "s0.tif").read_bytes()
    (scenes / "s5_cut.tif").write_bytes(whole[: len(whole) * 2 // 3])  # header fine, pixel data cut
    torch.manual_seed(0)
    cfg = AvalancheConfig(window=17)
    stats = {"mean": [5200.0] * 3, "std": [900.0] * 3}
    clf = build_classifier("cnn", 17, 3, cfg, dtype="uint16", **stats)
    # an untrained net: the threshold is its map's 85th percentile on one scene, so every scene has polygons
    clf.eval()
    image = np.moveaxis(rasterio.open(scenes / "s0.tif").read([3, 2, 1]), 0, -1)
    threshold = float(np.percentile(predict_probability(clf, image, tile=64), 85))
    meta = classifier_meta(clf, cfg) | {"threshold": threshold, "radiometry": {
        "bands": ["red", "green", "blue"], "dtype": "uint16", **stats, "scale": 1.0}}
    save_checkpoint(root / "checkpoint.pt", {"model": clf.state_dict(), "meta": meta})
    return root


def _cli(args: list[str], capsys) -> tuple[int, dict]:
    from nivalis.cli.app import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def _maps(out: Path) -> dict[str, np.ndarray]:
    return {p.parent.name: rasterio.open(p).read(1) for p in sorted((out / "scenes").glob("*/*_probability.tif"))}


def _polygons(gpkg: Path) -> list[tuple[str, bytes]]:
    meta, _, geometry, fields = read(str(gpkg))
    scenes = fields[list(meta["fields"]).index("scene")]
    return sorted((s, shapely.normalize(shapely.from_wkb(g)).wkb) for s, g in zip(scenes, geometry))


def test_one_process_and_torchrun_give_the_same_outputs(archive, tmp_path, capsys):
    ckpt = str(archive / "checkpoint.pt")
    one = tmp_path / "one"
    code, result = _cli(["avalanche", "predict", str(archive / "scenes"), "--checkpoint", ckpt, "--out", str(one),
                         "--json", "--quiet"], capsys)
    assert code == 1  # some scenes failed, not all
    assert {"scenes", "done", "failed", "manifest", "mosaic", "gpkg"} <= set(result)
    assert result["scenes"] == 6 and result["done"] == 5
    assert [f["scene"] for f in result["failed"]] == ["s5_cut"] and "cannot read image" in result["failed"][0]["error"]
    manifest = json.loads(Path(result["manifest"]).read_text())
    status = {r["scene"]: r["status"] for r in manifest["scenes"]}
    assert sorted(status.values()) == ["done"] * 5 + ["failed"] and status["s5_cut"] == "failed"
    assert all(len(r["input_sha256"]) == 64 for r in manifest["scenes"] if r["status"] == "done")
    assert not (one / "scenes" / "s5_cut").exists()  # a failed scene leaves nothing

    two = tmp_path / "two"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "nivalis", "avalanche", "predict", str(archive / "scenes"), "--checkpoint", ckpt,
                           "--out", str(two), "--json", "--quiet"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode != 0, proc.stderr[-2000:]  # rank 0 exits 1: one scene failed
    result2 = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result2["world_size"] == 2 and result2["done"] == 5 and result2["failed"] == result["failed"]
    ranks = {r["rank"] for r in json.loads((two / "manifest.json").read_text())["scenes"]}
    assert ranks == {0, 1} and not list(two.glob("manifest.rank*.json"))

    maps1, maps2 = _maps(one), _maps(two)
    assert sorted(maps1) == ["s0", "s1", "s2", "s3", "s4"] and sorted(maps2) == sorted(maps1)
    for name in maps1:
        np.testing.assert_array_equal(maps1[name], maps2[name])
    polys1 = _polygons(Path(result["gpkg"]))
    assert polys1 and polys1 == _polygons(Path(result2["gpkg"]))

    with rasterio.open(result["mosaic"]) as ds:  # GDAL opens the VRT: every scene placed on one grid
        assert ds.crs.to_string() == "EPSG:32613" and ds.res == (2.0, 2.0)
        assert ds.width == SIZE + 4 * 60 and ds.height == SIZE
        mosaic = ds.read(1)
    # the last scene on top, except where it has nodata (its 4 px strip): the one below shows through there
    np.testing.assert_array_equal(mosaic[:, 4 * 60 + 4:], maps1["s4"][:, 4:])
    assert np.isfinite(mosaic[:, 4 * 60:4 * 60 + 4]).all()
    meta, _, _, fields = read(result["gpkg"])
    names = list(meta["fields"])
    assert {"scene", "acquired", "area_m2", "mean_prob"} <= set(names) and meta["crs"] == "EPSG:32613"
    acquired = dict(zip(fields[names.index("scene")], fields[names.index("acquired")]))
    assert acquired["s2"] == "2024-02-12T10:30:00"


def test_a_scene_larger_than_the_rest_is_mapped_by_both_ranks(archive, tmp_path, capsys):
    folder = tmp_path / "scenes"
    folder.mkdir()
    for k in range(3):
        write_scene(folder / f"small{k}.tif", 20 + k, size=64, x0=300_000.0 + 600.0 * k)
    write_scene(folder / "big.tif", 30, size=256)
    whole = (folder / "big.tif").read_bytes()
    (folder / "big_cut.tif").write_bytes(whole[: len(whole) * 3 // 4])  # only the lower rank's tiles cannot be read
    args = ["avalanche", "predict", str(folder), "--checkpoint", str(archive / "checkpoint.pt"), "--tile", "64",
            "--json", "--quiet"]
    code, one = _cli([*args, "--out", str(tmp_path / "one")], capsys)
    assert code == 1 and one["done"] == 4 and [f["scene"] for f in one["failed"]] == ["big_cut"]

    two = tmp_path / "two"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "nivalis", *args, "--out", str(two)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 1, proc.stderr[-2000:]  # no rank hung or crashed on the shared scene that failed
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["world_size"] == 2 and result["done"] == 4 and result["failed"] == one["failed"]
    assert "cannot read image" in result["failed"][0]["error"]
    records = {r["scene"]: r for r in json.loads((two / "manifest.json").read_text())["scenes"]}
    assert records["big"]["status"] == "done" and records["big"]["rank"] == "all" and records["big"]["ranks"] == [0, 1]
    assert records["big_cut"]["rank"] == "all" and records["big_cut"]["status"] == "failed"
    assert {records[f"small{k}"]["rank"] for k in range(3)} <= {0, 1}
    assert not [p.name for p in (two / "scenes").iterdir() if p.name.startswith(".")]  # no parts, no partial folder

    maps1, maps2 = _maps(tmp_path / "one"), _maps(two)
    assert sorted(maps2) == sorted(maps1) == ["big", "small0", "small1", "small2"]
    for name in maps1:
        assert np.array_equal(maps1[name], maps2[name], equal_nan=True), name
    for name in ("big", "small0"):
        masks = [rasterio.open(p / "scenes" / name / f"{name}_mask.tif").read(1) for p in (tmp_path / "one", two)]
        np.testing.assert_array_equal(*masks)
    polys = _polygons(Path(one["gpkg"]))
    assert any(s == "big" for s, _ in polys) and polys == _polygons(Path(result["gpkg"]))
    # a shared scene's record resumes like any other
    code, again = _cli([*args, "--out", str(two), "--resume"], capsys)
    assert code == 1 and again["resumed"] == 4 and again["done"] == 4


def test_shared_scenes_are_the_ones_larger_than_the_rest():
    from nivalis.avalanche.stream import tile_grid, tile_owners

    def every(i):
        return True

    assert shared_scenes([1, 1, 1, 8], 2, every) == [3] and shared_scenes([1, 1, 1, 8], 1, every) == []
    assert shared_scenes([1, 1, 1, 2], 2, every) == []  # not more than a balanced rank's load
    # after one is shared the next is measured against what is left: 60 · 2 > 112, then 50 · 2 > 52
    assert shared_scenes([60, 50, 1, 1], 2, every) == [0, 1]
    assert shared_scenes([5] * 6, 6, every) == [] and shared_scenes([5] * 6, 7, every) == list(range(6))
    # one that cannot be split stays whole; the next is still a candidate; only candidates are asked
    asked: list[int] = []
    assert shared_scenes([9, 1, 9], 4, lambda i: asked.append(i) or i != 0) == [2] and asked == [0, 2]
    # a shared grid: every cell once, contiguous runs per rank, each within one cell of an equal pixel share
    grid = tile_grid(256, 200, 64)
    assert len(grid) == 16 and grid[3] == (0, 192, 64, 8)
    for world in (1, 2, 3, 5):
        owners = tile_owners(grid, world)
        assert owners == sorted(owners) and set(owners) == set(range(world))
        loads = [sum(th * tw for (*_, th, tw), k in zip(grid, owners) if k == r) for r in range(world)]
        assert all(abs(load - 256 * 200 / world) <= 64 * 64 for load in loads)


def test_a_killed_run_resumes_without_redoing_its_scenes(archive, tmp_path, capsys):
    ckpt = str(archive / "checkpoint.pt")
    out = tmp_path / "out"
    args = ["avalanche", "predict", str(archive / "scenes" / "s*.tif"), "--checkpoint", ckpt, "--out", str(out),
            "--json", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "nivalis", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
    done_before: list[str] = []
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                records = json.loads((out / "manifest.json").read_text())["scenes"]
            except (OSError, ValueError):
                records = []
            done_before = [r["scene"] for r in records if r["status"] == "done"]
            if len(done_before) >= 3:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
    finally:
        proc.kill()
        proc.wait()
    assert 3 <= len(done_before) < 5, "the run was not killed midway"
    stamps = {p: p.stat().st_mtime_ns for s in done_before for p in (out / "scenes" / s).iterdir()}

    code, result = _cli([*args, "--resume"], capsys)
    assert code == 1 and result["done"] == 5 and result["resumed"] == len(done_before)
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())  # not redone
    assert not list((out / "scenes").glob(".*.partial"))
    manifest = json.loads((out / "manifest.json").read_text())["scenes"]
    assert sorted(r["scene"] for r in manifest if r.get("resumed")) == sorted(done_before)
    # another checkpoint (different content) redoes everything
    other = tmp_path / "other.pt"
    state = torch.load(ckpt, weights_only=True)
    state["meta"]["threshold"] = 0.4
    save_checkpoint(other, state)
    code, again = _cli([*args[:4], str(other), *args[5:], "--resume"], capsys)
    assert again["resumed"] == 0 and again["done"] == 5


def test_stac_item_collection_reads_bands_by_eo_bands_names(archive, tmp_path, capsys):
    folder = tmp_path / "stac"
    folder.mkdir()
    features = []
    for k in range(2):
        write_scene(folder / f"b{k}.tif", 10 + k, described=False)
        features.append({"type": "Feature", "stac_version": "1.0.0", "id": f"S2_2024021{k}",
                         "properties": {"datetime": f"2024-02-1{k}T10:00:00Z"}, "geometry": None, "links": [],
                         "assets": {"thumbnail": {"href": "thumb.png", "type": "image/png", "roles": ["thumbnail"]},
                                    "analytic": {"href": f"./b{k}.tif", "type": "image/tiff; application=geotiff",
                                                 "roles": ["data"],
                                                 "eo:bands": [{"name": "B2", "common_name": "blue"},
                                                              {"name": "B3", "common_name": "green"},
                                                              {"name": "B4", "common_name": "red"},
                                                              {"name": "B8", "common_name": "nir"}]}}})
    (folder / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    result = predict_batch([folder / "items.json"], archive / "checkpoint.pt", tmp_path / "out", asset="analytic")
    assert result["done"] == 2 and result["failed"] == []
    meta, _, _, fields = read(result["gpkg"])
    names = list(meta["fields"])
    assert set(fields[names.index("scene")]) <= {"S2_20240210", "S2_20240211"}
    assert set(fields[names.index("acquired")]) <= {"2024-02-10T10:00:00Z", "2024-02-11T10:00:00Z"}
    # the same pixels read through the file's band descriptions give the same map
    write_scene(tmp_path / "b0_described.tif", 10)
    described = predict_batch([tmp_path / "b0_described.tif"], archive / "checkpoint.pt", tmp_path / "out2")
    assert described["done"] == 1
    np.testing.assert_array_equal(rasterio.open(tmp_path / "out/scenes/S2_20240210/b0_probability.tif").read(1),
                                  rasterio.open(tmp_path / "out2/scenes/b0_described/b0_described_probability.tif")
                                  .read(1))


def test_list_file_and_single_image_mode(archive, tmp_path, capsys):
    listing = tmp_path / "scenes.txt"
    listing.write_text(f"# two scenes\n{archive / 'scenes' / 's1.tif'}\n\n{archive / 'scenes' / 's1.tif'}\n"
                       "missing.tif  # a path relative to the list\n")
    result = predict_batch([listing], archive / "checkpoint.pt", tmp_path / "out")
    assert result["scenes"] == 3 and result["done"] == 2  # same name twice: unique ids
    assert result["failed"] == [{"scene": "missing", "error": f"image not found: {tmp_path / 'missing.tif'}"}]
    assert sorted(p.name for p in (tmp_path / "out" / "scenes").iterdir()) == ["s1", "s1-2"]
    code, single = _cli(["avalanche", "predict", str(archive / "scenes" / "s1.tif"), "--checkpoint",
                         str(archive / "checkpoint.pt"), "--out", str(tmp_path / "one"), "--json", "--quiet"], capsys)
    assert code == 0 and {"probability", "mask", "polygons", "gpkg", "seconds"} <= set(single)
    assert "scenes" not in single and Path(single["probability"]).parent == tmp_path / "one"


@pytest.mark.parametrize("name", ["cut.tif", "empty.png", "empty.jpg"])
def test_a_broken_single_scene_is_one_error_line_and_leaves_nothing(archive, tmp_path, name, capsys):
    from nivalis.cli.app import main

    path = tmp_path / name
    path.write_bytes((archive / "scenes" / "s5_cut.tif").read_bytes() if name.endswith(".tif") else b"")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exc:
        main(["avalanche", "predict", str(path), "--checkpoint", str(archive / "checkpoint.pt"), "--out", str(out),
              "--quiet"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and err.startswith(f"error: cannot read image {path}")
    assert not out.exists()


def test_shard_splits_every_item_once_by_weight():
    weights = [5, 1, 1, 1, 1, 1, 4, 2]
    parts = [shard(weights, DistContext(rank, 3)) for rank in range(3)]
    assert sorted(i for p in parts for i in p) == list(range(8))
    loads = [sum(weights[i] for i in p) for p in parts]
    assert max(loads) - min(loads) <= 1
    assert shard(weights, DistContext()) == list(range(8))


def test_overlapped_tiles_equal_the_serial_pipeline_and_the_whole_image(archive, tmp_path):
    from nivalis.avalanche.models import load_classifier
    from nivalis.avalanche.predict import predict_image
    from nivalis.avalanche.stream import overlapped, reach_tile

    clf = load_classifier(archive / "checkpoint.pt")
    scene = archive / "scenes" / "s3.tif"
    maps = {}
    for name, kw in {"threads": {"overlap": True}, "serial": {"overlap": False}, "memory": {"windowed": False}}.items():
        r = predict_image(scene, clf, tmp_path / name, tile=24, min_area_px=1, **kw)  # 4 × 4 tiles, ragged edges
        with rasterio.open(r["probability"]) as ds:
            maps[name] = ds.read(1)
    np.testing.assert_array_equal(maps["threads"], maps["serial"])
    np.testing.assert_allclose(maps["threads"], maps["memory"], atol=1e-5, equal_nan=True)
    assert np.isnan(maps["threads"][:, :4]).all() and np.isfinite(maps["threads"][:, 4:]).all()
    # tiles from the model's reach: recomputed margin at most 10 %, capped for memory
    assert reach_tile(33) == 704 and ((704 + 32) / 704) ** 2 <= 1.1 < ((640 + 32) / 640) ** 2
    assert reach_tile(17) == 384 and reach_tile(301) == 1024
    # an error in a reader thread reaches the caller
    seen = []

    def read(cell):
        if cell == 3:
            raise OSError("read failed")
        return cell

    with pytest.raises(OSError, match="read failed"):
        overlapped(list(range(6)), read, lambda c: c * 2, seen.append)
    assert seen == [0, 2, 4][:len(seen)]  # nothing after the failed cell is written
