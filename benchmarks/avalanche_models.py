"""The seed's models side by side on simulated scenes (seed 002 Tables 1–2, plus F1/IoU and whole-scene maps).

Trains CNN(17,17,1), CNN(17,17,3), CNN(33,33,3), the 1D-conv CNN, VGG16(33,33,3), RN50(33,33,3),
IRNv2(76,76,3) and the zoo's U-Net on tiles, all on the same simulated scenes and scene split, and prints
one row each: parameters, training seconds (Table 1), loss and accuracy on class-balanced test windows
(Table 2), window F1 / IoU, and — for models that map a scene in one pass (own CNNs, U-Net) — pixel
F1 / IoU / POD / PPV over every pixel of the test scenes. The zoo backbones see fewer windows
(`--zoo-windows`) because one of their windows costs 50–100× a small CNN's on this CPU.

Run: `python benchmarks/avalanche_models.py [--scenes 60] [--epochs 5] [--windows 8192] [--models cnn17g,...]`
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.io import load_scenes
from nivalis.avalanche.simulate import simulate_dataset
from nivalis.experiments.avalanche_models import ModelSpec, compare_models


def specs(args) -> dict[str, ModelSpec]:
    zoo = dict(epochs=args.zoo_epochs, windows_per_epoch=args.zoo_windows)
    return {
        "cnn17g": ModelSpec("cnn", 17, 1), "cnn17": ModelSpec("cnn", 17, 3), "cnn33": ModelSpec("cnn", 33, 3),
        "cnn1d33": ModelSpec("cnn1d", 33, 3), "vgg16": ModelSpec("vgg16", 33, 3, **zoo),
        "resnet50": ModelSpec("resnet50", 33, 3, **zoo), "irnv2": ModelSpec("inception_resnet_v2", 76, 3, **zoo),
        "unet": ModelSpec("unet", 32, 3, epochs=args.epochs, windows_per_epoch=args.unet_tiles),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--windows", type=int, default=8192, help="windows per epoch of the small CNNs")
    parser.add_argument("--zoo-epochs", type=int, default=2)
    parser.add_argument("--zoo-windows", type=int, default=1024, help="windows per epoch of the zoo backbones")
    parser.add_argument("--unet-tiles", type=int, default=4096, help="32 px tiles per epoch of the U-Net")
    parser.add_argument("--models", default="cnn17g,cnn17,cnn33,cnn1d33,vgg16,resnet50,irnv2,unet")
    parser.add_argument("--out", default=None, help="folder for data, runs and results.json (default: temporary)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="avalanche-models-"))

    simulate_dataset(out / "data", scenes=args.scenes, seed=0, size=(args.size, args.size))
    scenes = load_scenes(out / "data")
    cfg = AvalancheConfig(epochs=args.epochs, windows_per_epoch=args.windows)
    table = specs(args)
    chosen = [table[k] for k in args.models.split(",")]
    t0 = time.perf_counter()
    rows, runs = compare_models(scenes, chosen, cfg, out / "runs")
    split = runs[0].split
    print(f"\n{len(scenes)} simulated scenes {args.size}×{args.size}: {len(split.train)} train / {len(split.val)} val / "
          f"{len(split.test)} test; {time.perf_counter() - t0:.0f} s in all\n")

    def f(v, spec=".3f"):
        return "–" if v is None else format(v, spec)

    head = (f"{'model':<18} {'params':>11} {'windows':>8} {'train s':>8} {'loss':>6} {'acc':>6} {'F1':>6} {'IoU':>6} "
            f"{'px F1':>6} {'px IoU':>6} {'px POD':>6} {'px PPV':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['label']:<18} {r['params']:>11,} {r['windows']:>8} {r['seconds']:>8.1f} {f(r['loss']):>6} "
              f"{f(r['accuracy']):>6} {f(r['f1']):>6} {f(r['iou']):>6} {f(r.get('pixel_f1')):>6} "
              f"{f(r.get('pixel_iou')):>6} {f(r.get('pixel_pod')):>6} {f(r.get('pixel_ppv')):>6}")
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    print(f"\nloss/acc/F1/IoU: class-balanced windows of the test scenes (seed Table 2); px: every test pixel; "
          f"rows in {out / 'results.json'}")


if __name__ == "__main__":
    main()
