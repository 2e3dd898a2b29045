"""A whole 4256 × 3694 RGB scene (the seed's example size) mapped by the 33 px CNN: seconds and peak memory.

The seed could not do this: every window of such a scene needs ~10^19 bytes (§3.2). Here the scene is a
GeoTIFF (UTM 13N), mapped end to end by `nivalis avalanche predict` in a child process, exactly as a
forecaster runs it: read, dense map (tiled, progress bar), probability and mask GeoTIFFs, overlay PNG,
GeoJSON polygons. Peak memory is the child's maximum resident set size. Target: ≤ 60 s, ≤ 4 GB.

The scene is a mosaic of 17 × 15 simulated 256 × 256 scenes at the training scale, so mask and polygons
are realistic (speed and memory of the map do not depend on the content). Without `--checkpoint` a 33 px CNN is
first trained briefly on simulated scenes.

Run: `python benchmarks/avalanche_scene.py [--checkpoint C] [--precision fp32|bf16] [--tile 512]`
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

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.io import GeoRef, write_geotiff
from nivalis.avalanche.simulate import CRS, PIXEL_M, simulate_dataset, simulate_scene

HEIGHT, WIDTH = 4256, 3694


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a trained 33 px classifier (default: train one briefly)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="avalanche-scene-"))

    checkpoint = args.checkpoint
    if checkpoint is None:
        from nivalis.avalanche.train import train_window_classifier

        simulate_dataset(work / "train", scenes=16, seed=1, size=(256, 256))
        cfg = AvalancheConfig(epochs=2, windows_per_epoch=4096, val_windows=512)
        run = train_window_classifier(work / "train", "cnn", window=33, channels=3, config=cfg, out_dir=work / "run")
        checkpoint = run.result["checkpoint"]
        print(f"trained CNN(33,33,3) briefly: window accuracy {run.result['accuracy']:.3f}")

    rng = np.random.default_rng(7)
    rows, cols = -(-HEIGHT // 256), -(-WIDTH // 256)
    scene = np.block([[[simulate_scene(rng, (256, 256)).image] for _ in range(cols)] for _ in range(rows)])
    scene = np.ascontiguousarray(scene[:HEIGHT, :WIDTH])
    image_path = write_geotiff(work / "scene_4256x3694.tif", scene,
                               GeoRef(CRS, (PIXEL_M, 0.0, 380_000.0, 0.0, -PIXEL_M, 4_420_000.0)))
    del scene
    print(f"scene {HEIGHT}×{WIDTH}×3 GeoTIFF: {image_path} ({image_path.stat().st_size / 1e6:.0f} MB)")

    cmd = [sys.executable, "-m", "nivalis", "avalanche", "predict", str(image_path), "--checkpoint", str(checkpoint),
           "--out", str(work / "predict"), "--precision", args.precision, "--tile", str(args.tile), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"predict failed with exit code {proc.returncode}")
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9  # Linux reports KiB
    result = json.loads(proc.stdout)

    print(f"\n{'what':<40} {'value':>12}")
    print(f"{'pixels classified':<40} {HEIGHT * WIDTH:>12,}")
    print(f"{'dense map seconds':<40} {result['map_seconds']:>12.1f}")
    print(f"{'predict seconds (read → GeoJSON)':<40} {result['seconds']:>12.1f}")
    print(f"{'wall seconds incl. interpreter start':<40} {wall:>12.1f}")
    print(f"{'peak resident memory (GB)':<40} {peak_gb:>12.2f}")
    print(f"{'avalanche polygons':<40} {result['avalanches']:>12}")
    print(f"{'precision / tile':<40} {args.precision + ' / ' + str(args.tile):>12}")
    ok = result["seconds"] <= 60 and peak_gb <= 4
    print(f"\ntarget (every pixel in ≤ 60 s, ≤ 4 GB): {'met' if ok else 'NOT met'}; outputs in {work / 'predict'}")


if __name__ == "__main__":
    main()
