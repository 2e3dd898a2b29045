"""The seed 002 model comparison (Tables 1–2): every model trained on the same scenes and split, side by side."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from nivalis.avalanche.config import AvalancheConfig
from nivalis.avalanche.io import Scene
from nivalis.avalanche.predict import evaluate_scenes
from nivalis.avalanche.train import TrainRun, train_window_classifier

# ------------------------------------------------------------------------------------------------ comparison

_LABELS = {"cnn": "CNN", "cnn1d": "CNN-1D", "vgg16": "VGG16", "resnet50": "RN50", "inception_resnet_v2": "IRNv2",
           "unet": "U-Net"}


@dataclass
class ModelSpec:
    """One row of the seed's Tables 1–2: a model at a window size and depth, with its training budget."""

    model: str
    window: int
    channels: int
    epochs: int | None = None
    windows_per_epoch: int | None = None
    pyramid_levels: int = 0
    pretrained: str | None = None      # weights file of a zoo backbone: cut at stride 8 (avalanche/backbone.py)
    freeze_backbone: bool = False

    @property
    def label(self) -> str:
        scale = f" at 1/{2 ** self.pyramid_levels}" if self.pyramid_levels else ""
        cut = ""
        if self.pretrained or self.freeze_backbone:
            cut = (" pretrained" if self.pretrained else " random") + (" frozen" if self.freeze_backbone else " tuned")
        return f"{_LABELS.get(self.model, self.model)}({self.window},{self.window},{self.channels}){scale}{cut}"


def compare_models(scenes: list[Scene], specs: list[ModelSpec], config: AvalancheConfig | None = None,
                   out_dir: str | Path | None = None, *, pixel_metrics: bool = True) -> tuple[list[dict], list[TrainRun]]:
    """Train each spec on the same scenes and split; rows with the seed's columns (training seconds, loss,
    accuracy) plus window F1/IoU and, for models with a fast map, pixel metrics of the test scenes' maps."""
    cfg = config or AvalancheConfig()
    rows, runs = [], []
    for spec in specs:
        spec_cfg = replace(cfg, epochs=spec.epochs or cfg.epochs, windows_per_epoch=spec.windows_per_epoch or cfg.windows_per_epoch,
                           pyramid_levels=spec.pyramid_levels)
        slug = spec.label.replace("(", "-").replace(")", "").replace(",", "x").replace(" at 1/", "-level") \
            .replace(" ", "-")
        run_dir = Path(out_dir) / slug if out_dir else None
        run = train_window_classifier(scenes, spec.model, window=spec.window, channels=spec.channels, config=spec_cfg,
                                      out_dir=run_dir, desc=spec.label, pretrained=spec.pretrained,
                                      freeze_backbone=spec.freeze_backbone)
        r = run.result
        row = {"label": spec.label, "model": spec.model, "window": spec.window, "channels": spec.channels,
               "params": r["params"], "flops": r["flops"], "seconds": r["seconds"], "epochs": spec_cfg.epochs,
               "windows": spec_cfg.epochs * spec_cfg.windows_per_epoch, "loss": r["loss"], "accuracy": r["accuracy"],
               "f1": r["f1"], "iou": r["iou"], "threshold": r["threshold"]}
        if pixel_metrics and r["dense"]:
            ev = evaluate_scenes(run.classifier, run.split.test, config=spec_cfg)
            row.update({f"pixel_{k}": ev[k] for k in ("accuracy", "iou", "f1", "pod", "ppv")})
            row.update({k: ev[k] for k in ("object_pod", "object_ppv", "object_f1")})
            row["map_seconds"] = ev["seconds"]
            run.extras["test_eval"] = ev
        rows.append(row)
        runs.append(run)
    return rows, runs
