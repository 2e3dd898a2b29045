"""Cut zoo backbones for avalanche windows (seed 002 Tables 1–2): training time and accuracy, frozen or fine-tuned.

Trains the small CNN(33,33,3) and VGG16 / RN50 / IRNv2 cut at stride 8 (`nivalis.avalanche.backbone`) on the
same simulated scenes and split, and prints per model: window, parameters, training seconds (frozen: the one
feature pass plus the head's epochs), loss and accuracy on class-balanced test windows (Table 2), window F1,
pixel F1 of the dense test maps, seconds per dense test map, and the largest difference between the dense map
and window-by-window classification on the first 64 pixels of a test scene.

Published weights are read from local files given with `--vgg16 PATH`, `--resnet50 PATH`,
`--inception-resnet-v2 PATH` (torchvision `vgg16-397923af.pth`, `resnet50-0676ba61.pth`, timm's
`inception_resnet_v2.tf_in1k` safetensors); a backbone without a file starts from random weights and its
row says so: the timings hold either way, the accuracies of random features are a floor, not the seed's
ImageNet result.

Run: `python benchmarks/avalanche_backbones.py [--scenes 12] [--size 128] [--windows 2048] [--fine-tune]
[--resnet50 resnet50-0676ba61.pth ...] [--no-record]`
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.dense import predict_probability, predict_windows
from nivalis.avalanche.io import load_scenes
from nivalis.avalanche.simulate import simulate_dataset
from nivalis.avalanche.train import backbone_window
from nivalis.experiments.avalanche_models import ModelSpec, compare_models

BACKBONES = ("vgg16", "resnet50", "inception_resnet_v2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--windows", type=int, default=2048, help="windows per epoch (frozen: the one draw)")
    parser.add_argument("--fine-tune", action="store_true", help="also fine-tune every backbone (slow on a CPU)")
    parser.add_argument("--threads", type=int, default=None)
    for name in BACKBONES:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, help=f"weights file of {name}")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(tempfile.mkdtemp(prefix="avalanche-backbones-"))
    simulate_dataset(out / "data", scenes=args.scenes, seed=0, size=(args.size, args.size))
    scenes = load_scenes(out / "data")
    cfg = AvalancheConfig(epochs=args.epochs, windows_per_epoch=args.windows)
    specs = [ModelSpec("cnn", 33, 3)]
    for name in BACKBONES:
        weights = getattr(args, name)
        w = backbone_window(name, 3)
        specs.append(ModelSpec(name, w, 3, pretrained=weights, freeze_backbone=True))
        if args.fine_tune:
            specs.append(ModelSpec(name, w, 3, pretrained=weights, freeze_backbone=False))
    t0 = time.perf_counter()
    rows, runs = compare_models(scenes, specs, cfg, out / "runs")
    total = time.perf_counter() - t0
    lines = ["| model | weights | window | params | train (s) | test loss | test acc | window F1 | pixel F1 | "
             "dense map (s/scene) | dense − windows (64 px) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for spec, row, run in zip(specs, rows, runs):
        image = run.split.test[0].image
        dense = predict_probability(run.classifier, image, desc="dense")[0, :64]
        windowed = predict_windows(run.classifier, image, rows=1, desc="windows")[0, :64]
        diff = float(np.abs(dense - windowed).max())
        weights = Path(spec.pretrained).name if spec.pretrained else ("random init" if spec.model != "cnn" else "–")
        n_test = max(1, len(run.split.test))
        map_s = row.get("map_seconds")
        lines.append(f"| {row['label']} | {weights} | {row['window']} | {row['params']:,} | {row['seconds']:.1f} | "
                     f"{row['loss']:.3f} | {row['accuracy']:.3f} | {row['f1']:.3f} | "
                     f"{row.get('pixel_f1', float('nan')):.3f} | "
                     f"{'–' if map_s is None else format(map_s / n_test, '.2f')} | {diff:.1e} |")
    split = runs[0].split
    body = "\n".join(lines) + (
        f"\n\n{len(scenes)} simulated scenes {args.size}×{args.size} ({len(split.train)} train / {len(split.val)} val / "
        f"{len(split.test)} test), {args.epochs} epochs of {args.windows} class-balanced windows "
        f"(frozen: one draw, features computed once); test loss/acc/F1 on {cfg.val_windows} balanced test windows "
        f"(seed Table 2), pixel F1 over every test pixel at the calibrated threshold; {total:.0f} s in all.\n")
    print(body)
    if not args.no_record:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from results import record

        record("Avalanche windows: cut zoo backbones, frozen or fine-tuned (seed 002 Tables 1–2)", body)


if __name__ == "__main__":
    main()
