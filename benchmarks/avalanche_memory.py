"""Peak memory of `nivalis avalanche predict` against scene size: 4-band uint16 GeoTIFFs with a nodata border.

Each scene (B,G,R,NIR, described, nodata = 0 on a left strip) is written block by block, then predicted in
a fresh subprocess (windowed: read, map and write per tile; COG outputs; polygons from the uint8 mask) with
an untrained 33 px CNN whose checkpoint carries uint16 statistics. The child's peak RSS
(`getrusage(RUSAGE_CHILDREN).ru_maxrss`) is what a user's process would need. The target is a flat curve:
peak RSS = interpreter + torch + tile buffers + one byte a pixel for the mask, instead of growing with the
whole float32 scene and its maps.

Run: `python benchmarks/avalanche_memory.py [--sizes 2000 6000 12000] [--tile 512] [--no-record]`
(the 12,000 px case maps 144 Mpx: minutes on a few cores; leave it out with `--sizes 2000 6000`).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import json, resource, sys, time
import torch
torch.set_num_threads({threads})
from nivalis.avalanche.predict import predict_image
t = time.perf_counter()
r = predict_image({image!r}, {checkpoint!r}, {out!r}, tile={tile}, min_area_px=64)
r["wall"] = time.perf_counter() - t
r["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(r))
"""


def write_scene(path: Path, size: int, seed: int = 0) -> None:
    """A size × size 4-band uint16 GeoTIFF written 512 rows at a time (bounded memory), nodata = 0 border."""
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    rng = np.random.default_rng(seed)
    base = rng.integers(2000, 9000, (4, 512, 512)).astype(np.uint16)
    profile = {"driver": "GTiff", "height": size, "width": size, "count": 4, "dtype": "uint16", "nodata": 0,
               "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate", "crs": "EPSG:32613",
               "transform": from_origin(300_000, 4_300_000, 2.0, 2.0)}
    border = size // 10
    with rasterio.open(path, "w", **profile) as ds:
        for k, name in enumerate(("blue", "green", "red", "nir")):
            ds.set_band_description(k + 1, name)
        for r0 in range(0, size, 512):
            h = min(512, size - r0)
            block = np.tile(base[:, :h], (1, 1, size // 512 + 1))[:, :, :size].copy()
            block[:, :, :border] = 0
            ds.write(block, window=Window(0, r0, size, h))


def write_checkpoint(path: Path) -> None:
    import torch

    from nivalis.avalanche.config import AvalancheConfig
    from nivalis.avalanche.models import build_classifier, classifier_meta
    from nivalis.engine import save_checkpoint

    cfg = AvalancheConfig()
    torch.manual_seed(0)  # the same untrained weights every run: the mask, hence polygon work and memory, follow them
    clf = build_classifier("cnn", 33, 3, cfg, mean=[5500.0] * 3, std=[2000.0] * 3, dtype="uint16")
    meta = classifier_meta(clf, cfg) | {"threshold": 0.5, "radiometry": {
        "bands": ["red", "green", "blue"], "dtype": "uint16", "mean": [5500.0] * 3, "std": [2000.0] * 3,
        "scale": 1.0}}
    save_checkpoint(path, {"model": clf.state_dict(), "meta": meta})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 6000, 12000])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to benchmarks/RESULTS")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        checkpoint = tmp / "checkpoint.pt"
        write_checkpoint(checkpoint)
        for size in args.sizes:
            image = tmp / f"scene_{size}.tif"
            t = time.perf_counter()
            write_scene(image, size)
            made = time.perf_counter() - t
            code = CHILD.format(threads=args.threads, image=str(image), checkpoint=str(checkpoint),
                                out=str(tmp / f"out_{size}"), tile=args.tile)
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
            if proc.returncode:
                print(proc.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"predict failed on the {size} px scene")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append((size, r["peak_mb"], r["wall"], r["map_seconds"], r["avalanches"], made))
            print(f"{size:>6} px  peak RSS {r['peak_mb']:8.0f} MB  predict {r['wall']:7.1f} s "
                  f"(map {r['map_seconds']:.1f} s)  scene written in {made:.1f} s", flush=True)
            image.unlink()
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    lines = ["| scene (px) | megapixels | peak RSS (MB) | predict (s) | map (s) | polygons |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {s:,} × {s:,} | {s * s / 1e6:.0f} | {mb:.0f} | {wall:.1f} | {mp:.1f} | {n} |"
              for s, mb, wall, mp, n, _ in rows]
    lines.append(f"\nWindowed predict, tile {args.tile}, {args.threads} torch threads, untrained 33 px CNN, 4-band "
                 f"uint16 input (red,green,blue read), COG outputs. Largest child peak: {child_peak:.0f} MB.")
    body = "\n".join(lines)
    print(body)
    if not args.no_record:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from results import record

        record("Avalanche predict: peak memory vs scene size", body)


if __name__ == "__main__":
    main()
